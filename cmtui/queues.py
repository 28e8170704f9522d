"""Training modes: each turns the session's state into an ordered list of message rows.

Every function returns row indices (into the session's message arrays), best first.
They are pure: the session passes what they need, so each can be tested on small data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

MODES: dict[str, str] = {
    "low-confidence": "Low confidence",
    "shuffle": "Shuffle",
    "teach": "Teach",
    "label": "Label",
    "search": "Search",
    "check-label": "Check label",
    "missed-label": "Missed label",
    "rebalance": "Rebalance",
    "recent": "Recent",
    "discover": "Discover",
    "exceptions": "Exceptions",
}
NEEDS_CLUSTER = {"discover"}  # its argument is a cluster of the Discover screen
NEEDS_LABEL = {"teach", "label", "check-label", "missed-label"}
NEEDS_QUERY = {"search"}
PAGE_SIZE = 20
NEAR_DUPLICATE = 0.9
POOL_PAGES = 20  # Low confidence re-orders this many pages of worst-covered rows
RANK_AT_LEAST = 10_000  # worst-covered rows sorted per page; the rest only past them
DENSITY_SAMPLE = 2000  # unreviewed rows a candidate's neighbours are looked for among
EXPLORE = 0.5  # share of a Low confidence page taken from the shuffled stream


def shuffle(unreviewed: np.ndarray, shuffle_order: np.ndarray) -> np.ndarray:
    """Unreviewed rows in the session's fixed random order."""
    return shuffle_order[unreviewed[shuffle_order]]


def teach(unreviewed: np.ndarray, probs: np.ndarray, target: float = 0.5) -> np.ndarray:
    """Unreviewed rows whose probability for the label is nearest ``target``."""
    rows = np.flatnonzero(unreviewed)
    distance = np.abs(probs[rows] - target)
    return rows[np.argsort(distance, kind="stable")]


def low_confidence(unreviewed: np.ndarray, covered_score: np.ndarray, x: sp.csr_matrix,
                   shuffle_order: np.ndarray, count: int, explore: float = EXPLORE,
                   random_picks: set[int] | None = None) -> np.ndarray:
    """Unreviewed rows covered worst by informative labels, typical ones first, near-duplicates skipped.

    ``covered_score`` is the best probability/threshold over informative labels. The
    ``POOL_PAGES`` pages of worst-covered rows are re-ordered by the sum of two ranks: how
    badly covered, and how typical (``density``), so a page teaches what many messages
    say rather than one-off oddities. A share ``explore`` of each page (every second slot)
    comes from the shuffled stream, so the training set, and the held-out fifth that
    thresholds are fitted on, stay representative while coverage rises. After 10 pages
    (12 seeds, docs/benchmarks.md), against Shuffle: Banking77 7.0% coverage / MAP 0.438
    against 5.0% / 0.429; GoEmotions 54.3% / 0.174 against 37.9% / 0.164. With every
    fourth slot GoEmotions had only tied on coverage (37.7%), and coverage order alone
    had lost MAP on Banking77. The rows taken from the shuffled stream are added to
    ``random_picks`` when it is given, so the app can mark them.
    """
    random_rows = shuffle(unreviewed, shuffle_order)
    ranked = _worst_covered_typical_first(unreviewed, covered_score, x, shuffle_order, random_rows, count)
    chosen: list[int] = []
    chosen_dense: list[np.ndarray] = []  # the chosen rows as dense vectors: a similarity is a gather
    taken: set[int] = set()
    ranked_at = 0
    random_at = 0
    while len(chosen) < count and (ranked_at < len(ranked) or random_at < len(random_rows)):
        want_random = explore > 0 and (len(chosen) + 1) % max(1, round(1 / explore)) == 0
        from_random = (want_random and random_at < len(random_rows)) or ranked_at >= len(ranked)
        if from_random:
            row = int(random_rows[random_at])
            random_at += 1
        else:
            row = int(ranked[ranked_at])
            ranked_at += 1
        if row in taken:
            continue
        start, end = x.indptr[row], x.indptr[row + 1]
        columns, values = x.indices[start:end], x.data[start:end]
        if chosen and ranked_at < len(ranked) and \
                max(float(d[columns] @ values) for d in chosen_dense) > NEAR_DUPLICATE:
            continue
        chosen.append(row)
        if from_random and random_picks is not None:
            random_picks.add(row)
        dense = np.zeros(x.shape[1], dtype=np.float32)
        dense[columns] = values
        chosen_dense.append(dense)
        taken.add(row)
    return np.array(chosen, dtype=np.int64)


