"""An oracle annotator: labels pages from a gold file's ``labels`` column through Session.

It drives the same Session methods a person's keystrokes do: a seed set (random, or with
``start="discover"`` the messages nearest the centres of Discover's clusters), then each
page from the chosen mode, labelled from gold, submitted, retrained.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .features import FeatureCache, tfidf
from .ingest import read_file
from .model import predict
from .session import Session
from .store import Store

STRATEGY_MODE = {"low-confidence": "low-confidence", "shuffle": "shuffle", "teach": "teach",
                 "rebalance": "rebalance"}


def load_gold(path: Path) -> tuple[Any, dict[str, list[str]]]:
    parsed = read_file(path)
    frame = parsed.frame
    gold = {rid: (labels or []) for rid, labels in zip(frame["id"].to_list(), frame["labels"].to_list(), strict=True)}
    return frame, gold


def simulate(gold_path: Path, test_path: Path | None, strategy: str, seed_size: int, pages: int,
             page_size: int, seed: int, workdir: Path, log: Any = None,
             start: str = "random") -> list[dict[str, Any]]:
    """Run the simulation; returns one row of figures per submitted page."""
    store = Store(workdir / "sim.duckdb")
    frame, gold = load_gold(gold_path)
    unlabelled = frame.drop("labels", "sentiments", "annotator", "reviewed_at")
    store.import_messages("sim", "sim", unlabelled, annotator="gold")
    for name in sorted({n for names in gold.values() for n in names}):
        store.add_label("sim", name)
    session = Session.open(store, "sim", "oracle", seed=seed)
    session.page_size = page_size
    id_of = dict(zip(session.mids.tolist(), session.ids, strict=True))
    test_x = None
    test_names: list[list[str]] = []
    if test_path is not None:
        test_frame, test_gold = load_gold(test_path)
        counts = FeatureCache(workdir / "testcache").load_or_build(
            test_frame.with_row_index("mid").select("mid", _epoch().alias("updated")),
            lambda mids: test_frame.with_row_index("mid").select(
                "mid", "subject", "body")[mids])
        test_x, _ = tfidf(counts, session.trainer.idf)
        test_names = [test_gold[i] for i in test_frame["id"].to_list()]

    gold_rows = [dict.fromkeys(gold[i]) for i in session.ids]  # every message's gold labels, in row order
    if start == "discover":
        seed_mids, seed_mode = discover_seed(session, seed_size), "discover"
    elif start == "stratified":
        seed_mids, seed_mode = stratified_seed(session, seed_size, seed), "shuffle"
    else:
        rng = np.random.default_rng(seed)
        seed_mids, seed_mode = [int(m) for m in rng.permutation(session.mids)[:seed_size]], "shuffle"
    results = []
    for page_number in range(pages + 1):
        if page_number == 0:
            mids, mode = seed_mids, seed_mode
        else:
            mode = STRATEGY_MODE[strategy]
            arg = None
            if mode == "teach":  # rotate through labels, as a person teaching each would
                state_labels = session.state.labels or session.labels
                arg = state_labels[page_number % len(state_labels)]
            mids = session.page(mode, arg)  # the call the app's page worker makes
        for mid in mids:
            session.set_labels(mid, {n: None for n in gold[id_of[mid]]})
        started = time.perf_counter()
        session.submit(mids, mode, untouched=True)
        state = session.retrain(persist=False)
        session.page(STRATEGY_MODE[strategy] if strategy != "teach" else "shuffle")
        seconds = time.perf_counter() - started
        row = {"labelled": len(session.reviewed), "coverage": round(state.report["coverage"], 4),
               "coverage_ideal": round(ideal_coverage(state, gold_rows), 4),
               "coverage_expected": state.report.get("coverage_expected"),
               "coverage_expected_ideal": round(ideal_expected_coverage(state, gold_rows), 4),
               "seconds": round(seconds, 3)}
        row.update(_evaluate(session, test_x, test_names))
        results.append(row)
        if log is not None:
            log(row)
    return results


IDEAL_SAMPLE = 20_000  # messages whose gold labels fit the ideal thresholds


def ideal_coverage(state: Any, gold_rows: Sequence[dict[str, None]]) -> float:
    """Coverage at ideal thresholds: each informative label's balanced threshold fitted, by
    the same rule as the meter's, on the gold labels of the whole dataset (evenly spaced
    rows, at most ``IDEAL_SAMPLE``) scored by the current model, instead of on the
    reviews. It is what the meter would read if the thresholds were known exactly, so the
    meter's error is its distance from this; and it says how much of the mailbox the
    model really covers, free of threshold noise."""
    if state.model is None or not state.informative:
        return 0.0
    step = max(1, -(-state.probs.shape[0] // IDEAL_SAMPLE))
    y = metrics.label_matrix(state.labels, gold_rows[::step])
    probs = state.probs[::step]
    thresholds = [metrics.thresholds(y[:, j], probs[:, j]).balanced if name in state.informative else metrics.NEVER
                  for j, name in enumerate(state.labels)]
    return metrics.coverage(state.probs, state.labels, set(state.informative), thresholds)[1]


def ideal_expected_coverage(state: Any, gold_rows: Sequence[dict[str, None]]) -> float:
    """The expected coverage (``metrics.expected_coverage``) with its calibration fitted on
    the gold labels of the whole dataset (the rows ``ideal_coverage`` uses) instead of on
    the reviews: what the figure would read if the calibration were known exactly."""
    if state.model is None or not state.informative:
        return 0.0
    step = max(1, -(-state.probs.shape[0] // IDEAL_SAMPLE))
    y = metrics.label_matrix(state.labels, gold_rows[::step])
    value = metrics.expected_coverage(state.probs, state.labels, set(state.informative), y, state.probs[::step])
    assert value is not None  # calibrated on every gold row: never too few
    return value


def discover_seed(session: Session, size: int) -> list[int]:
    """``size`` messages from the top of Discover's clusters (made by the call the app's
    Discover screen makes), shared among the clusters by their sizes, each cluster's most
    central messages first. Labelled messages then keep the label shares of the mailbox,
    which the thresholds' caps rely on."""
    clusters = session.discover().open()
    return shared_by_size([c.rows for c in clusters], [c.size for c in clusters], size)


