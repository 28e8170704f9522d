from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cmtui import queues


def unit_rows(vectors: list[list[float]]) -> sp.csr_matrix:
    dense = np.asarray(vectors, dtype=np.float32)
    return sp.csr_matrix(dense / np.linalg.norm(dense, axis=1, keepdims=True))


def test_density_counts_neighbours_not_itself() -> None:
    x = unit_rows([[1, 0], [1, 0.1], [1, 0.2], [0, 1]])
    rows = np.array([0, 3])
    d = queues.density(x, rows, np.arange(4), k=2)
    assert d[0] > 0.95  # two close neighbours (itself excluded)
    assert d[1] < 0.25  # an outlier


def test_low_confidence_prefers_typical_among_the_worst_covered() -> None:
    # rows 0 and 1 are equally badly covered; 0 is a one-off, 1 says what rows 2-7 say
    x = unit_rows([[0, 0, 0, 1]] + [[1, 0.05 * i, 0, 0] for i in range(7)] + [[0, 1, 0, 0]] * 4)
    covered = np.array([0.1, 0.1] + [0.9] * 10, dtype=np.float32)
    unreviewed = np.ones(12, dtype=bool)
    order = np.arange(12)[::-1].copy()  # the shuffle would put row 0 before row 1
    page = queues.low_confidence(unreviewed, covered, x, order, count=1, explore=0)
    assert page.tolist() == [1]


def test_low_confidence_stays_in_the_worst_covered_pool_and_mixes_in_shuffle() -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = unit_rows(rng.standard_normal((n, 32)).tolist())
    covered = rng.random(n).astype(np.float32)
    unreviewed = np.ones(n, dtype=bool)
    unreviewed[:50] = False
    order = rng.permutation(n)
    page = queues.low_confidence(unreviewed, covered, x, order, count=8, explore=0.25)  # every 4th slot
    assert len(set(page.tolist())) == 8 and unreviewed[page].all()
    pool = set(np.flatnonzero(unreviewed)[np.argsort(covered[unreviewed])][: queues.POOL_PAGES * 8].tolist())
    low_slots = [int(r) for i, r in enumerate(page) if (i + 1) % 4]
    assert set(low_slots) <= pool
    shuffled = [int(r) for r in order if unreviewed[r]]
    assert int(page[3]) == shuffled[0]  # every 4th slot comes from the shuffled stream
