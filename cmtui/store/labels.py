"""The taxonomy: labels, their descriptions, and renames, merges and deletes that undo can revert."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from ..taxonomy import ancestors, within
from .base import LabelNameError, StoreBase, now, sort_labels, validate_label_name


class LabelsStore(StoreBase):
    # ---- taxonomy ---------------------------------------------------------------------
    def labels(self, dataset: str) -> list[str]:
        """The taxonomy in its deterministic order (parents before their children)."""
        with self.transaction() as con:
            return self._labels(con, dataset)

    def taxonomy(self, dataset: str) -> tuple[list[str], dict[str, str], list[str]]:
        """The labels in taxonomy order, their descriptions, and the labels in the order
        they were created, in one unit of work."""
        with self.transaction() as con:
            return self._taxonomy(con, dataset)

    @staticmethod
    def _taxonomy(con: duckdb.DuckDBPyConnection, dataset: str) -> tuple[list[str], dict[str, str], list[str]]:
        """The third part, the labels with a number key in the order they were created
        (parents before their children; a renamed label keeps its place), is the order of
        the number keys: the same for every annotator and after a restart."""
        rows = con.execute("SELECT name, description, keyed FROM labels WHERE dataset=? ORDER BY created, name",
                           [dataset]).fetchall()
        return sort_labels([r[0] for r in rows]), {r[0]: r[1] for r in rows if r[1]}, [r[0] for r in rows if r[2]]

    def add_label(self, dataset: str, name: str, annotator: str | None = None) -> str:
        """Add one label (and its parents); returns its name as stored."""
        name = validate_label_name(name)
        self.add_labels(dataset, [name], annotator)
        return name

    def add_labels(self, dataset: str, names: Sequence[str],
                   annotator: str | None = None) -> tuple[list[str], list[str]]:
        """Add labels (and their parents) in the order given, all or none, as one step for
        undo; the order given is the order of the number keys. A parent made before only
        because a child was named, named now, takes the next free key. Returns the names
        added, and those given a key."""
        names = [validate_label_name(n) for n in names]
        with self.transaction() as con:
            unkeyed = {n: c.isoformat() for n, c in con.execute(  # undo puts them back without a key
                "SELECT name, created FROM labels WHERE dataset=? AND NOT keyed", [dataset]).fetchall()}
            keying = [n for n in dict.fromkeys(names) if n in unkeyed]
            for name in keying:
                con.execute("UPDATE labels SET keyed=true, created=? WHERE dataset=? AND name=?",
                            [now(), dataset, name])
            added = self._add_labels(con, dataset, names, self._labels(con, dataset))
            if added or keying:  # undo removes what was added (with any annotations made since)
                self._event(con, dataset, annotator, "add-label", None,
                            {"label": ", ".join(names), "scope": added, "labels": [], "annotations": [],
                             "unkeyed": sorted((n, unkeyed[n]) for n in keying)})
        return added, keying

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
            if within(new, old):
                raise LabelNameError(f"cannot move label {old!r} into itself ({new!r})")
            if merge and new not in existing:
                raise LabelNameError(f"no label {new!r} to merge {old!r} into")
            if not merge and new in existing:
                raise LabelNameError(f"label {new!r} exists already (merge into it instead)")
            moved_names = [n for n in existing if within(n, old)]
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
                if target[name] not in existing:  # renamed: it keeps its key (or none) and its place
                    con.execute("""UPDATE labels SET created=o.created, keyed=o.keyed FROM labels o
                                   WHERE o.dataset=? AND o.name=? AND labels.dataset=? AND labels.name=?""",
                                [dataset, name, dataset, target[name]])
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
            scope = [n for n in self._labels(con, dataset) if within(n, name)]
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

