"""Scoring files with a model version: ``cmtui predict``.

Input is the import format: CSV, TSV or JSONL (validated as on import, every fault as
``FILE:LINE: column: what``), ``-`` for JSONL on stdin, or Parquet (columns named as in
the import format, ``id`` and ``body`` required; other columns are user properties, with
their Parquet types). Messages are scored ``CHUNK`` rows at a time, so memory is bounded
by the chunk, not the file (a CSV or JSONL file is read whole, as on import: at most
128 MiB; Parquet files are read a chunk at a time).

Per message the output holds its ``id`` and every label whose probability reaches the
label's high-recall threshold: ``name``, ``probability`` and the three flags
``high_recall``, ``balanced`` and ``high_precision`` (the version's thresholds).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .features import thread_length
from .ingest import _NUMBER, FORMULA_START, HEADER_ALIASES, ImportFailed, read_file, read_text
from .store import Store, StoreError
from .versions import KEEP_LAST, ArtifactError, ScoringModel, load_artifact, version_dir

CHUNK = 50_000  # messages scored at a time, at most (25,000 peaked lower over 5M rows, 0.96 GB against 1.67 GB, but 100k short fell to 19.3k/s from 25.0k/s)
IN_FLIGHT = 2  # chunks scored at once
CHUNK_CHARACTERS = 50_000_000  # and about this much text: 14,000 long emails (peak 616 MB against 893 MB at 50,000)
MESSAGE_COLUMNS = ("id", "subject", "sender", "thread_id", "body", "properties")
OUT_FORMATS = (".jsonl", ".csv", ".parquet")


def load_model(store: Store | None, dataset: str | None, ref: str) -> ScoringModel:
    """A model by artifact directory, or by version number or tag of ``dataset``."""
    path = Path(ref)
    if path.is_dir() or store is None or dataset is None or "/" in ref:
        return load_artifact(path)
    version = store.resolve_version(dataset, ref)
    directory = version_dir(store.path, dataset, version)
    if not directory.is_dir():
        raise ArtifactError(f"version {version} of dataset {dataset!r}: its files were pruned (pinned versions "
                            f"and the last {KEEP_LAST} keep them; `cmtui models pin` keeps one)")
    return load_artifact(directory)


@dataclass
class Rejects:
    """Faulty input rows, kept when ``--skip-bad`` goes on without them."""

    faults: list[dict[str, object]] = field(default_factory=list)

    def add(self, path: str, line: int, column: str, what: str) -> None:
        self.faults.append({"file": path, "line": line, "column": column, "error": what})


# ---- reading --------------------------------------------------------------------------
def read_chunks(path: Path, skip_bad: bool, rejects: Rejects) -> Iterator[pl.DataFrame]:
    """The messages of one input as frames of ``MESSAGE_COLUMNS`` plus ``thread_length``
    (counted over the whole input), ``CHUNK`` rows each."""
    if path.suffix.lower() == ".parquet":
        yield from _parquet_chunks(path, skip_bad, rejects)
        return
    frame = _validated(path, skip_bad, rejects)
    # the time too: a field's date written without a year takes the message's year
    frame = frame.select(*MESSAGE_COLUMNS, *(["ts"] if "ts" in frame.columns else []))
    frame = frame.with_columns(thread_length())
    size = chunk_rows(frame["body"].head(1000))
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


def chunk_rows(bodies: pl.Series) -> int:
    """Rows per chunk for messages like ``bodies`` (a sample): ``CHUNK``, fewer for long ones."""
    mean = float(bodies.str.len_chars().cast(pl.Float64).mean() or 1.0) if len(bodies) else 1.0  # type: ignore[arg-type]
    return int(min(CHUNK, max(1_000, CHUNK_CHARACTERS // max(mean, 1.0))))


def _validated(path: Path, skip_bad: bool, rejects: Rejects) -> pl.DataFrame:
    """A CSV/JSONL input validated as on import; with ``skip_bad`` its faulty records are
    left out (and reported), faults of the whole file (its header) still stop it."""
    text = sys.stdin.read() if str(path) == "-" else None
    label = Path("<stdin>.jsonl") if text is not None else path
    skip: frozenset[int] = frozenset()
    for _attempt in range(100):  # each pass finds up to a thousand more faulty rows
        try:
            # no language: the model does not read it (cmtui.features leaves it out)
            parsed = (read_text(label, text, skip_lines=skip, find_language=False) if text is not None
                      else read_file(path, skip_lines=skip, find_language=False))
            return parsed.frame
        except ImportFailed as exc:
            fatal = not exc.faults or any(line <= 1 for line, _, _ in exc.faults)
            if not skip_bad or fatal:
                raise
            for line, column, what in exc.faults:
                rejects.add(str(label), line, column, what)
            skip = skip | {line for line, _, _ in exc.faults}
    raise ImportFailed([f"{label}: too many faulty rows to skip"])


@dataclass
class ParquetPlan:
    """How a Parquet input is read: its columns as message columns and properties, the
    size of each thread over the whole file, and its row count."""

    path: Path
    renamed: dict[str, str]
    properties: list[str]
    thread_sizes: pl.DataFrame | None
    total: int
    chunk: int  # rows per chunk (``chunk_rows`` of the first thousand)


def parquet_plan(path: Path) -> ParquetPlan:
    try:
        scan = pl.scan_parquet(path)
        names = scan.collect_schema().names()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ImportFailed([f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}"]) from None
    mapping = {n: HEADER_ALIASES.get(n.strip().lower().replace(" ", "_").replace("-", "_")) for n in names}
    missing = [c for c in ("id", "body") if c not in mapping.values()]
    if missing:
        raise ImportFailed([f"{path}:1: {missing[0]}: required column is missing; columns are: {', '.join(names)}"])
    renamed = {n: m for n, m in mapping.items() if m in MESSAGE_COLUMNS}
    thread = next((n for n, m in renamed.items() if m == "thread_id"), None)
    sizes = (scan.select(pl.col(thread).cast(pl.String).alias("thread_id"))
             .filter(pl.col("thread_id").is_not_null() & (pl.col("thread_id") != ""))
             .group_by("thread_id").len().collect() if thread else None)
    total = scan.select(pl.len()).collect().item()
    body = next(n for n, m in renamed.items() if m == "body")
    chunk = chunk_rows(scan.head(1000).select(pl.col(body).cast(pl.String)).collect().to_series())
    return ParquetPlan(path, renamed, [n for n, m in mapping.items() if m is None], sizes, total, chunk)


def parquet_chunk(plan: ParquetPlan, start: int, size: int,
                  skip_bad: bool) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Rows ``start`` to ``start + size`` of a Parquet input as a message frame, and the
    faulty rows left out (with ``skip_bad``; else the first is an ``ImportFailed``)."""
    # sliced before anything else: a row index or a rename first made polars read the whole file each time
    rows = pl.scan_parquet(plan.path).slice(start, size).collect()
    chunk = _message_frame(rows.rename(plan.renamed).with_row_index("_row", offset=start + 1), plan.properties)
    bad = chunk.filter(pl.col("id").is_null() | (pl.col("id").str.strip_chars() == "")
                       | pl.col("body").is_null() | (pl.col("body").str.strip_chars() == ""))
    faults = []
    for row, ident in bad.select("_row", "id").iter_rows():
        column, what = ("body", "message text is empty") if ident else ("id", "id is empty")
        if not skip_bad:
            raise ImportFailed([f"{plan.path}:{row}: {column}: {what} (row {row} of the Parquet file)"])
        faults.append((int(row), column, what))
    if bad.height:
        chunk = chunk.join(bad.select("_row"), on="_row", how="anti")
    if plan.thread_sizes is not None:
        chunk = chunk.join(plan.thread_sizes, on="thread_id", how="left").with_columns(
            pl.col("len").fill_null(1).alias("thread_length")).drop("len")
    else:
        chunk = chunk.with_columns(pl.lit(1).alias("thread_length"))
    return chunk.select(*MESSAGE_COLUMNS, "thread_length"), faults


