"""Model versions, streams and the exceptions their consumers mark."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from ..private import current_user
from .base import StoreBase, StoreError, _lit, now, validate_name

# a stream's conditions: (field, value); field is source, after, before or property:NAME
Condition = tuple[str, str]
# an exception ``e`` is answered by a review of its message made after it
_UNANSWERED = ("NOT EXISTS (SELECT 1 FROM reviews r WHERE r.dataset=e.dataset AND r.mid=e.mid "
               "AND r.at_ts > e.at_ts)")


@dataclass(frozen=True)
class ModelVersion:
    version: int
    at: datetime
    reviewed: int
    report: dict[str, Any]
    pinned: bool
    tag: str | None


@dataclass(frozen=True)
class StreamInfo:
    name: str
    dataset: str
    version: int
    conditions: list[Condition]
    cursor: int  # the sequence id (a message's mid) of the last message advanced past
    created: datetime


class ModelsStore(StoreBase):
    # ---- model versions ---------------------------------------------------------------
    def save_model_run(self, dataset: str, reviewed: int, metrics: dict[str, Any]) -> int:
        with self.transaction() as con:
            version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM model_runs WHERE dataset=?",
                                  [dataset]).fetchone()[0]  # type: ignore[index]
            con.execute("INSERT INTO model_runs (dataset, version, at_ts, reviewed, metrics) VALUES (?, ?, ?, ?, ?)",
                        [dataset, version, now(), reviewed, json.dumps(metrics, default=str)])
        return int(version)

    def model_versions(self, dataset: str, *, pinned_only: bool = False) -> list[ModelVersion]:
        """Every version with its whole report (or the pinned ones only)."""
        with self.transaction() as con:
            rows = con.execute("SELECT version, at_ts, reviewed, metrics, pinned, tag FROM model_runs "
                               "WHERE dataset=? AND (pinned OR NOT ?) ORDER BY version",
                               [dataset, pinned_only]).fetchall()
        return [ModelVersion(r[0], r[1], r[2], json.loads(r[3] or "{}"), bool(r[4]), r[5]) for r in rows]

    def latest_run(self, dataset: str) -> tuple[int, str | None] | None:
        """The newest version and what it was trained on (``trained_on`` of its report)."""
        with self.transaction() as con:
            row = con.execute("SELECT version, json_extract_string(metrics, '$.trained_on') FROM model_runs "
                              "WHERE dataset=? ORDER BY version DESC LIMIT 1", [dataset]).fetchone()
        return None if row is None else (int(row[0]), row[1])

    def coverage_history(self, dataset: str) -> list[tuple[int, float]]:
        """(version, coverage) of every version, oldest first, without reading the reports
        into Python (each holds every label's figures): what the meter needs on open."""
        with self.transaction() as con:
            rows = con.execute("SELECT version, coalesce(CAST(json_extract(metrics, '$.coverage') AS DOUBLE), 0) "
                               "FROM model_runs WHERE dataset=? ORDER BY version", [dataset]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def resolve_version(self, dataset: str, ref: str) -> int:
        """A version by number or tag, or ``StoreError`` saying which exist."""
        with self.transaction() as con:
            versions = con.execute("SELECT version, tag FROM model_runs WHERE dataset=? ORDER BY version",
                                   [dataset]).fetchall()
        for version, tag in versions:
            if (ref.isdigit() and version == int(ref)) or tag == ref:
                return int(version)
        known = ", ".join(f"{v} ({t})" if t else str(v) for v, t in versions[-5:])
        raise StoreError(f"dataset {dataset!r} has no model version {ref!r}"
                         + (f" (latest: {known})" if versions else " (no validation has run yet)"))

    def pin_version(self, dataset: str, version: int, tag: str | None = None) -> None:
        if tag is not None:
            validate_name(tag, "tag")
            if tag.isdigit():
                raise StoreError(f"tag {tag!r}: a tag cannot be a number (numbers name versions)")
        with self.transaction() as con:
            taken = con.execute("SELECT version FROM model_runs WHERE dataset=? AND tag=? AND version<>?",
                                [dataset, tag, version]).fetchone() if tag else None
            if taken:
                raise StoreError(f"tag {tag!r} is already on version {taken[0]} (unpin it first)")
            con.execute("UPDATE model_runs SET pinned=true, tag=coalesce(?, tag) WHERE dataset=? AND version=?",
                        [tag, dataset, version])

    def unpin_version(self, dataset: str, version: int) -> None:
        with self.transaction() as con:
            users = [r[0] for r in con.execute("SELECT name FROM streams WHERE dataset=? AND version=?",
                                               [dataset, version]).fetchall()]
            if users:
                raise StoreError(f"version {version} is used by stream(s) {', '.join(map(repr, users))}; "
                                 "delete them first")
            con.execute("UPDATE model_runs SET pinned=false, tag=NULL WHERE dataset=? AND version=?",
                        [dataset, version])

    # ---- streams ----------------------------------------------------------------------
    def create_stream(self, name: str, dataset: str, version: int, conditions: Sequence[Condition]) -> None:
        validate_name(name, "stream")
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM streams WHERE name=?", [name]).fetchone():
                raise StoreError(f"stream {name!r} exists already")
            con.execute("UPDATE model_runs SET pinned=true WHERE dataset=? AND version=?", [dataset, version])
            con.execute("INSERT INTO streams VALUES (?, ?, ?, ?, 0, ?)",
                        [name, dataset, version, json.dumps([list(c) for c in conditions]), now()])

    def streams(self) -> list[StreamInfo]:
        with self.transaction() as con:
            rows = con.execute("SELECT name, dataset, version, filters, cursor, created FROM streams "
                               "ORDER BY name").fetchall()
        return [StreamInfo(r[0], r[1], r[2], [(a, b) for a, b in json.loads(r[3])], r[4], r[5]) for r in rows]

    def stream(self, name: str) -> StreamInfo:
        for info in self.streams():
            if info.name == name:
                return info
        names = ", ".join(repr(s.name) for s in self.streams())
        raise StoreError(f"no stream {name!r}" + (f" (streams: {names})" if names else " (none yet: stream create)"))

    def delete_stream(self, name: str) -> None:
        self.stream(name)
        with self.transaction() as con:
            con.execute("DELETE FROM streams WHERE name=?", [name])

    def set_cursor(self, name: str, cursor: int, *, forward_only: bool) -> int:
        """Move a stream's cursor (in one transaction, so two consumers take turns); with
        ``forward_only`` it never moves back. Returns the cursor now."""
        with self.transaction() as con:
            row = con.execute("SELECT cursor FROM streams WHERE name=?", [name]).fetchone()
            if row is None:
                raise StoreError(f"no stream {name!r}")
            new = max(int(row[0]), cursor) if forward_only else cursor
            con.execute("UPDATE streams SET cursor=? WHERE name=?", [new, name])
        return new

    def stream_messages(self, info: StreamInfo, after: int, limit: int, columns: str = "*") -> pl.DataFrame:
        """The stream's next messages after sequence id ``after``, in import order."""
        where = self._stream_where(info) + f" AND m.mid > {int(after)}"
        cols = ("mid, source, id, ts, subject, sender, recipients, cc, thread_id, body, properties"
                if columns == "*" else columns)
        return self.query_frame(f"SELECT {cols} FROM messages m WHERE {where} ORDER BY m.mid LIMIT {int(limit)}")

    def stream_pending(self, info: StreamInfo) -> int:
        """Messages of the stream after its cursor."""
        with self.transaction() as con:
            return int(con.execute(f"SELECT count(*) FROM messages m WHERE {self._stream_where(info)} "
                                   f"AND m.mid > {int(info.cursor)}").fetchone()[0])  # type: ignore[index]

    def stream_bounds(self, info: StreamInfo, since: datetime | None = None) -> tuple[int, int]:
        """(last sequence id of the stream, the last one before ``since``)."""
        where = self._stream_where(info)
        with self.transaction() as con:
            last = con.execute(f"SELECT coalesce(max(mid), 0) FROM messages m WHERE {where}").fetchone()[0]  # type: ignore[index]
            before = 0
            if since is not None:
                first = con.execute(f"SELECT min(mid) FROM messages m WHERE {where} AND m.ts >= ?",
                                    [since]).fetchone()[0]  # type: ignore[index]
                before = int(last) if first is None else int(first) - 1
        return int(last), before

    @staticmethod
    def _stream_where(info: StreamInfo) -> str:
        """SQL conditions of a stream; values are quoted literals, field names fixed here."""
        clauses = [f"m.source IN (SELECT source FROM dataset_sources WHERE dataset={_lit(info.dataset)})"]
        for field, value in info.conditions:
            if field == "source":
                clauses.append(f"m.source = {_lit(value)}")
            elif field in ("after", "before"):
                clauses.append(f"m.ts {'>=' if field == 'after' else '<'} CAST({_lit(value)} AS TIMESTAMP)")
            elif field.startswith("property:"):
                path = '$."' + field[len("property:"):].replace('"', '\\"') + '"'
                clauses.append(f"json_extract_string(m.properties, {_lit(path)}) = {_lit(value)}")
            else:
                raise StoreError(f"stream {info.name!r}: unknown condition {field!r}")
        return " AND ".join(clauses)

    # ---- exceptions ---------------------------------------------------------------------
    def add_exception(self, stream: str, message_id: str, kind: str) -> int:
        info = self.stream(stream)
        with self.transaction() as con:
            row = con.execute(
                "SELECT mid FROM messages WHERE id=? AND source IN "
                "(SELECT source FROM dataset_sources WHERE dataset=?) ORDER BY mid LIMIT 1",
                [message_id, info.dataset]).fetchone()
            if row is None:
                raise StoreError(f"dataset {info.dataset!r} has no message {message_id!r}")
            con.execute("INSERT INTO stream_exceptions VALUES (?, ?, ?, ?, ?, ?)",
                        [stream, info.dataset, row[0], kind, now(), current_user()])
        return int(row[0])

    def open_exceptions(self, dataset: str, kind: str | None = None) -> list[int]:
        """Messages with an exception no review has answered since (by type, newest first);
        ``kind``: of that type only."""
        with self.transaction() as con:
            rows = con.execute(
                f"""SELECT e.mid, e.kind, max(e.at_ts) AS latest FROM stream_exceptions e
                    WHERE e.dataset=? AND (? IS NULL OR e.kind=?) AND {_UNANSWERED}
                    GROUP BY e.mid, e.kind ORDER BY e.kind, latest DESC, e.mid""", [dataset, kind, kind]).fetchall()
        return list(dict.fromkeys(int(r[0]) for r in rows))

    def exception_types(self, dataset: str) -> dict[int, list[str]]:
        """The open exception types of each message (for the message view)."""
        with self.transaction() as con:
            rows = con.execute(f"SELECT DISTINCT e.mid, e.kind FROM stream_exceptions e "
                               f"WHERE e.dataset=? AND {_UNANSWERED} ORDER BY e.kind", [dataset]).fetchall()
        out: dict[int, list[str]] = {}
        for mid, kind in rows:
            out.setdefault(int(mid), []).append(kind)
        return out

    def exceptions(self, dataset: str) -> list[tuple[int, str, str, datetime]]:
        """(mid, type, stream, when) of every exception of ``dataset``, newest first."""
        with self.transaction() as con:
            return [(int(r[0]), r[1], r[2], r[3]) for r in con.execute(
                "SELECT mid, kind, stream, at_ts FROM stream_exceptions WHERE dataset=? ORDER BY at_ts DESC",
                [dataset]).fetchall()]
