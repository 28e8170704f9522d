"""Does LightGBM earn its place? The prior alone against prior + trees, on every gold set.

usage: python scripts/trees_ablation.py [--data ../shared/data] [--sizes 100,200,500,1000,2000]
                                        [--seeds 0-5] [--sets banking77,reuters]

For each gold set and number of labelled messages (picked at random, as Shuffle does),
three models are fitted on the same messages with cmtui's own code and scored on the
set's test file (MAP over every label seen in both): the prior alone, the prior with
trees for every label, and what the app runs (``cmtui.model.train_gated``: trees kept
only for the labels where they raised the held-out AP on the test split of the labelled
messages). Prints one JSON line per set and size, with the differences against the
prior alone paired by seed (mean, standard error, seeds won). The gold sets carry no
user properties, so the trees see words only here; tests/test_model.py shows them
finding a label that a property shows and the words do not.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy and OpenMP load: see cmtui/__init__.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from baseline import cmtui_features, mean_ap, seed_list, texts_and_labels  # noqa: E402

from cmtui import metrics  # noqa: E402
from cmtui.ingest import read_file  # noqa: E402
from cmtui.model import predict, train, train_gated  # noqa: E402
from cmtui.trainer import in_test_split  # noqa: E402


def paired(values: list[float], against: list[float]) -> dict[str, object]:
    d = np.array(values) - np.array(against)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None
    return {"difference": round(float(d.mean()), 4), "standard_error": None if se is None else round(se, 4),
            "wins": f"{int((d > 0).sum())}/{len(d)}"}


def ablate(train_path: Path, test_path: Path, sizes: list[int], seeds: list[int]) -> list[dict[str, object]]:
    _, train_labels = texts_and_labels(str(train_path))
    _, test_labels = texts_and_labels(str(test_path))
    held_out_all = in_test_split(read_file(train_path).frame["id"].to_list())  # the app's split, by id
    x_train, x_test = cmtui_features(str(train_path), str(test_path))
    rows = []
    for size in sizes:
        if size > len(train_labels):
            continue
        figures: dict[str, list[float]] = {"prior": [], "all_trees": [], "gated": []}
        kept_share = []
        for seed in seeds:
            pick = np.random.default_rng(seed).permutation(len(train_labels))[:size]
            names = sorted({n for i in pick for n in train_labels[i]})
            y = metrics.label_matrix(names, [dict.fromkeys(train_labels[i]) for i in pick])
            y_test = metrics.label_matrix(names, [dict.fromkeys(n) for n in test_labels])
            seen = [j for j in range(len(names)) if y_test[:, j].any() and y[:, j].any()]
            x = x_train[pick]
            prior = train(x, y, names, tree_labels=[])
            everything = train(x, y, names, previous=prior)
            gated, kept = train_gated(x, y, names, held_out_all[pick])
            for key, model in (("prior", prior), ("all_trees", everything), ("gated", gated)):
                figures[key].append(mean_ap(y_test[:, seen], predict(model, x_test)[:, seen]))
            kept_share.append(len(kept) / max(1, len(names)))
        rows.append({"set": train_path.name.removesuffix("_train.csv"), "labelled": size,
                     **{key: round(float(np.mean(v)), 4) for key, v in figures.items()},
                     "gated_vs_prior": paired(figures["gated"], figures["prior"]),
                     "all_trees_vs_prior": paired(figures["all_trees"], figures["prior"]),
                     "labels_with_trees": round(float(np.mean(kept_share)), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sizes", default="100,200,500,1000,2000")
    parser.add_argument("--seeds", default="0-5")
    parser.add_argument("--sets", default="", help="comma-separated gold set names (default: all)")
    args = parser.parse_args()
    wanted = set(filter(None, args.sets.split(",")))
    for train_path in sorted(args.data.glob("*_train.csv")):
        name = train_path.name.removesuffix("_train.csv")
        if not wanted or name in wanted:
            ablate(train_path, train_path.with_name(f"{name}_test.csv"), [int(s) for s in args.sizes.split(",")],
                   seed_list(args.seeds))


if __name__ == "__main__":
    main()