def _parquet_chunks(path: Path, skip_bad: bool, rejects: Rejects) -> Iterator[pl.DataFrame]:
    plan = parquet_plan(path)
    for start in range(0, plan.total, plan.chunk):
        chunk, faults = parquet_chunk(plan, start, plan.chunk, skip_bad)
        for line, column, what in faults:
            rejects.add(str(path), line, column, what)
        yield chunk


def _message_frame(chunk: pl.DataFrame, properties: list[str]) -> pl.DataFrame:
    """A Parquet chunk with every message column (text), its other columns as JSON properties."""
    columns = [pl.col(c).cast(pl.String) if c in chunk.columns else pl.lit(None, pl.String).alias(c)
               for c in MESSAGE_COLUMNS if c != "properties"]
    props = (pl.struct(properties).struct.json_encode() if properties else pl.lit(None, pl.String)).alias("properties")
    return chunk.select("_row", *columns, props)


# ---- scoring and writing ----------------------------------------------------------------
def predictions_frame(scoring: ScoringModel, chunk: pl.DataFrame) -> pl.DataFrame:
    """``id`` and the ``labels`` (list of name, probability and the three flags) of a chunk,
    and its general fields' values when the version has fields."""
    probs, positive = scoring.score(chunk)
    out = prediction_rows(scoring, chunk["id"], probs, positive)
    if scoring.fields is not None:
        balanced = probs >= scoring.thresholds[:, 1].astype(np.float32)
        out = out.with_columns(scoring.fields.values(chunk, probs, scoring.labels, balanced))
    return out


