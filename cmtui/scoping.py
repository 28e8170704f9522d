"""The Session's filter: every mode draws only from one source's or one language's messages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .labelling import RowIndex
from .store import Store


class Scoping:
    """Narrow the session to a source and/or a language (the app's ``f``)."""

    store: Store
    dataset: str
    mids: np.ndarray
    row_of: RowIndex
    scope: tuple[str | None, str | None] = (None, None)  # (source, language); (None, None): every message
    scope_mask: np.ndarray | None = None  # the rows inside the filter; None: every row

    def set_scope(self, source: str | None = None, language: str | None = None) -> int:
        """Show only messages of ``source`` and ``language`` (``""``: none found) in every
        mode; (None, None) shows all again. Returns how many messages are in it."""
        self.scope = (source, language)
        if source is None and language is None:
            self.scope_mask = None
            count = len(self.mids)
        else:
            rows = self.row_of.rows([m for m in self.store.scope_mids(self.dataset, source, language)
                                     if m in self.row_of])
            mask = np.zeros(len(self.mids), dtype=bool)
            mask[rows] = True
            self.scope_mask, count = mask, int(mask.sum())
        self.forget_pages()  # type: ignore[attr-defined]
        return count

    def scope_counts(self) -> dict[str, list[tuple[str | None, int]]]:
        """Messages per source and per language, for choosing a filter."""
        return self.store.scope_counts(self.dataset)

    def in_scope(self, mids: Sequence[int]) -> list[int]:
        if self.scope_mask is None:
            return list(mids)
        mask = self.scope_mask
        return [m for m in mids if (row := self.row_of.get(m)) is not None and mask[row]]

