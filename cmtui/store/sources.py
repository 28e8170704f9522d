"""Sources: collections of raw messages, each feeding any number of datasets (which keep
their own taxonomy, reviews and model). List, rename, delete, link to a dataset; and the
source and language of a dataset's messages, for the app's filter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .base import StoreBase, StoreError, _lit, validate_name

LANGUAGE_SQL = "json_extract_string(m.properties, '$.language')"


@dataclass(frozen=True)
class SourceInfo:
    name: str
    messages: int
    first: datetime | None
    last: datetime | None
    datasets: tuple[str, ...]


class SourcesStore(StoreBase):
    def sources(self) -> list[SourceInfo]:
        with self.transaction() as con:
            rows = con.execute(
                """SELECT s.name, count(m.mid), min(m.ts), max(m.ts),
                          (SELECT list(d.dataset ORDER BY d.dataset) FROM dataset_sources d WHERE d.source=s.name)
                   FROM sources s LEFT JOIN messages m ON m.source=s.name
                   GROUP BY s.name ORDER BY s.name""").fetchall()
        return [SourceInfo(r[0], int(r[1]), r[2], r[3], tuple(r[4] or ())) for r in rows]

    def source_datasets(self, name: str) -> tuple[str, ...]:
        """The datasets ``name`` feeds; ``StoreError`` when there is no such source."""
        found = {info.name: info.datasets for info in self.sources()}
        if name not in found:
            raise StoreError(f"{self.path}: no source {name!r} (sources: {', '.join(found) or 'none'})")
        return found[name]

    def rename_source(self, old: str, new: str) -> None:
        """Rename a source everywhere: its messages, the datasets it feeds, stream filters."""
        validate_name(new, "source")
        self.source_datasets(old)
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM sources WHERE name=?", [new]).fetchone():
                raise StoreError(f"{self.path}: a source {new!r} exists already")
            con.execute("UPDATE sources SET name=? WHERE name=?", [new, old])
            con.execute("UPDATE dataset_sources SET source=? WHERE source=?", [new, old])
            con.execute("UPDATE messages SET source=? WHERE source=?", [new, old])
            for stream, dataset, filters in con.execute("SELECT name, dataset, filters FROM streams").fetchall():
                conditions = json.loads(filters)
                renamed = [[f, new if f == "source" and v == old else v] for f, v in conditions]
                if renamed != conditions:
                    con.execute("UPDATE streams SET filters=? WHERE name=? AND dataset=?",
                                [json.dumps(renamed), stream, dataset])
            self._event(con, None, None, "rename-source", None, {"old": old, "new": new})

    def delete_source(self, name: str, *, force: bool = False) -> tuple[int, tuple[str, ...]]:
        """Delete a source and its messages; refused while a dataset uses it unless ``force``,
        which removes its messages (and their reviews) from those datasets. Returns
        (messages deleted, datasets it fed)."""
        datasets = self.source_datasets(name)
        if datasets and not force:
            raise StoreError(f"source {name!r} feeds dataset{'s' if len(datasets) > 1 else ''} "
                             f"{', '.join(datasets)}; --force deletes its messages from "
                             f"{'them' if len(datasets) > 1 else 'it'} too")
        with self.transaction() as con:
            mids = f"(SELECT mid FROM messages WHERE source={_lit(name)})"
            for table in ("annotations", "reviews", "leases", "stream_exceptions"):
                con.execute(f"DELETE FROM {table} WHERE mid IN {mids}")
            count = int(con.execute("SELECT count(*) FROM messages WHERE source=?", [name]).fetchone()[0])  # type: ignore[index]
            con.execute("DELETE FROM messages WHERE source=?", [name])
            con.execute("DELETE FROM dataset_sources WHERE source=?", [name])
            con.execute("DELETE FROM sources WHERE name=?", [name])
            self._event(con, None, None, "delete-source", None,
                        {"source": name, "messages": count, "datasets": list(datasets)})
        return count, datasets

    def add_sources(self, dataset: str, sources: Sequence[str]) -> None:
        """Feed ``dataset`` from more sources (each must exist)."""
        for source in sources:
            self.source_datasets(source)
        with self.transaction() as con:
            if not con.execute("SELECT 1 FROM datasets WHERE name=?", [dataset]).fetchone():
                raise StoreError(f"{self.path}: no dataset {dataset!r}")
            for source in sources:
                if not con.execute("SELECT 1 FROM dataset_sources WHERE dataset=? AND source=?",
                                   [dataset, source]).fetchone():
                    con.execute("INSERT INTO dataset_sources VALUES (?, ?)", [dataset, source])
            self._event(con, dataset, None, "add-source", None, {"sources": list(sources)})

    # ---- the app's filter -------------------------------------------------------------
    def scope_counts(self, dataset: str) -> dict[str, list[tuple[str | None, int]]]:
        """Messages of the dataset per source and per language, most first."""
        where = f"m.source IN (SELECT source FROM dataset_sources WHERE dataset={_lit(dataset)})"
        with self.transaction() as con:
            sources = con.execute(f"SELECT m.source, count(*) n FROM messages m WHERE {where} "
                                  "GROUP BY 1 ORDER BY n DESC, 1").fetchall()
            languages = con.execute(f"SELECT {LANGUAGE_SQL} l, count(*) n FROM messages m WHERE {where} "
                                    "GROUP BY 1 ORDER BY n DESC, 1 NULLS LAST").fetchall()
        return {"source": [(r[0], int(r[1])) for r in sources], "language": [(r[0], int(r[1])) for r in languages]}

    def scope_mids(self, dataset: str, source: str | None = None, language: str | None = None) -> list[int]:
        """The dataset's messages of ``source`` and ``language`` (``""``: no language found)."""
        clauses = [f"m.source IN (SELECT source FROM dataset_sources WHERE dataset={_lit(dataset)})"]
        params: list[str] = []
        if source is not None:
            clauses.append("m.source=?")
            params.append(source)
        if language is not None:
            clauses.append(f"coalesce({LANGUAGE_SQL}, '')=?")
            params.append(language)
        with self.transaction() as con:
            rows = con.execute(f"SELECT m.mid FROM messages m WHERE {' AND '.join(clauses)} ORDER BY m.mid",
                               params).fetchall()
        return [int(r[0]) for r in rows]
