"""Discover: clusters of unreviewed messages, to start a taxonomy a cluster at a time.

* The **corpus representation** is a dense view of every message: its TF-IDF row
  projected on the top singular vectors of the corpus (a randomized truncated SVD,
  scikit-learn's ``randomized_svd``, fitted on a sample of ``SVD_SAMPLE`` messages over
  the columns that sample uses at least twice), rows normalised to unit length. New
  messages are projected with the stored components; the SVD is fitted again only once
  the dataset grew by ``REFIT_GROWTH`` (``needs_refit``).
* **Clusters** are k-means clusters (scikit-learn's ``KMeans``, 10 starts, fitted on at
  most ``KMEANS_SAMPLE`` distinct messages) of the candidates: the unreviewed messages
  (after training, those no informative label covers). ``MiniBatchKMeans`` merged two of
  ten known groups on 5 of 12 seeds of the test fixture, even with 10 starts;
  ``KMeans`` with 3 starts on 1, with 10 on none. Identical messages count once in
  the fit, so an auto-reply sent 5,000 times is one cluster, not several; each cluster is
  shown by its ``SHOWN`` messages nearest its centre, near-duplicates of one already shown
  left out and counted on it, and by the terms most frequent in it relative to all the
  candidates.

Everything here takes arrays and texts; the session fetches them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from .features import row_range, words

DIMS = 100
SVD_SAMPLE = 20_000
KMEANS_SAMPLE = 10_000
REFIT_GROWTH = 0.5  # the SVD is fitted again once the dataset grew by half
CLUSTERS = 30
SHOWN = 12
NEAR_DUPLICATE = 0.95  # cosine above which a message repeats one already shown
TERM_SAMPLE = 200  # members of a cluster whose words are counted for its terms
BACKGROUND_SAMPLE = 3000
MIN_TERMS, MAX_TERMS = 3, 8
Progress = Callable[[float], None]


@dataclass
class Corpus:
    """The dense representation of every message, in the session's row order."""

    columns: np.ndarray  # the hashed columns the SVD uses
    components: np.ndarray  # (len(columns), dims) float32
    vectors: np.ndarray  # (n_messages, dims) float32, unit rows (zero for empty messages)
    fitted_on: int  # messages in the dataset when the SVD was fitted


def fit_corpus(x: sp.csr_matrix, dims: int = DIMS, seed: int = 0) -> Corpus:
    """Fit the SVD on a sample of ``x`` (TF-IDF rows) and project every row."""
    from sklearn.utils.extmath import randomized_svd

    rng = np.random.default_rng(seed)
    n = x.shape[0]
    sample = np.sort(rng.choice(n, min(n, SVD_SAMPLE), replace=False)) if n else np.zeros(0, np.int64)
    part = x[sample]
    doc_freq = np.bincount(part.indices, minlength=x.shape[1])
    columns = np.flatnonzero(doc_freq >= 2)
    if len(columns) < 2 or len(sample) < 2:
        columns = np.flatnonzero(doc_freq)
    rank = max(1, min(dims, len(sample) - 1, len(columns) - 1))
    if len(columns) < 2 or len(sample) < 2:
        components = np.zeros((len(columns), 1), np.float32)
    else:
        _u, _s, vt = randomized_svd(part[:, columns], rank, n_iter=4, random_state=seed)
        components = vt.T.astype(np.float32)
    return Corpus(columns, components, project(x, columns, components), n)


def project(x: sp.csr_matrix, columns: np.ndarray, components: np.ndarray,
            block: int = 8192) -> np.ndarray:
    """Rows of ``x`` in the representation: unit length, zero when no known column is used.
    A block of rows at a time: slicing the columns of every row at once copied the whole
    matrix (115 MB at 100k short messages; 23 MB this way)."""
    vectors = np.empty((x.shape[0], components.shape[1]), np.float32)
    for start in range(0, x.shape[0], block):
        part = np.asarray(row_range(x, start, start + block)[:, columns] @ components, dtype=np.float32)
        norms = np.linalg.norm(part, axis=1)
        norms[norms == 0] = 1
        vectors[start:start + block] = part / norms[:, None]
    return vectors


def needs_refit(corpus: Corpus, messages: int) -> bool:
    return messages > corpus.fitted_on * (1 + REFIT_GROWTH)