def stratified_seed(session: Session, size: int, seed: int) -> list[int]:
    """``size`` random messages drawn from Discover's k-means clusters in proportion to
    their sizes: a stratified random sample, so it keeps a random seed's label shares
    (its reviews count as Shuffle's) and covers every large cluster."""
    from .discover import CLUSTERS, cluster_rows

    members, _centres, _inverse = cluster_rows(session.discoverer.corpus(session.x).vectors,
                                               np.arange(len(session.mids)), CLUSTERS, seed)
    rng = np.random.default_rng(seed)
    pools = [[int(session.mids[r]) for r in rng.permutation(np.flatnonzero(members == c))]
             for c in range(int(members.max()) + 1)]
    return shared_by_size(pools, [len(pool) for pool in pools], size)


def shared_by_size(pools: Sequence[Sequence[int]], sizes: Sequence[int], count: int) -> list[int]:
    """``count`` items from the front of ``pools``, shared by ``sizes`` (Sainte-Laguë: the
    next goes to the pool with the largest size / (2 taken + 1) that has one left)."""
    taken = [0] * len(pools)
    picked: list[int] = []
    while len(picked) < count:
        open_ = [i for i, pool in enumerate(pools) if taken[i] < len(pool)]
        if not open_:
            break
        best = max(open_, key=lambda i: sizes[i] / (2 * taken[i] + 1))
        picked.append(pools[best][taken[best]])
        taken[best] += 1
    return picked