def _worst_covered_typical_first(unreviewed: np.ndarray, covered_score: np.ndarray, x: sp.csr_matrix,
                                 shuffle_order: np.ndarray, random_rows: np.ndarray, count: int) -> np.ndarray:
    """Unreviewed rows, worst covered first; the first ``POOL_PAGES`` pages of them
    re-ordered by coverage rank plus density rank."""
    rows = np.flatnonzero(unreviewed)
    enough = max(RANK_AT_LEAST, 20 * POOL_PAGES * count)
    if len(rows) > enough:  # a page needs the worst covered, not a sort of a million rows
        kth = np.partition(covered_score[rows], enough)[enough]
        rows = rows[covered_score[rows] <= kth]
    shuffle_position = np.empty_like(shuffle_order)
    shuffle_position[shuffle_order] = np.arange(len(shuffle_order))
    # equally covered messages (all zero before any label is informative) come in random order
    ranked = rows[np.lexsort((shuffle_position[rows], covered_score[rows]))]
    pool = ranked[: POOL_PAGES * count]
    typical = np.argsort(np.argsort(-density(x, pool, random_rows[:DENSITY_SAMPLE]), kind="stable"),
                         kind="stable")
    return np.concatenate([pool[np.argsort(np.arange(len(pool)) + typical, kind="stable")], ranked[len(pool):]])


def density(x: sp.csr_matrix, rows: np.ndarray, sample: np.ndarray, k: int = 10) -> np.ndarray:
    """Per row, the mean cosine similarity to its ``k`` nearest neighbours among ``sample``."""
    if not len(rows) or not len(sample):
        return np.zeros(len(rows), dtype=np.float32)
    sims = (x[rows] @ x[sample].T).toarray()
    sims[rows[:, None] == sample[None, :]] = 0.0  # a message is not its own neighbour
    k = min(k, sims.shape[1])
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def by_label(probs: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
    """Rows predicted to have the label, highest confidence first."""
    rows = np.arange(len(probs)) if candidates is None else np.flatnonzero(candidates)
    return rows[np.argsort(-probs[rows], kind="stable")]


def check_label(has_label: np.ndarray, probs: np.ndarray, disagreement: np.ndarray) -> np.ndarray:
    """Reviewed rows carrying the label, the ones the model doubts most (and disputed ones) first."""
    rows = np.flatnonzero(has_label)
    key = probs[rows] - disagreement[rows].astype(np.float32) * 2
    return rows[np.argsort(key, kind="stable")]


def missed_label(reviewed_without: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Reviewed rows lacking the label that the model thinks should have it."""
    rows = np.flatnonzero(reviewed_without)
    return rows[np.argsort(-probs[rows], kind="stable")]


def rebalance(unreviewed: np.ndarray, reviewed_likeness: np.ndarray) -> np.ndarray:
    """Unreviewed rows least like the reviewed ones (most under-represented) first."""
    rows = np.flatnonzero(unreviewed)
    return rows[np.argsort(reviewed_likeness[rows], kind="stable")]


def recent(timestamps: np.ndarray, unreviewed: np.ndarray) -> np.ndarray:
    """Newest first, unreviewed before reviewed."""
    order = np.lexsort((-timestamps.astype(np.int64), ~unreviewed))
    return order
