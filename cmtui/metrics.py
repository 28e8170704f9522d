"""Validation figures: precision, recall, AP, MAP, informative labels, coverage, balance, rating.

Informative labels (our rule; the platform does not publish its formula)
-------------------------------------------------------------------------
For each label L over the reviewed messages (a message carries L when L or one of its
descendants is assigned):

* parent share: the share of L's messages on which none of L's descendants is assigned.
  A parent that is never used on its own scores 0.
* alternatives: the labels L is used *instead of*: its siblings under a common parent,
  and the labels almost never on a message with L (``co-occurrences <= 0.1 * n_L * n_M /
  N``) where chance would have put L with them, together, at least twice. A **facet** is a dimension of the taxonomy (a genre, a
  topic, a request type, a product, a tone on every message): L belongs to one when, on
  the messages without L, one of its alternatives stands in for it at least a quarter of
  the time.
* rider: L is a rider when it comes with some label that is neither its ancestor nor its
  descendant on at least 90% of its messages *and* it belongs to no facet: a flag that is
  never used instead of anything, only on top of it (the platform's ``Urgent``). Being
  seen with a label of another facet never makes a label a rider: a topic that always
  comes with a genre says plenty. Where the taxonomy has no facet at all and most label
  uses share their message with other labels (multi-intent requests, where one message
  names two or three intents from one list), co-occurrence says nothing and no label is
  a rider. (A taxonomy counts as faceted when labels of facets make at least half of all
  label uses: a few labels that happen never to meet do not make one. For this count,
  labels apart are alternatives only where chance would have put them together at least
  ln(number of label pairs) times, so that chance leaves about one pair of the whole
  taxonomy apart: ``_alternatives``.)
* weight(L) = 0 for a rider, else its parent share. L is informative when
  weight(L) >= 0.2 and it has at least 3 examples, and at least 3 reviewed messages
  without it.

On the six gold sets with every training label known this makes every leaf label with 3+
examples informative (HWU64's 18 scenario parents, never used alone, are not); a faceted
fixture (genre, topic and tone on every message, plus an ``Urgent`` flag) keeps genre,
topic and tone and drops ``Urgent`` (tests/test_metrics.py).

Coverage: the share of all messages with at least one informative label predicted at or
above that label's balanced threshold: the F1-maximising threshold among those with
precision >= 0.5 (a label with no such threshold covers nothing yet), fitted on held-out
scores of every review: five folds by the hash of the message id, each scored by a model
fitted on the other four (``trainer.Trainer._held_out_scores``). Where the randomly
picked reviews (Shuffle, and Low confidence's Shuffle slots) hold at least 3 of the
label's positives, only they are used: they stand for the dataset the threshold is
applied to, while Low confidence's own picks over-represent what the model misses. A
label with fewer than 3 positives gets 0.5 (with 5, Low confidence, which spreads its
picks over many labels, lost its coverage lead on the many-intent sets). Fitted on one
fixed fifth, a frequent weak label's threshold moved coverage by 10-25 points between
pages. The threshold is then
raised, if need be, until the label flags at most twice its share of the reviewed
messages across the dataset (``cap_by_share``): at 50% precision it could not flag more.
The share is taken from the randomly picked reviews where there are enough of them and
they show the label more often (``trainer.label_shares``). The precision, recall and AP
shown per label stay those of the fixed 20% test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .taxonomy import LABEL_SEP

MIN_MAP_EXAMPLES = 20
AMBER_EXAMPLES = 25
MIN_THRESHOLD_EXAMPLES = 3  # positives a label needs for fitted thresholds, as for being informative
INFORMATIVE_WEIGHT = 0.2
INFORMATIVE_MIN_EXAMPLES = 3
MIN_BALANCED_PRECISION = 0.5
SHARE_CAP = 2.0  # a label may flag at most this many times its share of the reviewed messages
NEVER = 1.01  # a threshold no probability reaches


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise, as scikit-learn computes it)."""
    y = np.asarray(y_true, dtype=bool)
    positives = int(y.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    s = np.asarray(scores, dtype=np.float64)[order]
    y = y[order]
    # the last index of each run of equal scores
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / positives
    previous = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - previous) * precision))


