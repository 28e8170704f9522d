"""Trainable fields: which candidates of a built-in kind are a team's field.

"Renewal date" and "incident date" are both dates; the words around a date and what the
message is about tell them apart. Each candidate is described by the words on each side
of it (``CONTEXT`` words, marked left or right, hashed with their neighbours as in the
label model) and by the message's predicted label probabilities; a classifier per field
is fitted on the reviewed candidates: yes for the field, no (or yes for another field of
the same kind) against it. Two learners are kept side by side, a logistic regression and
LightGBM; ``cmtui simulate --fields`` measures both (docs/benchmarks.md) and
``LEARNER`` is the one that won.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

CONTEXT = 6  # words each side of a candidate
BITS = 16  # hashed context columns
MIN_EACH = 3  # reviewed candidates of each verdict a field needs before it is trained
LEARNER = "linear"
_WORD = re.compile(r"[^\W_]+")


def context_of(text: str, start: int, end: int) -> str:
    """The words around ``text[start:end]``, marked by side: ``lftpolicy lftrenews rgtfor``."""
    left = _WORD.findall(text[max(0, start - 200):start])[-CONTEXT:]
    right = _WORD.findall(text[end:end + 200])[:CONTEXT]
    return " ".join([*("lft" + w.lower() for w in left), *("rgt" + w.lower() for w in right)])


def features(contexts: Sequence[str], label_probs: np.ndarray | None) -> sp.csr_matrix:
    """Hashed context words (and pairs), then the message's label probabilities."""
    from ..features import hash_texts

    words = hash_texts(pl.Series(list(contexts), dtype=pl.String), BITS)
    words.data = np.minimum(words.data, 1.0)
    if label_probs is None or not label_probs.size:
        return words.tocsr()
    return sp.hstack([words, sp.csr_matrix(label_probs.astype(np.float32))], format="csr")


@dataclass
class FieldModel:
    """A fitted classifier of one field's candidates."""

    learner: str
    fitted: Any

    def scores(self, x: sp.csr_matrix) -> np.ndarray:
        if self.learner == "trees":
            return np.asarray(self.fitted.predict(x.astype(np.float32)), dtype=np.float32)
        return np.asarray(self.fitted.predict_proba(x)[:, 1], dtype=np.float32)


def fit(x: sp.csr_matrix, y: np.ndarray, learner: str = LEARNER, seed: int = 0) -> FieldModel | None:
    """A classifier of ``x``'s rows (y: 1 the field, 0 not); None below ``MIN_EACH`` of each."""
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_EACH:
        return None
    if learner == "trees":
        import lightgbm

        booster = lightgbm.train({"objective": "binary", "learning_rate": 0.1, "num_leaves": 7,
                                  "min_data_in_leaf": 2, "min_sum_hessian_in_leaf": 1e-3, "verbose": -1,
                                  "seed": seed, "num_threads": 1, "feature_pre_filter": False},
                                 lightgbm.Dataset(x.astype(np.float32), y.astype(np.float32)), num_boost_round=60)
        return FieldModel("trees", booster)
    from sklearn.linear_model import LogisticRegression

    # balanced: a field is usually a few of its kind's candidates (5 move dates among 50 dates)
    return FieldModel("linear", LogisticRegression(C=4.0, max_iter=200, class_weight="balanced").fit(x, y))


def cross_scores(x: sp.csr_matrix, y: np.ndarray, groups: np.ndarray, learner: str = LEARNER,
                 folds: int = 5) -> np.ndarray | None:
    """Each reviewed candidate's score by a model fitted without its message (folds by
    message): what validation's precision and recall are measured on."""
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_EACH:
        return None
    unique = np.unique(groups)
    fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(0).permutation(unique))}
    fold = np.array([fold_of[g] for g in groups])
    out = np.full(len(y), np.nan, dtype=np.float32)
    for k in range(folds):
        held = fold == k
        if not held.any():
            continue
        model = fit(x[~held], y[~held], learner)
        out[held] = 0.5 if model is None else model.scores(x[held])
    return out
