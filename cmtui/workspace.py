"""The database as the app sees it: its datasets, imports into them, and sessions.

The terminal app talks to this facade and to ``Session``, never to the store, the
importer or the command line; every call here may touch the database, so the app makes
them from worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .imports import import_file
from .ingest import ImportFailed
from .session import Session
from .store import DatasetInfo, LabelNameError, Store, StoreError

__all__ = ["DatasetInfo", "ImportFailed", "LabelNameError", "StoreError", "Workspace"]


class Workspace:
    """One database and the annotator working on it."""

    def __init__(self, store: Store, annotator: str) -> None:
        self.store = store
        self.annotator = annotator

    @property
    def path(self) -> Path:
        return self.store.path

    def datasets(self) -> list[DatasetInfo]:
        return self.store.datasets()

    def create_dataset(self, name: str, sentiment: bool = False) -> None:
        self.store.create_dataset(name, sentiment=sentiment)

    def import_file(self, path: Path, dataset: str, progress: Callable[[str, float], None]) -> str:
        return import_file(self.store, path, dataset, annotator=self.annotator, progress=progress)

    def open_session(self, dataset: str) -> Session:
        return Session.open(self.store, dataset, self.annotator)
