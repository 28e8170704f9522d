"""Time cmtui's own L-BFGS against SciPy's L-BFGS-B on the linear prior's objective.

Usage: python scripts/lbfgs_timing.py [--messages 1060] [--runs 7]
A quick refit as the app makes it after a page: long synthetic emails (the sample
generator's ``long`` profile), hashed TF-IDF features on the columns the rows use, every
label at once, warm-started from a fit on all but the last page, 15 iterations. Prints the
median seconds and the objective each reaches, both with one OpenBLAS thread (the
package sets it before numpy loads, as here).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as cmtui/__init__.py, before numpy loads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time

import numpy as np
import polars as pl
from scipy.optimize import minimize

from cmtui import metrics
from cmtui.features import clean_text, hash_texts, tfidf
from cmtui.model import _sigmoid, lbfgs, used_columns
from cmtui.sample import generate


def problem(n: int) -> tuple[object, np.ndarray]:
    rows = list(generate(n, profile="long"))
    frame = pl.DataFrame({"subject": [r["subject"] for r in rows], "body": [r["body"] for r in rows]})
    counts = hash_texts(frame.select(clean_text(pl.col("subject"), pl.col("body"))).to_series())
    x, _ = tfidf(counts)
    names = sorted({n for r in rows for n in r["labels"].split(";") if n})
    y = metrics.label_matrix(names, [dict.fromkeys(n for n in r["labels"].split(";") if n) for r in rows])
    x_used, _ = used_columns(x)
    return x_used, y


def objective_of(x: object, y: np.ndarray, c: float = 32.0):  # type: ignore[no-untyped-def]
    d, k = x.shape[1], y.shape[1]  # type: ignore[attr-defined]
    target = y.astype(np.float64)
    xt = x.T.tocsr()  # type: ignore[attr-defined]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * k].reshape(d, k)
        z = np.asarray(x @ w) + theta[d * k:]
        residual = _sigmoid(z) - target
        loss = float(np.sum(np.logaddexp(0, z) - target * z)) + 0.5 / c * float(np.sum(w * w))
        grad_w = np.asarray(xt @ residual) + w / c
        return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

    return objective, d * k + k


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1060)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    x, y = problem(args.messages)
    objective, size = objective_of(x, y)
    warm_obj, _ = objective_of(x[:-20], y[:-20])  # type: ignore[index]
    start = lbfgs(warm_obj, np.zeros(size), 50)  # the fit before the last page
    ours, scipys = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        theta = lbfgs(objective, start, 15)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 15})
        scipys.append(time.perf_counter() - t)
    print(f"{args.messages} emails, {size} weights, 15 iterations, median of {args.runs}:")
    print(f"  cmtui lbfgs      {statistics.median(ours):.3f} s  objective {objective(theta)[0]:.2f}")
    print(f"  scipy L-BFGS-B   {statistics.median(scipys):.3f} s  objective {result.fun:.2f}")


if __name__ == "__main__":
    main()
