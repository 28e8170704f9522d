from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cmtui.model import fit_linear, lbfgs


def test_lbfgs_finds_the_minimum_of_an_ill_conditioned_quadratic() -> None:
    rng = np.random.default_rng(0)
    scale = np.logspace(0, 3, 200)  # condition number 1000
    centre = rng.normal(size=200)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        diff = theta - centre
        return 0.5 * float(scale @ (diff * diff)), scale * diff

    found = lbfgs(objective, np.zeros(200), max_iter=500)
    assert np.abs(found - centre).max() < 1e-4
    few = lbfgs(objective, np.zeros(200), max_iter=3)  # the budget bounds the work
    assert np.abs(few - centre).max() > 1e-3


def test_fit_linear_separates_and_warm_start_keeps_the_solution() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=np.float32))
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    w, b = fit_linear(x, y, c=32.0, max_iter=100)
    scores = x @ w + b
    assert (scores[:2, 0] > 0).all() and (scores[2:, 0] < 0).all()
    assert (scores[2:, 1] > 0).all() and (scores[:2, 1] < 0).all()
    again_w, again_b = fit_linear(x, y, c=32.0, max_iter=5, init=(w, b))
    assert np.allclose(again_w, w, atol=1e-3) and np.allclose(again_b, b, atol=1e-3)


def test_the_package_keeps_blas_and_openmp_threads_from_spinning() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")}
    code = "import cmtui, os; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "PASSIVE"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's own choice stands
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "ACTIVE"]
