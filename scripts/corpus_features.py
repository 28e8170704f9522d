"""Does Discover's corpus representation help the model? Paired, on every gold set.

usage: python scripts/corpus_features.py [--data ../shared/data] [--sizes 100,200,500,1000]
                                         [--seeds 0-5] [--weights 0.5,1] [--jobs 2]

For each gold set the corpus representation (``discover.fit_corpus``: the randomized SVD
of the TF-IDF rows, unit rows) is fitted on the train file without its labels, as the app
fits it on a dataset, and the test file is projected on it. At each size a seeded random
sample of the train file is labelled (as Shuffle picks) and cmtui's model
(``model.train_gated``: the prior, with trees where they earned them) is trained twice on
it: on the app's TF-IDF features, and on those with the dense vectors appended, scaled
by a weight (1: the dense block has the norm of the text block). Prints, per set, size
and weight, the MAP over labels seen (``map_all`` of ``cmtui simulate``) of both, their
mean paired difference, its standard error and the seeds won, as a markdown table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy and OpenMP load: see cmtui/__init__.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from baseline import cmtui_features, mean_ap, seed_list, texts_and_labels  # noqa: E402

from cmtui import discover, metrics  # noqa: E402
from cmtui.ingest import read_file  # noqa: E402
from cmtui.model import predict, train_gated  # noqa: E402
from cmtui.trainer import in_test_split  # noqa: E402


def with_dense(x: sp.csr_matrix, vectors: np.ndarray, weight: float) -> sp.csr_matrix:
    return sp.hstack([x, sp.csr_matrix(weight * vectors)], format="csr", dtype=np.float32)


def one_set(train: Path, sizes: list[int], seeds: list[int], weights: list[float]) -> list[str]:
    test = train.with_name(train.name.replace("_train", "_test"))
    x_train, x_test = cmtui_features(str(train), str(test))
    corpus = discover.fit_corpus(x_train)
    v_test = discover.project(x_test, corpus.columns, corpus.components)
    _texts, train_labels = texts_and_labels(str(train))
    _texts, test_labels = texts_and_labels(str(test))
    held_out = in_test_split(read_file(train).frame["id"].to_list())
    variants = {0.0: (x_train, x_test)} | {w: (with_dense(x_train, corpus.vectors, w), with_dense(x_test, v_test, w))
                                           for w in weights}
    lines = []
    for size in sizes:
        scores: dict[float, list[float]] = {w: [] for w in variants}
        for seed in seeds:
            pick = np.random.default_rng(seed).permutation(x_train.shape[0])[:size]
            names = sorted({n for i in pick for n in train_labels[i]})
            y = metrics.label_matrix(names, [dict.fromkeys(train_labels[i]) for i in pick])
            y_test = metrics.label_matrix(names, [dict.fromkeys(n) for n in test_labels])
            for w, (xa, xb) in variants.items():
                model, _ = train_gated(xa[pick], y, names, held_out[pick])
                scores[w].append(mean_ap(y_test, predict(model, xb)))
        base = np.array(scores[0.0])
        for w in weights:
            d = np.array(scores[w]) - base
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            lines.append(f"| {train.name.removesuffix('_train.csv')} | {size} | {w:g} | {base.mean():.4f} | "
                         f"{np.mean(scores[w]):.4f} | {d.mean():+.4f} ({se:.4f}) | {int((d > 0).sum())}/{len(d)} |")
        print("\n".join(lines[-len(weights):]), file=sys.stderr, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sizes", default="100,200,500,1000")
    parser.add_argument("--seeds", default="0-5")
    parser.add_argument("--weights", default="0.5,1", help="scales of the dense block")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sets = sorted(args.data.glob("*_train.csv"))
    if not sets:
        raise SystemExit(f"{args.data}: no gold sets here (NAME_train.csv beside NAME_test.csv)")
    sizes = [int(s) for s in args.sizes.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        tables = list(pool.map(one_set, sets, [sizes] * len(sets), [seed_list(args.seeds)] * len(sets),
                               [weights] * len(sets)))
    print("| set | labelled | weight | MAP, TF-IDF | MAP, with the representation | difference (se) | seeds won |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(line for table in tables for line in table))


if __name__ == "__main__":
    main()
