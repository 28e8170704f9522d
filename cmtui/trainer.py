"""Training orchestration: when each part of the model is fitted, on which rows.

The page loop (``Session``) hands the trainer a snapshot of the reviews
(``TrainingData``); the trainer owns the features, the current ``ModelState`` (replaced
as a whole, under a lock, so the app's threads never see half of one), the coverage
history and the cache of booster scores.

* ``quick_retrain``, after every submit: the linear prior of every label without trees is
  refitted on every reviewed message (warm-started from the last model); a label with
  trees keeps the prior and boosters the last validation fitted together. The queue is
  re-ranked with that model: this is what the next page comes from.
* ``validate``, right after, in the background: prior and boosters for every label are
  fitted on the training split (80% of the reviews, by a hash of the message id) and
  scored on the test split. A label keeps its trees only where they raised its average
  precision there (``model.gate_trees``); the figures come from that gated model, the
  thresholds from every review scored out of fold (``_held_out_scores``). Beside the
  figures computed from those, on a second thread, the production model is fitted on
  every review: the prior and, against it, boosters for the kept labels; coverage is
  scored with it. Above ``RESCORE_ALL_UP_TO`` messages the figures come from a fixed
  sample of ``FIGURES_SAMPLE`` messages and are shown at once; ``rescore_all`` then
  scores every message, makes coverage exact, measures drift and records the version.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from . import drift, metrics, versions
from .features import (
    FeatureCache,
    TreeColumn,
    TreeInputs,
    cache_dir,
    fit_tree_inputs,
    release_freed_memory,
    tfidf,
)
from .model import (
    ModelParams,
    TrainedModel,
    fit_linear,
    gate_trees,
    predict,
    prior_probabilities,
    refit_prior,
    save_predictions,
    spread,
    train,
    tree_scores,
    used_columns,
)
from .store import Store

TEST_SHARE = 20  # percent of reviewed messages held out for validation
PRODUCTION_ITERATIONS = 15
RESCORE_ALL_UP_TO = 250_000  # messages; above it a quick retrain rescores only candidates
RESCORE_CANDIDATES = 50_000
FIGURES_SAMPLE = 50_000  # messages validation's figures come from, above RESCORE_ALL_UP_TO
SCORE_ROWS = 50_000  # of them scored at a time
RANDOM_SHARE_MIN = 30  # random picks needed before their label shares loosen the cap
FOLD_REFIT_GROWTH = 0.1  # a held-out fold's model is refitted once the reviews beside it grew this much
Progress = Callable[[float], None]
Check = Callable[[], bool]


def fold_of(ids: Sequence[str]) -> np.ndarray:
    """Each message's fold (0-4) by a hash of its id: it never changes for a dataset.
    Fold 0 is the test split (``TEST_SHARE`` percent)."""
    return np.fromiter((zlib.crc32(i.encode()) % 100 // TEST_SHARE for i in ids), dtype=np.int8, count=len(ids))


def in_test_split(ids: Sequence[str]) -> np.ndarray:
    """Stable split by a hash of the message id: it never changes for a dataset."""
    return fold_of(ids) == 0


@dataclass
class ModelState:
    """Everything one retrain produces; replaced as a whole."""

    model: TrainedModel | None = None
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    labels: list[str] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)  # applied: test_thresholds capped by share
    test_thresholds: list[float] = field(default_factory=list)  # balanced, from the test split
    informative: list[str] = field(default_factory=list)
    covered_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    reviewed_likeness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    report: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    seconds: float = 0.0
    test_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    test_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    tree_labels: list[str] = field(default_factory=list)  # labels whose trees raised their held-out AP
    repeats_version: bool = False  # fitted on what the newest version was: recorded as that one


@dataclass
class FoldModel:
    """A held-out fold's model, kept between validations: its prior compactly (over the
    columns it uses: a full weight matrix is 2**18 x labels floats, 94 MB at 90 labels)
    and its boosters for every label that could have trees."""

    labels: list[str]
    used: np.ndarray
    weights: np.ndarray  # (len(used), n_labels)
    bias: np.ndarray
    tree_columns: dict[int, np.ndarray]
    boosters: dict[int, object]
    extra_columns: int
    fitted_on: int  # reviews it was fitted on

    @classmethod
    def of(cls, model: TrainedModel, fitted_on: int) -> FoldModel:
        return cls(model.labels, model.used, model.weights[model.used], model.bias, model.tree_columns,
                   model.boosters, model.extra_columns, fitted_on)

    def model(self, n_features: int) -> TrainedModel:
        return TrainedModel(self.labels, spread(self.weights, self.used, n_features), self.bias,
                            self.tree_columns, self.boosters, self.used, self.extra_columns)


@dataclass
class TrainingData:
    """The reviews a fit uses, taken at one moment (the page loop goes on meanwhile)."""

    labels: list[str]
    reviewed_mids: list[int]
    rows: np.ndarray  # rows of the reviewed messages, in mid order (the order fixes the fit)
    assigned: list[dict[str, int | None]]
    y: np.ndarray
    random: np.ndarray  # per reviewed message: picked at random (Shuffle)
    modes: list[str]  # the mode each review was made in
    reviews: pl.DataFrame | None = None  # per-annotator reviews, for agreement


class _HeldOutFolds:
    """Every review scored by a model that did not see it: the held-out folds' models,
    kept between validations and refitted when they fall behind (a part of ``Trainer``)."""

    params: ModelParams
    folds: np.ndarray
    _fold_models: dict[int, FoldModel]
    if TYPE_CHECKING:  # Trainer's
        @property
        def x(self) -> Any: ...
        @property
        def tree_inputs(self) -> TreeInputs: ...

    def _held_out_scores(self, data: TrainingData, validation_model: TrainedModel, kept: list[int],
                         p_test: np.ndarray, cancelled: Check, stalest: bool = True) -> np.ndarray:
        """Every review scored by a model that did not see it: the test split by the
        validation model, each other fold by a model fitted on the remaining four (trees
        for the ``kept`` labels). The balanced thresholds are fitted on all of them, not
        on one fifth: a threshold chosen on a handful of test messages moved coverage by
        10-25 points between pages.

        A fold's model never sees its fold, so it stays a fair judge of that fold's new
        reviews too: each validation refits the stalest fold model, and any fold whose
        model has fallen ``FOLD_REFIT_GROWTH`` behind the reviews beside it (all of them
        on the first pages). At 5,000 reviewed on 100k messages refitting all four cost
        4.1 s of an 8.3 s validation. A fold model has boosters for every label that can
        have trees, so it serves whichever labels the gate keeps. Without ``stalest`` only
        the folds fallen behind are refitted (``refit_stalest`` does the rest later).
        """
        rows, y = data.rows, data.y
        folds = self.folds[rows]
        scores = np.zeros(y.shape, dtype=np.float32)
        scores[folds == 0] = p_test
        extra = self.tree_inputs
        beside = self._beside(folds)
        for fold in self._folds_to_refit(data.labels, beside, stalest):
            self._refit_fold(data, fold, beside[fold], validation_model, cancelled)
        for fold in beside:
            held = folds == fold
            fold_model = self._fold_models[fold].model(self.x.shape[1])
            fold_model.boosters = {j: b for j, b in fold_model.boosters.items() if j in kept}
            scores[held] = predict(fold_model, self.x[rows[held]], extra=extra.rows(rows[held]))
        return scores

    @staticmethod
    def _beside(folds: np.ndarray) -> dict[int, int]:
        """Per held-out fold with reviews: how many reviews lie outside it."""
        return {f: int((folds != f).sum()) for f in range(1, 100 // TEST_SHARE) if (folds == f).any()}

    def _refit_fold(self, data: TrainingData, fold: int, beside: int, otherwise: TrainedModel | None,
                    cancelled: Check) -> None:
        held = self.folds[data.rows] == fold
        params, start = self._warm_start(fold, data.labels, otherwise)
        fold_model = train(self.x[data.rows[~held]], data.y[~held], data.labels, params, start, cancelled,
                           extra=self.tree_inputs.rows(data.rows[~held]))
        self._fold_models[fold] = FoldModel.of(fold_model, beside)

    def refit_stalest(self, data: TrainingData, cancelled: Check) -> None:
        """Refit the stalest held-out fold's model (the rest are up to date)."""
        beside = self._beside(self.folds[data.rows])
        for fold in self._folds_to_refit(data.labels, beside, stalest=True):
            self._refit_fold(data, fold, beside[fold], None, cancelled)

    def _warm_start(self, fold: int, labels: list[str],
                    otherwise: TrainedModel | None) -> tuple[ModelParams, TrainedModel | None]:
        """Where a fold's fit starts: its own last model, for ``PRODUCTION_ITERATIONS``,
        when it has one for these labels; else ``otherwise``, for the full count."""
        last = self._fold_models.get(fold)
        if last is not None and last.labels == labels:
            return replace(self.params, max_iter=PRODUCTION_ITERATIONS), last.model(self.x.shape[1])
        return self.params, otherwise

    def _folds_to_refit(self, labels: list[str], beside: dict[int, int], stalest: bool) -> list[int]:
        """The folds whose model is missing, for other labels, or ``FOLD_REFIT_GROWTH``
        behind; and (``stalest``) the stalest of the rest."""
        def staleness(fold: int) -> float:
            last = self._fold_models.get(fold)
            if last is None or last.labels != labels:
                return float("inf")
            return beside[fold] / max(last.fitted_on, 1) - 1

        due = [f for f in beside if staleness(f) > FOLD_REFIT_GROWTH]
        rest = [f for f in beside if f not in due]
        if rest and stalest:
            due.append(max(rest, key=staleness))
        return sorted(due)


