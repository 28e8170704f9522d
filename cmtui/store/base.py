"""DuckDB storage: schema, migrations, transactions and every SQL statement of cmtui.

This package is the only place that runs SQL. ``base`` opens the file and holds the
schema and the helpers every part shares; ``datasets``, ``labels`` and ``reviews`` add
the statements of their concern; ``Store`` (in ``__init__``) is all of them.

Several cmtui processes (one per SSH session) share one database file, and DuckDB lets
one process hold a file at a time. So the store never keeps the file open: each unit of
work opens it, runs in one transaction, and closes it again, retrying for a while when
another process holds it. What the app reads often is kept in memory by the caller.

A message is reviewed by an annotator when that annotator confirmed its full label set
(possibly empty). The *effective* labels of a message are those of its latest review; the
per-annotator reviews are kept so that agreement can be reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import filelock
import polars as pl

from ..config import data_dir
from ..private import (
    InsecureFile,
    check_database,
    companions,
    current_user,
    modes_for,
    protect,
    umask_for,
)
from ..taxonomy import LABEL_SEP, ancestors

APP_MARKER = "cmtui"
MAX_LABEL_LEN = 200

# Each entry migrates the schema from version i to i + 1. Never edit a released entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta(key VARCHAR PRIMARY KEY, value VARCHAR);
    CREATE TABLE sources(name VARCHAR NOT NULL, created TIMESTAMP NOT NULL);
    CREATE TABLE datasets(name VARCHAR NOT NULL, sentiment BOOLEAN NOT NULL,
                          created TIMESTAMP NOT NULL);
    CREATE TABLE dataset_sources(dataset VARCHAR NOT NULL, source VARCHAR NOT NULL);
    CREATE TABLE messages(
        mid BIGINT NOT NULL, source VARCHAR NOT NULL, id VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL, subject VARCHAR, sender VARCHAR, recipients VARCHAR,
        cc VARCHAR, thread_id VARCHAR, body VARCHAR NOT NULL, properties VARCHAR,
        updated TIMESTAMP NOT NULL);
    CREATE TABLE labels(dataset VARCHAR NOT NULL, name VARCHAR NOT NULL,
                        created TIMESTAMP NOT NULL);
    CREATE TABLE reviews(dataset VARCHAR NOT NULL, mid BIGINT NOT NULL,
                         annotator VARCHAR NOT NULL, at_ts TIMESTAMP NOT NULL, mode VARCHAR);
    CREATE TABLE annotations(dataset VARCHAR NOT NULL, mid BIGINT NOT NULL,
                             annotator VARCHAR NOT NULL, label VARCHAR NOT NULL,
                             sentiment SMALLINT, at_ts TIMESTAMP NOT NULL);
    CREATE SEQUENCE event_seq;
    CREATE TABLE events(seq BIGINT NOT NULL, dataset VARCHAR, annotator VARCHAR,
                        at_ts TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, mid BIGINT,
                        payload VARCHAR);
    CREATE TABLE leases(dataset VARCHAR NOT NULL, mid BIGINT NOT NULL,
                        annotator VARCHAR NOT NULL, expires TIMESTAMP NOT NULL);
    CREATE TABLE model_runs(dataset VARCHAR NOT NULL, version INTEGER NOT NULL,
                            at_ts TIMESTAMP NOT NULL, reviewed INTEGER NOT NULL,
                            metrics VARCHAR);
    CREATE TABLE session_state(dataset VARCHAR NOT NULL, annotator VARCHAR NOT NULL,
                               mode VARCHAR, arg VARCHAR, page VARCHAR,
                               at_ts TIMESTAMP NOT NULL);
    """,
    # 2: label descriptions; a session keeps its unconfirmed edits and cursor row
    """
    ALTER TABLE labels ADD COLUMN description VARCHAR;
    ALTER TABLE session_state ADD COLUMN drafts VARCHAR;
    ALTER TABLE session_state ADD COLUMN cursor INTEGER;
    """,
    # 3: the operating-system account that acted, beside the annotator name it gave
    """
    ALTER TABLE events ADD COLUMN os_user VARCHAR;
    ALTER TABLE reviews ADD COLUMN os_user VARCHAR;
    """,
    # 4: pinned and tagged model versions; streams and the exceptions their consumers mark
    """
    ALTER TABLE model_runs ADD COLUMN pinned BOOLEAN DEFAULT false;
    ALTER TABLE model_runs ADD COLUMN tag VARCHAR;
    CREATE TABLE streams(name VARCHAR NOT NULL, dataset VARCHAR NOT NULL, version INTEGER NOT NULL,
                         filters VARCHAR NOT NULL, cursor BIGINT NOT NULL, created TIMESTAMP NOT NULL);
    CREATE TABLE stream_exceptions(stream VARCHAR NOT NULL, dataset VARCHAR NOT NULL, mid BIGINT NOT NULL,
                                   kind VARCHAR NOT NULL, at_ts TIMESTAMP NOT NULL, os_user VARCHAR);
    """,
    # 5: a chat or call keeps its turns (JSON: speaker, text, timestamp); the body holds their text;
    # a session keeps its filter (source, language)
    """
    ALTER TABLE messages ADD COLUMN turns VARCHAR;
    ALTER TABLE session_state ADD COLUMN scope VARCHAR;
    """,
    # 6: general fields a team names (kind: a built-in kind or regex; shape: a reference's
    # shape or the regex; labels: JSON list of the labels that expect the field)
    """
    CREATE TABLE fields(dataset VARCHAR NOT NULL, name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
                        shape VARCHAR, labels VARCHAR NOT NULL, created TIMESTAMP NOT NULL);
    """,
    # 7: field reviews: a span of a message (positions in subject + newline + body) is, or
    # is not, a field (verdict yes/no), by an annotator
    """
    CREATE TABLE field_reviews(dataset VARCHAR NOT NULL, mid BIGINT NOT NULL, annotator VARCHAR NOT NULL,
                               field VARCHAR NOT NULL, start_at INTEGER NOT NULL, end_at INTEGER NOT NULL,
                               value VARCHAR, verdict VARCHAR NOT NULL, at_ts TIMESTAMP NOT NULL);
    """,
    # 8: a saved Low confidence page keeps which of its messages came from Shuffle (JSON
    # list of mids): their reviews count as random picks after a restart too
    """
    ALTER TABLE session_state ADD COLUMN picks VARCHAR;
    """,
    # 9: whether a label has a number key: a parent made only because a child was named
    # (Policy for Policy > Renewal) has none; labels made before keep theirs
    """
    ALTER TABLE labels ADD COLUMN keyed BOOLEAN DEFAULT true;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """A database problem the user must see as one clear line."""


class StoreBusy(StoreError):
    """Another process held the database for longer than we were willing to wait."""


class LabelNameError(ValueError):
    """A label name that the taxonomy refuses."""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def validate_label_name(name: str) -> str:
    """Return the canonical form of a label name or raise LabelNameError."""
    if not name or not name.strip():
        raise LabelNameError("label name is empty")
    if len(name) > MAX_LABEL_LEN:
        raise LabelNameError(f"label name is longer than {MAX_LABEL_LEN} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise LabelNameError("label name contains control characters")
    if ";" in name or "=" in name:
        raise LabelNameError(f"label name {name!r} contains ';' or '=' (they separate labels in files)")
    if name != name.strip() or name.startswith(">") or name.endswith(">"):
        raise LabelNameError(f"label name {name!r} has spaces or {LABEL_SEP!r} at an end")
    parts = name.split(LABEL_SEP)
    for part in parts:
        if not part.strip() or part != part.strip() or ">" in part:
            raise LabelNameError(f"label name {name!r} has an empty or malformed level")
    return name


def validate_name(name: str, what: str) -> str:
    """A dataset or source name: any text a person can read, at most 200 characters.

    Names are data: they are bound as SQL parameters and hashed for file names, never
    pasted into a path or a shell; control characters (NUL, newlines) are refused
    because no terminal or file could show them faithfully."""
    if not name or not name.strip():
        raise StoreError(f"{what} name is empty")
    if len(name) > MAX_LABEL_LEN:
        raise StoreError(f"{what} name is longer than {MAX_LABEL_LEN} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise StoreError(f"{what} name contains control characters (such as a newline or NUL)")
    return name


class _ArrowStream:
    """Only the Arrow C stream of a polars frame or a DuckDB relation: each would otherwise
    hand the other to pyarrow."""

    def __init__(self, data: pl.DataFrame | duckdb.DuckDBPyRelation) -> None:
        self.data = data

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.data.__arrow_c_stream__(requested_schema)


def register_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Make ``frame`` the view ``name`` on ``con`` (until ``con.unregister(name)``), scanned
    through the Arrow C stream interface: no pyarrow, no file in between (a Parquet stage
    took 0.2 s of a 25,000-email import's 1 s write)."""
    con.execute("SELECT 1").fetchall()  # DuckDB 2 will not register beside a half-read result
    con.register(name, _ArrowStream(frame))


