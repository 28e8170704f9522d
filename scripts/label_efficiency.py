"""Label efficiency on the gold sets: coverage and MAP per page for each training mode.

usage: python scripts/label_efficiency.py [--data ../shared/data] [--pages 25] [--seeds 0,1,2]
                                          [--out docs/label_efficiency.json] [--jobs 2]
                                          [--strategies low-confidence,shuffle] [--runs FILE]
                                          [--no-baseline] [--start random|discover]
                                          [--compare OTHER_RUNS] [--faceted]

Runs `cmtui simulate` (the same Session code a person drives) for Low confidence,
Shuffle, Teach and Rebalance on every gold set in ``--data`` (one command for all of
them), averages over seeds, adds the TF-IDF + logistic regression baseline
(scripts/baseline.py, needs scikit-learn) at the same labelled counts unless
``--no-baseline``, and writes the JSON, a markdown table (docs/label_efficiency.md) and,
when matplotlib is installed, one PNG per gold set in docs/ (the names follow ``--out``).
Every simulation's rows are kept in ``--runs`` as they finish, so an interrupted command
resumes where it stopped. When Low confidence and Shuffle both ran, it also prints them
paired by seed on the last page (difference, standard error, seeds won) and the coverage
swing: the standard deviation of the page-to-page change of coverage under Shuffle, with
the same for the coverage at ideal thresholds (fitted on the gold labels of the whole set,
``cmtui.simulate.ideal_coverage``) and the meter's error against it.
``--faceted`` adds the faceted set of scripts/faceted_set.py (a genre, a topic and a tone on
every message, built from three of the sets in ``--data`` into a temporary directory), the
dev set shaped like the engine issue's held-out email. ``--start discover`` seeds every
run with the central messages of Discover's clusters instead of a random set;
``--compare`` pairs this runs file with another by seed, after the seed and on the last
page (the cold-start table of docs/benchmarks.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy and OpenMP load: see cmtui/__init__.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from statistics import mean

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from baseline import seed_list  # noqa: E402
from faceted_set import write as write_faceted  # noqa: E402

from cmtui.simulate import simulate  # noqa: E402

STRATEGIES = ["low-confidence", "shuffle", "teach", "rebalance"]
REPORT_PAGES = [5, 10, 25]


def _simulate(train: Path, test: Path, strategy: str, seed: int, pages: int,
              start: str = "random") -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        return simulate(train, test, strategy, 40, pages, 20, seed, Path(tmp), start=start)


def _stored(done: dict[str, list[dict[str, float]]], key: str) -> list[dict[str, float]] | None:
    """The rows of ``name/strategy/seed/pages``: its own run's, or a longer run's first pages
    (simulate is deterministic and a page never depends on how many follow)."""
    if key in done:
        return done[key]
    run_of, pages = key.rsplit("/", 1)
    longer = [rows for other, rows in done.items() if other.rsplit("/", 1)[0] == run_of and len(rows) > int(pages) + 1]
    return longer[0][: int(pages) + 1] if longer else None


def run(data: Path, pages: int, seeds: list[int], partial: Path, jobs: int = 1,
        strategies: list[str] = STRATEGIES, baseline: bool = True,
        start: str = "random") -> dict[str, dict[str, list[dict[str, float]]]]:
    """Every simulation's rows are saved to ``partial`` as they finish, and reused from it."""
    done: dict[str, list[dict[str, float]]] = json.loads(partial.read_text()) if partial.exists() else {}
    sets = {train.name.removesuffix("_train.csv"): train for train in sorted(data.glob("*_train.csv"))}
    todo = {f"{name}/{strategy}/{seed}/{pages}": (train, train.with_name(f"{name}_test.csv"), strategy, seed)
            for name, train in sets.items() for strategy in strategies for seed in seeds}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_simulate, *args, pages, start): key for key, args in todo.items()
                   if _stored(done, key) is None}
        for future in as_completed(futures):
            key = futures[future]
            done[key] = future.result()
            partial.write_text(json.dumps(done))
            print(key, done[key][-1], flush=True)
    rows_of = {key: rows for key in todo if (rows := _stored(done, key)) is not None}
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, train in sets.items():
        results[name] = {}
        for strategy in strategies:
            runs = [rows_of[f"{name}/{strategy}/{seed}/{pages}"] for seed in seeds]
            results[name][strategy] = [
                {key: mean(r[i].get(key) or 0.0 for r in runs)
                 for key in ("labelled", "coverage", "coverage_ideal", "coverage_expected", "map_all", "seconds")}
                | {"map": mean(r[i]["map"] or 0.0 for r in runs)}
                for i in range(pages + 1)
            ]
        results[name]["baseline"] = []
        if not baseline:
            continue
        labelled = sorted({int(results[name][strategies[0]][p]["labelled"]) for p in REPORT_PAGES if p <= pages})
        test = train.with_name(f"{name}_test.csv")
        out = subprocess.run([sys.executable, str(ROOT / "scripts" / "baseline.py"), str(train), str(test),
                              "--sizes", ",".join(map(str, labelled)), "--seeds", ",".join(map(str, seeds))],
                             capture_output=True, text=True, check=True)
        results[name]["baseline"] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return results