class Trainer(_HeldOutFolds):
    """The model of one dataset: features, training, the current state and its history."""

    def __init__(self, store: Store, dataset: str, mids: np.ndarray, ids: list[str], meta: pl.DataFrame,
                 params: ModelParams, bits: int, seed: int) -> None:
        self.store = store
        self.dataset = dataset
        self.mids = mids
        self.meta = meta  # mid, updated: what the feature cache checks
        self.params = params
        self.bits = bits
        self.seed = seed
        self.folds = fold_of(ids)
        self.test_mask = self.folds == 0
        self.state = ModelState()
        self.history: list[float] = []  # coverage after each validation
        self._lock = threading.Lock()
        self._features_lock = threading.Lock()
        self._features: tuple[Any, np.ndarray] | None = None
        self._tree_inputs: TreeInputs | None = None
        self._tree_spec: list[TreeColumn] = []
        # each fold's model (fitted on every review outside it); fold 0's is the validation model
        self._fold_models: dict[int, FoldModel] = {}
        # the boosters' scores for every message, kept while the same boosters serve
        self._tree_cache: tuple[object, np.ndarray] | None = None
        self._sample: np.ndarray | None = None  # the rows a large dataset's figures come from
        # a validation whose figures are shown, waiting for every message's scores (rescore_all)
        self._pending: tuple[ModelState, TrainingData, bool, Likeness] | None = None

    # ---- features ---------------------------------------------------------------------
    @property
    def x(self) -> Any:
        """TF-IDF features of every message (CSR). Built on first use, from the cache
        beside the database when it is fresh, so a first page never waits for hashing."""
        return self._load_features()[0]

    @property
    def idf(self) -> np.ndarray:
        return self._load_features()[1]

    def _load_features(self) -> tuple[Any, np.ndarray]:
        with self._features_lock:
            if self._features is None:
                cache = FeatureCache(cache_dir(self.store.path, self.dataset), self.bits)
                counts = cache.load_or_build(
                    self.meta,
                    lambda mids: self.store.messages_frame(self.dataset, "mid, subject, body", mids=mids))
                self._features = tfidf(counts, in_place=True)  # the counts are not needed again
                release_freed_memory()
            return self._features

    @property
    def tree_inputs(self) -> TreeInputs:
        """Every message's tree inputs (properties, sender domain, thread length), read once."""
        with self._features_lock:
            if self._tree_inputs is None:
                frame = self.store.messages_frame(self.dataset, "mid, sender, thread_id, properties")
                self._tree_spec, self._tree_inputs = fit_tree_inputs(frame)
            return self._tree_inputs

    @property
    def tree_spec(self) -> list[TreeColumn]:
        """How the tree inputs are read from a message (kept with a model version)."""
        _ = self.tree_inputs
        return self._tree_spec

    def _set(self, state: ModelState, coverage: float | None = None) -> None:
        with self._lock:
            self.state = state
            if coverage is not None:
                self.history = [*self.history, coverage]

    # ---- the quick retrain: what the next page comes from ---------------------------------
    def _untrained(self) -> ModelState:
        """No reviews (the only submit undone): no model, as before the first one."""
        with self._lock:
            self.state, self._pending, self._tree_cache = ModelState(), None, None
        return self.state

    def quick_retrain(self, data: TrainingData, reviewed: np.ndarray, cancelled: Check = lambda: False,
                      progress: Progress = lambda _f: None) -> ModelState:
        """Refit the prior on every reviewed message and re-rank (``reviewed``: a row mask).

        The prior is warm-started from the last model. A label that keeps trees keeps the
        prior and boosters that validation fitted together (one page behind, refitted by
        the validation that follows); the thresholds are the last validation's too.
        """
        if not data.reviewed_mids:
            return self._untrained()
        started = time.perf_counter()
        labels, y = data.labels, data.y
        last = self.state
        same_labels = last.model is not None and last.model.labels == labels
        kept = [labels.index(n) for n in last.tree_labels if n in labels] if same_labels else []
        free = np.array([j for j in range(len(labels)) if j not in kept], dtype=np.int64)
        if last.model is not None and same_labels:
            model = refit_prior(last.model, self.x[data.rows], y, free,
                                replace(self.params, max_iter=PRODUCTION_ITERATIONS))
        else:
            model = train(self.x[data.rows], y, labels, self.params, last.model, cancelled, progress, tree_labels=[])
        candidates = self._rescore_candidates(reviewed) if same_labels else None
        test_thresholds = list(last.test_thresholds) if same_labels else [0.5] * len(labels)
        informative = sorted(metrics.informative_from(
            labels, metrics.informative_weights(labels, data.assigned), y))
        # the kept pairs did not change: their scores stand; the free labels have no
        # boosters, so their prior alone scores them
        if candidates is None:
            probs = last.probs.copy() if kept else np.empty((len(self.mids), len(labels)), np.float32)
            probs[:, free] = prior_probabilities(model, self.x, free)
            thresholds = metrics.cap_by_share(probs, test_thresholds, label_shares(y, data.random))
            covered = metrics.coverage(probs, labels, set(informative), thresholds)[0]
        else:  # the rest keep the last scores and thresholds until validation redoes all
            probs = last.probs.copy()
            probs[np.ix_(candidates, free)] = prior_probabilities(model, self.x[candidates], free)
            thresholds = list(last.thresholds)
            covered = last.covered_score.copy()
            covered[candidates] = metrics.coverage(probs[candidates], labels, set(informative), thresholds)[0]
        # coverage stays the last validation's: the quick model's read up to 15.5 points off it
        report = {**last.report, "reviewed": len(data.reviewed_mids), "messages": len(self.mids),
                  "informative_labels": len(informative)}
        state = replace(last, model=model, probs=probs, labels=labels, thresholds=thresholds,
                        test_thresholds=test_thresholds, informative=informative, covered_score=covered,
                        report=report, seconds=time.perf_counter() - started,
                        tree_labels=[labels[j] for j in kept])
        self._set(state)
        release_freed_memory()
        return state

    def _rescore_candidates(self, reviewed: np.ndarray) -> np.ndarray | None:
        """Rows a quick retrain rescores on a large dataset; None: every row.

        Above ``RESCORE_ALL_UP_TO`` messages, scoring every message would hold up the next
        page for seconds, so only the ``RESCORE_CANDIDATES`` unreviewed messages the last
        model covered worst (where Low confidence draws its page from) are rescored; the
        validation that follows in the background rescores all of them.
        """
        state = self.state
        n = len(self.mids)
        if n <= RESCORE_ALL_UP_TO or state.probs.shape[0] != n or state.covered_score.shape[0] != n:
            return None
        unreviewed = np.flatnonzero(~reviewed)
        if len(unreviewed) <= RESCORE_CANDIDATES:
            return unreviewed
        scores = state.covered_score[unreviewed]
        return np.sort(unreviewed[np.argpartition(scores, RESCORE_CANDIDATES)[:RESCORE_CANDIDATES]])

    # ---- validation: the figures, thresholds and boosters -------------------------------
    def validate(self, data: TrainingData, cancelled: Check = lambda: False,
                 progress: Progress = lambda _f: None, persist: bool = True) -> ModelState:
        """Fit on the training split, score the test split, decide which labels keep their
        trees, recompute every figure; then fit the kept boosters for production."""
        if not data.reviewed_mids:
            return self._untrained()
        started = time.perf_counter()
        labels, rows, y = data.labels, data.rows, data.y
        test = self.test_mask[rows] if len(rows) else np.zeros(0, bool)
        extra = self.tree_inputs
        # warm-started from the last validation model (it never saw the test split either)
        params, start = self._warm_start(0, labels, self.state.model)
        validation_model = train(self.x[rows[~test]], y[~test], labels, params, start,
                                 cancelled, lambda f: progress(0.7 * f), extra=extra.rows(rows[~test]))
        self._fold_models[0] = FoldModel.of(validation_model, int((~test).sum()))
        kept, p_test = gate_trees(validation_model, self.x[rows[test]], y[test], extra.rows(rows[test]))
        sample = self._figure_rows(labels)  # a large dataset: the stalest fold is refitted after the figures
        held_out = self._held_out_scores(data, validation_model, kept, p_test, cancelled, stalest=sample is None)
        # the production model beside the figures that need neither it nor the fold models
        # (production beside the fold models' refits took 160 MB more at 100k long)
        with ThreadPoolExecutor(1) as pool:
            fitting = pool.submit(self._production, kept, data, cancelled)
            weights = metrics.informative_weights(labels, data.assigned)
            informative = set(metrics.informative_from(labels, weights, y))
            reports = metrics.validate(labels, y[test], p_test, y[~test], weights, informative,
                                       (y, held_out, data.random))
            balance, likeness = review_balance(self.x, rows, data.modes, self.seed)
            # on a large dataset Rebalance's new order waits for the full rescore, off the figures' path
            reviewed_likeness = likeness(self.x) if sample is None else self.state.reviewed_likeness
            progress(0.75)
            production = fitting.result()
        progress(0.8)
        scored = self._scores(production, sample)
        test_thresholds = [r.thresholds.balanced for r in reports]
        thresholds = metrics.cap_by_share(scored, test_thresholds, label_shares(y, data.random))
        covered, coverage_value = metrics.coverage(scored, labels, informative, thresholds)
        expected = metrics.expected_coverage(scored, labels, informative, y, held_out,
                                             metrics.calibration_sample(data.modes))
        all_ap, worst = metrics.label_quality(reports)
        rating_value = metrics.rating(all_ap, worst, coverage_value, balance["similarity"])
        report = metrics.report_dict(len(rows), len(self.mids), reports, coverage_value, metrics.mean_ap(reports),
                                     balance, rating_value, metrics.annotator_summary(data.reviews))
        report["coverage_expected"] = None if expected is None else round(expected, 4)
        report["tree_labels"] = [labels[j] for j in kept]
        report["drift"] = self.state.report.get("drift")  # of every message: measured with every score
        if sample is not None:  # the last scores, this model's where it scored
            scored, covered = _spread(self.state.probs, sample, scored), _spread(self.state.covered_score, sample, covered)
        state = ModelState(production, scored, labels, thresholds, test_thresholds, sorted(informative),
                           covered, reviewed_likeness, report, self.state.version, time.perf_counter() - started,
                           rows[test], p_test, [labels[j] for j in kept])
        if sample is None:
            state = self._recorded(state, data, persist)
        else:
            self._pending = (state, data, persist, likeness)
        self._set(state, None if state.repeats_version else state.report["coverage"])
        progress(1.0)
        release_freed_memory()
        return state

    def _figure_rows(self, labels: list[str]) -> np.ndarray | None:
        """The rows validation's figures are computed on; None: every row.

        Above ``RESCORE_ALL_UP_TO`` messages (once there are scores of these labels to keep
        for the others), a fixed uniform sample of ``FIGURES_SAMPLE``: coverage from it is
        within 0.45 points of every message's (95%), a tenth of how far the thresholds
        alone move it between pages. Scoring 1M messages with trees took 6.8 s of a 10.9 s
        validation; 200k still left it at 5.9 s at 5,000 reviewed, 100k 1 s of 5 s at 1M
        long. ``rescore_all`` scores every message after the figures are shown, and gives
        the exact coverage.
        """
        n, last = len(self.mids), self.state
        if n <= RESCORE_ALL_UP_TO or last.labels != labels or last.probs.shape != (n, len(labels)):
            return None
        if self._sample is None:
            self._sample = np.sort(np.random.default_rng(self.seed).choice(n, FIGURES_SAMPLE, replace=False))
        return self._sample

    def _scores(self, model: TrainedModel, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return predict(model, self.x, self._trees_for(model))
        out = np.empty((len(rows), len(model.labels)), np.float32)
        for start in range(0, len(rows), SCORE_ROWS):  # the sample's features copied a block at a time
            block = rows[start:start + SCORE_ROWS]
            out[start:start + len(block)] = predict(model, self.x[block], extra=self.tree_inputs.rows(block))
        return out

    @property
    def rescore_pending(self) -> bool:
        return self._pending is not None

    def rescore_all(self, cancelled: Check = lambda: False) -> ModelState:
        """Validation's second phase: every message scored by the new model, coverage from
        all of them, then ``_recorded``; the stalest fold refitted last. Nothing when no
        validation waits for it, or when a newer model has replaced that validation's since."""
        pending, self._pending = self._pending, None
        if pending is None or self.state is not pending[0]:
            return self.state
        state, data, persist, likeness = pending
        probs = predict(state.model, self.x, self._trees_for(state.model)) if state.model else state.probs
        covered, coverage_value = metrics.coverage(probs, state.labels, set(state.informative), state.thresholds)
        if cancelled():
            return self.state
        state = self._recorded(replace(state, probs=probs, covered_score=covered, reviewed_likeness=likeness(self.x),
                                       report={**state.report, "coverage": round(coverage_value, 4)}), data, persist)
        with self._lock:
            if self.state is pending[0]:
                self.state = state
                self.history = [*self.history[:-1], *([] if state.repeats_version else [state.report["coverage"]])]
        self.refit_stalest(data, cancelled)  # ready for the next validation's thresholds
        release_freed_memory()
        return state

    def _recorded(self, state: ModelState, data: TrainingData, persist: bool) -> ModelState:
        """``state`` with the drift of the latest import (every message scored), recorded
        as a model version with its predictions when ``persist``."""
        updated = self.meta["updated"].to_numpy()
        state.report["drift"] = drift.measure(
            self.x, drift.newest_by_import(updated), state.covered_score >= 1, state.probs,
            state.thresholds, state.labels, data.rows, _fit_compact, self.seed)
        if persist and len(data.rows):
            state.version, new = versions.record(self.store, self.dataset, state, self.idf, self.tree_spec, self.bits,
                                                 self.x[data.rows], data.assigned,
                                                 versions.Reviews(data.reviewed_mids, data.modes, updated[data.rows]))
            state.repeats_version = not new  # the app opened again with nothing changed
            save_predictions(self.store.path, self.dataset, self.mids, state.labels, state.probs, state.version)
        return state

    def _production(self, kept: list[int], data: TrainingData, cancelled: Check) -> TrainedModel:
        """The model that ranks the queue: the prior refitted on every review (warm-started
        from the current one) with boosters for the ``kept`` labels fitted against it."""
        production = self.state.model
        same = production is not None and production.labels == data.labels
        params = replace(self.params, max_iter=PRODUCTION_ITERATIONS) if same else self.params
        return train(self.x[data.rows], data.y, data.labels, params, production, cancelled,
                     tree_labels=kept, extra=self.tree_inputs.rows(data.rows))

    def _trees_for(self, model: TrainedModel) -> np.ndarray:
        """The boosters' scores for every message, kept while the same boosters serve."""
        if self._tree_cache is None or self._tree_cache[0] is not model.boosters:
            # the tree inputs are read only once some label has trees: not for a first page
            extra = self.tree_inputs if model.boosters else None
            self._tree_cache = None  # the old scores go first: two sets of 1M rows at once cost 104 MB more
            cache = (model.boosters, tree_scores(model, self.x, extra))
            self._tree_cache = cache
            return cache[1]
        return self._tree_cache[1]

    def drift(self, new: np.ndarray, window: str, reviewed_rows: np.ndarray) -> dict[str, Any]:
        """Drift figures of the ``new`` rows (a time window) against the rest, by the
        current model (validation computes those of the latest import)."""
        state = self.state
        return drift.measure(self.x, new, state.covered_score >= 1, state.probs, state.thresholds, state.labels,
                             reviewed_rows, _fit_compact, self.seed, window)

def label_shares(y: np.ndarray, random: np.ndarray) -> np.ndarray:
    """Each label's share of the reviewed messages (1 when nothing is reviewed: no cap).

    Where at least ``RANDOM_SHARE_MIN`` reviews were picked at random (``random``), a
    label's share is the larger of its share of those and of all reviews: Low confidence
    and the per-label modes pick few messages the model already covers, so the labels on
    them look rarer among all reviews than they are.
    """
    if not len(y):
        return np.ones(y.shape[1])
    shares = y.mean(axis=0)
    if random.sum() >= RANDOM_SHARE_MIN:
        shares = np.maximum(shares, y[random].mean(axis=0))
    return shares


@dataclass(frozen=True, eq=False)  # compared by identity: its weights are an array
class Likeness:
    """How much a message looks reviewed (what Rebalance sorts by): a linear fit telling
    reviewed from unreviewed messages; none before there are enough of both."""

    weights: np.ndarray | None = None
    bias: float = 0.0

    def __call__(self, x: Any) -> np.ndarray:
        if self.weights is None:
            return np.zeros(x.shape[0], dtype=np.float32)
        return (np.asarray(x @ self.weights).ravel() + self.bias).astype(np.float32)


def review_balance(x: Any, reviewed_rows: np.ndarray, modes: list[str], seed: int) -> tuple[dict[str, Any], Likeness]:
    """How hard it is to tell reviewed from unreviewed messages (100% = impossible), and
    the fit of how much each message looks reviewed."""
    n = x.shape[0]
    share = {k: (sum(1 for m in modes if m == k) / len(modes) if modes else 0.0)
             for k in ("shuffle", "rebalance", "search")}
    if len(reviewed_rows) < 10 or len(reviewed_rows) >= n - 10:
        return {"similarity": 1.0 if len(reviewed_rows) >= n - 10 else 0.0, "auc": None,
                "shares": share}, Likeness()
    rng = np.random.default_rng(seed)
    reviewed = np.zeros(n, dtype=bool)
    reviewed[reviewed_rows] = True
    pos = rng.permutation(reviewed_rows)[:1000]
    neg_pool = np.flatnonzero(~reviewed)
    neg = rng.choice(neg_pool, size=min(len(neg_pool), max(len(pos), 200)), replace=False)
    area = drift.separability(x, pos, neg, _fit_compact, rng)
    similarity = float(np.clip(2 * (1 - area), 0, 1))
    w, b = _fit_compact(x[np.concatenate([pos, neg])], np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])[:, None])
    return {"similarity": round(similarity, 4), "auc": round(area, 4), "shares": share}, Likeness(w, float(b[0]))


def _spread(last: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of ``last`` with ``values`` at ``rows``."""
    out = last.copy()
    out[rows] = values
    return out


def _fit_compact(x: Any, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear reviewed-vs-unreviewed classifier on the columns ``x`` uses."""
    compact, used = used_columns(x)
    w_used, b = fit_linear(compact, target, c=1.0, max_iter=40)
    return spread(w_used, used, x.shape[1]), b
