"""``cmtui bench --predict``: scoring speed and memory of ``cmtui predict``, end to end.

A model is trained on 3,000 generated messages of the profile (2,000 reviewed), exported
as an artifact, and ``cmtui predict`` scores Parquet files of new generated messages
(100,000 per file) in a child process: messages per second from process start to the
output written (model load, reading, hashing, scoring, writing), and the child's peak
memory. Above ``DISTINCT`` messages (1M short, 200k long) the generated files are
scored again until the size is reached: memory is per chunk, so 10M rows are 10M rows. The same files are then scored on a local Dask cluster (two worker processes,
one thread each) when ``cmtui[cluster]`` is installed. Each figure is the median of the
runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from .sample import generate, write_csv

ROWS_PER_FILE = 100_000
DISTINCT = {"short": 1_000_000, "long": 200_000}  # messages generated; larger sizes score their files again
TRAIN = 3_000
REVIEWED = 2_000
# the child's own peak (``bench.peak_rss_kb``: ru_maxrss would count the parent's)
CHILD = ("import sys\nfrom cmtui.bench import peak_rss_kb\nfrom cmtui.cli import main\ncode = main(sys.argv[1:])\n"
         "print(peak_rss_kb(), file=sys.stderr)\nsys.exit(code)")


def train_model(workdir: Path, profile: str) -> Path:
    """A model of the profile's labels, exported; returns its directory."""
    from .imports import import_file
    from .session import Session
    from .store import Store

    rows = list(generate(TRAIN, seed=21, profile=profile))
    for row in rows[REVIEWED:]:
        row["labels"] = ""
    write_csv(workdir / "train.csv", iter(rows[:REVIEWED]))
    write_csv(workdir / "rest.csv", iter(rows[REVIEWED:]), with_labels=False)
    store = Store(workdir / f"train-{profile}.duckdb")
    import_file(store, workdir / "train.csv", "bench", annotator="bench")
    import_file(store, workdir / "rest.csv", "bench", annotator="bench")
    Session.open(store, "bench", "bench").retrain()
    out = workdir / f"model-{profile}"
    subprocess.run([sys.executable, "-m", "cmtui", "models", "export", "1", "--out", str(out), "--db",
                    str(store.path), "--dataset", "bench"], check=True, capture_output=True)
    return out


def write_inputs(workdir: Path, profile: str, size: int) -> list[Path]:
    """``size`` new messages as Parquet files of ``ROWS_PER_FILE``."""
    rows = generate(size, seed=77, profile=profile)
    paths = []
    for part in range((size + ROWS_PER_FILE - 1) // ROWS_PER_FILE):
        count = min(ROWS_PER_FILE, size - part * ROWS_PER_FILE)
        frame = pl.DataFrame([next(rows) for _ in range(count)]).drop("labels")
        paths.append(workdir / f"{profile}-{part}.parquet")
        frame.write_parquet(paths[-1])
    return paths


def _local(model: Path, files: list[Path], out: Path) -> tuple[float, int]:
    """(seconds, peak RSS in MB) of one ``cmtui predict`` in a child process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "predict", "--model", str(model), *map(str, files),
                           "--out", str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return seconds, int(done.stderr.strip().splitlines()[-1]) // 1024


def _on_cluster(model: Path, files: list[Path], out: Path, runs: int) -> list[float] | None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    from .cluster import predict_on_cluster

    times = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for _ in range(runs):
            started = time.perf_counter()
            predict_on_cluster(client, model, files, out)
            times.append(time.perf_counter() - started)
    return times


def measure(size: int, profile: str, runs: int, workdir: Path) -> dict[str, Any]:
    model = train_model(workdir, profile)
    distinct = write_inputs(workdir, profile, min(size, DISTINCT[profile]))
    files = [distinct[i % len(distinct)] for i in range(-(-size // ROWS_PER_FILE))]
    local = [_local(model, files, workdir / "out.parquet") for _ in range(runs)]
    scored = pl.scan_parquet(workdir / "out.parquet").select(pl.len()).collect().item()
    assert scored == size, (scored, size)
    cluster = _on_cluster(model, files, workdir / "cluster.parquet", runs)
    seconds = statistics.median(t for t, _ in local)
    return {"messages": size, "profile": profile, "files": len(files),
            "local_per_s": round(size / seconds), "local_s": round(seconds, 2),
            "peak_rss_mb": max(m for _, m in local),
            "cluster_per_s": round(size / statistics.median(cluster)) if cluster else None}


def _line(r: dict[str, Any]) -> str:
    cluster = f"{r['cluster_per_s']:,}/s" if r["cluster_per_s"] else "- (no cmtui[cluster])"
    return (f"predict {r['messages']:>10,} {r['profile']:5}  local {r['local_per_s']:>7,}/s "
            f"({r['local_s']:.1f} s)  peak {r['peak_rss_mb']} MB  local Dask cluster {cluster}")


def run(sizes: list[int], profiles: list[str], runs: int, as_json: bool) -> int:
    from .bench import each_mailbox

    return each_mailbox(sizes, profiles, runs, as_json, measure, _line, "cmtui-bench-predict-")
