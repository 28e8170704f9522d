"""Concept drift: do the newest messages still look like the ones the model was trained on?

For the newest messages (by default those of the latest import) against the rest of the
dataset: coverage on each, each label's predicted share on each, and how easily a linear
classifier tells the newest messages from the reviewed ones (the idea of Balance: an area
under the ROC curve of 0.5 means it cannot, 1.0 that they are another kind of message).
A warning is raised when the newest messages are clearly less covered or clearly
distinguishable, with the advice to train on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import metrics

MIN_NEW = 50  # fewer newest messages say nothing either way
MAX_NEW_SHARE = 0.5  # when most of the dataset is new (a first import), there is no before
COVERAGE_DROP = 0.15  # covered share this much lower on the newest messages ...
COVERAGE_RATIO = 0.8  # ... and below this fraction of the rest's: "clearly less covered"
DISTINCT_AUC = 0.85  # the newest told apart from the reviewed this well: "clearly distinguishable"
SAMPLE = 1000  # messages of each side the classifier sees

Fit = Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray]]


def newest_by_import(updated: np.ndarray) -> np.ndarray:
    """The messages of the latest import (every import stamps its messages with one time)."""
    return updated == updated.max() if len(updated) else np.zeros(0, dtype=bool)


def measure(x: Any, new: np.ndarray, covered: np.ndarray, probs: np.ndarray, thresholds: Sequence[float],
            labels: Sequence[str], reviewed_rows: np.ndarray, fit: Fit, seed: int = 0,
            window: str = "latest import") -> dict[str, Any]:
    """Drift figures of the ``new`` rows against the rest. ``covered``: rows with an
    informative label at its threshold; ``probs`` and ``thresholds``: every label's
    scores and threshold; ``fit(x, target)`` fits a linear classifier (weights, bias)."""
    n_new, n = int(new.sum()), len(new)
    out: dict[str, Any] = {"window": window, "new": n_new, "warning": False, "why": ""}
    if n_new < MIN_NEW or n_new > MAX_NEW_SHARE * n:
        out["why"] = (f"only {n_new} messages in the {window}" if n_new < MIN_NEW
                      else f"the {window} holds most of the dataset: nothing to compare it with")
        return out
    coverage_new, coverage_rest = float(covered[new].mean()), float(covered[~new].mean())
    share_new, share_rest = _shares(probs, np.asarray(thresholds, dtype=np.float32), new)
    order = np.argsort(-np.abs(share_new - share_rest))[:5]
    out.update(coverage_new=round(coverage_new, 4), coverage_rest=round(coverage_rest, 4),
               shares=[{"label": labels[j], "new": round(float(share_new[j]), 4),
                        "before": round(float(share_rest[j]), 4)} for j in order])
    old_reviewed = np.setdiff1d(reviewed_rows, np.flatnonzero(new))
    area = _separability(x, np.flatnonzero(new), old_reviewed, fit, seed)
    out["auc"] = None if area is None else round(area, 4)
    less = coverage_new <= coverage_rest - COVERAGE_DROP and coverage_new < COVERAGE_RATIO * coverage_rest
    distinct = area is not None and area >= DISTINCT_AUC
    if less or distinct:
        out["warning"] = True
        reasons = []
        if less:
            reasons.append(f"{coverage_new:.0%} covered against {coverage_rest:.0%} before")
        if distinct:
            reasons.append(f"told apart from the reviewed messages at AUC {area:.2f}")
        out["why"] = (f"the {n_new:,} messages of the {window} look new: {'; '.join(reasons)}. "
                      "Train on them: Recent brings the newest first, then Low confidence")
    return out


def _shares(probs: np.ndarray, thresholds: np.ndarray, new: np.ndarray,
            block: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Each label's share of the ``new`` rows and of the others at its threshold (a block
    of rows at a time: 1M rows x 90 labels of flags would be 90 MB)."""
    on_new = np.zeros(probs.shape[1])
    on_all = np.zeros(probs.shape[1])
    for start in range(0, probs.shape[0], block):
        flags = probs[start:start + block] >= thresholds
        on_all += flags.sum(axis=0)
        on_new += flags[new[start:start + block]].sum(axis=0)
    n_new = int(new.sum())
    return on_new / max(n_new, 1), (on_all - on_new) / max(len(new) - n_new, 1)


def _separability(x: Any, new_rows: np.ndarray, reviewed_rows: np.ndarray, fit: Fit, seed: int) -> float | None:
    """Cross-validated AUC of a classifier telling ``new_rows`` from ``reviewed_rows``."""
    if len(reviewed_rows) < 10:
        return None
    rng = np.random.default_rng(seed)
    return separability(x, rng.permutation(new_rows)[:SAMPLE], rng.permutation(reviewed_rows)[:SAMPLE], fit, rng)


def separability(x: Any, pos: np.ndarray, neg: np.ndarray, fit: Fit, rng: np.random.Generator) -> float:
    """How well ``fit``'s classifier tells the rows ``pos`` from the rows ``neg`` of ``x``:
    the area under the ROC curve of its scores, each half scored by a fit on the other."""
    sample = np.concatenate([pos, neg])
    target = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])[:, None]
    folds = rng.permutation(len(sample)) % 2
    scores = np.zeros(len(sample))
    for fold in (0, 1):
        w, b = fit(x[sample[folds != fold]], target[folds != fold])
        scores[folds == fold] = np.asarray(x[sample[folds == fold]] @ w).ravel() + b[0]
    return metrics.auc(target.ravel().astype(bool), scores)
