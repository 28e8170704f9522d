"""Scoring Parquet files on a Dask cluster: ``cmtui predict --cluster tcp://HOST:8786``.

Dask (``dask.distributed``) rather than Ray: scoring is a plain map over chunks of
files with no actors or shared state, Dask's scheduler and workers are pure Python
packages that install with pip in seconds (Ray brings a 60+ MB binary and its own object
store), and ``LocalCluster`` starts a real multi-process cluster on loopback for the
tests. It is the optional extra ``cmtui[cluster]``.

The client reads each file's plan (columns, thread sizes, row count) and sends the
model's files to every worker once, as bytes: workers need cmtui, not the database or
the model directory. Each task scores a chunk of one file (``ParquetPlan.chunk`` rows), read by the
worker itself, so the files must be at the same path for the workers (shared storage).
Results come back in order and are written as ``cmtui predict`` writes them.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from .ingest import ImportFailed
from .predict import (
    ParquetPlan,
    Rejects,
    Writer,
    parquet_chunk,
    parquet_plan,
    predictions_frame,
)
from .versions import ScoringModel, load_artifact

_models: dict[str, ScoringModel] = {}  # per worker process: the models it has loaded, by content hash


def model_blob(directory: Path) -> dict[str, bytes]:
    """Every file of a model directory, by its path inside it."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _model(key: str, blob: dict[str, bytes]) -> ScoringModel:
    """The model of ``blob`` (``key``: its content hash, computed once by the client)."""
    if key not in _models:
        with tempfile.TemporaryDirectory(prefix="cmtui-model-") as tmp:
            for name, data in blob.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            _models[key] = load_artifact(Path(tmp))
    return _models[key]


def score_chunk(key: str, blob: dict[str, bytes], plan: ParquetPlan, start: int, size: int,
                skip_bad: bool) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """One task, on a worker: score rows ``start`` to ``start + size`` of a file."""
    scoring = _model(key, blob)
    chunk, faults = parquet_chunk(plan, start, size, skip_bad)
    return predictions_frame(scoring, chunk), faults


def predict_on_cluster(address: str | Any, model_dir: Path, files: list[Path], out: Path | None,
                       skip_bad: bool = False) -> tuple[int, Rejects]:
    """Score Parquet ``files`` on the Dask cluster at ``address`` (or a ``Client``)."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportFailed(["--cluster needs Dask: pip install 'cmtui[cluster]'"]) from None
    for path in files:
        if path.suffix.lower() != ".parquet":
            raise ImportFailed([f"{path}: --cluster scores Parquet files (convert it, or predict it here)"])
    load_artifact(model_dir)  # a clear error here, before any worker tries
    client = address if isinstance(address, Client) else Client(address, timeout="20s")
    rejects = Rejects()
    writer = Writer(out)
    scored = 0
    try:
        files_of_model = model_blob(model_dir)
        key = hashlib.sha1(b"".join(k.encode() + v for k, v in sorted(files_of_model.items()))).hexdigest()
        blob = client.scatter(files_of_model, broadcast=True)
        for path in files:
            plan = parquet_plan(Path(path).resolve())
            size = plan.chunk
            futures = [client.submit(score_chunk, key, blob, plan, start, size, skip_bad, pure=False)
                       for start in range(0, plan.total, size)]
            for future in futures:  # in order: the output keeps the files' order
                frame, faults = future.result()
                for line, column, what in faults:
                    rejects.add(str(path), line, column, what)
                writer.write(frame)
                scored += frame.height
        writer.finish()
    except BaseException:
        writer.discard()
        raise
    finally:
        if client is not address:
            client.close()
    return scored, rejects