def precision_recall(y_true: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp = int((y & p).sum())
    fp = int((~y & p).sum())
    fn = int((y & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


@dataclass
class Thresholds:
    high_precision: float
    balanced: float
    high_recall: float


def thresholds(y_true: np.ndarray, scores: np.ndarray) -> Thresholds:
    """High precision (precision >= 0.95 if reachable), balanced (best F1), high recall (>= 0.95)."""
    y = np.asarray(y_true, dtype=bool)
    if y.sum() < MIN_THRESHOLD_EXAMPLES:
        return Thresholds(0.8, 0.5, 0.2)
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    tp = np.cumsum(y[order])
    k = np.arange(1, len(s) + 1)
    precision = tp / k
    recall = tp / y.sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    # A threshold that buys F1 by calling most messages positive (a weak label with a high
    # base rate) would make coverage meaningless: require the precision to be useful.
    f1[precision < MIN_BALANCED_PRECISION] = -1
    balanced = float(s[int(np.argmax(f1))]) if f1.max() >= 0 else NEVER
    precise = np.flatnonzero(precision >= 0.95)
    high_precision = float(s[precise[-1]]) if len(precise) else float(s[0])
    recalled = np.flatnonzero(recall >= 0.95)
    high_recall = float(s[recalled[0]]) if len(recalled) else float(s[-1])
    if balanced >= NEVER:
        return Thresholds(NEVER, NEVER, high_recall)
    return Thresholds(max(high_precision, balanced), balanced, min(high_recall, balanced))


def closure(labels: Sequence[str], assigned: set[str]) -> set[str]:
    """The assigned labels with all their ancestors."""
    out = set(assigned)
    for name in assigned:
        parts = name.split(LABEL_SEP)
        out.update(LABEL_SEP.join(parts[:i]) for i in range(1, len(parts)))
    return out & set(labels) if labels else out


def label_matrix(labels: Sequence[str], rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Boolean (n_rows, n_labels): label or a descendant assigned."""
    index = {name: j for j, name in enumerate(labels)}
    y = np.zeros((len(rows), len(labels)), dtype=bool)
    by_set: dict[frozenset[str], list[int]] = {}  # thousands of reviews, a few hundred label sets
    for i, assigned in enumerate(rows):
        by_set.setdefault(frozenset(assigned), []).append(i)
    for names, at in by_set.items():
        columns = [index[name] for name in closure(labels, set(names)) if name in index]
        y[np.ix_(at, columns)] = True
    return y


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + LABEL_SEP) or b.startswith(a + LABEL_SEP)


RIDER_ACCOMPANIED = 0.9  # a rider comes with an unrelated label on at least this share of its messages
EXCLUSIVE = 0.1  # alternatives share a message at most this share of what chance predicts
EXCLUSIVE_EVIDENCE = 2.0  # ... and chance predicts L to meet them, together, at least this often
FACET_STAND_IN = 0.25  # an alternative stands in for L on this share of the messages without it
FACETED_USES = 0.5  # a taxonomy is faceted when labels of facets make this share of label uses
SHARED_USES = 0.5  # above this share of label uses on multi-label messages, co-occurrence is normal


def informative_weights(labels: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """weight(L) by the rule in this module's docstring (0 for labels never used)."""
    known = set(labels)
    labelled = [used for r in rows if (used := known.intersection(r))]
    if not labels or not labelled:
        return dict.fromkeys(labels, 0.0)
    y = label_matrix(labels, [dict.fromkeys(names) for names in labelled]).astype(np.float64)
    counts = y.sum(axis=0)
    related = np.array([[_related(a, b) for b in labels] for a in labels])
    unrelated = ~related
    together = y.T @ y  # messages carrying both labels
    # accompanied: share of L's messages that also carry a label unrelated to L
    has_unrelated = (y @ unrelated) > 0
    accompanied = np.divide((y * has_unrelated).sum(axis=0), counts, out=np.zeros(len(labels)), where=counts > 0)
    alternatives, beyond_chance = _alternatives(labels, counts, together, unrelated, len(labelled))
    without = 1 - y

    absent = without.sum(axis=0)

    def facets(alternatives: np.ndarray) -> np.ndarray:
        stand_in = ((y @ alternatives.T) > 0) * without  # message without L carrying an alternative of L
        return (stand_in.sum(axis=0) >= FACET_STAND_IN * np.maximum(absent, 1)) & (absent > 0)

    facet = facets(alternatives)
    rider = (accompanied >= RIDER_ACCOMPANIED) & ~facet & (counts > 0)
    index = {name: j for j, name in enumerate(labels)}
    uses = np.bincount([index[name] for names in labelled for name in names], minlength=len(labels))
    faceted = uses[facets(beyond_chance)].sum() >= FACETED_USES * uses.sum()
    if not faceted and _shared_uses(labelled) > SHARED_USES:
        rider[:] = False  # one flat list, mostly used several at a time: co-occurrence is normal
    weights: dict[str, float] = {}
    for j, name in enumerate(labels):
        if counts[j] == 0 or rider[j]:
            weights[name] = 0.0
            continue
        descendants = [k for k, other in enumerate(labels) if other.startswith(name + LABEL_SEP)]
        with_child = (y[:, descendants].sum(axis=1) > 0) if descendants else np.zeros(len(labelled), bool)
        weights[name] = float((y[:, j].astype(bool) & ~with_child).sum() / counts[j])
    return weights


def _alternatives(labels: Sequence[str], counts: np.ndarray, together: np.ndarray, unrelated: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, k) bool: M is an alternative of L (siblings, or almost never seen together);
    and the same beyond chance: siblings, or pairs apart that chance would have put
    together at least ln(number of pairs) times.

    Chance keeps a pair expected to meet e times apart with probability exp(-e), so the
    second leaves about one pair of the whole taxonomy apart by chance. It decides whether
    the taxonomy is faceted: on 80-180 multi-intent requests, 17 intents of about 13%
    each, chance kept one pair in fifteen apart, half the intents looked like values of
    facets, six intents became riders and coverage fell by 10-15 points for a few pages.
    """
    expected = np.outer(counts, counts) / max(n, 1)
    exclusive = (together <= EXCLUSIVE * expected) & unrelated & (expected > 0)
    pairs = len(labels) * (len(labels) - 1) / 2
    strong = exclusive & (expected >= max(EXCLUSIVE_EVIDENCE, float(np.log(max(pairs, 1)))))
    # the evidence is weighed over all of L's candidates at once: a topic among six, each on
    # five of 60 messages, is expected to meet each other one only 0.4 times
    exclusive &= ((expected * exclusive).sum(axis=1) >= EXCLUSIVE_EVIDENCE)[:, None]
    parents = [name.rsplit(LABEL_SEP, 1)[0] if LABEL_SEP in name else None for name in labels]
    siblings = np.array([[a is not None and a == b for b in parents] for a in parents]) & unrelated
    np.fill_diagonal(siblings, False)
    return exclusive | siblings, strong | siblings


def _shared_uses(labelled: Sequence[set[str]]) -> float:
    """The share of label uses that sit on a message with another, unrelated label."""
    uses = shared = 0
    for names in labelled:
        leaves = [a for a in names if not any(b != a and b.startswith(a + LABEL_SEP) for b in names)]
        uses += len(leaves)
        if any(not _related(a, b) for i, a in enumerate(leaves) for b in leaves[i + 1:]):
            shared += len(leaves)
    return shared / uses if uses else 0.0


def informative_from(labels: Sequence[str], weights: dict[str, float], y: np.ndarray) -> list[str]:
    """Informative labels from their weights and the reviews (``y``: reviewed messages x
    ``labels``): enough examples with the label, and as many without it (a label on every
    reviewed message, as after one Discover cluster, tells no message from another: its
    threshold would flag the whole dataset)."""
    counts = y.sum(axis=0)
    without = y.shape[0] - counts
    return [name for j, name in enumerate(labels)
            if weights[name] >= INFORMATIVE_WEIGHT and counts[j] >= INFORMATIVE_MIN_EXAMPLES
            and without[j] >= INFORMATIVE_MIN_EXAMPLES]


def cap_by_share(probs: np.ndarray, thresholds: Sequence[float], shares: np.ndarray,
                 sample: int = 200_000) -> list[float]:
    """Raise each threshold until its label flags at most ``2 * share`` of the messages.

    ``shares`` are the labels' shares of the reviewed messages; the flagged share is
    estimated on at most ``sample`` evenly spaced rows of ``probs``.
    """
    rows = probs[:: max(1, -(-probs.shape[0] // sample))] if probs.shape[0] else probs
    capped = []
    for j, t in enumerate(thresholds):
        most = SHARE_CAP * float(shares[j]) if j < len(shares) else 1.0
        flagged_at_most = int(most * rows.shape[0])
        if t >= NEVER or most >= 1 or not rows.shape[0]:
            capped.append(float(t))
            continue
        if flagged_at_most == 0:
            capped.append(NEVER)
            continue
        column = rows[:, j]
        kth = float(np.partition(column, len(column) - flagged_at_most)[len(column) - flagged_at_most])
        capped.append(max(float(t), float(np.nextafter(np.float32(kth), np.float32(2)))
                          if (column >= kth).sum() > flagged_at_most else kth))
    return capped


def coverage(probs: np.ndarray, labels: Sequence[str], informative: set[str],
             thresholds: Sequence[float]) -> tuple[np.ndarray, float]:
    """Coverage: per message, how well informative labels cover it (``coverage_scores``,
    >= 1: covered), and the share of messages covered."""
    columns = [j for j, name in enumerate(labels) if name in informative]
    covered = coverage_scores(probs, columns, [thresholds[j] for j in columns])
    return covered, float((covered >= 1).mean()) if len(columns) and len(covered) else 0.0


EXPECTED_SAMPLE = 100_000  # evenly spaced messages the expected coverage is averaged over
CALIBRATION_PULL = 1.0  # pseudo-observations pulling the calibration toward the raw scores
CALIBRATION_PAIRS = 50_000  # (score, label) pairs the calibration is fitted on, at most
RANDOM_CALIBRATION_MIN = 20  # reviews (a page) that sample the mailbox before there is a calibration
UNCHOSEN_MODES = ("shuffle", "recent", "import", "")  # modes that do not pick messages by what they say


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibration(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Platt scaling pooled over labels: ``(a, b)`` with P(label | score p) =
    sigmoid(a * logit(p) + b), fitted by Newton's method on every (held-out score, label)
    pair; ``CALIBRATION_PULL`` keeps it finite when the pairs separate perfectly. One
    pair of numbers for all labels: per label, a few positives made it swing."""
    from .model import _sigmoid  # loaded wherever there are scores to calibrate

    step = max(1, -(-np.size(y) // CALIBRATION_PAIRS))  # evenly spaced reviews: plenty for two numbers
    z, t = _logit(scores[::step]).ravel(), np.asarray(y[::step], dtype=np.float64).ravel()

    def loss(theta: np.ndarray) -> float:
        m = theta[0] * z + theta[1]
        return float((np.logaddexp(0, m) - t * m).sum() + CALIBRATION_PULL / 2 * ((theta[0] - 1) ** 2 + theta[1] ** 2))

    theta = np.array([1.0, 0.0])
    current = loss(theta)
    for _ in range(50):
        q = _sigmoid(theta[0] * z + theta[1])
        w = q * (1 - q)
        grad = np.array([((q - t) * z).sum(), (q - t).sum()]) + CALIBRATION_PULL * (theta - [1.0, 0.0])
        hess = np.array([[(w * z * z).sum(), (w * z).sum()], [(w * z).sum(), w.sum()]]) + CALIBRATION_PULL * np.eye(2)
        move = np.linalg.solve(hess, grad)
        while (after := loss(theta - move)) > current and np.abs(move).max() > 1e-12:  # Newton overshoots far out
            move = move / 2
        theta, current = theta - move, after
        if np.abs(move).max() < 1e-7:
            break
    return float(theta[0]), float(theta[1])


def calibration_sample(modes: Sequence[str]) -> np.ndarray:
    """The reviews the expected coverage is calibrated on, by the mode each was made in:
    those picked at random (Shuffle, and Low confidence's shuffled half) once there are
    ``RANDOM_CALIBRATION_MIN``; before, every review no mode chose by what the message
    says (random, newest first, imported). Low confidence picks what the model covers
    worst, Discover a cluster's most typical messages: neither samples the mailbox."""
    chosen_in = np.asarray(modes, dtype=object)
    random = chosen_in == "shuffle"
    return random if random.sum() >= RANDOM_CALIBRATION_MIN else np.isin(chosen_in, UNCHOSEN_MODES)


def expected_coverage(probs: np.ndarray, labels: Sequence[str], informative: set[str], y: np.ndarray,
                      held_out: np.ndarray, sample: np.ndarray | None = None) -> float | None:
    """The share of messages whose likeliest informative label is right, as the model's
    calibrated probabilities put it: the mean over messages of the highest calibrated
    probability among the ``informative`` labels, calibrated (``calibration``) on the
    reviews' labels ``y`` and held-out scores ``held_out``. No threshold: it moves with
    the model, not with where one label's threshold happened to fall. Over at most
    ``EXPECTED_SAMPLE`` evenly spaced rows of ``probs``.

    ``sample`` marks the reviews to calibrate on (``calibration_sample``; all when not
    given); with fewer than ``RANDOM_CALIBRATION_MIN`` of them there is no figure (None).
    Low confidence picks what the model covers worst, where its scores are least right, so
    a calibration fitted on its picks read low: on the faceted set (scripts/faceted_set.py,
    6 seeds) 9.3 points under the calibration on gold labels, against 4.8 under Shuffle.
    Fitted on 36 reviews of three Discover clusters, each carrying one of their three
    labels, it read 91% on the sample mailbox, against a meter of 10%: nothing reviewed
    said that most messages carry none of them."""
    from .model import _sigmoid

    if sample is not None:
        if sample.sum() < RANDOM_CALIBRATION_MIN:
            return None
        y, held_out = y[sample], held_out[sample]
    columns = [j for j, name in enumerate(labels) if name in informative]
    if not columns or not len(y) or not probs.shape[0]:
        return 0.0
    a, b = calibration(y[:, columns], held_out[:, columns])
    rows = probs[:: max(1, -(-probs.shape[0] // EXPECTED_SAMPLE)), columns]
    best = rows.max(axis=1) if a >= 0 else rows.min(axis=1)  # calibration keeps the order, or turns it
    return float(_sigmoid(a * _logit(best) + b).mean())


def coverage_scores(probs: np.ndarray, columns: Sequence[int], label_thresholds: Sequence[float],
                    block: int = 65_536) -> np.ndarray:
    """Per row, the best ``probability / threshold`` over informative labels (>= 1: covered).
    A block of rows at a time: the informative columns of 1M rows, and their ratios, took
    200 MB at once."""
    if not len(columns):
        return np.zeros(probs.shape[0], dtype=np.float32)
    t = np.asarray(label_thresholds, dtype=np.float32)
    out = np.empty(probs.shape[0], dtype=np.float32)
    for start in range(0, probs.shape[0], block):
        out[start:start + block] = (probs[start:start + block, list(columns)] / t).max(axis=1)
    return out


@dataclass
class LabelReport:
    name: str
    examples: int
    train_examples: int
    test_examples: int
    precision: float
    recall: float
    ap: float
    thresholds: Thresholds
    informative: bool
    weight: float
    warning: str  # "", "amber" or "red"


def warning_level(examples: int, ap: float) -> str:
    if examples < 10 or (not np.isnan(ap) and ap < 0.5):
        return "red"
    if examples < AMBER_EXAMPLES or (not np.isnan(ap) and ap < 0.75):
        return "amber"
    return ""


def validate(labels: Sequence[str], y_test: np.ndarray, p_test: np.ndarray, y_train: np.ndarray,
             weights: dict[str, float], informative_names: set[str],
             fit_on: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[LabelReport]:
    """Per-label figures on the test split. Thresholds are fitted on ``fit_on`` when given:
    (labels, held-out scores, picked at random) of every review. A label's thresholds come
    from the randomly picked reviews when they hold ``MIN_THRESHOLD_EXAMPLES`` of its
    positives (they stand for the whole dataset, where the thresholds are applied; Low
    confidence's own picks over-represent what the model misses), else from every review."""
    y_all, p_all, random = fit_on if fit_on is not None else (y_test, p_test, np.zeros(len(y_test), bool))
    reports = []
    for j, name in enumerate(labels):
        ap = average_precision(y_test[:, j], p_test[:, j]) if len(y_test) else float("nan")
        sample = random if y_all[random, j].sum() >= MIN_THRESHOLD_EXAMPLES else slice(None)
        th = thresholds(y_all[sample, j], p_all[sample, j]) if len(y_all) else Thresholds(0.8, 0.5, 0.2)
        precision, recall = precision_recall(y_test[:, j], p_test[:, j] >= th.balanced) if len(y_test) else (0.0, 0.0)
        train_n = int(y_train[:, j].sum())
        test_n = int(y_test[:, j].sum())
        reports.append(LabelReport(name, train_n + test_n, train_n, test_n, precision, recall, ap, th,
                                   name in informative_names, weights.get(name, 0.0),
                                   warning_level(train_n + test_n, ap)))
    return reports


def mean_ap(reports: Sequence[LabelReport], min_train: int = MIN_MAP_EXAMPLES) -> float:
    """The mean AP of the labels whose AP is shown (``AMBER_EXAMPLES`` examples, and
    ``min_train`` of them in training). From 20 in training alone, a label of 24 examples
    whose AP was held back as "needs 1" gave "MAP 100%" beside a Poor rating."""
    aps = [r.ap for r in reports
           if r.examples >= AMBER_EXAMPLES and r.train_examples >= min_train and not np.isnan(r.ap)]
    return float(np.mean(aps)) if aps else float("nan")


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic; tied scores share their average rank)."""
    from scipy.stats import rankdata  # where it is used: scipy.stats is slow to import

    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(scores, method="average")
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def label_quality(reports: Sequence[LabelReport]) -> tuple[float, float]:
    """The rating's two label factors: the mean, and the mean of the worst 10%, of each
    label's AP scaled by ``min(1, examples / 25)``.

    A label with few examples (an amber warning) earns partial credit however well it
    scores on its handful of test messages, so 20 reviewed messages never rate Good.
    """
    scores = sorted(
        (0.0 if np.isnan(r.ap) else r.ap) * min(1.0, r.examples / AMBER_EXAMPLES)
        for r in reports if r.examples > 0)
    if not scores:
        return float("nan"), float("nan")
    return float(np.mean(scores)), float(np.mean(scores[: max(1, len(scores) // 10)]))


def annotator_summary(reviews: Any) -> dict[str, Any]:
    """Per-annotator counts, the accounts that acted under each name (where they differ
    from it), and agreement on the messages reviewed more than once. ``reviews``: a polars
    frame with mid, annotator, os_user and labels (``Store.annotator_reviews``)."""
    import polars as pl

    if reviews is None or not reviews.height:
        return {"counts": {}, "agreement": None, "shared": 0, "accounts": {}}
    counts = dict(reviews.group_by("annotator").len().sort("annotator").iter_rows())
    accounts = {name: sorted(u for u in users if u and u != name) for name, users in
                reviews.group_by("annotator").agg(pl.col("os_user").unique()).iter_rows()}
    per = reviews.with_columns(pl.col("labels").fill_null([]).list.sort().list.join(";").alias("key"))
    shared = per.group_by("mid").agg(pl.len().alias("n"), pl.col("key").n_unique().alias("k")).filter(
        pl.col("n") > 1)
    agreement = float((shared["k"] == 1).mean()) if shared.height else None
    return {"counts": counts, "agreement": agreement, "shared": shared.height,
            "accounts": {name: users for name, users in sorted(accounts.items()) if users}}


def band(score: float) -> str:
    if score >= 90:
        return "Excellent"
    if score >= 70:
        return "Good"
    if score >= 50:
        return "Average"
    return "Poor"


def rating(all_labels_ap: float, worst_ap: float, coverage_value: float, balance_similarity: float) -> dict[str, Any]:
    """Model rating 0-100 from four factors, each scored 0-100 and banded."""
    factors = {
        "all_labels": 0.0 if np.isnan(all_labels_ap) else 100 * all_labels_ap,
        "worst_labels": 0.0 if np.isnan(worst_ap) else 100 * min(1.0, worst_ap / 0.8),
        "coverage": 100 * min(1.0, coverage_value / 0.9),
        "balance": 100 * balance_similarity,
    }
    weights = {"all_labels": 0.35, "worst_labels": 0.15, "coverage": 0.3, "balance": 0.2}
    score = sum(factors[k] * weights[k] for k in factors)
    return {"score": round(score, 1), "band": band(score),
            "factors": {k: {"score": round(v, 1), "band": band(v)} for k, v in factors.items()}}


def report_dict(reviewed: int, messages: int, reports: Sequence[LabelReport], coverage_value: float,
                map_value: float, balance: dict[str, Any], rating_value: dict[str, Any],
                annotators: dict[str, Any] | None = None) -> dict[str, Any]:
    def clean(x: float) -> float | None:
        return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), 4)

    return {
        "reviewed": reviewed,
        "messages": messages,
        "coverage": round(coverage_value, 4),
        "map": clean(map_value),
        "rating": rating_value["score"],
        "rating_band": rating_value["band"],
        "rating_factors": rating_value["factors"],
        "balance": balance,
        "informative_labels": sum(r.informative for r in reports),
        "labels": [
            {"name": r.name, "examples": r.examples, "precision": clean(r.precision),
             "recall": clean(r.recall), "ap": clean(r.ap), "informative": r.informative,
             "weight": round(r.weight, 3), "warning": r.warning,
             "thresholds": {k: round(v, 4) for k, v in asdict(r.thresholds).items()}}
            for r in reports
        ],
        "annotators": annotators or {},
    }


def _drift_line(drift: dict[str, Any]) -> str:
    """The drift figures of the newest messages (cmtui.drift), in one line."""
    if not drift:
        return "drift: not measured"
    if "coverage_new" not in drift:
        return f"drift: not measured ({drift.get('why', '')})"
    auc_text = "-" if drift.get("auc") is None else f"{drift['auc']:.2f}"
    figures = (f"{drift['new']} messages of the {drift['window']}: coverage {100 * drift['coverage_new']:.1f}% "
               f"against {100 * drift['coverage_rest']:.1f}% before, told apart from the reviewed at AUC {auc_text}")
    return ("DRIFT WARNING: " + drift["why"]) if drift.get("warning") else f"drift: none seen ({figures})"


def expected_text(report: dict[str, Any]) -> str:
    """`` (expected x%)`` after the coverage, where the report has the expected coverage."""
    value = report.get("coverage_expected")  # reports of versions saved before it was measured have none
    return "" if value is None else f" (expected {100 * value:.1f}%)"


def format_report(report: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "   -" if x is None else f"{100 * x:3.0f}%"

    lines = [
        f"reviewed {report['reviewed']} of {report['messages']} messages",
        f"coverage {100 * report['coverage']:.1f}%{expected_text(report)}   MAP {pct(report['map']).strip()}   "
        f"informative labels {report['informative_labels']}   "
        f"balance {report['balance'].get('similarity', 0) * 100:.0f}%",
        f"rating {report['rating']:.0f} ({report['rating_band']})   " + "   ".join(
            f"{k.replace('_', ' ')} {v['score']:.0f} ({v['band']})" for k, v in report["rating_factors"].items()),
        _drift_line(report.get("drift") or {}),
        "",
        f"{'label':40} {'examples':>8} {'prec':>5} {'recall':>6} {'AP':>5}  informative  warning",
    ]
    for row in report["labels"]:
        if row["examples"] < AMBER_EXAMPLES:  # too few to say anything: held back, as in the app
            figures = f"{'-':>5} {'-':>6} {'needs ' + str(AMBER_EXAMPLES - row['examples']):>5}"
        else:
            figures = f"{pct(row['precision']):>5} {pct(row['recall']):>6} {pct(row['ap']):>5}"
        lines.append(f"{row['name'][:40]:40} {row['examples']:8d} {figures}  "
                     f"{'yes' if row['informative'] else 'no ':11}  {row['warning'] or '-'}")
    annotators = report.get("annotators") or {}
    if annotators.get("counts"):
        lines.append("")
        accounts = annotators.get("accounts") or {}

        def who(name: str) -> str:  # the OS account beside the name given, when they differ
            return f"{name} (OS user {', '.join(accounts[name])})" if accounts.get(name) else name

        lines.append("annotators: " + ", ".join(f"{who(k)} {v}" for k, v in annotators["counts"].items()))
        if annotators.get("agreement") is not None:
            lines.append(f"agreement on {annotators['shared']} messages reviewed twice: "
                         f"{100 * annotators['agreement']:.0f}%")
    lines += format_fields(report.get("fields") or [])
    return "\n".join(lines)


def format_fields(fields: list[dict[str, Any]]) -> list[str]:
    """The general fields' figures (cmtui.fields.training): one line each."""
    if not fields:
        return []
    def pct(x: float | None) -> str:
        return "   -" if x is None else f"{100 * x:3.0f}%"

    lines = ["", f"{'field':40} {'examples':>8} {'prec':>5} {'recall':>6}  {'model':7}  warning"]
    for f in fields:
        lines.append(f"{f['name'][:40]:40} {f['examples']:8d} {pct(f['precision']):>5} {pct(f['recall']):>6}  "
                     f"{f['trained'] or 'pattern':7}  {f['warning'] or '-'}")
    return lines
