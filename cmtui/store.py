"""DuckDB storage: schema, migrations, transactions and every SQL statement of cmtui.

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
import fcntl
import json
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .config import data_dir
from .private import InsecureFile, check_database, companions, current_user, protect, umask_for
from .taxonomy import LABEL_SEP, ancestors

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
    updated: int
    labels_found: int
    reviewed: int


REVIEW_KINDS = ("confirm", "submit")
TAXONOMY_KINDS = ("add-label", "rename-label", "merge-label", "delete-label", "describe-label")


@dataclass(frozen=True)
class UndoneStep:
    """What one undo reverted: a confirmation or submit (its messages) or a taxonomy change."""

    kind: str
    mids: list[int]
    label: str | None = None


@dataclass(frozen=True)
class SavedSession:
    """What ``save_session_state`` kept: the page an annotator had open, and their drafts."""

    mode: str
    arg: str | None
    page: list[int]
    drafts: dict[int, dict[str, int | None]]
    cursor: int = 0


@dataclass(frozen=True)
class Review:
    """One confirmation: the full label set an annotator gave a message."""

    mid: int
    labels: dict[str, int | None]  # label -> sentiment (1, -1) or None
    mode: str | None = None


class Store:
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the unit of work
        except OSError as exc:
            raise StoreError(f"{lock_path}: cannot create the lock file: {exc.strerror}") from exc
        try:
            waits = _backoff(self.busy_timeout, first=0.002, cap=0.05)
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not next(waits, False):
                        raise StoreBusy(f"{self.path}: another cmtui process kept it busy for over "
                                        f"{self.busy_timeout:.0f} s") from None
            yield
        finally:
            handle.close()  # releases the lock

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

    # ---- datasets ---------------------------------------------------------------------
    def dataset_names(self) -> list[str]:
        with self.transaction() as con:
            return [r[0] for r in con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]

    def resolve_dataset(self, name: str | None, annotator: str | None = None) -> str:
        """The dataset to work on: ``name``, the only one in the database, or the one
        ``annotator`` used last (see ``last_dataset``)."""
        names = self.dataset_names()
        if name is not None:
            if name not in names:
                known = ", ".join(names) or "none"
                raise StoreError(f"{self.path}: no dataset {name!r} (datasets: {known})")
            return name
        if len(names) == 1:
            return names[0]
        if not names:
            raise StoreError(f"{self.path}: holds no dataset; import one with `cmtui import`")
        last = self.last_dataset(annotator) if annotator else None
        if last is not None and last in names:
            return last
        raise StoreError(f"{self.path}: holds several datasets ({', '.join(names)}); name one with --dataset")

    def last_dataset(self, annotator: str) -> str | None:
        """The dataset ``annotator`` last had a page of open (in the app or a command)."""
        with self.transaction() as con:
            row = con.execute("SELECT dataset FROM session_state WHERE annotator=? ORDER BY at_ts DESC LIMIT 1",
                              [annotator]).fetchone()
        return None if row is None else str(row[0])

    def create_dataset(self, name: str, *, sentiment: bool = False,
                       sources: Sequence[str] = ()) -> None:
        validate_name(name, "dataset")
        for source in sources:
            validate_name(source, "source")
        with self.transaction() as con:
            self._ensure_dataset(con, name, sentiment)
            for source in sources:
                self._ensure_source(con, source)
                self._link(con, name, source)

    @staticmethod
    def _ensure_dataset(con: duckdb.DuckDBPyConnection, name: str, sentiment: bool) -> None:
        if not con.execute("SELECT 1 FROM datasets WHERE name=?", [name]).fetchone():
            con.execute("INSERT INTO datasets VALUES (?, ?, ?)", [name, sentiment, now()])

    @staticmethod
    def _ensure_source(con: duckdb.DuckDBPyConnection, name: str) -> None:
        if not con.execute("SELECT 1 FROM sources WHERE name=?", [name]).fetchone():
            con.execute("INSERT INTO sources VALUES (?, ?)", [name, now()])

    @staticmethod
    def _link(con: duckdb.DuckDBPyConnection, dataset: str, source: str) -> None:
        if not con.execute("SELECT 1 FROM dataset_sources WHERE dataset=? AND source=?",
                           [dataset, source]).fetchone():
            con.execute("INSERT INTO dataset_sources VALUES (?, ?)", [dataset, source])

    def datasets(self) -> list[DatasetInfo]:
        with self.transaction() as con:
            rows = con.execute(
                """
                SELECT d.name, d.sentiment, d.created,
                  (SELECT list(source ORDER BY source) FROM dataset_sources s WHERE s.dataset=d.name),
                  (SELECT count(*) FROM messages m JOIN dataset_sources s
                     ON m.source=s.source WHERE s.dataset=d.name),
                  (SELECT count(DISTINCT mid) FROM reviews r WHERE r.dataset=d.name),
                  (SELECT count(*) FROM labels l WHERE l.dataset=d.name)
                FROM datasets d ORDER BY d.name
                """
            ).fetchall()
        return [DatasetInfo(r[0], bool(r[1]), r[2], tuple(r[3] or ()), r[4], r[5], r[6]) for r in rows]

    def dataset_info(self, dataset: str) -> DatasetInfo:
        for info in self.datasets():
            if info.name == dataset:
                return info
        raise StoreError(f"{self.path}: no dataset {dataset!r}")

    def is_empty(self) -> bool:
        with self.transaction() as con:
            return not con.execute("SELECT 1 FROM datasets UNION ALL SELECT 1 FROM messages LIMIT 1").fetchone()

    def delete_dataset(self, dataset: str) -> None:
        """Remove a dataset, its taxonomy and annotations; its sources and messages stay."""
        with self.transaction() as con:
            for table in ("annotations", "reviews", "labels", "leases", "model_runs",
                          "session_state", "dataset_sources"):
                con.execute(f"DELETE FROM {table} WHERE dataset=?", [dataset])
            con.execute("DELETE FROM datasets WHERE name=?", [dataset])
            self._event(con, None, None, "delete-dataset", None, {"dataset": dataset})

    def delete_message(self, dataset: str, message_id: str, annotator: str) -> int:
        """Delete a message (by its id) from its source and so from every dataset using it."""
        with self.transaction() as con:
            rows = con.execute(
                """SELECT m.mid, m.source FROM messages m JOIN dataset_sources s ON m.source=s.source
                   WHERE s.dataset=? AND m.id=?""", [dataset, message_id]).fetchall()
            if not rows:
                raise StoreError(f"dataset {dataset!r} has no message {message_id!r}")
            for mid, source in rows:
                for table in ("annotations", "reviews", "leases"):
                    con.execute(f"DELETE FROM {table} WHERE mid=?", [mid])
                con.execute("DELETE FROM messages WHERE mid=?", [mid])
                self._event(con, dataset, annotator, "delete-message", mid,
                            {"id": message_id, "source": source})
            return len(rows)

    # ---- taxonomy ---------------------------------------------------------------------
    def labels(self, dataset: str) -> list[str]:
        """The taxonomy in its deterministic order (parents before their children)."""
        with self.transaction() as con:
            return self._labels(con, dataset)

    @staticmethod
    def _labels(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
        names = [r[0] for r in con.execute("SELECT name FROM labels WHERE dataset=?", [dataset]).fetchall()]
        return sort_labels(names)

    def add_label(self, dataset: str, name: str, annotator: str | None = None) -> str:
        name = validate_label_name(name)
        with self.transaction() as con:
            existing = self._labels(con, dataset)
            added = [n for n in [*ancestors(name), name] if n not in existing]
            self._add_labels(con, dataset, [name], existing)
            if added:  # undo removes what was added (with any annotations made since)
                self._event(con, dataset, annotator, "add-label", None,
                            {"label": name, "scope": added, "labels": [], "annotations": []})
        return name

    @staticmethod
    def _add_labels(con: duckdb.DuckDBPyConnection, dataset: str, names: Sequence[str],
                    existing: Sequence[str]) -> int:
        """Add labels and their ancestors; refuse names differing from one only in case."""
        folded = {n.casefold(): n for n in existing}
        added = 0
        for name in names:
            for full in [*ancestors(name), name]:
                known = folded.get(full.casefold())
                if known == full:
                    continue
                if known is not None:
                    raise LabelNameError(f"label {full!r} differs only in case from {known!r}")
                con.execute("INSERT INTO labels (dataset, name, created) VALUES (?, ?, ?)",
                            [dataset, full, now()])
                folded[full.casefold()] = full
                added += 1
        return added

    # ---- import -----------------------------------------------------------------------
    def import_messages(self, dataset: str, source: str, frame: pl.DataFrame, *,
                        annotator: str, sentiment: bool | None = None) -> ImportResult:
        """Insert or update ``frame``'s messages in one transaction.

        ``frame`` columns: id, ts, subject, sender, recipients, cc, thread_id, body,
        properties (JSON text), and optionally ``labels`` (list of names, null when the
        row is not reviewed), ``sentiments`` (list of 1/-1/null) and ``annotator``.
        """
        validate_name(dataset, "dataset")
        validate_name(source, "source")
        has_labels = "labels" in frame.columns
        with tempfile.TemporaryDirectory(prefix="cmtui-") as tmp:
            stage_path = Path(tmp) / "stage.parquet"
            frame.select(
                "id", "ts", "subject", "sender", "recipients", "cc", "thread_id", "body", "properties"
            ).write_parquet(stage_path, compression="uncompressed")
            label_rows = None
            if has_labels:
                label_rows = _label_rows(frame, annotator)
            with self.transaction() as con:
                existing_sentiment = con.execute(
                    "SELECT sentiment FROM datasets WHERE name=?", [dataset]).fetchone()
                self._ensure_dataset(con, dataset, bool(sentiment))
                self._ensure_source(con, source)
                self._link(con, dataset, source)
                if existing_sentiment is not None and sentiment is not None \
                        and bool(existing_sentiment[0]) != sentiment:
                    raise StoreError(f"dataset {dataset!r} sentiment is fixed when it is created")
                con.execute(f"CREATE TEMP TABLE stage AS SELECT * FROM read_parquet({_lit(str(stage_path))})")
                con.execute(
                    "CREATE TEMP TABLE known AS SELECT m.mid, s.id FROM stage s "
                    "JOIN messages m ON m.source=? AND m.id=s.id", [source])
                updated = con.execute("SELECT count(*) FROM known").fetchone()[0]  # type: ignore[index]
                stamp = now()
                if updated:
                    con.execute(
                        """UPDATE messages SET ts=s.ts, subject=s.subject, sender=s.sender,
                           recipients=s.recipients, cc=s.cc, thread_id=s.thread_id, body=s.body,
                           properties=s.properties, updated=?
                           FROM stage s WHERE messages.source=? AND messages.id=s.id""",
                        [stamp, source])
                base = con.execute("SELECT coalesce(max(mid), 0) FROM messages").fetchone()[0]  # type: ignore[index]
                con.execute(
                    """INSERT INTO messages
                       SELECT ? + row_number() OVER (), ?, s.id, s.ts, s.subject, s.sender,
                              s.recipients, s.cc, s.thread_id, s.body, s.properties, ?
                       FROM stage s ANTI JOIN known k ON s.id = k.id""",
                    [base, source, stamp])
                added = len(frame) - updated
                labels_found = 0
                reviewed = 0
                if label_rows is not None and len(label_rows["reviews"]):
                    names = sorted({n for n in label_rows["annotations"]["label"].to_list()})
                    for name in names:
                        validate_label_name(name)
                    labels_found = self._add_labels(con, dataset, names, self._labels(con, dataset))
                    reviewed = self._import_reviews(con, dataset, source, label_rows, tmp)
                con.execute("DROP TABLE stage")
                con.execute("DROP TABLE known")
                self._event(con, dataset, annotator, "import", None,
                            {"source": source, "added": added, "updated": updated})
        return ImportResult(added, updated, labels_found, reviewed)

    def _import_reviews(self, con: duckdb.DuckDBPyConnection, dataset: str, source: str,
                        rows: dict[str, pl.DataFrame], tmp: str) -> int:
        reviews_path = Path(tmp) / "reviews.parquet"
        annotations_path = Path(tmp) / "annotations.parquet"
        rows["reviews"].write_parquet(reviews_path)
        rows["annotations"].write_parquet(annotations_path)
        con.execute(
            f"""CREATE TEMP TABLE rv AS SELECT m.mid, r.annotator, r.at_ts
                FROM read_parquet({_lit(str(reviews_path))}) r
                JOIN messages m ON m.source={_lit(source)} AND m.id=r.id""")
        con.execute(
            f"""CREATE TEMP TABLE an AS SELECT m.mid, a.annotator, a.label, a.sentiment, a.at_ts
                FROM read_parquet({_lit(str(annotations_path))}) a
                JOIN messages m ON m.source={_lit(source)} AND m.id=a.id""")
        # An imported review replaces the same annotator's earlier one of that message.
        con.execute("DELETE FROM reviews WHERE dataset=? AND (mid, annotator) IN (SELECT mid, annotator FROM rv)",
                    [dataset])
        con.execute("DELETE FROM annotations WHERE dataset=? AND (mid, annotator) IN (SELECT mid, annotator FROM rv)",
                    [dataset])
        con.execute("INSERT INTO reviews (dataset, mid, annotator, at_ts, mode, os_user) "
                    "SELECT ?, mid, annotator, at_ts, 'import', ? FROM rv", [dataset, current_user()])
        con.execute("INSERT INTO annotations SELECT ?, mid, annotator, label, sentiment, at_ts FROM an",
                    [dataset])
        count = con.execute("SELECT count(*) FROM rv").fetchone()[0]  # type: ignore[index]
        con.execute("DROP TABLE rv")
        con.execute("DROP TABLE an")
        return int(count)

    # ---- reading messages -------------------------------------------------------------
    def messages_frame(self, dataset: str, columns: str = "*",
                       mids: Sequence[int] | None = None) -> pl.DataFrame:
        """The dataset's messages (ordered by mid) as a polars frame, read via Parquet."""
        cols = ("mid, source, id, ts, subject, sender, recipients, cc, thread_id, body, "
                "properties, updated") if columns == "*" else columns
        clauses = [f"m.source IN (SELECT source FROM dataset_sources WHERE dataset={_lit(dataset)})"]
        if mids is not None:
            clauses.append("m.mid IN (" + (",".join(str(int(m)) for m in mids) or "NULL") + ")")
        sql = f"SELECT {cols} FROM messages m WHERE {' AND '.join(clauses)} ORDER BY m.mid"
        return self.query_frame(sql)

    def query_frame(self, sql: str) -> pl.DataFrame:
        with tempfile.TemporaryDirectory(prefix="cmtui-") as tmp:
            out = Path(tmp) / "out.parquet"
            with self.transaction() as con:
                con.execute(f"COPY ({sql}) TO {_lit(str(out))} (FORMAT parquet, COMPRESSION uncompressed)")
            return pl.read_parquet(out)

    def thread_mids(self, dataset: str, thread_id: str) -> list[int]:
        """The dataset's messages of one thread, oldest first."""
        with self.transaction() as con:
            rows = con.execute(
                """SELECT m.mid FROM messages m JOIN dataset_sources s ON m.source=s.source
                   WHERE s.dataset=? AND m.thread_id=? ORDER BY m.ts, m.mid""", [dataset, thread_id]).fetchall()
        return [r[0] for r in rows]

    def search(self, dataset: str, query: str, limit: int = 1000) -> list[int]:
        """Messages whose subject or body contains every word of ``query``, newest first."""
        words = [w for w in re.split(r"\s+", query.strip()) if w]
        if not words:
            return []
        conds = " AND ".join(
            "(m.body ILIKE ? ESCAPE '\\' OR coalesce(m.subject, '') ILIKE ? ESCAPE '\\')" for _ in words)
        params: list[Any] = [dataset]
        for w in words:
            pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern]
        params.append(limit)
        with self.transaction() as con:
            rows = con.execute(
                f"""SELECT m.mid FROM messages m JOIN dataset_sources s ON m.source=s.source
                    WHERE s.dataset=? AND {conds} ORDER BY m.ts DESC, m.mid LIMIT ?""",
                params).fetchall()
        return [r[0] for r in rows]

    # ---- reviews ----------------------------------------------------------------------
    def effective_reviews(self, dataset: str) -> tuple[dict[int, dict[str, int | None]], dict[int, str]]:
        """Per reviewed message: the labels of its latest review, and that review's mode."""
        with self.transaction() as con:
            latest = con.execute(
                """SELECT mid, annotator, mode FROM (
                     SELECT mid, annotator, mode, row_number() OVER (
                       PARTITION BY mid ORDER BY at_ts DESC, annotator) AS rk
                     FROM reviews WHERE dataset=?) WHERE rk=1 ORDER BY mid""", [dataset]).fetchall()
            ann = con.execute(
                """SELECT a.mid, a.label, a.sentiment FROM annotations a JOIN (
                     SELECT mid, annotator FROM (
                       SELECT mid, annotator, row_number() OVER (
                         PARTITION BY mid ORDER BY at_ts DESC, annotator) AS rk
                       FROM reviews WHERE dataset=?) WHERE rk=1) r
                   ON a.mid=r.mid AND a.annotator=r.annotator WHERE a.dataset=?
                   ORDER BY a.mid, a.label""",
                [dataset, dataset]).fetchall()
        labels: dict[int, dict[str, int | None]] = {mid: {} for mid, _, _ in latest}
        modes = {mid: mode or "" for mid, _, mode in latest}
        for mid, label, sentiment in ann:
            labels[mid][label] = sentiment
        return labels, modes

    def annotator_reviews(self, dataset: str) -> pl.DataFrame:
        """Every review with its annotator and label set (for agreement and per-annotator counts)."""
        return self.query_frame(
            f"""SELECT r.mid, r.annotator, r.at_ts, r.mode, r.os_user,
                       list(a.label ORDER BY a.label) FILTER (WHERE a.label IS NOT NULL) AS labels
                FROM reviews r LEFT JOIN annotations a
                  ON a.dataset=r.dataset AND a.mid=r.mid AND a.annotator=r.annotator
                WHERE r.dataset={_lit(dataset)}
                GROUP BY r.mid, r.annotator, r.at_ts, r.mode, r.os_user ORDER BY r.mid, r.annotator""")

    def confirm(self, dataset: str, annotator: str, reviews: Sequence[Review],
                kind: str = "confirm") -> list[int]:
        """Record reviews in one transaction; each gets an event holding what it replaced."""
        seqs: list[int] = []
        if not reviews:
            return seqs
        with self.transaction() as con:
            existing = set(self._labels(con, dataset))
            for review in reviews:
                missing = [name for name in review.labels if name not in existing]
                if missing:
                    raise StoreError(f"dataset {dataset!r} has no label {missing[0]!r}")
            stamp = now()
            # the events of one call share a batch: one undo step reverts the whole submit
            batch = con.execute("SELECT nextval('event_seq')").fetchone()[0]  # type: ignore[index]
            for review in reviews:
                before = self._review_of(con, dataset, review.mid, annotator)
                self._write_review(con, dataset, annotator, review.mid, review.labels,
                                   review.mode, stamp)
                after = {"labels": review.labels, "mode": review.mode}
                seqs.append(self._event(con, dataset, annotator, kind, review.mid,
                                        {"before": before, "after": after, "batch": int(batch)}))
                con.execute("DELETE FROM leases WHERE dataset=? AND mid=?", [dataset, review.mid])
        return seqs

    @staticmethod
    def _review_of(con: duckdb.DuckDBPyConnection, dataset: str, mid: int,
                   annotator: str) -> dict[str, Any] | None:
        row = con.execute("SELECT mode, at_ts FROM reviews WHERE dataset=? AND mid=? AND annotator=?",
                          [dataset, mid, annotator]).fetchone()
        if row is None:
            return None
        labels = dict(con.execute(
            "SELECT label, sentiment FROM annotations WHERE dataset=? AND mid=? AND annotator=?",
            [dataset, mid, annotator]).fetchall())
        return {"labels": labels, "mode": row[0], "at": row[1].isoformat()}

    @staticmethod
    def _write_review(con: duckdb.DuckDBPyConnection, dataset: str, annotator: str, mid: int,
                      labels: dict[str, int | None] | None, mode: str | None,
                      stamp: datetime) -> None:
        con.execute("DELETE FROM reviews WHERE dataset=? AND mid=? AND annotator=?",
                    [dataset, mid, annotator])
        con.execute("DELETE FROM annotations WHERE dataset=? AND mid=? AND annotator=?",
                    [dataset, mid, annotator])
        if labels is None:
            return
        con.execute("INSERT INTO reviews (dataset, mid, annotator, at_ts, mode, os_user) VALUES (?, ?, ?, ?, ?, ?)",
                    [dataset, mid, annotator, stamp, mode, current_user()])
        if labels:
            con.executemany("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?)",
                            [[dataset, mid, annotator, name, sentiment, stamp]
                             for name, sentiment in labels.items()])

    def undo_last(self, dataset: str, annotator: str) -> UndoneStep | None:
        """Revert this annotator's latest step not yet undone (survives restarts).

        A step is one confirmation, one whole submit (every message it wrote), or one
        taxonomy change (add, rename, merge, delete, describe a label). None when nothing
        is left to undo.
        """
        with self.transaction() as con:
            kinds = ", ".join(_lit(k) for k in (*REVIEW_KINDS, *TAXONOMY_KINDS))
            row = con.execute(
                f"""SELECT seq, kind, payload FROM events e
                   WHERE dataset=? AND annotator=? AND kind IN ({kinds})
                     AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind='undo'
                                     AND u.dataset=e.dataset
                                     AND CAST(json_extract(u.payload, '$.seq') AS BIGINT)=e.seq)
                   ORDER BY seq DESC LIMIT 1""", [dataset, annotator]).fetchone()
            if row is None:
                return None
            seq, kind, payload_text = row
            payload = json.loads(payload_text)
            if kind in TAXONOMY_KINDS:
                self._restore_taxonomy(con, dataset, payload)
                self._event(con, dataset, annotator, "undo", None, {"seq": seq})
                return UndoneStep(kind, [], payload.get("label"))
            steps = [(seq, payload)]
            if payload.get("batch") is not None:
                steps = [(int(s), json.loads(p)) for s, p in con.execute(
                    """SELECT seq, payload FROM events WHERE dataset=? AND annotator=? AND kind=?
                         AND CAST(json_extract(payload, '$.batch') AS BIGINT)=?
                       ORDER BY seq DESC""", [dataset, annotator, kind, payload["batch"]]).fetchall()]
            mids: list[int] = []
            for step_seq, step in steps:
                mid = int(con.execute("SELECT mid FROM events WHERE seq=?", [step_seq]).fetchone()[0])  # type: ignore[index]
                before = step.get("before")
                if before is None:
                    self._write_review(con, dataset, annotator, mid, None, None, now())
                else:
                    stamp = datetime.fromisoformat(before["at"]) if before.get("at") else now()
                    self._write_review(con, dataset, annotator, mid, dict(before["labels"]),
                                       before.get("mode"), stamp)
                self._event(con, dataset, annotator, "undo", mid, {"seq": step_seq})
                mids.append(mid)
            return UndoneStep(kind, mids[::-1], None)

    # ---- taxonomy changes: each records what it replaced, so undo can put it back --------
    def label_descriptions(self, dataset: str) -> dict[str, str]:
        with self.transaction() as con:
            rows = con.execute("SELECT name, description FROM labels WHERE dataset=? AND description IS NOT NULL",
                               [dataset]).fetchall()
        return {r[0]: r[1] for r in rows}

    def describe_label(self, dataset: str, name: str, description: str, annotator: str | None = None) -> None:
        """Set (or with an empty text, clear) a label's description."""
        text = " ".join(description.split())
        with self.transaction() as con:
            self._require_label(con, dataset, name)
            snapshot = self._taxonomy_snapshot(con, dataset, [name], with_annotations=False)
            con.execute("UPDATE labels SET description=? WHERE dataset=? AND name=?",
                        [text or None, dataset, name])
            self._event(con, dataset, annotator, "describe-label", None, {"label": name, **snapshot})

    def move_label(self, dataset: str, old: str, new: str, annotator: str | None = None, *,
                   merge: bool = False) -> int:
        """Rename ``old`` (with its children) to ``new``; with ``merge`` into an existing ``new``.

        Annotations move along; where a message then carries a label twice, one is kept.
        Returns how many annotations moved.
        """
        new = validate_label_name(new)
        with self.transaction() as con:
            existing = self._labels(con, dataset)
            self._require_label(con, dataset, old)
            if new == old or new.startswith(old + LABEL_SEP):
                raise LabelNameError(f"cannot move label {old!r} into itself ({new!r})")
            if merge and new not in existing:
                raise LabelNameError(f"no label {new!r} to merge {old!r} into")
            if not merge and new in existing:
                raise LabelNameError(f"label {new!r} exists already (merge into it instead)")
            moved_names = [n for n in existing if n == old or n.startswith(old + LABEL_SEP)]
            target = {n: new + n[len(old):] for n in moved_names}
            scope = moved_names + [t for t in target.values() if t in existing]
            snapshot = self._taxonomy_snapshot(con, dataset, scope)
            others = [n for n in existing if n not in moved_names]
            self._add_labels(con, dataset, sorted(set(target.values())), others)
            moved = 0
            for name in moved_names:
                moved += con.execute(
                    """SELECT count(*) FROM annotations WHERE dataset=? AND label=?""",
                    [dataset, name]).fetchone()[0]  # type: ignore[index]
                # a message carrying both keeps the target's annotation
                con.execute("""DELETE FROM annotations a WHERE dataset=? AND label=? AND EXISTS (
                                 SELECT 1 FROM annotations b WHERE b.dataset=a.dataset AND b.mid=a.mid
                                 AND b.annotator=a.annotator AND b.label=?)""", [dataset, name, target[name]])
                con.execute("UPDATE annotations SET label=? WHERE dataset=? AND label=?",
                            [target[name], dataset, name])
                description = con.execute("SELECT description FROM labels WHERE dataset=? AND name=?",
                                          [dataset, name]).fetchone()
                con.execute("DELETE FROM labels WHERE dataset=? AND name=?", [dataset, name])
                if description and description[0]:
                    con.execute("UPDATE labels SET description=coalesce(description, ?) WHERE dataset=? AND name=?",
                                [description[0], dataset, target[name]])
            created = sorted(n for n in {*target.values(), *ancestors(new)} if n not in existing)
            kind = "merge-label" if merge else "rename-label"
            self._event(con, dataset, annotator, kind, None,
                        {"label": old, "to": new, "created": created, **snapshot})
        return int(moved)

    def delete_label(self, dataset: str, name: str, annotator: str | None = None) -> int:
        """Remove a label, its children and their annotations (the reviews stay, without
        them). Returns how many annotations were removed."""
        with self.transaction() as con:
            self._require_label(con, dataset, name)
            scope = [n for n in self._labels(con, dataset) if n == name or n.startswith(name + LABEL_SEP)]
            snapshot = self._taxonomy_snapshot(con, dataset, scope)
            for label in scope:
                con.execute("DELETE FROM annotations WHERE dataset=? AND label=?", [dataset, label])
                con.execute("DELETE FROM labels WHERE dataset=? AND name=?", [dataset, label])
            self._event(con, dataset, annotator, "delete-label", None, {"label": name, **snapshot})
        return len(snapshot["annotations"])

    @staticmethod
    def _require_label(con: duckdb.DuckDBPyConnection, dataset: str, name: str) -> None:
        if not con.execute("SELECT 1 FROM labels WHERE dataset=? AND name=?", [dataset, name]).fetchone():
            raise LabelNameError(f"dataset {dataset!r} has no label {name!r}")

    @staticmethod
    def _taxonomy_snapshot(con: duckdb.DuckDBPyConnection, dataset: str, scope: Sequence[str],
                           with_annotations: bool = True) -> dict[str, Any]:
        """The label rows and annotations of ``scope``: what undo puts back."""
        names = sorted(set(scope))
        marks = ",".join("?" for _ in names) or "NULL"
        labels = con.execute(f"SELECT name, created, description FROM labels WHERE dataset=? AND name IN ({marks})",
                             [dataset, *names]).fetchall()
        annotations = con.execute(
            f"SELECT mid, annotator, label, sentiment, at_ts FROM annotations WHERE dataset=? AND label IN ({marks})",
            [dataset, *names]).fetchall() if with_annotations else []
        return {"scope": names, "with_annotations": with_annotations,
                "labels": [[n, c.isoformat(), d] for n, c, d in labels],
                "annotations": [[m, a, lb, s, t.isoformat()] for m, a, lb, s, t in annotations]}

    def _restore_taxonomy(self, con: duckdb.DuckDBPyConnection, dataset: str, payload: dict[str, Any]) -> None:
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
        if payload["labels"]:
            con.executemany("INSERT INTO labels (dataset, name, created, description) VALUES (?, ?, ?, ?)",
                            [[dataset, n, datetime.fromisoformat(c), d] for n, c, d in payload["labels"]])

    def events(self, dataset: str | None = None, limit: int = 100) -> list[tuple[Any, ...]]:
        with self.transaction() as con:
            if dataset is None:
                return con.execute("SELECT seq, dataset, annotator, at_ts, kind, mid, payload, os_user FROM events "
                                   "ORDER BY seq DESC LIMIT ?", [limit]).fetchall()
            return con.execute("SELECT seq, dataset, annotator, at_ts, kind, mid, payload, os_user FROM events "
                               "WHERE dataset=? ORDER BY seq DESC LIMIT ?", [dataset, limit]).fetchall()

    @staticmethod
    def _event(con: duckdb.DuckDBPyConnection, dataset: str | None, annotator: str | None,
               kind: str, mid: int | None, payload: dict[str, Any]) -> int:
        seq = con.execute("SELECT nextval('event_seq')").fetchone()[0]  # type: ignore[index]
        con.execute("INSERT INTO events (seq, dataset, annotator, at_ts, kind, mid, payload, os_user) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq, dataset, annotator, now(), kind, mid, json.dumps(payload, default=str), current_user()])
        return int(seq)

    # ---- leases: two annotators are not handed the same unreviewed messages --------------
    def lease(self, dataset: str, annotator: str, mids: Sequence[int], minutes: float = 30.0) -> set[int]:
        """Take leases on unreviewed ``mids`` for this annotator (dropping its other leases).

        Returns the mids now leased to this annotator: one transaction, so when two
        processes ask at once, each message goes to one of them, and a message someone
        reviewed meanwhile goes to neither.
        """
        stamp = now()
        expires = datetime.fromtimestamp(stamp.timestamp() + minutes * 60)
        with self.transaction() as con:
            con.execute("DELETE FROM leases WHERE dataset=? AND (annotator=? OR expires < ?)",
                        [dataset, annotator, stamp])
            taken = {r[0] for r in con.execute("SELECT mid FROM leases WHERE dataset=?", [dataset]).fetchall()}
            # a message reviewed since the caller last looked is not handed out either
            taken |= {r[0] for r in con.execute("SELECT DISTINCT mid FROM reviews WHERE dataset=?",
                                                [dataset]).fetchall()}
            granted = [int(m) for m in mids if int(m) not in taken]
            if granted:
                con.executemany("INSERT INTO leases VALUES (?, ?, ?, ?)",
                                [[dataset, m, annotator, expires] for m in granted])
        return set(granted)

    def leased_by_others(self, dataset: str, annotator: str) -> set[int]:
        with self.transaction() as con:
            rows = con.execute("SELECT mid FROM leases WHERE dataset=? AND annotator<>? AND expires >= ?",
                               [dataset, annotator, now()]).fetchall()
        return {r[0] for r in rows}

    # ---- model runs and session state ---------------------------------------------------
    def save_model_run(self, dataset: str, reviewed: int, metrics: dict[str, Any]) -> int:
        with self.transaction() as con:
            version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM model_runs WHERE dataset=?",
                                  [dataset]).fetchone()[0]  # type: ignore[index]
            con.execute("INSERT INTO model_runs VALUES (?, ?, ?, ?, ?)",
                        [dataset, version, now(), reviewed, json.dumps(metrics, default=str)])
        return int(version)

    def model_runs(self, dataset: str) -> list[tuple[int, datetime, int, dict[str, Any]]]:
        with self.transaction() as con:
            rows = con.execute("SELECT version, at_ts, reviewed, metrics FROM model_runs WHERE dataset=? "
                               "ORDER BY version", [dataset]).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3] or "{}")) for r in rows]

    def save_session_state(self, dataset: str, annotator: str, mode: str, arg: str | None,
                           page: Sequence[int], drafts: dict[int, dict[str, int | None]] | None = None,
                           cursor: int = 0) -> None:
        """Where an annotator is: mode, page, cursor row and unconfirmed edits (drafts)."""
        drafts_text = json.dumps({str(m): labels for m, labels in (drafts or {}).items()})
        with self.transaction() as con:
            con.execute("DELETE FROM session_state WHERE dataset=? AND annotator=?", [dataset, annotator])
            con.execute("INSERT INTO session_state (dataset, annotator, mode, arg, page, at_ts, drafts, cursor) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [dataset, annotator, mode, arg, json.dumps([int(m) for m in page]), now(),
                         drafts_text, int(cursor)])

    def session_state(self, dataset: str, annotator: str) -> SavedSession | None:
        with self.transaction() as con:
            row = con.execute("SELECT mode, arg, page, drafts, cursor FROM session_state "
                              "WHERE dataset=? AND annotator=?", [dataset, annotator]).fetchone()
        if row is None:
            return None
        drafts = {int(m): dict(labels) for m, labels in json.loads(row[3] or "{}").items()}
        return SavedSession(row[0], row[1], json.loads(row[2] or "[]"), drafts, int(row[4] or 0))


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
