"""One binary model per label: LightGBM boosting from a linear prior.

Boosted trees alone are weak on a few hundred short texts, and a linear model on TF-IDF
is strong there. So each label's score is ``prior + trees``:

* the prior is a one-vs-rest logistic regression on the TF-IDF features (all labels fit
  together with L-BFGS, warm-started from the previous page's weights);
* the trees are a small LightGBM booster per label trained with the prior as its
  ``init_score`` on a bounded set of columns (the most frequent among the training
  rows), so they only learn what the prior misses. The binned LightGBM Dataset is built
  once per retrain and shared by every label.

Labels with fewer than ``min_tree_positives`` training examples keep the prior alone
(and are flagged by the metrics). Everything is deterministic for a given seed.

When each part is fitted, on which rows (``trainer.py`` runs it):

* after every submit (``Trainer.quick_retrain``): the prior is refitted on every reviewed
  message, warm-started, 15 iterations; the boosters are not refitted. The queue is
  ranked with this prior plus the boosters of the last validation.
* right after, in the background (``Trainer.validate``): prior and boosters are fitted
  together on the training split (80% of the reviews, by a hash of the id) and scored on
  the test split for the figures and the balanced thresholds. Its boosters then join the
  quick retrain's prior, which saw every review.

So the boosters that rank the queue were fitted against a prior on 80% of the reviews
(and one page fewer), not against the prior they are added to. Two consistent pipelines
were measured against this one (Low confidence, 10 pages, 6 paired seeds, all six gold
sets in ../shared/data; docs/benchmarks.md): boosters refitted against the full prior
lost coverage on GoEmotions (-4.2 points, 2 of 6 seeds) and MAP on HWU64 (-2.4, 2 of 6);
ranking with the validation model itself lost MAP on every set. Neither holds on every
set, so the pipeline stays as it is until the engine work (where LightGBM has to earn
its place) settles it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .features import cache_dir
from .private import protect_cache_file

PREDICT_BLOCK = 65_536  # rows scored at a time


@dataclass
class ModelParams:
    c: float = 32.0  # inverse regularisation of the linear prior
    max_iter: int = 50
    tree_columns: int = 800
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
    tree_columns: np.ndarray
    boosters: dict[int, object] = field(default_factory=dict)
    used: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class Cancelled(Exception):
    """Retraining was cancelled between labels."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def fit_linear(x: sp.csr_matrix, y: np.ndarray, c: float, max_iter: int,
               init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest L2 logistic regression for every column of ``y`` at once.

    ``x`` holds only the columns used by the training rows. Returns (weights, bias).
    """
    n, d = x.shape
    k = y.shape[1]
    target = y.astype(np.float64)
    xt = x.T.tocsr()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * k].reshape(d, k)
        b = theta[d * k:]
        z = np.asarray(x @ w) + b
        p = _sigmoid(z)
        # log(1 + e^z) - y z, computed stably
        loss = float(np.sum(np.logaddexp(0, z) - target * z)) + 0.5 / c * float(np.sum(w * w))
        residual = p - target
        grad_w = np.asarray(xt @ residual) + w / c
        grad_b = residual.sum(axis=0)
        return loss, np.concatenate([grad_w.ravel(), grad_b])

    theta0 = np.zeros(d * k + k)
    if init is not None:
        theta0[: d * k] = init[0].ravel()
        theta0[d * k:] = init[1]
    theta = lbfgs(objective, theta0, max_iter)
    return theta[: d * k].reshape(d, k), theta[d * k:]


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
          trees_from: TrainedModel | None = None) -> TrainedModel:
    """Fit the prior and one booster per label on the training rows.

    With ``trees_from``, only the prior is fitted and that model's boosters are reused:
    they learned what a prior fitted on nearly the same rows misses.
    """
    params = params or ModelParams()
    n_features = x_train.shape[1]
    k = len(labels)
    x_used, used = used_columns(x_train)
    init = None
    if previous is not None and list(previous.labels) == list(labels):
        init = (previous.weights[used].astype(np.float64), previous.bias.astype(np.float64))
    positives = y_train.sum(axis=0)
    if x_train.shape[0] == 0 or k == 0:
        return TrainedModel(list(labels), np.zeros((n_features, k), np.float32), np.zeros(k),
                            np.zeros(0, np.int64), {})
    w_used, bias = fit_linear(x_used, y_train, params.c, params.max_iter, init)
    weights = spread(w_used, used, n_features)
    progress(0.3)
    if cancelled():
        raise Cancelled
    prior = np.asarray(x_used @ w_used) + bias

    if trees_from is not None and list(trees_from.labels) == list(labels):
        progress(1.0)
        return TrainedModel(list(labels), weights, bias.astype(np.float32), trees_from.tree_columns,
                            trees_from.boosters, used)
    tree_columns, boosters = _fit_boosters(x_train, y_train, prior, positives, params, cancelled, progress)
    return TrainedModel(list(labels), weights, bias.astype(np.float32), tree_columns, boosters, used)


def _fit_boosters(x_train: sp.csr_matrix, y_train: np.ndarray, prior: np.ndarray, positives: np.ndarray,
                  params: ModelParams, cancelled: Callable[[], bool],
                  progress: Callable[[float], None]) -> tuple[np.ndarray, dict[int, object]]:
    """One small booster per label with enough positives and negatives, each learning
    what the prior misses (the prior is its ``init_score``), on the most frequent columns."""
    n_features, k = x_train.shape[1], y_train.shape[1]
    boosters: dict[int, object] = {}
    tree_labels = [j for j in range(k) if positives[j] >= params.min_tree_positives
                   and positives[j] <= len(y_train) - params.min_tree_positives]
    doc_freq = np.bincount(x_train.indices, minlength=n_features)
    candidates = np.flatnonzero(doc_freq >= 2)
    order = np.lexsort((candidates, -doc_freq[candidates]))
    tree_columns = np.sort(candidates[order[: params.tree_columns]])
    if tree_labels and len(tree_columns) and params.rounds > 0:
        import lightgbm as lgb

        x_trees = x_train[:, tree_columns]
        dataset = lgb.Dataset(x_trees, label=y_train[:, tree_labels[0]].astype(np.float64),
                              init_score=np.ascontiguousarray(prior[:, tree_labels[0]]), free_raw_data=False,
                              params={"max_bin": 31, "min_data_in_bin": 1, "verbose": -1,
                                      "feature_pre_filter": False})
        dataset.construct()
        lgb_params = {
            "objective": "binary", "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves, "min_data_in_leaf": 3, "min_sum_hessian_in_leaf": 1e-3,
            "lambda_l2": 1.0, "feature_fraction": 0.8, "bagging_fraction": 1.0,
            "num_threads": 2, "deterministic": True, "force_row_wise": True,
            "seed": params.seed, "verbose": -1,
        }
        for step, j in enumerate(tree_labels):
            if cancelled():
                raise Cancelled
            dataset.set_label(y_train[:, j].astype(np.float64))
            dataset.set_init_score(np.ascontiguousarray(prior[:, j]))
            boosters[j] = lgb.train(lgb_params, dataset, num_boost_round=params.rounds)
            progress(0.3 + 0.7 * (step + 1) / len(tree_labels))
    return tree_columns, boosters


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


def tree_scores(model: TrainedModel, x: sp.csr_matrix) -> np.ndarray:
    """The boosters' raw scores (n_rows, n_labels); zero for labels without a booster.

    They depend only on the boosters, so a caller may keep them while the boosters stay.
    """
    raw = np.zeros((x.shape[0], len(model.labels)), dtype=np.float32)
    if model.boosters and x.shape[0]:
        x_trees = x[:, model.tree_columns]
        for j, booster in model.boosters.items():
            raw[:, j] = booster.predict(x_trees, raw_score=True)  # type: ignore[attr-defined]
    return raw


def predict(model: TrainedModel, x: sp.csr_matrix, trees: np.ndarray | None = None) -> np.ndarray:
    """Probabilities (n_rows, n_labels) as float32; ``trees`` are cached ``tree_scores``.

    The linear part runs in blocks of rows on every core (scipy and numpy release the
    GIL), which also bounds the temporary arrays at a million messages.
    """
    k = len(model.labels)
    out = np.zeros((x.shape[0], k), dtype=np.float32)
    if x.shape[0] == 0 or k == 0:
        return out
    mask = np.zeros(x.shape[1], dtype=np.float32)
    mask[model.used] = 1

    def block(start: int) -> None:
        part = x[start:start + PREDICT_BLOCK]
        out[start:start + part.shape[0]] = (np.asarray(part @ model.weights)
                                            / known_norms(part, mask)[:, None] + model.bias)

    starts = range(0, x.shape[0], PREDICT_BLOCK)
    if len(starts) == 1:
        block(0)
    else:
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(block, starts))
    out += tree_scores(model, x) if trees is None else trees
    return _sigmoid(out).astype(np.float32, copy=False)


# ---- persisted predictions (for export and for reopening without a retrain) ------------
def predictions_path(db_path: Path, dataset: str) -> Path:
    return cache_dir(db_path, dataset) / "predictions.npz"


def save_predictions(db_path: Path, dataset: str, mids: np.ndarray, labels: Sequence[str],
                     probs: np.ndarray, version: int) -> None:
    path = predictions_path(db_path, dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("predictions.part.npz")
    np.savez(tmp, mids=mids, probs=probs.astype(np.float16), version=np.array(version),
             labels=np.array(json.dumps(list(labels))))
    tmp.replace(path)
    protect_cache_file(path)


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
