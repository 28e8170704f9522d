"""Datasets, sources and messages: create, list, delete, import, read and search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from ..private import current_user
from .base import (
    DatasetInfo,
    ImportResult,
    StoreBase,
    StoreError,
    _label_rows,
    _lit,
    now,
    read_frame,
    register_frame,
    validate_label_name,
    validate_name,
)

# DuckDB's checkpoint merges an import's new row groups into the table's last one, which
# re-compresses up to 122,880 messages each time: 4 files of 25,000 long emails wrote in
# 4.5 s with the merge and 2.5 s without. A large import keeps row groups of its own; a
# small one (a stream's batch) is merged, so the table does not splinter (and may then
# merge the groups before it once, if they fit in one).
OWN_ROW_GROUPS_FROM = 10_000
# what an import writes of a message besides its id: a message whose content is the same is not updated
MESSAGE_CONTENT = ("ts", "subject", "sender", "recipients", "cc", "thread_id", "body", "properties", "turns")


class DatasetsStore(StoreBase):
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
                          "session_state", "dataset_sources", "streams", "stream_exceptions"):
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

    # ---- import -----------------------------------------------------------------------
    def import_messages(self, dataset: str, source: str, frame: pl.DataFrame, *,
                        annotator: str, sentiment: bool | None = None) -> ImportResult:
        """Insert or update ``frame``'s messages in one transaction.

        ``frame`` columns: id, ts, subject, sender, recipients, cc, thread_id, body,
        properties (JSON text), optionally ``turns`` (JSON text of a conversation's turns), and optionally ``labels`` (list of names, null when the
        row is not reviewed), ``sentiments`` (list of 1/-1/null) and ``annotator``.
        """
        validate_name(dataset, "dataset")
        validate_name(source, "source")
        has_labels = "labels" in frame.columns
        if "turns" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("turns"))
        stage = frame.select("id", *MESSAGE_CONTENT)
        label_rows = _label_rows(frame, annotator) if has_labels else None
        with self.transaction() as con:
            # one thread: with two, each builds its own copy of the rows and merges them, which
            # took a third more time and a third more page faults writing long emails, while
            # an import's other core is busy reading the next file
            con.execute("SET threads=1")
            if len(frame) >= OWN_ROW_GROUPS_FROM:
                con.execute("SET max_vacuum_tasks=0")  # for the checkpoint as the file closes
            existing_sentiment = con.execute(
                "SELECT sentiment FROM datasets WHERE name=?", [dataset]).fetchone()
            self._ensure_dataset(con, dataset, bool(sentiment))
            self._ensure_source(con, source)
            self._link(con, dataset, source)
            if existing_sentiment is not None and sentiment is not None \
                    and bool(existing_sentiment[0]) != sentiment:
                raise StoreError(f"dataset {dataset!r} sentiment is fixed when it is created")
            known, updated = self._upsert_messages(con, source, stage)
            added = len(frame) - known
            labels_found = 0
            reviewed = 0
            if label_rows is not None and len(label_rows["reviews"]):
                names = sorted({n for n in label_rows["annotations"]["label"].to_list()})
                for name in names:
                    validate_label_name(name)
                labels_found = len(self._add_labels(con, dataset, names, self._labels(con, dataset)))
                reviewed = self._import_reviews(con, dataset, source, label_rows)
            con.unregister("stage")
            con.execute("DROP TABLE known")
            self._event(con, dataset, annotator, "import", None,
                        {"source": source, "added": added, "updated": updated})
        return ImportResult(added, updated, labels_found, reviewed, known - updated)

    @staticmethod
    def _upsert_messages(con: duckdb.DuckDBPyConnection, source: str, stage: pl.DataFrame) -> tuple[int, int]:
        """Update the staged messages the source has (by id) where they differ, insert the
        rest; returns how many the source had, and how many of those changed. A message
        imported again as it was keeps its update time, so what was computed from it (its
        features, its fields) stays valid. Leaves ``stage`` registered and the temp table
        ``known``."""
        register_frame(con, "stage", stage)
        con.execute(
            "CREATE TEMP TABLE known AS SELECT m.mid, s.id FROM stage s "
            "JOIN messages m ON m.source=? AND m.id=s.id", [source])
        known = int(con.execute("SELECT count(*) FROM known").fetchone()[0])  # type: ignore[index]
        stamp = now()
        updated = 0
        if known:
            changed = " OR ".join(f"messages.{c} IS DISTINCT FROM s.{c}" for c in MESSAGE_CONTENT)
            updated = int(con.execute(  # type: ignore[index]
                f"""UPDATE messages SET {", ".join(f"{c}=s.{c}" for c in MESSAGE_CONTENT)}, updated=?
                    FROM stage s WHERE messages.source=? AND messages.id=s.id AND ({changed})""",
                [stamp, source]).fetchone()[0])
        base = con.execute("SELECT coalesce(max(mid), 0) FROM messages").fetchone()[0]  # type: ignore[index]
        con.execute(
            f"""INSERT INTO messages (mid, source, id, updated, {", ".join(MESSAGE_CONTENT)})
                SELECT ? + row_number() OVER (), ?, s.id, ?, {", ".join(f"s.{c}" for c in MESSAGE_CONTENT)}
                FROM stage s ANTI JOIN known k ON s.id = k.id""",
            [base, source, stamp])
        return known, updated

    def _import_reviews(self, con: duckdb.DuckDBPyConnection, dataset: str, source: str,
                        rows: dict[str, pl.DataFrame]) -> int:
        register_frame(con, "staged_reviews", rows["reviews"])
        register_frame(con, "staged_annotations", rows["annotations"])
        con.execute(
            f"""CREATE TEMP TABLE rv AS SELECT m.mid, r.annotator, r.at_ts FROM staged_reviews r
                JOIN messages m ON m.source={_lit(source)} AND m.id=r.id""")
        con.execute(
            f"""CREATE TEMP TABLE an AS SELECT m.mid, a.annotator, a.label, a.sentiment, a.at_ts
                FROM staged_annotations a JOIN messages m ON m.source={_lit(source)} AND m.id=a.id""")
        con.unregister("staged_reviews")
        con.unregister("staged_annotations")
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
                       mids: Sequence[int] | None = None, between: tuple[int, int] | None = None) -> pl.DataFrame:
        """The dataset's messages (ordered by mid) as a polars frame;
        only ``mids``, or those from mid ``between[0]`` to ``between[1]``, when given."""
        return self.query_frame(_messages_sql(dataset, columns, mids, between))

    def page_messages(self, dataset: str, columns: str,
                      mids: Sequence[int]) -> tuple[pl.DataFrame, dict[str, list[int]]]:
        """The rows of ``mids`` and of every message in their threads, with each of those
        threads' messages (oldest first), in one unit of work. A thread's messages sit in
        the compressed blocks of its page's message, and reading a row decompresses its
        block, so all the rows cost about what the page's alone do: 100k long emails, 0.08 s
        against 0.2 s as three units of work."""
        with self.transaction() as con:
            threads = [r[0] for r in con.execute(
                f"SELECT DISTINCT thread_id FROM messages m WHERE {_in_dataset(dataset)} "
                f"AND {_any('m.mid', mids)} AND thread_id <> ''").fetchall()]  # '' is no thread
            members = _thread_mids(con, dataset, threads)
            wanted = sorted(set(mids).union(*members.values()))
            frame = read_frame(con, _messages_sql(dataset, columns, wanted, None))
        return frame, members

    def thread_mids(self, dataset: str, thread_ids: Sequence[str]) -> dict[str, list[int]]:
        """The dataset's messages of each thread, oldest first, in one unit of work."""
        if not thread_ids:
            return {}
        with self.transaction() as con:
            return _thread_mids(con, dataset, thread_ids)

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


