"""Model versions: what each validation recorded, and the artifact that scores without a database.

Every validation records a version in the database (number, time, reviewed count, its
report: labels, per-label thresholds and figures). The files needed to score with it are
kept beside the database (``<db>.cache/<dataset>/versions/N``) for pinned versions and the
last ``KEEP_LAST``; older unpinned ones are pruned (their record stays).

The artifact is a plain directory, format ``cmtui-model`` version ``FORMAT_VERSION``
(``docs/model-artifact.md`` describes every field):

* ``model.json``: format and versions, dataset, version, labels, the three thresholds per
  label, the feature settings (bits, and a probe: the columns a fixed text hashes to, so
  a cmtui whose hashing differs refuses the model instead of scoring it wrongly), the
  tree inputs (how properties, sender domain and thread length are read), figures;
* ``arrays.npz``: idf, the prior's used columns, weights and bias, each booster's columns;
* ``boosters/J.txt``: LightGBM model text of label ``J`` (0-based, in label order).

Loading checks every file; a missing or damaged one, an unknown format or a newer
version is an ``ArtifactError`` naming the file, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import polars as pl

from . import __version__
from .features import (
    DEFAULT_BITS,
    TreeColumn,
    apply_tree_spec,
    cache_dir,
    clean_text,
    hash_texts,
    tfidf,
)
from .model import ModelParams, TrainedModel, fit_linear, predict, spread, used_columns
from .private import protect

if TYPE_CHECKING:
    from .store import Store
    from .trainer import ModelState

FORMAT = "cmtui-model"
FORMAT_VERSION = 1
KEEP_LAST = 10  # unpinned versions whose files are kept
PROBE = "Claim 4471: my policy renewal, café naïve Ελλάδα Москва 東京タワー مرحبا, don't"
OPERATING_POINTS = ("high_recall", "balanced", "high_precision")
MIN_SENTIMENT = 5  # reviewed messages of each sentiment a sentiment model needs


class ArtifactError(Exception):
    """A model that cannot be used; the message names the file and says why, on one line."""


@dataclass
class ScoringModel:
    """What scoring a message needs: the fitted model, the idf of its dataset, how tree
    inputs are read, and the three thresholds of each label (columns: ``OPERATING_POINTS``)."""

    model: TrainedModel
    idf: np.ndarray
    thresholds: np.ndarray  # (n_labels, 3)
    tree_spec: list[TreeColumn] = field(default_factory=list)
    bits: int = DEFAULT_BITS
    info: dict[str, Any] = field(default_factory=dict)  # dataset, version, created, reviewed, figures
    sentiment: TrainedModel | None = None  # P(positive) of a message, for datasets with sentiment
    fields: Any = None  # the dataset's general fields (cmtui.fields.artifact), when the version has them

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def probabilities(self, frame: pl.DataFrame) -> np.ndarray:
        """(rows, labels) probabilities of messages given as (subject, body, sender,
        thread_id, properties as JSON text), as the app computes them."""
        return self.score(frame)[0]

    def score(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """The label probabilities, and each message's probability of positive sentiment
        (None without a sentiment model)."""
        counts = hash_texts(frame.select(clean_text(pl.col("subject"), pl.col("body")))[:, 0], self.bits)
        x, _ = tfidf(counts, self.idf)
        extra = apply_tree_spec(self.tree_spec, frame) if self.model.boosters else None
        positive = predict(self.sentiment, x)[:, 0] if self.sentiment is not None else None
        return predict(self.model, x, extra=extra), positive


def fit_sentiment(x: Any, assigned: list[dict[str, int | None]]) -> TrainedModel | None:
    """A linear model of a message's sentiment (positive when its labels' sentiments sum
    above zero), on the reviewed messages that have one; None with fewer than
    ``MIN_SENTIMENT`` of either kind."""
    total = np.array([sum(v for v in labels.values() if v) for labels in assigned], dtype=np.int64)
    rows = np.flatnonzero(total != 0)
    y = (total[rows] > 0).astype(np.float64)[:, None]
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_SENTIMENT:
        return None
    compact, used = used_columns(x[rows])
    weights, bias = fit_linear(compact, y, c=ModelParams().c, max_iter=ModelParams().max_iter)
    return TrainedModel(["positive"], spread(weights, used, x.shape[1]), bias.astype(np.float32), {}, {}, used)


def operating_points(report: dict[str, Any], labels: list[str], applied: list[float]) -> np.ndarray:
    """Each label's (high recall, balanced, high precision) thresholds: the balanced one is
    the threshold the app applies (``applied``), the others from validation around it."""
    per_label = {r["name"]: r.get("thresholds", {}) for r in report.get("labels", [])}
    out = np.zeros((len(labels), 3), dtype=np.float64)
    for j, name in enumerate(labels):
        t = per_label.get(name, {})
        balanced = float(applied[j])
        out[j] = (min(float(t.get("high_recall", balanced)), balanced), balanced,
                  max(float(t.get("high_precision", balanced)), balanced))
    return out


def probe_columns(bits: int) -> list[int]:
    return sorted(int(c) for c in hash_texts(pl.Series([PROBE]), bits).indices)


# ---- writing and reading the artifact ---------------------------------------------------
def write_artifact(scoring: ScoringModel, directory: Path, db_path: Path | None = None) -> Path:
    """Write ``scoring`` as an artifact directory (beside it first, then renamed: a
    failure leaves no half-written model). ``db_path``: give the files its modes."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "boosters").mkdir(parents=True)
    model = scoring.model
    arrays: dict[str, np.ndarray] = {
        "idf": scoring.idf.astype(np.float32), "used": model.used.astype(np.int64),
        "weights": model.weights[model.used].astype(np.float32), "bias": model.bias.astype(np.float32),
        **{f"tree_columns_{j}": cols.astype(np.int64) for j, cols in model.tree_columns.items()}}
    if scoring.sentiment is not None:
        sentiment = scoring.sentiment
        arrays |= {"sentiment_used": sentiment.used.astype(np.int64), "sentiment_bias": sentiment.bias,
                   "sentiment_weights": sentiment.weights[sentiment.used].astype(np.float32)}
    np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
    for j, booster in model.boosters.items():
        (tmp / "boosters" / f"{j}.txt").write_text(booster.model_to_string())  # type: ignore[attr-defined]
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "cmtui_version": __version__,
        **scoring.info,
        "labels": model.labels,
        "thresholds": {name: dict(zip(OPERATING_POINTS, map(float, scoring.thresholds[j]), strict=True))
                       for j, name in enumerate(model.labels)},
        "features": {"bits": scoring.bits, "n_features": int(model.weights.shape[0]),
                     "probe": PROBE, "probe_columns": probe_columns(scoring.bits), "polars": pl.__version__},
        "sentiment_model": scoring.sentiment is not None,
        "trees": {"labels": sorted(model.boosters), "extra_columns": model.extra_columns,
                  "inputs": [asdict(c) for c in scoring.tree_spec]},
    }
    (tmp / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    if db_path is not None:
        for path in [tmp, tmp / "boosters", *tmp.rglob("*")]:
            protect(path, db_path)
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def load_artifact(directory: Path) -> ScoringModel:
    """The model in an artifact directory, or ``ArtifactError``."""
    directory = Path(directory)
    meta_path = directory / "model.json"
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no model there (a directory written by `cmtui models export`)")
    try:
        meta = json.loads(meta_path.read_text())
    except OSError as exc:
        raise ArtifactError(f"{meta_path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise ArtifactError(f"{meta_path}: damaged (not valid JSON: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(f"{meta_path}: not a cmtui model (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(f"{meta_path}: made by a newer cmtui ({meta.get('cmtui_version')}, model format "
                            f"{version} > {FORMAT_VERSION}); upgrade cmtui to use it")
    try:
        return _read(directory, meta)
    except ArtifactError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ArtifactError(f"{directory}: damaged model ({type(exc).__name__}: {exc})") from None


def _read(directory: Path, meta: dict[str, Any]) -> ScoringModel:
    import lightgbm as lgb

    features = meta["features"]
    bits = int(features["bits"])
    if probe_columns(bits) != list(features["probe_columns"]):
        raise ArtifactError(f"{directory / 'model.json'}: this cmtui hashes words to other columns than the one "
                            f"that trained the model (polars {pl.__version__}, model made with "
                            f"{features.get('polars')}); install that polars or export the model again")
    labels = list(meta["labels"])
    arrays_path = directory / "arrays.npz"
    with np.load(arrays_path) as arrays:
        idf, used, weights_used, bias = arrays["idf"], arrays["used"], arrays["weights"], arrays["bias"]
        tree_labels = [int(j) for j in meta["trees"]["labels"]]
        tree_columns = {j: arrays[f"tree_columns_{j}"] for j in tree_labels}
        sentiment = None
        if meta.get("sentiment_model"):
            s_used = arrays["sentiment_used"]
            s_weights = np.zeros((int(features["n_features"]), 1), np.float32)
            s_weights[s_used] = arrays["sentiment_weights"]
            sentiment = TrainedModel(["positive"], s_weights, arrays["sentiment_bias"], {}, {}, s_used)
    n_features = int(features["n_features"])
    if idf.shape != (n_features,) or weights_used.shape != (len(used), len(labels)) or bias.shape != (len(labels),):
        raise ArtifactError(f"{arrays_path}: damaged (array shapes do not match {len(labels)} labels)")
    weights = np.zeros((n_features, len(labels)), np.float32)
    weights[used] = weights_used
    boosters: dict[int, object] = {}
    for j in tree_labels:
        path = directory / "boosters" / f"{j}.txt"
        try:
            boosters[j] = lgb.Booster(model_str=path.read_text())
        except lgb.basic.LightGBMError as exc:
            raise ArtifactError(f"{path}: damaged booster ({str(exc).splitlines()[0]})") from None
    model = TrainedModel(labels, weights, bias, tree_columns, boosters, used, int(meta["trees"]["extra_columns"]))
    thresholds = np.array([[float(meta["thresholds"][name][p]) for p in OPERATING_POINTS] for name in labels])
    spec = [TreeColumn(c["name"], c["kind"], {str(k): float(v) for k, v in c.get("codes", {}).items()})
            for c in meta["trees"]["inputs"]]
    info: dict[str, Any] = {k: meta[k] for k in ("dataset", "version", "created", "reviewed", "figures", "sentiment") if k in meta}
    return ScoringModel(model, idf, thresholds, spec, bits, info, sentiment, _fields(directory))


def _fields(directory: Path) -> Any:
    """The version's general fields (``fields.json``), if it has them and they can be used."""
    try:
        from .fields.artifact import read_fields

        return read_fields(directory)
    except ImportError:
        return None  # the fields extra is not installed: labels only



# ---- versions beside the database ---------------------------------------------------------
def versions_dir(db_path: Path, dataset: str) -> Path:
    return cache_dir(db_path, dataset) / "versions"


def version_dir(db_path: Path, dataset: str, version: int) -> Path:
    return versions_dir(db_path, dataset) / str(int(version))


def keep_files(db_path: Path, dataset: str, scoring: ScoringModel, version: int, pinned: set[int]) -> None:
    """Write version ``version``'s files and prune the unpinned ones older than the last
    ``KEEP_LAST``."""
    root = versions_dir(db_path, dataset)
    root.mkdir(parents=True, exist_ok=True)
    for path in (root.parent, root):
        protect(path, db_path)
    write_artifact(scoring, version_dir(db_path, dataset, version), db_path)
    prune(db_path, dataset, pinned)


def prune(db_path: Path, dataset: str, pinned: set[int]) -> list[int]:
    root = versions_dir(db_path, dataset)
    kept = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True) if root.is_dir() else []
    removed = [v for v in kept[KEEP_LAST:] if v not in pinned]
    for v in removed:
        shutil.rmtree(root / str(v), ignore_errors=True)
    return removed


def trained_on(idf: np.ndarray, labels: list[str], x: Any, assigned: list[dict[str, int | None]],
               reviews: Reviews) -> str:
    """A digest of what a model is fitted on: cmtui's version, the mailbox's word weights
    (``idf``), the taxonomy, the reviewed messages' features (``x``, a CSR matrix), their
    reviews and ids, modes and update times (a changed property changes the time): two
    validations with the same digest fit the same data."""
    digest = hashlib.sha256()
    for part in (__version__.encode(), idf.tobytes(), json.dumps([labels, assigned, reviews.mids, reviews.modes],
                                                                 sort_keys=True).encode(),
                 np.asarray(reviews.updated).tobytes(), np.asarray(x.indptr).tobytes(),
                 np.asarray(x.indices).tobytes(), np.asarray(x.data).tobytes()):
        digest.update(part)
    return digest.hexdigest()


class Reviews(NamedTuple):
    """What identifies a model's reviews beside their labels (``trained_on``)."""

    mids: list[int]
    modes: list[str]
    updated: np.ndarray  # the reviewed messages' update times


def record(store: Store, dataset: str, state: ModelState, idf: np.ndarray, tree_spec: list[TreeColumn],
           bits: int, x_reviewed: Any, assigned: list[dict[str, int | None]],
           reviews: Reviews) -> tuple[int, bool]:
    """Record a validation's model as a new version (its report, labels and three
    thresholds per label) and keep the files that score with it; for a dataset with
    sentiment, with a sentiment model fitted on the reviews (``x_reviewed``: their
    features; ``assigned``: their labels and sentiments; ``reviews``: their ids, modes
    and update times). Returns the version and whether it is new.

    When the newest version was fitted on the same data (``trained_on``: the app opened
    again with nothing changed), that version is returned and nothing is written: every
    opening made a version until then, and the files of older ones were pruned for it."""
    assert state.model is not None
    key = trained_on(idf, state.labels, x_reviewed, assigned, reviews)
    latest = store.latest_run(dataset)
    if latest is not None and latest[1] == key:
        return latest[0], False
    state.report["trained_on"] = key
    points = operating_points(state.report, state.labels, state.thresholds)
    reviewed = int(state.report["reviewed"])
    record = {**state.report, "label_names": state.labels,
              "operating_points": {name: dict(zip(OPERATING_POINTS, map(float, points[j]), strict=True))
                                   for j, name in enumerate(state.labels)}}
    version = store.save_model_run(dataset, reviewed, record)
    figures = {k: state.report.get(k) for k in ("coverage", "map", "rating", "rating_band", "informative_labels")}
    has_sentiment = store.dataset_info(dataset).sentiment
    info = {"dataset": dataset, "version": version, "created": now_text(), "reviewed": reviewed,
            "figures": figures, "sentiment": has_sentiment}
    sentiment = fit_sentiment(x_reviewed, assigned) if has_sentiment else None
    pinned = {v.version for v in store.model_versions(dataset, pinned_only=True)}
    keep_files(store.path, dataset, ScoringModel(state.model, idf, points, tree_spec, bits, info, sentiment),
               version, pinned)
    return version, True


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
