"""``cmtui bench``: speed on synthetic mailboxes, each figure the median of several runs.

Every (size, profile) runs in a child process so that its peak memory is its own. The
mailbox comes from the sample generator (20 labels; ``short`` ~500-character chats or
``long`` ~3,500-character emails with quoted replies and signatures) and goes through
the same code a person uses: CSV import, Session.open, Discover, confirm/submit, retrain,
ranking.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .sample import generate, write_csv

REVIEWED_STEPS = (200, 1000, 5000)
ROWS_PER_FILE = {"short": 100_000, "long": 25_000}  # stays under the 128 MiB import limit


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def write_mailbox(size: int, profile: str, seed: int, workdir: Path) -> tuple[list[Path], dict[str, list[str]]]:
    """The sample generator's ``size`` messages as CSV files that each stay under the
    import limit, and each message's labels by id."""
    csv_paths = []
    gold: dict[str, list[str]] = {}
    rows = generate(size, seed=seed, profile=profile)
    per_file = ROWS_PER_FILE[profile]
    for part in range((size + per_file - 1) // per_file):
        chunk = [next(rows) for _ in range(min(per_file, size - part * per_file))]
        for row in chunk:
            gold[row["id"]] = [n for n in row["labels"].split(";") if n]
        path = workdir / f"mail-{part}.csv"
        write_csv(path, iter(chunk), with_labels=False)
        csv_paths.append(path)
    return csv_paths, gold


def measure(size: int, profile: str, runs: int, workdir: Path) -> dict[str, Any]:
    """All figures for one mailbox; runs inside the child process."""
    from .imports import import_files
    from .store import Store

    csv_paths, gold = write_mailbox(size, profile, 11, workdir)
    import_rates = []
    for run in range(runs):
        store = Store(workdir / f"import-{run}.duckdb")
        started = time.perf_counter()
        for _ in import_files(store, csv_paths, "bench", annotator="bench"):  # as `cmtui import FILE...`
            pass
        import_rates.append(size / (time.perf_counter() - started))
        if run:
            store.path.unlink()
    store = Store(workdir / "import-0.duckdb")
    for name in sorted({n for names in gold.values() for n in names}):
        store.add_label("bench", name)

    gold_path = workdir / "gold.json"
    gold_path.write_text(json.dumps(gold))
    del gold
    # what a person's session does, in a process of its own so its peak memory is the app's
    out = subprocess.run([sys.executable, "-m", "cmtui.bench", "--session", str(store.path), str(gold_path),
                          str(size), str(runs)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {"messages": size, "profile": profile, "import_per_s": round(statistics.median(import_rates)),
            **figures}


def measure_session(db: Path, gold_path: Path, size: int, runs: int) -> dict[str, Any]:
    """Open, submit to next page, validation and rescore on an imported mailbox, through
    the same Session calls the app makes."""
    from .session import Session
    from .store import Store

    store = Store(db)
    gold: dict[str, list[str]] = json.loads(gold_path.read_text())
    Session.open(store, "bench", "bench").x  # noqa: B018 - builds the feature cache once
    open_times = [_open_time(db) for _ in range(runs)]
    discover_times = [_first_discover(store) for _ in range(runs)]
    tui_times, discover_open = zip(*(_tui_time(db) for _ in range(runs)), strict=True)  # a process each
    session = Session.open(store, "bench", "bench", seed=3)
    submit, validate, validate_all, rescore, analytics = _page_loop(session, gold, size, runs)
    return {
        "open_s": _median(open_times), "tui_open_s": _median(list(tui_times)),
        "discover_s": _median(discover_times), "discover_open_s": _median(list(discover_open)),
        "submit_to_next_page_s": submit, "validate_s": validate, "validate_all_s": validate_all,
        "rescore_s": _median(rescore) if rescore else None,
        "analytics_s": _median(analytics) if analytics else None,
        "peak_rss_mb": round(peak_rss_kb() / 1024),
    }


def peak_rss_kb() -> int:
    """This process's peak resident memory since it started (VmHWM). Not ``ru_maxrss``:
    Linux keeps that across exec, so a child spawned from a large parent reported the
    parent's size (an 800 MB parent: 813 MB against the child's own 13 MB)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def _open_time(db: Path) -> float:
    """Process start to the first page ready, without the TUI (the interpreter's start counts)."""
    code = ("from cmtui.store import Store; from cmtui.session import Session; "
            f"s = Session.open(Store({str(db)!r}), 'bench', 'bench'); s.page('shuffle')")
    outer = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - outer


def _first_discover(store: Any) -> float:
    """The first clustering of a new mailbox (nothing reviewed, no representation cached),
    the call the app's Discover worker makes."""
    from .session import Session

    session = Session.open(store, "bench", "bench")
    session.discoverer.forget()
    session.x  # noqa: B018 - the features are read before, as in the app
    started = time.perf_counter()
    session.discover()
    return time.perf_counter() - started


def _tui_time(db: Path) -> tuple[float, float]:
    """Process start to the first page shown, and ``c`` to Discover's clusters shown."""
    out = subprocess.run([sys.executable, "-m", "cmtui.bench", "--tui", str(db)],
                         capture_output=True, text=True, check=True)
    first, discover = json.loads(out.stdout.strip().splitlines()[-1])
    return first, discover


def _page_loop(session: Any, gold: dict[str, list[str]], size: int, runs: int) -> tuple[
        dict[str, float], dict[str, float], dict[str, float], list[float], list[float]]:
    """At each reviewed count: submit a page, quick retrain, next page and its texts (timed), then
    validate (to its figures shown, and to the end: every message rescored, the version
    and the fields), then the Analytics screen's figures."""
    from .model import predict

    id_of = dict(zip(session.mids.tolist(), session.ids, strict=True))
    order = [int(m) for m in session.mids[session.shuffle_order]]
    submit: dict[str, float] = {}
    validate: dict[str, float] = {}
    validate_all: dict[str, float] = {}
    rescore: list[float] = []
    analytics: list[float] = []
    for target in REVIEWED_STEPS:
        if target > size // 2:
            break
        batch = [m for m in order if m not in session.reviewed][: max(0, target - len(session.reviewed))]
        session.confirm(batch, "shuffle", labels={m: dict.fromkeys(gold[id_of[m]]) for m in batch})
        session.retrain()
        times, validation, whole = [], [], []
        for _ in range(runs):
            page = session.page("low-confidence")
            for mid in page:
                session.set_labels(mid, dict.fromkeys(gold[id_of[mid]]))
            started = time.perf_counter()
            session.submit(page, "low-confidence", untouched=True)
            session.quick_retrain()
            session.prefetch(session.page("low-confidence"))  # its texts too: the app shows them
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            shown: list[float] = []  # a large dataset's figures come before every message is rescored
            session.validate(shown=lambda _state, at=shown: at.append(time.perf_counter()))  # after the page, as the app
            whole.append(time.perf_counter() - started)
            validation.append((shown[0] if shown else started + whole[-1]) - started)
            started = time.perf_counter()
            session.analytics()  # the Analytics screen's figures, for the new model
            analytics.append(time.perf_counter() - started)
        submit[str(target)] = _median(times)
        validate[str(target)] = _median(validation)
        validate_all[str(target)] = _median(whole)
        started = time.perf_counter()
        predict(session.state.model, session.x)
        rescore.append(time.perf_counter() - started)
    return submit, validate, validate_all, rescore, analytics


def _tui_open(store: Any) -> tuple[float, float]:
    """Seconds to the first page, then from ``c`` to the cached clusters and the first
    cluster's messages on the Discover screen."""
    from .tui.app import CmtuiApp
    from .tui.discover import DiscoverScreen
    from .workspace import Workspace

    async def run() -> tuple[float, float]:
        started = time.perf_counter()
        app = CmtuiApp(Workspace(store, "bench"), "bench")
        async with app.run_test(size=(120, 40)) as pilot:
            while not app.page_mids:
                await pilot.pause(0.01)
            await pilot.pause()
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            await pilot.press("c")
            while not (isinstance(app.screen, DiscoverScreen) and app.screen.showing_messages()):
                await pilot.pause(0.01)
            discover = time.perf_counter() - started
            app.workers.cancel_all()
        return elapsed, discover

    return asyncio.run(run())


def each_mailbox(sizes: list[int], profiles: list[str], runs: int, as_json: bool,
                 measure_one: Callable[[int, str, int, Path], dict[str, Any]],
                 line: Callable[[dict[str, Any]], str], prefix: str) -> int:
    """Measure every (size, profile) in a temporary folder of its own; print a line each
    as it comes, or every result as JSON at the end (``--predict`` and ``--mail``)."""
    results = []
    for size in sizes:
        for profile in profiles:
            with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
                results.append(measure_one(size, profile, runs, Path(tmp)))
            if not as_json:
                print(line(results[-1]), flush=True)
    if as_json:
        print(json.dumps(results, indent=2))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    profiles = ["short", "long"] if args.profile == "both" else [args.profile]
    if args.quick:
        profiles = profiles[:1] if args.profile == "both" else profiles
    runs = 1 if args.quick else args.runs
    if args.predict:
        from . import bench_predict

        return bench_predict.run(sizes, profiles, runs, args.json)
    if args.mail:
        from . import bench_mail

        return bench_mail.run([2_000] if args.quick else sizes, profiles, runs, args.json)
    if args.fields:
        from . import bench_fields

        return bench_fields.run([2_000] if args.quick else sizes, profiles, runs, args.json)
    results = []
    for size in sizes:
        for profile in profiles:
            out = subprocess.run([sys.executable, "-m", "cmtui.bench", str(size), profile, str(runs)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if not args.json:
                print(_row(results[-1]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _row(r: dict[str, Any]) -> str:
    submit = " ".join(f"{k}:{v:.2f}s" for k, v in r["submit_to_next_page_s"].items())
    validate = " ".join(f"{k}:{v:.2f}s" + (f" (all {r['validate_all_s'][k]:.2f}s)" if "validate_all_s" in r else "")
                        for k, v in r["validate_s"].items())
    rescore = "-" if r["rescore_s"] is None else f"{r['rescore_s']:.2f}s"
    return (f"{r['messages']:>9,} {r['profile']:5}  import {r['import_per_s']:>7,}/s  open {r['open_s']:.2f}s  "
            f"tui {r['tui_open_s']:.2f}s  discover {r['discover_s']:.2f}s (open {r['discover_open_s']:.2f}s)  "
            f"submit→next [{submit}]  then validate [{validate}]  rescore {rescore}  "
            f"analytics {'-' if r.get('analytics_s') is None else format(r['analytics_s'], '.2f') + 's'}  "
            f"peak {r['peak_rss_mb']} MB")


if __name__ == "__main__":
    if sys.argv[1] == "--tui":
        from .store import Store

        print(json.dumps(_tui_open(Store(sys.argv[2]))))
    elif sys.argv[1] == "--session":
        print(json.dumps(measure_session(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]),
                                         int(sys.argv[5]))))
    else:
        with tempfile.TemporaryDirectory(prefix="cmtui-bench-") as tmp:
            print(json.dumps(measure(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(tmp))))
