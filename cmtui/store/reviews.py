"""Reviews and the event log: confirm, undo, leases, model runs and where each annotator is."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from ..private import current_user
from .base import (
    FIELD_REVIEW,
    REVIEW_KINDS,
    TAXONOMY_KINDS,
    Review,
    SavedSession,
    StoreBase,
    StoreError,
    UndoneStep,
    _lit,
    now,
)
from .fields import FieldsStore


class ReviewsStore(StoreBase):
    # ---- reviews ----------------------------------------------------------------------
    def effective_reviews(self, dataset: str) -> tuple[dict[int, dict[str, int | None]], dict[int, str]]:
        """Per reviewed message: the labels of its latest review, and that review's mode."""
        with self.transaction() as con:
            return self._effective_reviews(con, dataset)

    @staticmethod
    def _effective_reviews(con: duckdb.DuckDBPyConnection, dataset: str
                           ) -> tuple[dict[int, dict[str, int | None]], dict[int, str]]:
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
        """Record reviews in one transaction; each gets an event holding what it replaced.
        A handful of statements for the whole call: one per review took 5 ms, 25 s for the
        5,000 of a large confirmation."""
        if not reviews:
            return []
        with self.transaction() as con:
            existing = set(self._labels(con, dataset))
            for review in reviews:
                missing = [name for name in review.labels if name not in existing]
                if missing:
                    raise StoreError(f"dataset {dataset!r} has no label {missing[0]!r}")
            stamp = now()
            # the events of one call share a batch: one undo step reverts the whole submit
            batch = con.execute("SELECT nextval('event_seq')").fetchone()[0]  # type: ignore[index]
            current = self._reviews_of(con, dataset, [r.mid for r in reviews], annotator)
            payloads = []
            for review in reviews:  # a message twice in one call: the second replaced the first
                after = {"labels": review.labels, "mode": review.mode}
                payloads.append((review.mid, {"before": current.get(review.mid), "after": after,
                                              "batch": int(batch)}))
                current[review.mid] = {**after, "at": stamp.isoformat()}
            last = {r.mid: r for r in reviews}
            self._write_reviews(con, dataset, annotator, [(mid, r.labels, r.mode, stamp) for mid, r in last.items()])
            con.execute("DELETE FROM leases WHERE dataset=? AND mid IN (SELECT unnest(?::BIGINT[]))",
                        [dataset, list(last)])
            return self._events(con, dataset, annotator, kind, payloads)

    @staticmethod
    def _reviews_of(con: duckdb.DuckDBPyConnection, dataset: str, mids: Sequence[int],
                    annotator: str) -> dict[int, dict[str, Any]]:
        """This annotator's current review of each of ``mids`` that has one: labels, mode, when."""
        found: dict[int, dict[str, Any]] = {
            int(mid): {"labels": {}, "mode": mode, "at": at.isoformat()} for mid, mode, at in con.execute(
                "SELECT mid, mode, at_ts FROM reviews WHERE dataset=? AND annotator=? "
                "AND mid IN (SELECT unnest(?::BIGINT[]))", [dataset, annotator, list(mids)]).fetchall()}
        for mid, label, sentiment in con.execute(
                "SELECT mid, label, sentiment FROM annotations WHERE dataset=? AND annotator=? "
                "AND mid IN (SELECT unnest(?::BIGINT[])) ORDER BY mid, label",
                [dataset, annotator, list(found)]).fetchall():
            found[int(mid)]["labels"][label] = sentiment
        return found

    @staticmethod
    def _write_reviews(con: duckdb.DuckDBPyConnection, dataset: str, annotator: str,
                       rows: Sequence[tuple[int, dict[str, int | None] | None, str | None, datetime]]) -> None:
        """Replace this annotator's reviews of distinct messages, each (mid, labels, mode,
        when); labels None removes the review."""
        for table in ("reviews", "annotations"):
            con.execute(f"DELETE FROM {table} WHERE dataset=? AND annotator=? AND mid IN (SELECT unnest(?::BIGINT[]))",
                        [dataset, annotator, [row[0] for row in rows]])
        kept = [row for row in rows if row[1] is not None]
        if kept:
            mids, _, modes, stamps = zip(*kept, strict=True)
            con.execute("INSERT INTO reviews (dataset, mid, annotator, at_ts, mode, os_user) SELECT ?, "
                        "unnest(?::BIGINT[]), ?, unnest(?::TIMESTAMP[]), unnest(?::VARCHAR[]), ?",
                        [dataset, list(mids), annotator, list(stamps), list(modes), current_user()])
        marks = [(mid, name, sentiment, at) for mid, labels, _, at in kept for name, sentiment in (labels or {}).items()]
        if marks:
            mids, names, sentiments, stamps = zip(*marks, strict=True)
            con.execute("INSERT INTO annotations (dataset, mid, annotator, label, sentiment, at_ts) SELECT ?, "
                        "unnest(?::BIGINT[]), ?, unnest(?::VARCHAR[]), unnest(?::SMALLINT[]), unnest(?::TIMESTAMP[])",
                        [dataset, list(mids), annotator, list(names), list(sentiments), list(stamps)])

    def undo_last(self, dataset: str, annotator: str) -> UndoneStep | None:
        """Revert this annotator's latest step not yet undone (survives restarts).

        A step is one confirmation, one whole submit (every message it wrote), or one
        taxonomy change (add, rename, merge, delete, describe a label). None when nothing
        is left to undo.
        """
        with self.transaction() as con:
            kinds = ", ".join(_lit(k) for k in (*REVIEW_KINDS, *TAXONOMY_KINDS, FIELD_REVIEW))
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
            if kind == FIELD_REVIEW:
                mid = int(con.execute("SELECT mid FROM events WHERE seq=?", [seq]).fetchone()[0])  # type: ignore[index]
                FieldsStore._undo_field_review(con, dataset, annotator, mid, payload)
                self._event(con, dataset, annotator, "undo", mid, {"seq": seq})
                return UndoneStep(kind, [mid], payload.get("field"))
            where, args = ("seq=?", [seq]) if payload.get("batch") is None else (
                "dataset=? AND annotator=? AND kind=? AND CAST(json_extract(payload, '$.batch') AS BIGINT)=?",
                [dataset, annotator, kind, payload["batch"]])
            steps = [(int(s), int(m), json.loads(p)) for s, m, p in con.execute(
                f"SELECT seq, mid, payload FROM events WHERE {where} ORDER BY seq DESC", args).fetchall()]
            restored: dict[int, tuple[int, dict[str, int | None] | None, str | None, datetime]] = {}
            confirmed: dict[int, dict[str, int | None]] = {}
            for _, mid, step in steps:  # newest first: a message written twice ends as it was before both
                if step.get("after"):
                    confirmed.setdefault(mid, dict(step["after"]["labels"]))
                before = step.get("before")
                at = datetime.fromisoformat(before["at"]) if before and before.get("at") else now()
                restored[mid] = (mid, None if before is None else dict(before["labels"]),
                                 None if before is None else before.get("mode"), at)
            self._write_reviews(con, dataset, annotator, list(restored.values()))
            self._events(con, dataset, annotator, "undo", [(mid, {"seq": s}) for s, mid, _ in steps])
            return UndoneStep(kind, [mid for _, mid, _ in steps][::-1], None, confirmed)

    def events(self, dataset: str | None = None, limit: int = 100) -> list[tuple[Any, ...]]:
        with self.transaction() as con:
            if dataset is None:
                return con.execute("SELECT seq, dataset, annotator, at_ts, kind, mid, payload, os_user FROM events "
                                   "ORDER BY seq DESC LIMIT ?", [limit]).fetchall()
            return con.execute("SELECT seq, dataset, annotator, at_ts, kind, mid, payload, os_user FROM events "
                               "WHERE dataset=? ORDER BY seq DESC LIMIT ?", [dataset, limit]).fetchall()

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
            wanted = list(dict.fromkeys(int(m) for m in mids))
            # leased to someone else, or reviewed since the caller last looked: not handed out
            taken = {r[0] for r in con.execute(
                "SELECT mid FROM leases WHERE dataset=? AND mid IN (SELECT unnest(?::BIGINT[])) UNION "
                "SELECT mid FROM reviews WHERE dataset=? AND mid IN (SELECT unnest(?::BIGINT[]))",
                [dataset, wanted, dataset, wanted]).fetchall()}
            granted = [m for m in wanted if m not in taken]
            if granted:
                con.execute("INSERT INTO leases SELECT ?, unnest(?::BIGINT[]), ?, ?",
                            [dataset, granted, annotator, expires])
        return set(granted)

    def leased_by_others(self, dataset: str, annotator: str) -> set[int]:
        with self.transaction() as con:
            rows = con.execute("SELECT mid FROM leases WHERE dataset=? AND annotator<>? AND expires >= ?",
                               [dataset, annotator, now()]).fetchall()
        return {r[0] for r in rows}

    # ---- where each annotator is ---------------------------------------------------
    def save_session_state(self, dataset: str, annotator: str, mode: str, arg: str | None,
                           page: Sequence[int], drafts: dict[int, dict[str, int | None]] | None = None,
                           cursor: int = 0, scope: tuple[str | None, ...] = (None, None, None),
                           picks: Sequence[int] = ()) -> None:
        """Where an annotator is: mode, page, cursor row, unconfirmed edits (drafts), filter,
        and which of the page's messages were picked at random."""
        drafts_text = json.dumps({str(m): labels for m, labels in (drafts or {}).items()})
        with self.transaction() as con:
            con.execute("DELETE FROM session_state WHERE dataset=? AND annotator=?", [dataset, annotator])
            con.execute("INSERT INTO session_state (dataset, annotator, mode, arg, page, at_ts, drafts, cursor, "
                        "scope, picks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [dataset, annotator, mode, arg, json.dumps([int(m) for m in page]), now(),
                         drafts_text, int(cursor), json.dumps(list(scope)), json.dumps([int(m) for m in picks])])

    def session_state(self, dataset: str, annotator: str) -> SavedSession | None:
        with self.transaction() as con:
            row = con.execute("SELECT mode, arg, page, drafts, cursor, scope, picks FROM session_state "
                              "WHERE dataset=? AND annotator=?", [dataset, annotator]).fetchone()
        if row is None:
            return None
        drafts = {int(m): dict(labels) for m, labels in json.loads(row[3] or "{}").items()}
        source, language, window = [*json.loads(row[5] or "[]"), None, None, None][:3]  # older: 2 items
        return SavedSession(row[0], row[1], json.loads(row[2] or "[]"), drafts, int(row[4] or 0),
                            (source, language, window), tuple(int(m) for m in json.loads(row[6] or "[]")))


