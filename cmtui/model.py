"""One binary model per label: a linear prior, plus LightGBM trees where they earn it.

Boosted trees alone are weak on a few hundred short texts, and a linear model on TF-IDF
is strong there. So each label's score is ``prior + trees``:

* the prior is a one-vs-rest logistic regression on the TF-IDF features (all labels fit
  together with L-BFGS, warm-started from the previous model's weights);
* the trees are a small LightGBM booster per label trained with that prior's scores as
  their ``init_score``, so they only learn what the prior misses. They see the most
  frequent text columns and what a linear model on words cannot: the message's user
  properties (numbers and categories: channel, attachment count...), its sender's domain
  and the length of its thread (``features.TreeInputs``). Each booster sees the text
  columns its own label's prior weighs most beside the most frequent ones.

A label keeps its trees only where held-out reviews show they help (``gate_trees``: the
label's own gain in average precision, shrunk toward the mean gain of all labels judged);
elsewhere it is scored by the prior alone. Labels with fewer than
``min_tree_positives`` training examples have no trees. Everything is deterministic for
a given seed.

When each part is fitted, on which rows (``trainer.py`` runs it), so that every booster
is used with the prior it was fitted against:

* validation, in the background after each submit: prior and boosters for every label
  are fitted on the training split (80% of the reviews, by a hash of the id) and scored
  on the test split; ``gate_trees`` keeps the labels whose trees helped there. Figures
  come from that gated model, and the thresholds from it and from four more fits, each
  holding out another fifth of the reviews (so every review is scored by a model that did
  not see it). Then the production model is fitted on every review: the prior
  (warm-started, 15 iterations) and, against it, boosters for the kept labels.
* after every submit (the quick retrain, before the next page): the prior of every label
  without trees is refitted on every review (warm-started, 15 iterations; the objective
  is a sum over labels, so those columns fit alone). A label with trees keeps the prior
  and boosters that the last validation fitted together, one page behind, until the
  validation that follows refits both, and its scores stand meanwhile: only the labels
  without trees are rescored. Refitting its boosters here too cost 1.8 s at 1,000
  reviewed on 100k messages (26 labels with trees), against 0.5 s for the page.
  This model ranks every training mode's queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .features import TreeInputs, cache_dir, row_range
from .private import write_cache_file

PREDICT_BLOCK = 32_768  # rows scored at a time by the prior (two blocks of 65,536 took 230 MB at 1M)
TREE_ROWS = 32_768  # rows scored at a time by the boosters (bounds their inputs' memory:
# a full rescore of 1M rose 325 MB over its start with 131,072, 198 MB with 32,768, as fast)
SHRINK = 0.5  # how far one label's own held-out gain moves it from the pooled gain
TREE_THREADS = 2  # boosters fitted and scored side by side
SPLIT_PRODUCT_NNZ = 200_000  # a prior fit's products over more stored entries run on two threads
MIN_GATE_POSITIVES = 3  # held-out positives a label needs before its trees can be judged


@dataclass
class ModelParams:
    c: float = 32.0  # inverse regularisation of the linear prior
    max_iter: int = 50
    tree_columns: int = 100  # text columns every booster sees: the most frequent ones
    label_columns: int = 100  # and those with the largest prior weights for its own label
    rounds: int = 20
    num_leaves: int = 7
    learning_rate: float = 0.1
    min_tree_positives: int = 8
    seed: int = 0


@dataclass
class TrainedModel:
    labels: list[str]
    weights: np.ndarray  # (n_features, n_labels) float32, zero outside used columns
    bias: np.ndarray
    tree_columns: dict[int, np.ndarray]  # label column -> the text columns its booster sees
    boosters: dict[int, object] = field(default_factory=dict)  # label column -> booster
    used: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    extra_columns: int = 0  # tree inputs beyond the text columns (``TreeInputs.values``)


class Cancelled(Exception):
    """Retraining was cancelled between labels."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _sigmoid_in_place(raw: np.ndarray) -> np.ndarray:
    """``_sigmoid`` of a float32 array, written over it: on (1M, 20) scores the
    temporaries of the plain form took 320 MB."""
    np.clip(raw, -30, 30, out=raw)
    np.negative(raw, out=raw)
    np.exp(raw, out=raw)
    raw += 1.0
    np.reciprocal(raw, out=raw)
    return raw


