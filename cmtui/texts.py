"""Message texts for display, read from the database once and kept in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from .sources.chat import parse_turns
from .store import Store


@dataclass
class PageRow:
    mid: int
    id: str
    ts: Any
    subject: str | None
    sender: str | None
    recipients: str | None
    cc: str | None
    thread_id: str | None
    body: str
    properties: str | None
    source: str = ""
    turns: str | None = None  # a chat's or call's turns (JSON), see cmtui.sources.chat

    def turn_list(self) -> list[dict[str, str]]:
        """The turns of a chat or call (speaker, text, timestamp?); [] for other messages."""
        return parse_turns(self.turns)


COLUMNS = "mid, id, ts, subject, sender, recipients, cc, thread_id, body, properties, source, turns"


class TextCache:
    """Rows and threads by message id; ``fetch=False`` reads never touch the database."""

    def __init__(self, store: Store, dataset: str) -> None:
        self.store = store
        self.dataset = dataset
        self._texts: dict[int, PageRow] = {}
        self._threads: dict[str, list[int]] = {}

    def rows(self, mids: Sequence[int], fetch: bool = True) -> list[PageRow]:
        missing = [m for m in mids if m not in self._texts]
        if missing and fetch:
            self._keep(self.store.messages_frame(self.dataset, COLUMNS, mids=missing))
        return [self._texts[m] for m in mids if m in self._texts]

    def thread(self, thread_id: str, fetch: bool = True) -> list[PageRow]:
        """The messages of a thread, oldest first."""
        if thread_id not in self._threads:
            if not fetch:
                return []
            self._threads.update(self.store.thread_mids(self.dataset, [thread_id]))
        return self.rows(self._threads[thread_id], fetch)

    def prefetch(self, mids: Sequence[int]) -> None:
        """The rows of ``mids`` and of every message in their threads, in one unit of work."""
        wanted = [m for m in mids if m not in self._texts or self._thread_unknown(self._texts[m])]
        if wanted:
            frame, threads = self.store.page_messages(self.dataset, COLUMNS, wanted)
            self._threads.update(threads)
            self._keep(frame)

    def _thread_unknown(self, row: PageRow) -> bool:
        return bool(row.thread_id) and row.thread_id not in self._threads

    def _keep(self, frame: pl.DataFrame) -> None:
        for row in frame.iter_rows(named=True):
            self._texts[row["mid"]] = PageRow(**row)