def prediction_rows(scoring: ScoringModel, ids: pl.Series, probs: np.ndarray,
                    positive: np.ndarray | None = None) -> pl.DataFrame:
    """Per message, every label at or above its high-recall threshold (vectorised: no
    Python loop over messages), and with a sentiment model its ``sentiment``
    (positive / negative) and ``sentiment_probability`` (of positive)."""
    t = scoring.thresholds.astype(np.float32)
    rows, cols = np.nonzero(probs >= t[:, 0])
    p = probs[rows, cols]
    hits = pl.DataFrame({
        "row": rows.astype(np.int64),
        "name": pl.Series(scoring.labels, dtype=pl.String).gather(cols),
        "probability": np.round(p.astype(np.float64), 4),
        "high_recall": np.ones(len(rows), bool),
        "balanced": p >= t[cols, 1],
        "high_precision": p >= t[cols, 2],
    })
    grouped = (hits.group_by("row", maintain_order=True)
               .agg(pl.struct("name", "probability", "high_recall", "balanced", "high_precision").alias("labels")))
    base = pl.DataFrame({"row": np.arange(len(ids), dtype=np.int64), "id": ids})
    empty = pl.lit([], dtype=grouped.schema["labels"]) if grouped.height else None
    out = base.join(grouped, on="row", how="left").sort("row")
    if empty is not None:
        out = out.with_columns(pl.col("labels").fill_null(empty))
    if positive is not None:
        out = out.with_columns(
            pl.Series("sentiment", np.where(positive >= 0.5, "positive", "negative"), dtype=pl.String),
            pl.Series("sentiment_probability", np.round(positive.astype(np.float64), 4)))
    return out.drop("row")