def paired(done: dict[str, list[dict[str, float]]], sets: list[str], seeds: list[int], pages: int,
           other: dict[str, list[dict[str, float]]] | None = None) -> str:
    """Low confidence against Shuffle on the last page, paired by seed, and the coverage
    swing under Shuffle; with ``other`` (another runs file), this code against that one,
    after the seed set and on the last page."""
    def rows(store: dict[str, list[dict[str, float]]], name: str, strategy: str) -> list[list[dict[str, float]]]:
        found = [_stored(store, f"{name}/{strategy}/{seed}/{pages}") for seed in seeds]
        return [r for r in found if r is not None]

    def diff(a: list[float], b: list[float]) -> str:
        d = np.array(a) - np.array(b)
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        return f"{d.mean():+.4f} ({se:.4f}), {int((d > 0).sum())}/{len(d)}"

    lines = ["| set | figure | a | b | a - b (se), seeds won |", "| --- | --- | --- | --- | --- |"]
    pairs = [("low-confidence", "shuffle")] if other is None else [("low-confidence", "low-confidence"),
                                                                   ("shuffle", "shuffle")]
    for name in sets:
        for first, second in pairs:
            a_runs = rows(done, name, first)
            b_runs = rows(done if other is None else other, name, second)
            if not a_runs or len(a_runs) != len(b_runs):
                continue
            label = f"{first} vs {second}" if other is None else f"{first}: this vs other"
            for page in [pages] if other is None else [0, pages]:
                for key in ("coverage", "coverage_ideal", "map_all"):
                    if any(key not in r[page] for r in a_runs + b_runs):  # runs made before it was measured
                        continue
                    a = [r[page][key] or 0.0 for r in a_runs]
                    b = [r[page][key] or 0.0 for r in b_runs]
                    lines.append(f"| {name} | {label} {key}, page {page} | {mean(a):.4f} | {mean(b):.4f} "
                                 f"| {diff(a, b)} |")
        for store, tag in ((done, "this"), (other, "other")):
            if store is None:
                continue
            lines += swing_lines(name, tag, rows(store, name, "shuffle"), pages)
    return "\n".join(lines)


def swing_lines(name: str, tag: str, runs: list[list[dict[str, float]]], pages: int) -> list[str]:
    """The coverage swing under Shuffle (the standard deviation of the page-to-page change
    over pages 1..``pages``, mean over seeds), of the meter and, where measured, of the
    coverage at ideal thresholds; and the meter's error against the ideal (mean and root
    mean square over those pages): what a steadier meter must not trade away. The same
    for the expected coverage against its ideal calibration, where runs measured it."""
    if not runs:
        return []
    def swing(key: str) -> float:
        return 100 * mean(float(np.diff([row[key] for row in r[1:pages + 1]]).std()) for r in runs)

    lines = []
    for key, own, ideal, error in (("coverage", "coverage", "ideal-threshold coverage", "meter minus ideal"),
                                   ("coverage_expected", "expected coverage", "ideal-calibration expected coverage",
                                    "expected minus ideal-calibration")):
        if not all(key in row for r in runs for row in r[1:pages + 1]):  # runs made before it was measured
            continue
        lines.append(f"| {name} | {own} swing under shuffle ({tag}) | {swing(key):.2f} points | | |")
        if all(f"{key}_ideal" in row for r in runs for row in r[1:pages + 1]):
            errors = np.array([[row[key] - row[f"{key}_ideal"] for row in r[1:pages + 1]] for r in runs])
            lines += [f"| {name} | {ideal} swing under shuffle ({tag}) | {swing(f'{key}_ideal'):.2f} points | | |",
                      f"| {name} | {error} under shuffle ({tag}), mean / rms | "
                      f"{100 * errors.mean():+.2f} / {100 * np.sqrt((errors ** 2).mean()):.2f} points | | |"]
    return lines


