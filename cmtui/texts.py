"""Message texts for display, read from the database once and kept in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
            frame = self.store.messages_frame(
                self.dataset, "mid, id, ts, subject, sender, recipients, cc, thread_id, body, properties, source, turns",
                mids=missing)
            for row in frame.iter_rows(named=True):
                self._texts[row["mid"]] = PageRow(**row)
        return [self._texts[m] for m in mids if m in self._texts]

    def thread(self, thread_id: str, fetch: bool = True) -> list[PageRow]:
        """The messages of a thread, oldest first."""
        if thread_id not in self._threads:
            if not fetch:
                return []
            self._threads.update(self.store.thread_mids(self.dataset, [thread_id]))
        return self.rows(self._threads[thread_id], fetch)

    def prefetch(self, mids: Sequence[int]) -> None:
        """The rows of ``mids`` and of every message in their threads: three units of
        work for a page, however many threads it has."""
        wanted = sorted({r.thread_id for r in self.rows(mids) if r.thread_id and r.thread_id not in self._threads})
        self._threads.update(self.store.thread_mids(self.dataset, wanted))
        self.rows([m for t in wanted for m in self._threads[t]])