class Writer:
    """Output written a chunk at a time, into a file beside the destination renamed at the
    end (nothing half-written); ``-`` is JSONL on stdout. JSONL and CSV are appended as
    they come; Parquet parts are kept in a temporary folder and joined at the end."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.count = 0
        self.parts: Path | None = None
        self.text: Any = None  # the open .part file of a JSONL or CSV output
        if out is None:
            return
        self.tmp = out.with_name(out.name + ".part")
        if out.suffix.lower() == ".parquet":
            self.parts = Path(tempfile.mkdtemp(prefix="cmtui-predict-"))
        else:
            self.text = self.tmp.open("w")

    def write(self, frame: pl.DataFrame) -> None:
        if self.out is None:
            sys.stdout.write(_ndjson(frame))
            sys.stdout.flush()
        elif self.parts is not None:
            frame.write_parquet(self.parts / f"{self.count:08d}.parquet")
        else:
            csv = self.out.suffix.lower() == ".csv"
            self.text.write(_csv(frame, header=self.count == 0) if csv else _ndjson(frame))
        self.count += 1

    def finish(self) -> None:
        if self.out is None:
            return
        try:
            if self.parts is None:
                self.text.close()
            elif self.count:
                pl.scan_parquet(self.parts / "*.parquet").sink_parquet(self.tmp)
            else:
                self.tmp.write_text("")
            self.tmp.replace(self.out)
        finally:
            self.discard()

    def discard(self) -> None:
        if self.parts is not None:
            shutil.rmtree(self.parts, ignore_errors=True)
        if self.text is not None:
            self.text.close()
        if self.out is not None:
            self.tmp.unlink(missing_ok=True)


def _ndjson(frame: pl.DataFrame) -> str:
    return frame.write_ndjson() if frame.height else ""


def _csv(frame: pl.DataFrame, header: bool) -> str:
    """One row per message: id, then the labels at each operating point (``;``-joined),
    the probabilities as ``name=p``."""
    def at(flag: str) -> pl.Expr:
        return pl.col("labels").list.eval(pl.element().filter(pl.element().struct.field(flag))
                                          .struct.field("name")).list.join(";")

    flat = frame.select(
        _inert("id"),
        pl.col("labels").list.eval(pl.format("{}={}", pl.element().struct.field("name"),
                                             pl.element().struct.field("probability"))).list.join(";")
        .alias("predicted"),
        at("high_recall").alias("high_recall"), at("balanced").alias("balanced"),
        at("high_precision").alias("high_precision"),
        *[pl.col(c) for c in ("sentiment", "sentiment_probability") if c in frame.columns],
        *([pl.col("fields").list.eval(pl.format("{}={}", pl.element().struct.field("field"),
                                                pl.element().struct.field("value"))).list.join(";")]
          if "fields" in frame.columns else []),
    )
    flat = flat.with_columns(_inert(c) for c in ("predicted", "high_recall", "balanced", "high_precision",
                                                 *(["fields"] if "fields" in frame.columns else [])))
    return flat.write_csv(include_header=header, quote_style="non_numeric")


def _inert(column: str) -> pl.Expr:
    """A text column with cells a spreadsheet would run as a formula quoted, as export does."""
    col = pl.col(column)
    risky = col.str.contains(f"^[{re.escape(''.join(FORMULA_START))}]") & ~col.str.contains(_NUMBER)
    return pl.when(risky).then(pl.lit("'") + col).otherwise(col).alias(column)


def run_predict(scoring: ScoringModel, inputs: list[Path], out: Path | None, skip_bad: bool,
                progress: Callable[[int], None] = lambda _n: None) -> tuple[int, Rejects]:
    """Score every input into ``out`` (None: stdout). Returns (messages scored, rejects).

    Two chunks are scored at a time (``IN_FLIGHT``; hashing, LightGBM and numpy release
    the GIL), written in order: one at a time left the second core idle through the
    single-threaded steps (reading, the prior on one block, building the output).
    """
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise StoreError(f"{out}: use a .jsonl, .csv or .parquet file name (or - for JSONL on stdout)")
    if out is not None and not out.parent.is_dir():
        raise StoreError(f"{out}: no folder {out.parent}")
    rejects = Rejects()
    writer = Writer(out)
    scored = 0
    pending: deque[tuple[int, Future[pl.DataFrame]]] = deque()
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for path in inputs:
                for chunk in read_chunks(path, skip_bad, rejects):
                    pending.append((chunk.height, pool.submit(predictions_frame, scoring, chunk)))
                    while len(pending) >= IN_FLIGHT:
                        scored += _write_next(pending, writer)
                        progress(scored)
            while pending:
                scored += _write_next(pending, writer)
                progress(scored)
        writer.finish()
    except BaseException:
        writer.discard()
        raise
    return scored, rejects


def _write_next(pending: deque[tuple[int, Future[pl.DataFrame]]], writer: Writer) -> int:
    rows, future = pending.popleft()
    writer.write(future.result())
    return rows
