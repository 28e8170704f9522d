"""General fields a team names: create, list, rename, delete, and the labels expecting each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from .base import FIELD_REVIEW, StoreBase, StoreError, validate_name


@dataclass(frozen=True)
class FieldInfo:
    """A named field: ``kind`` a built-in kind (its candidates) or ``regex``; ``shape``
    a reference's shape or the regular expression; ``labels`` the labels expecting it."""

    name: str
    kind: str
    shape: str | None
    labels: tuple[str, ...]


class FieldsStore(StoreBase):
    def fields(self, dataset: str) -> list[FieldInfo]:
        with self.transaction() as con:
            rows = con.execute("SELECT name, kind, shape, labels FROM fields WHERE dataset=? ORDER BY lower(name)",
                               [dataset]).fetchall()
        return [FieldInfo(name, kind, shape, tuple(json.loads(labels))) for name, kind, shape, labels in rows]

    def add_field(self, dataset: str, name: str, kind: str, shape: str | None, labels: Sequence[str],
                  annotator: str) -> None:
        validate_name(name, "field")
        with self.transaction() as con:
            self._known_labels(con, dataset, labels)
            if con.execute("SELECT 1 FROM fields WHERE dataset=? AND lower(name)=lower(?)", [dataset, name]).fetchone():
                raise StoreError(f"field {name!r} exists already in dataset {dataset!r}")
            con.execute("INSERT INTO fields VALUES (?, ?, ?, ?, ?, now())",
                        [dataset, name, kind, shape, json.dumps(list(labels))])
            self._event(con, dataset, annotator, "add-field", None,
                        {"name": name, "kind": kind, "shape": shape, "labels": list(labels)})

    def rename_field(self, dataset: str, old: str, new: str, annotator: str) -> None:
        validate_name(new, "field")
        with self.transaction() as con:
            self._field(con, dataset, old)
            if old.lower() != new.lower() and con.execute(
                    "SELECT 1 FROM fields WHERE dataset=? AND lower(name)=lower(?)", [dataset, new]).fetchone():
                raise StoreError(f"field {new!r} exists already in dataset {dataset!r}")
            con.execute("UPDATE fields SET name=? WHERE dataset=? AND name=?", [new, dataset, old])
            con.execute("UPDATE field_reviews SET field=? WHERE dataset=? AND field=?", [new, dataset, old])
            self._event(con, dataset, annotator, "rename-field", None, {"old": old, "new": new})

    def delete_field(self, dataset: str, name: str, annotator: str) -> None:
        """Delete a field and its reviews (not undoable: ``cmtui fields delete`` asks first)."""
        with self.transaction() as con:
            self._field(con, dataset, name)
            con.execute("DELETE FROM fields WHERE dataset=? AND name=?", [dataset, name])
            con.execute("DELETE FROM field_reviews WHERE dataset=? AND field=?", [dataset, name])
            self._event(con, dataset, annotator, "delete-field", None, {"name": name})

    def attach_field(self, dataset: str, name: str, labels: Sequence[str], annotator: str) -> None:
        """The labels that expect field ``name`` (replacing those it had)."""
        with self.transaction() as con:
            self._field(con, dataset, name)
            self._known_labels(con, dataset, labels)
            con.execute("UPDATE fields SET labels=? WHERE dataset=? AND name=?",
                        [json.dumps(list(labels)), dataset, name])
            self._event(con, dataset, annotator, "attach-field", None, {"name": name, "labels": list(labels)})

    # ---- reviews of fields ----------------------------------------------------------------
    def review_field(self, dataset: str, annotator: str, mid: int, field: str, start: int, end: int,
                     value: str, verdict: str | None) -> None:
        """Say span ``start:end`` of message ``mid`` is (``yes``) or is not (``no``) field
        ``field``; None takes the verdict back. One undo step (``undo_last``)."""
        if verdict not in ("yes", "no", None):
            raise StoreError(f"a field's verdict is yes or no (got {verdict!r})")
        with self.transaction() as con:
            key = [dataset, mid, annotator, field, start, end]
            where = "dataset=? AND mid=? AND annotator=? AND field=? AND start_at=? AND end_at=?"
            before = con.execute(f"SELECT value, verdict FROM field_reviews WHERE {where}", key).fetchone()
            con.execute(f"DELETE FROM field_reviews WHERE {where}", key)
            if verdict is not None:
                con.execute("INSERT INTO field_reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())", [*key, value, verdict])
            self._event(con, dataset, annotator, FIELD_REVIEW, mid,
                        {"field": field, "start": start, "end": end, "after": [value, verdict],
                         "before": None if before is None else list(before)})

    def field_reviews(self, dataset: str) -> list[tuple[int, str, int, int, str, str]]:
        """Every span's latest verdict (any annotator): mid, field, start, end, value, verdict."""
        with self.transaction() as con:
            rows = con.execute(
                """SELECT mid, field, start_at, end_at, value, verdict FROM (
                     SELECT *, row_number() OVER (PARTITION BY mid, field, start_at, end_at
                                                  ORDER BY at_ts DESC, annotator) AS rk
                     FROM field_reviews WHERE dataset=?) WHERE rk=1 ORDER BY mid, start_at, field""",
                [dataset]).fetchall()
        return [(int(m), str(f), int(s), int(e), str(v or ""), str(d)) for m, f, s, e, v, d in rows]

    @staticmethod
    def _undo_field_review(con: duckdb.DuckDBPyConnection, dataset: str, annotator: str, mid: int,
                           payload: dict[str, object]) -> None:
        key = [dataset, mid, annotator, payload["field"], payload["start"], payload["end"]]
        con.execute("DELETE FROM field_reviews WHERE dataset=? AND mid=? AND annotator=? AND field=? "
                    "AND start_at=? AND end_at=?", key)
        before = payload.get("before")
        if isinstance(before, list):
            con.execute("INSERT INTO field_reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())", [*key, *before])

    @staticmethod
    def _field(con: duckdb.DuckDBPyConnection, dataset: str, name: str) -> None:
        if not con.execute("SELECT 1 FROM fields WHERE dataset=? AND name=?", [dataset, name]).fetchone():
            raise StoreError(f"no field {name!r} in dataset {dataset!r} (cmtui fields lists them)")

    def _known_labels(self, con: duckdb.DuckDBPyConnection, dataset: str, labels: Sequence[str]) -> None:
        known = set(self._labels(con, dataset))
        unknown = [n for n in labels if n not in known]
        if unknown:
            raise StoreError(f"no label {unknown[0]!r} in dataset {dataset!r}")