def read_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """``sql``'s result as a polars frame, on an open connection (see ``query_frame``)."""
    return pl.DataFrame(_ArrowStream(con.sql(sql)))


def _lit(value: str) -> str:
    """A SQL string literal (for the few statements DuckDB cannot parameterise)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    sentiment: bool
    created: datetime
    sources: tuple[str, ...]
    messages: int
    reviewed: int
    labels: int


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int  # messages the source had that changed
    labels_found: int
    reviewed: int
    unchanged: int = 0  # messages the source had as they are


REVIEW_KINDS = ("confirm", "submit")
FIELD_REVIEW = "field-review"
TAXONOMY_KINDS = ("add-label", "rename-label", "merge-label", "delete-label", "describe-label")


@dataclass(frozen=True)
class UndoneStep:
    """What one undo reverted: a confirmation or submit (its messages) or a taxonomy change.
    ``labels``: for a confirmation or submit, what each message was confirmed with."""

    kind: str
    mids: list[int]
    label: str | None = None
    labels: dict[int, dict[str, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedSession:
    """What ``save_session_state`` kept: the page an annotator had open, and their drafts."""

    mode: str
    arg: str | None
    page: list[int]
    drafts: dict[int, dict[str, int | None]]
    cursor: int = 0
    scope: tuple[str | None, str | None, str | None] = (None, None, None)  # the filter: source, language, window
    picks: tuple[int, ...] = ()  # the page's messages picked at random (Low confidence's Shuffle slots)


@dataclass(frozen=True)
class Review:
    """One confirmation: the full label set an annotator gave a message."""

    mid: int
    labels: dict[str, int | None]  # label -> sentiment (1, -1) or None
    mode: str | None = None


class StoreBase:
    """One DuckDB file. Cheap to construct; every method opens and closes the file."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 20.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._checked = False

    # ---- connections -----------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # Threads of one process (the app's workers) take turns: DuckDB's per-process
        # instance cache fails when two threads open and close the same file at once.
        # Processes take turns through a lock file held until the connection has closed:
        # DuckDB's own file lock can be released before closing has finished writing, and
        # another process reading then was seen to fail ("Could not read enough bytes").
        with _file_lock(self.path), umask_for(self.path), self._process_lock(), self._open() as con:
            yield con

    @contextlib.contextmanager
    def _process_lock(self) -> Iterator[None]:
        """Processes take turns through ``<db>.lock`` (filelock: fcntl.flock on Unix)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock = filelock.FileLock(lock_path, mode=modes_for(self.path)[0])  # private unless shared
        try:
            lock.acquire(timeout=self.busy_timeout, poll_interval=0.005)
        except filelock.Timeout:
            raise StoreBusy(f"{self.path}: another cmtui process kept it busy for over "
                            f"{self.busy_timeout:.0f} s") from None
        except OSError as exc:
            raise StoreError(f"{lock_path}: cannot create the lock file: {exc.strerror}") from exc
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _open(self) -> Iterator[duckdb.DuckDBPyConnection]:
        waits = _backoff(self.busy_timeout, first=0.005, cap=0.1)
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" not in text.lower():
                    raise StoreError(f"{self.path}: cannot open database: {_first_line(text)}") from exc
                if not next(waits, False):
                    raise StoreBusy(
                        f"{self.path}: held by another process for over "
                        f"{self.busy_timeout:.0f} s ({_first_line(text)})"
                    ) from exc
            except duckdb.Error as exc:
                raise StoreError(f"{self.path}: not a readable cmtui database: {_first_line(str(exc))}") from exc
        try:
            # Message text is most of the file. DuckDB's default tries every string
            # compression on each checkpoint; zstd alone halves the time an import spends
            # writing long emails and makes the file 4x smaller (docs/benchmarks.md).
            con.execute("SET force_compression='zstd'")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file, check the schema, run one transaction, close."""
        if not self._checked:
            self.ensure_schema()
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")

    def ensure_schema(self) -> None:
        """Create or migrate the schema; refuse foreign, newer or insecure databases."""
        existed = self.path.exists() and self.path.stat().st_size > 0
        if not existed:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create its folder: {exc.strerror}") from None
        if self.path.parent == data_dir():  # cmtui's own folder: for its owner alone
            protect(self.path.parent, self.path)
        if self.path.exists():
            try:
                check_database(self.path)
            except InsecureFile as exc:
                raise StoreError(str(exc)) from None
        with self._connect() as con:
            tables = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()}
            version = 0
            if "meta" in tables:
                rows = dict(con.execute("SELECT key, value FROM meta").fetchall())
                if rows.get("app") != APP_MARKER:
                    raise StoreError(f"{self.path}: not a cmtui database (no cmtui marker)")
                version = int(rows.get("schema_version", "0"))
            elif tables:
                raise StoreError(f"{self.path}: not a cmtui database (it has other tables)")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: made by a newer cmtui (schema {version} > {SCHEMA_VERSION}); "
                    "upgrade cmtui"
                )
            if version < SCHEMA_VERSION:
                con.execute("BEGIN TRANSACTION")
                try:
                    for step in MIGRATIONS[version:]:
                        con.execute(step)
                    con.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('app', ?), ('schema_version', ?)",
                        [APP_MARKER, str(SCHEMA_VERSION)],
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        for path in companions(self.path):  # created under the umask of the moment: set them right
            protect(path, self.path)
        self._checked = True

    def schema_version(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])  # type: ignore[index]

    # ---- helpers every part uses ----------------------------------------------------------
    def query_frame(self, sql: str) -> pl.DataFrame:
        """Run ``sql`` and read the result as a polars frame, through the Arrow C stream
        interface (DuckDB's ``.pl()`` would need pyarrow, a 40 MB install). Reading 10,000
        long emails' bodies: 0.14 s and 130 MB less at peak than through a Parquet file."""
        with self.transaction() as con:
            return read_frame(con, sql)

    @staticmethod
    def _labels(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
        names = [r[0] for r in con.execute("SELECT name FROM labels WHERE dataset=?", [dataset]).fetchall()]
        return sort_labels(names)

    @staticmethod
    def _add_labels(con: duckdb.DuckDBPyConnection, dataset: str, names: Sequence[str],
                    existing: Sequence[str]) -> list[str]:
        """Add labels and their ancestors, in that order; refuse names differing from one
        only in case. Returns the names added. An ancestor added only because a child was
        named gets no number key."""
        folded = {n.casefold(): n for n in existing}
        named = set(names)
        added: list[str] = []
        for name in names:
            for full in [*ancestors(name), name]:
                known = folded.get(full.casefold())
                if known == full:
                    continue
                if known is not None:
                    raise LabelNameError(f"label {full!r} differs only in case from {known!r}")
                con.execute("INSERT INTO labels (dataset, name, created, keyed) VALUES (?, ?, ?, ?)",
                            [dataset, full, now(), full in named])
                folded[full.casefold()] = full
                added.append(full)
        return added

    @staticmethod
    def _event(con: duckdb.DuckDBPyConnection, dataset: str | None, annotator: str | None,
               kind: str, mid: int | None, payload: dict[str, Any]) -> int:
        return StoreBase._events(con, dataset, annotator, kind, [(mid, payload)])[0]

    @staticmethod
    def _events(con: duckdb.DuckDBPyConnection, dataset: str | None, annotator: str | None,
                kind: str, items: Sequence[tuple[int | None, dict[str, Any]]]) -> list[int]:
        """Log one event per (mid, payload), in one statement; their sequence numbers, in order."""
        if not items:
            return []
        seqs = sorted(int(s) for (s,) in con.execute("SELECT nextval('event_seq') FROM range(?)",
                                                     [len(items)]).fetchall())
        con.execute("INSERT INTO events (seq, dataset, annotator, at_ts, kind, mid, payload, os_user) "
                    "SELECT unnest(?::BIGINT[]), ?, ?, ?, ?, unnest(?::BIGINT[]), unnest(?::VARCHAR[]), ?",
                    [seqs, dataset, annotator, now(), kind, [mid for mid, _ in items],
                     [json.dumps(payload, default=str) for _, payload in items], current_user()])
        return seqs

    @staticmethod
    def _taxonomy_snapshot(con: duckdb.DuckDBPyConnection, dataset: str, scope: Sequence[str],
                           with_annotations: bool = True) -> dict[str, Any]:
        """The label rows and annotations of ``scope``: what undo puts back."""
        names = sorted(set(scope))
        marks = ",".join("?" for _ in names) or "NULL"
        labels = con.execute(f"SELECT name, created, description, keyed FROM labels WHERE dataset=? "
                             f"AND name IN ({marks})", [dataset, *names]).fetchall()
        annotations = con.execute(
            f"SELECT mid, annotator, label, sentiment, at_ts FROM annotations WHERE dataset=? AND label IN ({marks})",
            [dataset, *names]).fetchall() if with_annotations else []
        return {"scope": names, "with_annotations": with_annotations,
                "labels": [[n, c.isoformat(), d, k] for n, c, d, k in labels],
                "annotations": [[m, a, lb, s, t.isoformat()] for m, a, lb, s, t in annotations]}

    @staticmethod
    def _restore_taxonomy(con: duckdb.DuckDBPyConnection, dataset: str, payload: dict[str, Any]) -> None:
        scope = list(payload.get("scope", []))
        scope += payload.get("created", [])  # names a rename or merge made
        marks = ",".join("?" for _ in scope) or "NULL"
        con.execute(f"DELETE FROM labels WHERE dataset=? AND name IN ({marks})", [dataset, *scope])
        if payload.get("with_annotations", True):
            con.execute(f"DELETE FROM annotations WHERE dataset=? AND label IN ({marks})", [dataset, *scope])
            if payload["annotations"]:
                con.executemany("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?)",
                                [[dataset, m, a, lb, s, datetime.fromisoformat(t)]
                                 for m, a, lb, s, t in payload["annotations"]])
        for name, created in payload.get("unkeyed", []):  # a parent given a key: without one again
            con.execute("UPDATE labels SET keyed=false, created=? WHERE dataset=? AND name=?",
                        [datetime.fromisoformat(created), dataset, name])
        if payload["labels"]:  # steps logged before keys were stored have no keyed field: keyed
            con.executemany("INSERT INTO labels (dataset, name, created, description, keyed) VALUES (?, ?, ?, ?, ?)",
                            [[dataset, n, datetime.fromisoformat(c), d, keyed[0] if keyed else True]
                             for n, c, d, *keyed in payload["labels"]])


_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _FILE_LOCKS_GUARD:
        lock = _FILE_LOCKS.get(key)
        if lock is None:
            lock = _FILE_LOCKS[key] = threading.RLock()
        return lock


def sort_labels(names: Sequence[str]) -> list[str]:
    """Taxonomy order: by level path, case-insensitively, so a parent precedes its children."""
    return sorted(set(names), key=lambda n: [p.casefold() for p in n.split(LABEL_SEP)])


def _backoff(timeout: float, first: float, cap: float) -> Iterator[bool]:
    """One jittered, doubling sleep per ``next()`` (which gives True); stops once
    ``timeout`` s have passed since this call (not since the first ``next()``)."""
    deadline = time.monotonic() + timeout

    def waits() -> Iterator[bool]:
        delay = first
        while time.monotonic() <= deadline:
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, cap)
            yield True

    return waits()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _label_rows(frame: pl.DataFrame, default_annotator: str) -> dict[str, pl.DataFrame]:
    """Reviews and annotations to import from a frame's ``labels`` column."""
    stamp = now()
    cols = [pl.col("id"), pl.col("labels")]
    cols.append(pl.col("sentiments") if "sentiments" in frame.columns
                else pl.lit(None, dtype=pl.List(pl.Int16)).alias("sentiments"))
    cols.append(pl.col("annotator").fill_null(default_annotator) if "annotator" in frame.columns
                else pl.lit(default_annotator).alias("annotator"))
    cols.append(pl.col("reviewed_at").fill_null(stamp) if "reviewed_at" in frame.columns
                else pl.lit(stamp).alias("reviewed_at"))
    reviewed = frame.select(cols).filter(pl.col("labels").is_not_null())
    reviews = reviewed.select("id", "annotator", pl.col("reviewed_at").alias("at_ts"))
    exploded = reviewed.with_columns(
        pl.when(pl.col("sentiments").is_null())
        .then(pl.col("labels").list.eval(pl.lit(None, dtype=pl.Int16)))
        .otherwise(pl.col("sentiments")).alias("sentiments")
    ).explode("labels", "sentiments").filter(pl.col("labels").is_not_null())
    annotations = exploded.select(
        "id", "annotator", pl.col("labels").alias("label"),
        pl.col("sentiments").cast(pl.Int16).alias("sentiment"), pl.col("reviewed_at").alias("at_ts"))
    return {"reviews": reviews, "annotations": annotations}