def _epoch() -> Any:
    """A constant 'updated' stamp: test-file features are hashed once per simulation."""
    import polars as pl

    return pl.lit(0).cast(pl.Datetime("us"))


def _evaluate(session: Session, test_x: Any, test_names: list[list[str]]) -> dict[str, Any]:
    """MAP (platform rule), MAP over every label seen, macro/micro F1 on the test set."""
    state = session.state
    labels = state.labels
    if test_x is not None and state.model is not None:
        probs = predict(state.model, test_x)
        y = metrics.label_matrix(labels, [{n: None for n in names} for names in test_names])
    else:  # the held-out split, scored by the model that did not see it
        rows = state.test_rows.tolist()
        probs = state.test_probs
        y = metrics.label_matrix(labels, [session.reviewed[int(session.mids[r])] for r in rows])
    reviewed_rows = [session.row_of[m] for m in session.reviewed]
    y_seen = metrics.label_matrix(labels, [session.reviewed[int(session.mids[r])] for r in reviewed_rows])
    train_counts = y_seen[~session.trainer.test_mask[reviewed_rows]].sum(axis=0) if reviewed_rows else np.zeros(len(labels))
    aps, aps_platform, f1s = [], [], []
    tp_all = fp_all = fn_all = 0
    for j, _name in enumerate(labels):
        if y[:, j].sum() == 0:
            continue
        predicted = probs[:, j] >= state.thresholds[j]
        tp = int((predicted & y[:, j]).sum())
        fp = int((predicted & ~y[:, j]).sum())
        fn = int((~predicted & y[:, j]).sum())
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        if y_seen[:, j].sum() == 0:
            continue
        ap = metrics.average_precision(y[:, j], probs[:, j])
        aps.append(ap)
        if train_counts[j] >= metrics.MIN_MAP_EXAMPLES:
            aps_platform.append(ap)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    micro = 2 * tp_all / (2 * tp_all + fp_all + fn_all) if tp_all + fp_all + fn_all else 0.0
    return {"map": round(float(np.mean(aps_platform)), 4) if aps_platform else None,
            "map_all": round(float(np.mean(aps)), 4) if aps else None,
            "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
            "micro_f1": round(micro, 4)}


def run_simulation(args: argparse.Namespace) -> int:
    if args.fields is not None:
        from .fields import simulate as fields_simulation

        learners = ["linear", "trees"] if args.learner == "both" else [args.learner]
        with tempfile.TemporaryDirectory(prefix="cmtui-sim-") as tmp:
            rows = fields_simulation.run(args.gold, args.fields, args.pages, args.seed, learners, Path(tmp))
        print(json.dumps(rows) if args.json else fields_simulation.format_rows(rows))
        return 0
    with tempfile.TemporaryDirectory(prefix="cmtui-sim-") as tmp:
        def log(row: dict[str, Any]) -> None:
            if not args.json:
                print("  ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)

        results = simulate(args.gold, args.test, args.strategy, args.seed_size, args.pages,
                           args.page_size, args.seed, Path(tmp), log, args.start)
    if args.out:
        with args.out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(results[0]))
            writer.writeheader()
            writer.writerows(results)
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'labelled':>8} {'coverage':>8} {'ideal':>6} {'expected':>8} {'map':>6} {'map_all':>7} {'macroF1':>7} "
              f"{'microF1':>7} {'seconds':>7}")
        for r in results:
            def f(x: Any) -> str:
                return "     -" if x is None else f"{x:.3f}"
            print(f"{r['labelled']:8d} {r['coverage']:8.3f} {r['coverage_ideal']:6.3f} {f(r['coverage_expected']):>8} "
                  f"{f(r['map']):>6} {f(r['map_all']):>7} "
                  f"{f(r['macro_f1']):>7} {f(r['micro_f1']):>7} {r['seconds']:7.2f}")
    return 0


__all__ = ["simulate", "run_simulation"]
