"""The Session's filter: every mode draws only from one source's, one language's or one
time window's messages (the newest, say, when they look new: ``cmtui.drift``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from .labelling import RowIndex
from .store import Store, StoreError

LATEST_IMPORT = "latest import"  # the window of the messages the latest import brought
Scope = tuple[str | None, str | None, str | None]  # (source, language, window); None: no limit


def window_rows(window: str, timestamps: np.ndarray, updated: np.ndarray) -> np.ndarray:
    """The rows inside ``window``: ``latest import``, or ``FROM..TO`` (dates or times,
    UTC, TO excluded, either may be empty). ``StoreError`` says what is wrong."""
    from .analytics import parse_filters
    from .drift import newest_by_import

    if window == LATEST_IMPORT:
        return newest_by_import(updated)
    since, sep, until = window.partition("..")
    if not sep:
        raise StoreError(f"time window {window!r}: use FROM..TO (dates; either may be empty) or {LATEST_IMPORT!r}")
    limits = parse_filters(since=since.strip() or None, until=until.strip() or None)
    inside = np.ones(len(timestamps), dtype=bool)
    if limits.since is not None:  # naive times are UTC here, as in the database
        inside &= timestamps >= limits.since.replace(tzinfo=UTC).timestamp()
    if limits.until is not None:
        inside &= timestamps < limits.until.replace(tzinfo=UTC).timestamp()
    return inside


class Scoping:
    """Narrow the session to a source, a language and/or a time window (the app's ``f``)."""

    store: Store
    dataset: str
    mids: np.ndarray
    row_of: RowIndex
    timestamps: np.ndarray
    trainer: Any
    scope: Scope = (None, None, None)
    scope_mask: np.ndarray | None = None  # the rows inside the filter; None: every row

    def set_scope(self, source: str | None = None, language: str | None = None,
                  window: str | None = None) -> int:
        """Show only messages of ``source``, ``language`` (``""``: none found) and time
        ``window`` (see ``window_rows``) in every mode; no argument shows all again.
        Returns how many messages are in it."""
        mask = None if window is None else self.window_mask(window)
        if source is not None or language is not None:
            rows = self.row_of.present_rows(self.store.scope_mids(self.dataset, source, language))
            picked = np.zeros(len(self.mids), dtype=bool)
            picked[rows] = True
            mask = picked if mask is None else mask & picked
        self.scope, self.scope_mask = (source, language, window), mask
        self.forget_pages()  # type: ignore[attr-defined]
        return len(self.mids) if mask is None else int(mask.sum())

    def recent_windows(self, days: Sequence[int]) -> list[tuple[str, str]]:
        """Windows of the newest messages to offer, (what it is, window): the latest
        import, the last ``days`` (up to the newest message's date)."""
        if not len(self.timestamps):
            return []
        newest = datetime.fromtimestamp(int(self.timestamps.max()), UTC)
        since = [(newest - timedelta(days=n)).date().isoformat() for n in days]
        return [(LATEST_IMPORT, LATEST_IMPORT), *((f"last {n} days (from {d})", f"{d}..") for n, d in zip(days, since, strict=True))]

    def window_mask(self, window: str) -> np.ndarray:
        return window_rows(window, self.timestamps, self.trainer.meta["updated"].to_numpy())

    def scope_counts(self) -> dict[str, list[tuple[str | None, int]]]:
        """Messages per source and per language, for choosing a filter."""
        return self.store.scope_counts(self.dataset)

    def in_scope(self, mids: Sequence[int]) -> list[int]:
        if self.scope_mask is None:
            return list(mids)
        mask = self.scope_mask
        return [m for m in mids if (row := self.row_of.get(m)) is not None and mask[row]]