def fit_linear(x: sp.csr_matrix, y: np.ndarray, c: float, max_iter: int,
               init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest L2 logistic regression for every column of ``y`` at once.

    ``x`` holds only the columns used by the training rows. Returns (weights, bias).
    """
    n, d = x.shape
    k = y.shape[1]
    target = y.astype(np.float64)
    x = x.astype(np.float64, copy=False)  # once: scipy would convert float32 entries on every product
    with ThreadPoolExecutor(1) as pool:
        by_rows, by_columns = _SplitProduct(x, pool), _SplitProduct(x.T.tocsr(), pool)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[: d * k].reshape(d, k)
            b = theta[d * k:]
            z = by_rows(w) + b
            p = _sigmoid(z)
            # log(1 + e^z) - y z, computed stably
            loss = float(np.sum(np.logaddexp(0, z) - target * z)) + 0.5 / c * float(np.sum(w * w))
            residual = p - target
            grad_w = by_columns(residual) + w / c
            grad_b = residual.sum(axis=0)
            return loss, np.concatenate([grad_w.ravel(), grad_b])

        theta0 = np.zeros(d * k + k)
        if init is not None:
            theta0[: d * k] = init[0].ravel()
            theta0[d * k:] = init[1]
        theta = lbfgs(objective, theta0, max_iter)
    return theta[: d * k].reshape(d, k), theta[d * k:]


class _SplitProduct:
    """``m @ v`` for a CSR ``m``: above ``SPLIT_PRODUCT_NNZ`` stored entries, the rows
    holding the second half of them on ``pool``'s thread while the caller does the first
    (scipy releases the GIL). Each output row is computed as in one product, so the result
    is bit-identical. At 5,000 long emails (916k entries, 26 labels) a product took 14 ms
    on one core and 7 ms on two; the prior's fit is most of a validation's one-core time."""

    def __init__(self, m: sp.csr_matrix, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        middle = int(np.searchsorted(m.indptr, m.nnz // 2)) if m.nnz > SPLIT_PRODUCT_NNZ else 0
        self.halves = [row_range(m, 0, middle), row_range(m, middle, m.shape[0])] if middle else [m]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        if len(self.halves) == 1:
            return np.asarray(self.halves[0] @ v)
        first, second = self.halves
        out = np.empty((first.shape[0] + second.shape[0], v.shape[1]), np.result_type(first.dtype, v.dtype))
        later = self.pool.submit(lambda: second @ v)
        out[: first.shape[0]] = first @ v
        out[first.shape[0]:] = later.result()
        return out


def lbfgs(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], start: np.ndarray, max_iter: int,
          memory: int = 10, gradient_tolerance: float = 1e-5) -> np.ndarray:
    """Minimise a smooth convex ``objective`` (returning value and gradient) by L-BFGS.

    The two-loop recursion with a backtracking (Armijo) line search. Kept over SciPy's
    L-BFGS-B because it still wins with one OpenBLAS thread: on a quick refit after a
    page (1,060 long emails, 193,540 weights, warm start, 15 iterations;
    ``scripts/lbfgs_timing.py``, median of 9) it takes 0.095 s against SciPy 1.17's
    0.160 s, reaching the same objective (301.61 against 301.55).
    """
    theta = start.copy()
    value, gradient = objective(theta)
    history: list[tuple[np.ndarray, np.ndarray, float]] = []  # (step, gradient change, 1 / their product)
    for _ in range(max_iter):
        if not np.isfinite(value) or float(np.abs(gradient).max(initial=0.0)) <= gradient_tolerance:
            break
        direction = gradient.copy()
        alphas = []
        for s, g, rho in reversed(history):
            alpha = rho * float(s @ direction)
            direction -= alpha * g
            alphas.append(alpha)
        if history:
            s, g, rho = history[-1]
            direction *= 1.0 / (rho * float(g @ g))  # (s.g)/(g.g): the curvature along the last step
        else:
            direction *= 1.0 / max(1.0, float(np.linalg.norm(gradient)))
        for (s, g, rho), alpha in zip(history, reversed(alphas), strict=True):
            direction += s * (alpha - rho * float(g @ direction))
        direction = -direction
        slope = float(gradient @ direction)
        if slope >= 0:  # not a descent direction: start again from the gradient
            history.clear()
            direction = -gradient / max(1.0, float(np.linalg.norm(gradient)))
            slope = float(gradient @ direction)
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_value, new_gradient = objective(candidate)
            if new_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        if new_value > value:  # no progress possible along any step
            break
        s, g = candidate - theta, new_gradient - gradient
        curvature = float(s @ g)
        if curvature > 1e-12:
            history.append((s, g, 1.0 / curvature))
            if len(history) > memory:
                history.pop(0)
        converged = value - new_value <= 1e-12 * max(1.0, abs(value))
        theta, value, gradient = candidate, new_value, new_gradient
        if converged:
            break
    return theta


def used_columns(x: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``x`` narrowed to the columns its rows use (renumbered), and those columns."""
    used = np.unique(x.indices)
    remap = np.full(x.shape[1], -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return sp.csr_matrix((x.data, remap[x.indices], x.indptr), shape=(x.shape[0], len(used))), used


def spread(w_used: np.ndarray, used: np.ndarray, n_features: int) -> np.ndarray:
    """Weights over ``used`` columns back in the full feature space (float32, zero elsewhere)."""
    weights = np.zeros((n_features, w_used.shape[1]), dtype=np.float32)
    weights[used] = w_used
    return weights


def train(x_train: sp.csr_matrix, y_train: np.ndarray, labels: Sequence[str],
          params: ModelParams | None = None, previous: TrainedModel | None = None,
          cancelled: Callable[[], bool] = lambda: False,
          progress: Callable[[float], None] = lambda _f: None,
          tree_labels: Sequence[int] | None = None, extra: TreeInputs | None = None) -> TrainedModel:
    """Fit the prior, then boosters against that prior for ``tree_labels`` (default: every
    label with enough positives and negatives; ``[]``: the prior alone).

    ``previous`` warm-starts the prior; ``extra`` holds the training rows' tree inputs.
    """
    params = params or ModelParams()
    n_features = x_train.shape[1]
    k = len(labels)
    x_used, used = used_columns(x_train)
    init = None
    if previous is not None and list(previous.labels) == list(labels):
        init = (previous.weights[used].astype(np.float64), previous.bias.astype(np.float64))
    if x_train.shape[0] == 0 or k == 0:
        return TrainedModel(list(labels), np.zeros((n_features, k), np.float32), np.zeros(k), {}, {})
    w_used, bias = fit_linear(x_used, y_train, params.c, params.max_iter, init)
    prior_model = TrainedModel(list(labels), spread(w_used, used, n_features), bias.astype(np.float32),
                               {}, {}, used)
    progress(0.3)
    if cancelled():
        raise Cancelled
    prior = np.asarray(x_used @ w_used) + bias
    return fit_trees(prior_model, x_train, y_train, prior, params, tree_labels, extra, cancelled,
                     lambda f: progress(0.3 + 0.7 * f))


def refit_prior(previous: TrainedModel, x_train: sp.csr_matrix, y_train: np.ndarray,
                columns: Sequence[int] | np.ndarray,
                params: ModelParams) -> TrainedModel:
    """``previous`` with the prior of the labels ``columns`` refitted on the training rows
    (warm-started from it); every other label keeps its prior and its booster, the pair
    they were fitted as. The one-vs-rest objective is a sum over labels, so fitting a few
    columns alone gives what fitting them with the rest would. No columns: ``previous``."""
    cols = np.asarray(columns, dtype=np.int64)
    if not len(cols):
        return previous
    x_used, used = used_columns(x_train)
    weights, bias = previous.weights.copy(), previous.bias.copy()
    if x_train.shape[0]:
        init = (previous.weights[np.ix_(used, cols)].astype(np.float64), previous.bias[cols].astype(np.float64))
        w_used, b = fit_linear(x_used, y_train[:, cols], params.c, params.max_iter, init)
        weights[:, cols] = 0
        weights[np.ix_(used, cols)] = w_used
        bias[cols] = b
    return replace(previous, weights=weights, bias=bias.astype(np.float32), used=np.union1d(previous.used, used))


def fit_trees(model: TrainedModel, x_train: sp.csr_matrix, y_train: np.ndarray, prior: np.ndarray,
              params: ModelParams, tree_labels: Sequence[int] | None = None, extra: TreeInputs | None = None,
              cancelled: Callable[[], bool] = lambda: False,
              progress: Callable[[float], None] = lambda _f: None) -> TrainedModel:
    """``model`` with new boosters for ``tree_labels``, each fitted against ``model``'s own
    prior (``prior``: its raw scores on the training rows), so they learn only what that
    prior misses. Labels without enough positives and negatives get none.

    Each booster sees the ``tree_columns`` most frequent text columns, the
    ``label_columns`` columns its label's prior weighs most, and the extra inputs. A
    LightGBM booster's set-up costs about 55 us per column, so 805 shared columns cost
    45 ms a label before the first tree, and 200 cost 10 ms; the boosters are fitted two
    at a time (LightGBM releases the GIL), one thread each.
    """
    extra = extra or TreeInputs.none(x_train.shape[0])
    positives = y_train.sum(axis=0)
    eligible = [j for j in (range(len(model.labels)) if tree_labels is None else tree_labels)
                if params.min_tree_positives <= positives[j] <= len(y_train) - params.min_tree_positives]
    if not eligible or params.rounds <= 0:
        return replace(model, tree_columns={}, boosters={}, extra_columns=extra.values.shape[1])
    frequent = _frequent_columns(x_train, params.tree_columns)
    columns = {j: _label_columns(model.weights[:, j], frequent, params.label_columns) for j in eligible}
    union, local = _union(columns)
    x_union = x_train[:, union]
    done = [0]

    def fit(j: int) -> object:
        if cancelled():
            raise Cancelled
        booster = _fit_booster(_tree_matrix(x_union[:, local[j]], extra.values), y_train[:, j], prior[:, j],
                               [len(columns[j]) + c for c in extra.categorical], params)
        done[0] += 1
        progress(done[0] / len(eligible))
        return booster

    with ThreadPoolExecutor(TREE_THREADS) as pool:
        boosters = dict(zip(eligible, pool.map(fit, eligible), strict=True))
    progress(1.0)
    return replace(model, tree_columns=columns, boosters=boosters, extra_columns=extra.values.shape[1])


def _frequent_columns(x_train: sp.csr_matrix, count: int) -> np.ndarray:
    """The ``count`` text columns used by most training rows (at least two of them)."""
    doc_freq = np.bincount(x_train.indices, minlength=x_train.shape[1])
    candidates = np.flatnonzero(doc_freq >= 2)
    order = np.lexsort((candidates, -doc_freq[candidates]))
    return np.sort(candidates[order[:count]])


def _label_columns(weights: np.ndarray, frequent: np.ndarray, count: int) -> np.ndarray:
    """``frequent`` and the ``count`` columns with the largest prior weights (either sign)."""
    strongest = np.argpartition(-np.abs(weights), min(count, len(weights) - 1))[:count]
    strongest = strongest[weights[strongest] != 0]
    return np.union1d(frequent, strongest)


def _union(columns: dict[int, np.ndarray]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Every label's columns together, and each label's positions within them: one column
    slice of the (large) feature matrix serves every booster."""
    union = np.unique(np.concatenate(list(columns.values()))) if columns else np.zeros(0, np.int64)
    return union, {j: np.searchsorted(union, cols) for j, cols in columns.items()}


def _tree_matrix(text: sp.csr_matrix, extra: np.ndarray) -> sp.csr_matrix:
    """The trees' input: the label's text columns, then the extra inputs."""
    if not extra.shape[1]:
        return text
    return sp.hstack([text, sp.csr_matrix(extra)], format="csr")  # NaN (missing) stays explicit


def _fit_booster(x_trees: sp.csr_matrix, y: np.ndarray, prior: np.ndarray, categorical: list[int],
                 params: ModelParams) -> object:
    """One small booster, the prior's scores as its ``init_score``."""
    import lightgbm as lgb

    dataset = lgb.Dataset(x_trees, label=y.astype(np.float64), init_score=np.ascontiguousarray(prior),
                          categorical_feature=categorical or "auto",
                          params={"max_bin": 31, "min_data_in_bin": 1, "verbose": -1, "feature_pre_filter": False})
    lgb_params = {
        "objective": "binary", "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves, "min_data_in_leaf": 3, "min_sum_hessian_in_leaf": 1e-3,
        "lambda_l2": 1.0, "feature_fraction": 0.8, "bagging_fraction": 1.0,
        "num_threads": 1, "deterministic": True, "force_col_wise": True,
        "seed": params.seed, "verbose": -1, "cat_smooth": 5.0, "min_data_per_group": 5,
    }
    return lgb.train(lgb_params, dataset, num_boost_round=params.rounds)


def prior_scores(model: TrainedModel, x: sp.csr_matrix, columns: np.ndarray | None = None) -> np.ndarray:
    """The prior's raw scores (n_rows, n_labels), rows normalised over the known columns;
    with ``columns`` (label columns), those labels' scores alone (n_rows, len(columns)),
    each the same as in the full matrix."""
    weights, bias = (model.weights, model.bias) if columns is None else (model.weights[:, columns], model.bias[columns])
    k = weights.shape[1]
    out = np.zeros((x.shape[0], k), dtype=np.float32)
    if x.shape[0] == 0 or k == 0:
        return out
    mask = np.zeros(x.shape[1], dtype=np.float32)
    mask[model.used] = 1

    def block(start: int) -> None:
        part = row_range(x, start, start + PREDICT_BLOCK)
        out[start:start + part.shape[0]] = (np.asarray(part @ weights) / known_norms(part, mask)[:, None] + bias)

    starts = range(0, x.shape[0], PREDICT_BLOCK)
    if len(starts) == 1:
        block(0)
    else:  # scipy and numpy release the GIL: blocks of rows on every core
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(block, starts))
    return out


def known_norms(x: sp.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """Row norms over the columns the training rows use (``mask`` is 1 there, 0 elsewhere):
    words never seen in training say nothing about a label, so they must not dilute the
    words that do."""
    if not x.nnz:
        return np.ones(x.shape[0], dtype=np.float32)
    squares = x.data * x.data * mask[x.indices]
    starts = x.indptr[:-1]
    sums = np.add.reduceat(squares, np.minimum(starts, len(squares) - 1))
    sums[starts == x.indptr[1:]] = 0  # empty rows
    norms = np.sqrt(sums)
    norms[norms == 0] = 1
    return norms.astype(np.float32)


def tree_scores(model: TrainedModel, x: sp.csr_matrix, extra: TreeInputs | None = None,
                into: np.ndarray | None = None) -> np.ndarray:
    """The boosters' raw scores (n_rows, n_labels); zero for labels without a booster.

    ``extra``: the rows' tree inputs (missing for every row when not given). The scores
    depend only on the boosters, so a caller may keep them while the boosters stay.
    ``into``: scores of the same shape to add them to (and return), instead of new ones.

    A booster of 20 small trees splits on about 25 of its ~200 inputs, so each one is
    given only those (the others left empty, which it never reads): building every
    label's full input cost 75 ms a label at 100k messages, four fifths of scoring.
    Rows are scored ``TREE_ROWS`` at a time: the inputs of 1M rows at once took 880 MB.
    Each thread takes a block of rows, its inputs and every booster: with the threads
    sharing one block's boosters instead, reading the next block's inputs left the second
    core idle (1M long, 26 boosters: 5.9-6.1 s against 4.8-5.2 s, the same scores).
    Up to ``TREE_ROWS`` rows (a held-out fold) are one block whose boosters the threads
    share: a block per thread doubled the boosters' calls (1,000 rows: 21 against 31 ms).
    """
    raw = np.zeros((x.shape[0], len(model.labels)), dtype=np.float32) if into is None else into
    if not model.boosters or not x.shape[0]:
        return raw
    values = (extra.values if extra is not None and extra.values.shape[1] == model.extra_columns
              else np.full((x.shape[0], model.extra_columns), np.nan, np.float32))
    read = {j: _features_read(booster) for j, booster in model.boosters.items()}
    text = {j: model.tree_columns[j][f[f < len(model.tree_columns[j])]] for j, f in read.items()}
    union, local = _union(text)

    n = x.shape[0]

    def inputs(start: int, end: int) -> _BlockInputs:
        part = values[start:end]
        rows, cols = np.nonzero((part != 0) | np.isnan(part))  # a CSR's absent entries are zeros
        return _BlockInputs(row_range(x, start, end)[:, union].tocsc(),
                            sp.csc_matrix((part[rows, cols], (rows, cols)), shape=part.shape))

    def block(start: int, size: int) -> None:
        block_inputs = inputs(start, min(n, start + size))
        for j in model.boosters:
            _score_label(model, read, local, block_inputs, raw[start:start + size], j)

    with ThreadPoolExecutor(TREE_THREADS) as pool:
        if n <= TREE_ROWS:  # one block: the threads share its boosters
            list(pool.map(partial(_score_label, model, read, local, inputs(0, n), raw), model.boosters))
        else:  # a block of rows per thread, about the same size, its inputs and every booster
            size = -(-n // -(-n // TREE_ROWS))
            list(pool.map(partial(block, size=size), range(0, n, size)))
    return raw


@dataclass
class _BlockInputs:
    """A block of rows' tree inputs: the text columns some booster reads, and the extras."""

    text: sp.csc_matrix  # the union of the read text columns
    extra: sp.csc_matrix


def _score_label(model: TrainedModel, read: dict[int, np.ndarray], local: dict[int, np.ndarray],
                 inputs: _BlockInputs, out: np.ndarray, j: int) -> None:
    """Label ``j``'s booster scores of a block of rows, added to ``out[:, j]``."""
    width = len(model.tree_columns[j])
    columns = sp.hstack([inputs.text[:, local[j]], inputs.extra[:, read[j][read[j] >= width] - width]],
                        format="csc")
    scores = model.boosters[j].predict(  # type: ignore[attr-defined]
        _placed(columns, read[j], width + inputs.extra.shape[1]), raw_score=True, num_threads=1)
    out[:, j] += scores.astype(np.float32)  # rounded first, as when kept apart and added


def _features_read(booster: object) -> np.ndarray:
    """The input positions some tree of ``booster`` splits on, ascending."""
    return np.flatnonzero(booster.feature_importance("split"))  # type: ignore[attr-defined]


def _placed(columns: sp.csc_matrix, positions: np.ndarray, width: int) -> sp.csr_matrix:
    """A (rows, ``width``) matrix holding ``columns`` at ``positions`` (ascending), the
    other columns empty."""
    counts = np.zeros(width, dtype=np.int64)
    counts[positions] = np.diff(columns.indptr)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csc_matrix((columns.data, columns.indices, indptr), shape=(columns.shape[0], width)).tocsr()


def predict(model: TrainedModel, x: sp.csr_matrix, trees: np.ndarray | None = None,
            extra: TreeInputs | None = None) -> np.ndarray:
    """Probabilities (n_rows, n_labels) as float32: prior plus trees; ``trees`` are cached
    ``tree_scores`` of the same rows."""
    raw = prior_scores(model, x)
    if trees is None:
        tree_scores(model, x, extra, into=raw)  # added in place: 1M rows' scores are 104 MB
    else:
        raw += trees
    return _sigmoid_in_place(raw)


def prior_probabilities(model: TrainedModel, x: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """Probabilities (n_rows, len(columns)) of the prior alone for the labels ``columns``:
    what ``predict`` gives them when they have no booster."""
    return _sigmoid_in_place(prior_scores(model, x, columns))


def gate_trees(model: TrainedModel, x_test: sp.csr_matrix, y_test: np.ndarray,
               extra: TreeInputs | None = None) -> tuple[list[int], np.ndarray]:
    """The labels that keep their boosters, judged on held-out rows, and the held-out
    probabilities of the model that keeps only those.

    A label is judged when it has at least ``MIN_GATE_POSITIVES`` positives (and some
    negatives) there. One label's AP on a few held-out messages is noisy, so its gain is
    shrunk toward the mean gain of the judged labels (halfway: ``SHRINK``) and it keeps its
    trees when that is not negative; when the trees do not raise the mean AP at all, only
    the labels whose own AP they raised keep them. Measured against a plain per-label
    test (keep where the label's own AP rose; scripts/trees_ablation.py, 6 seeds): MixATIS
    at 240 labelled, prior alone 0.802, all trees 0.863, per-label 0.838, this 0.863;
    GoEmotions 0.1585 / 0.1655 / 0.1589 / 0.1605; HWU64 at 1,000, where trees hurt
    (0.7147 / 0.7110), per-label 0.7140, this 0.7135.
    """
    from .metrics import average_precision

    prior = prior_scores(model, x_test)
    trees = tree_scores(model, x_test, extra)
    gains: dict[int, float] = {}
    for j in sorted(model.boosters):
        if y_test[:, j].sum() >= MIN_GATE_POSITIVES and not y_test[:, j].all():
            gains[j] = (average_precision(y_test[:, j], prior[:, j] + trees[:, j])
                        - average_precision(y_test[:, j], prior[:, j]))
    if gains and float(np.mean(list(gains.values()))) > 0:
        pooled = float(np.mean(list(gains.values())))
        kept = [j for j in sorted(model.boosters) if pooled + SHRINK * (gains.get(j, pooled) - pooled) >= 0]
    else:
        kept = [j for j, gain in gains.items() if gain > 0]
    raw = prior.copy()
    raw[:, kept] += trees[:, kept]
    return kept, _sigmoid(raw).astype(np.float32, copy=False)


def train_gated(x_train: sp.csr_matrix, y_train: np.ndarray, labels: Sequence[str], held_out: np.ndarray,
                params: ModelParams | None = None, extra: TreeInputs | None = None) -> tuple[TrainedModel, list[int]]:
    """What validation decides, in one call (for the benchmark scripts): fit on the rows
    outside ``held_out``, keep the labels whose trees helped on ``held_out``, then fit the
    prior on every row and boosters for the kept labels against it. Returns the model and
    the kept label columns."""
    params = params or ModelParams()
    extra = extra or TreeInputs.none(x_train.shape[0])
    judged = train(x_train[~held_out], y_train[~held_out], labels, params, extra=extra.rows(~held_out))
    kept, _ = gate_trees(judged, x_train[held_out], y_train[held_out], extra.rows(held_out))
    return train(x_train, y_train, labels, params, judged, tree_labels=kept, extra=extra), kept


# ---- persisted predictions (for export and for reopening without a retrain) ------------
def predictions_path(db_path: Path, dataset: str) -> Path:
    return cache_dir(db_path, dataset) / "predictions.npz"


def save_predictions(db_path: Path, dataset: str, mids: np.ndarray, labels: Sequence[str],
                     probs: np.ndarray, version: int) -> None:
    write_cache_file(predictions_path(db_path, dataset), lambda tmp: np.savez(
        tmp, mids=mids, probs=probs.astype(np.float16), version=np.array(version),
        labels=np.array(json.dumps(list(labels)))))


def load_predictions(db_path: Path, dataset: str) -> tuple[list[int], list[str], np.ndarray] | None:
    """The last saved predictions of ``dataset`` (None when there are none, or damaged)."""
    path = predictions_path(db_path, dataset)
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            return (data["mids"].tolist(), json.loads(str(data["labels"])),
                    data["probs"].astype(np.float32))
    except (OSError, ValueError, KeyError):
        return None