def _in_dataset(dataset: str) -> str:
    return f"m.source IN (SELECT source FROM dataset_sources WHERE dataset={_lit(dataset)})"


def _any(column: str, values: Sequence[int]) -> str:
    # ``= ANY([...])`` filters the scan itself; DuckDB makes ``IN (...)`` a join after
    # reading every row: 20 long emails of 1M took 1.2 s that way, 0.05 s this way
    return f"{column} = ANY([" + ",".join(str(int(v)) for v in values) + "])"


def _messages_sql(dataset: str, columns: str, mids: Sequence[int] | None,
                  between: tuple[int, int] | None) -> str:
    cols = ("mid, source, id, ts, subject, sender, recipients, cc, thread_id, body, "
            "properties, updated, turns") if columns == "*" else columns
    clauses = [_in_dataset(dataset)]
    if between is not None:
        clauses.append(f"m.mid BETWEEN {int(between[0])} AND {int(between[1])}")
    if mids is not None:
        clauses.append(_any("m.mid", mids))
    return f"SELECT {cols} FROM messages m WHERE {' AND '.join(clauses)} ORDER BY m.mid"


def _thread_mids(con: duckdb.DuckDBPyConnection, dataset: str,
                 thread_ids: Sequence[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {t: [] for t in thread_ids}
    if thread_ids:
        listed = ",".join(_lit(t) for t in thread_ids)
        rows = con.execute(f"SELECT m.thread_id, m.mid FROM messages m WHERE {_in_dataset(dataset)} "
                           f"AND m.thread_id = ANY([{listed}]) ORDER BY m.ts, m.mid").fetchall()
        for thread_id, mid in rows:
            out[thread_id].append(mid)
    return out