@dataclass
class Cluster:
    """One cluster: its size (messages among the candidates), terms and shown messages."""

    id: int
    size: int
    terms: list[str]
    rows: list[int]  # the shown messages' rows, nearest the centre first
    copies: list[int]  # per shown message: how many candidates it stands for (itself included)
    handled: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def cluster_rows(vectors: np.ndarray, candidates: np.ndarray, k: int = CLUSTERS, seed: int = 0,
                 progress: Progress = lambda _f: None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means over the ``candidates`` rows: (cluster per candidate, centres, and per
    candidate the index of its distinct representation).

    Messages with the same representation (to 3 decimals) are one point of the fit.
    """
    from sklearn.cluster import KMeans

    points = vectors if len(candidates) == len(vectors) else vectors[candidates]  # a copy only when needed
    _keys, first, inverse, counts = np.unique(row_keys(points), return_index=True, return_inverse=True,
                                              return_counts=True)
    order = np.argsort(first)  # the distinct points in the candidates' order, not the keys'
    first, counts = first[order], counts[order]
    inverse = np.argsort(order)[inverse]
    rng = np.random.default_rng(seed)
    fit_on = np.arange(len(first)) if len(first) <= KMEANS_SAMPLE else rng.choice(len(first), KMEANS_SAMPLE, False)
    k = max(1, min(k, -(-len(first) // SHOWN)))  # a cluster's page should fill: ~12 distinct messages each
    progress(0.5)
    # a message sent many times weighs the square root of its copies: enough for a cluster of
    # its own, not enough to pull every centre towards it
    model = KMeans(k, n_init=10, random_state=seed).fit(
        points[first[fit_on]], sample_weight=np.sqrt(counts[fit_on]))
    progress(0.8)
    return model.predict(points), model.cluster_centers_.astype(np.float32), inverse


def row_keys(points: np.ndarray, block: int = 8192) -> np.ndarray:
    """A 64-bit key per row, equal for rows equal to 3 decimals: a random linear hash of
    the rounded values, wrapping modulo 2**64 (two different rows share a key with odds
    near 2**-64). Sorting these keys is ~20 times faster than ``np.unique(axis=0)`` on
    the rows at 1M (measured 15 s there)."""
    multipliers = np.random.default_rng(0).integers(1, 2**63, points.shape[1], dtype=np.uint64) | np.uint64(1)
    keys = np.empty(len(points), np.uint64)
    for start in range(0, len(points), block):
        rounded = np.rint(points[start:start + block] * 1000).astype(np.int64).astype(np.uint64)
        keys[start:start + block] = (rounded * multipliers).sum(axis=1, dtype=np.uint64)
    return keys


def central(points: np.ndarray, centre: np.ndarray, weights: np.ndarray,
            shown: int = SHOWN) -> tuple[list[int], list[int]]:
    """Positions of the ``shown`` points nearest ``centre`` that do not repeat one another,
    and for each how many messages it stands for: its ``weights`` (exact copies) and
    those of the points within ``NEAR_DUPLICATE`` of it."""
    order = np.argsort(-(points @ centre), kind="stable")
    picked: list[int] = []
    for position in order:
        if len(picked) == shown:
            break
        if not picked or float(np.max(points[picked] @ points[position])) < NEAR_DUPLICATE:
            picked.append(int(position))
    similarity = points @ points[picked].T  # (points, picked)
    nearest = np.argmax(similarity, axis=1)
    repeats = similarity[np.arange(len(points)), nearest] >= NEAR_DUPLICATE
    repeats[picked] = True
    nearest[picked] = np.arange(len(picked))
    copies = np.bincount(nearest[repeats], weights=weights[repeats], minlength=len(picked))
    return picked, [int(c) for c in copies]


def distinctive_terms(texts: Sequence[str], outside: Counter[str], n_outside: int,
                      low: int = MIN_TERMS, high: int = MAX_TERMS) -> list[str]:
    """The words that set ``texts`` apart from a background of ``n_outside`` texts whose
    ``doc_freq`` is ``outside``: frequent among them and far rarer elsewhere (share times
    smoothed log lift), one-letter words only in scripts written without spaces."""
    inside = doc_freq(texts)
    n_in = max(len(texts), 1)
    n_out = max(n_outside, 1)
    scored = []
    for term, count in inside.items():
        share = count / n_in
        if share < 0.1 or (len(term) < 2 and term.isascii()):
            continue
        lift = math.log((count + 0.5) / n_in) - math.log((outside.get(term, 0) + 0.5) / n_out)
        if lift > 0:
            scored.append((share * lift, term))
    scored.sort(key=lambda item: (-item[0], item[1]))
    terms = [term for score, term in scored[:high] if score >= 0.15]
    return terms if len(terms) >= low else [term for _score, term in scored[:low]]


def doc_freq(texts: Sequence[str]) -> Counter[str]:
    """In how many of ``texts`` each word occurs."""
    frame = pl.DataFrame({"tok": words(pl.Series(list(texts), dtype=pl.String))}).with_row_index("row")
    counts = frame.explode("tok").drop_nulls("tok").unique(["row", "tok"]).group_by("tok").len()
    return Counter(dict(zip(counts["tok"].to_list(), counts["len"].to_list(), strict=True)))


def build(vectors: np.ndarray, candidates: np.ndarray, text_of: Callable[[Sequence[int]], list[str]],
          k: int = CLUSTERS, seed: int = 0, progress: Progress = lambda _f: None) -> list[Cluster]:
    """Clusters of the ``candidates`` rows, largest first; ``text_of(rows)`` gives their texts."""
    if not len(candidates):
        return []
    labels, centres, inverse = cluster_rows(vectors, candidates, k, seed, progress)
    rng = np.random.default_rng(seed)
    background_rows = candidates[rng.permutation(len(candidates))[:BACKGROUND_SAMPLE]]
    members_of = [np.flatnonzero(labels == c) for c in range(len(centres))]
    shown: list[tuple[int, list[int], list[int], np.ndarray]] = []
    for c, members in enumerate(members_of):
        if not len(members):
            continue
        # one point per distinct text, weighted by its copies
        _keys, where, counts = np.unique(inverse[members], return_index=True, return_counts=True)
        distinct = members[where]
        picked, copies = central(vectors[candidates[distinct]], centres[c], counts)
        sample = members[rng.permutation(len(members))[:TERM_SAMPLE]]
        shown.append((len(members), [int(candidates[distinct[p]]) for p in picked], copies, sample))
    wanted = sorted({int(r) for _, rows, _, sample in shown for r in [*rows, *candidates[sample]]}
                    | {int(r) for r in background_rows})
    texts = dict(zip(wanted, text_of(wanted), strict=True))
    background = doc_freq([texts[int(r)] for r in background_rows])
    clusters: list[Cluster] = []
    for size, rows, copies, sample in sorted(shown, key=lambda item: -item[0]):
        terms = distinctive_terms([texts[int(r)] for r in candidates[sample]], background, len(background_rows))
        clusters.append(Cluster(len(clusters), size, terms, rows, copies))
    progress(1.0)
    return clusters