def markdown(results: dict[str, dict[str, list[dict[str, float]]]], pages: int,
             strategies: list[str] = STRATEGIES) -> str:
    lines = []
    for name, by_strategy in results.items():
        baseline = {row["labelled"]: row["map_all"] for row in by_strategy["baseline"]}
        lines += [f"### {name}", "",
                  "| pages | labelled | strategy | coverage | at ideal thresholds | MAP (platform rule) "
                  "| MAP (all seen labels) | baseline MAP |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for page in [p for p in REPORT_PAGES if p <= pages]:
            for strategy in strategies:
                row = by_strategy[strategy][page]
                base = baseline.get(int(row["labelled"]))
                lines.append(f"| {page} | {int(row['labelled'])} | {strategy} | {100 * row['coverage']:.1f}% | "
                             f"{100 * row['coverage_ideal']:.1f}% | {row['map']:.3f} | {row['map_all']:.3f} | "
                             f"{'' if base is None else f'{base:.3f}'} |")
        lines.append("")
    return "\n".join(lines)


def plots(results: dict[str, dict[str, list[dict[str, float]]]], out: Path,
          strategies: list[str] = STRATEGIES) -> None:
    """One PNG per gold set beside ``out``: ``<out stem>_<gold set>.png``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return
    for name, by_strategy in results.items():
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for strategy in strategies:
            rows = by_strategy[strategy]
            x = [r["labelled"] for r in rows]
            left.plot(x, [100 * r["coverage"] for r in rows], label=strategy)
            right.plot(x, [r["map_all"] for r in rows], label=strategy)
        base = by_strategy["baseline"]
        right.plot([b["labelled"] for b in base], [b["map_all"] for b in base], "k--", marker="o",
                   label="TF-IDF + LR baseline")
        left.set(title=f"{name}: coverage", xlabel="labelled messages", ylabel="coverage %")
        right.set(title=f"{name}: MAP (labels seen)", xlabel="labelled messages", ylabel="MAP")
        right.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out.with_name(f"{out.stem}_{name}.png"), dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--pages", type=int, default=25)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds or ranges, e.g. 0-11")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "label_efficiency.json")
    parser.add_argument("--jobs", type=int, default=1, help="simulations run side by side")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--runs", type=Path, default=ROOT / "docs" / "label_efficiency.runs.json",
                        help="every simulation's rows, kept and reused across runs")
    parser.add_argument("--no-baseline", action="store_true", help="skip the TF-IDF + LR baseline")
    parser.add_argument("--compare", type=Path, help="another runs file: print this code against it, paired")
    parser.add_argument("--faceted", action="store_true",
                        help="also the faceted set built from --data (scripts/faceted_set.py)")
    parser.add_argument("--start", choices=["random", "discover", "stratified"], default="random",
                        help="the seed set of every run (keep each start in its own --runs file)")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    seeds = seed_list(args.seeds)
    if not any(args.data.glob("*_train.csv")):
        raise SystemExit(f"{args.data}: no gold sets here (NAME_train.csv beside NAME_test.csv)")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if args.faceted:  # every set of --data, and the faceted one beside them
            data = Path(tmp)
            for path in [*args.data.glob("*_train.csv"), *args.data.glob("*_test.csv")]:
                if not path.name.startswith("faceted_"):
                    (data / path.name).symlink_to(path.resolve())
            write_faceted(args.data, data)
        results = run(data, args.pages, seeds, args.runs, args.jobs, strategies, not args.no_baseline,
                      args.start)
    args.out.write_text(json.dumps(results, indent=1))
    table = markdown(results, args.pages, strategies)
    args.out.with_suffix(".md").write_text(table)
    plots(results, args.out, strategies)
    print(table)
    done = json.loads(args.runs.read_text())
    print(paired(done, list(results), seeds, args.pages))
    if args.compare:
        print(paired(done, list(results), seeds, args.pages, json.loads(args.compare.read_text())))


if __name__ == "__main__":
    main()
