"""The Session's fields: where each field is in the messages of the open page, found off
the main thread (with the page's texts) so the message view only reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store import Store


@dataclass(frozen=True)
class FieldSpan:
    """A field's candidate in a message: ``start``/``end`` count in the body (negative:
    in the subject); ``fields`` every field it is a candidate of (``date``, ``renewal date``)."""

    fields: tuple[str, ...]
    start: int
    end: int
    text: str
    value: str
    in_subject: bool


class Extracting:
    store: Store
    dataset: str
    texts: Any
    _field_defs: list[Any] | None = None
    _field_spans: dict[int, list[FieldSpan]]
    fields_missing: str | None = None  # why fields are not found (their extra not installed)

    def find_page_fields(self, mids: Sequence[int]) -> None:
        """Find the fields of ``mids`` (their texts cached already), for ``fields_of``."""
        from .fields import dataset_fields, find_fields, message_text
        from .kinds import FieldsUnavailable

        if not hasattr(self, "_field_spans"):
            self._field_spans = {}
        try:
            if self._field_defs is None:
                self._field_defs = dataset_fields(self.store, self.dataset)
            for row in self.texts.rows([m for m in mids if m not in self._field_spans], False):
                subject_length = len(row.subject or "") + 1
                spans: dict[tuple[int, int], tuple[Any, list[str]]] = {}  # one span, every field it may be
                for found in find_fields(message_text(row.subject, row.body), self._field_defs, row.ts.year):
                    c = found.candidate
                    spans.setdefault((c.start, c.end), (c, []))[1].append(found.field)
                self._field_spans[row.mid] = [
                    FieldSpan(tuple(names), c.start - subject_length, c.end - subject_length, c.text, c.value,
                              c.start < subject_length)
                    for c, names in (spans[key] for key in sorted(spans))]
        except FieldsUnavailable as exc:
            self.fields_missing = str(exc)

    def fields_of(self, mid: int) -> list[FieldSpan]:
        """The fields found in message ``mid`` (none until its page's were found)."""
        return getattr(self, "_field_spans", {}).get(mid, [])

    def forget_fields(self) -> None:
        """After the fields were changed: find them again."""
        self._field_defs = None
        self._field_spans = {}
