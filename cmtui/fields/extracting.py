"""The Session's fields: where each field is in the messages of the open page, found off
the main thread (with the page's texts) so the message view only reads them, and the
reviews that say a span is, or is not, a field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store import Store, StoreError

Key = tuple[str, int, int]  # field, start, end


@dataclass(frozen=True)
class FieldSpan:
    """A field's candidate in a message: ``start``/``end`` count in the subject, a
    newline and the body (``offset``: where the body starts); ``fields``: every field it
    may be (``date``, ``renewal date``)."""

    fields: tuple[str, ...]
    start: int
    end: int
    text: str
    value: str
    offset: int

    @property
    def in_subject(self) -> bool:
        return self.start < self.offset


class Extracting:
    store: Store
    dataset: str
    annotator: str
    texts: Any
    trainer: Any
    reviewed: dict[int, dict[str, int | None]]
    _field_defs: list[Any] | None = None
    _field_spans: dict[int, list[FieldSpan]]
    _verdicts: dict[int, dict[Key, tuple[str, str]]] | None = None  # mid -> key -> (value, yes/no)
    fields_missing: str | None = None  # why fields are not found (their extra not installed)
    fields_state: Any = None  # the fitted fields (training.FieldsState), after a validation
    field_learner: str | None = None  # None: model.LEARNER (the simulation compares both)
    stored: Any  # Labelling.stored: a step written to the store, for undo's order

    def find_page_fields(self, mids: Sequence[int]) -> None:
        """Find the fields of ``mids`` (their texts cached already), for ``fields_of``."""
        from .fields import dataset_fields, find_fields, message_text
        from .kinds import FieldsUnavailable

        if not hasattr(self, "_field_spans"):
            self._field_spans = {}
        try:
            if self._field_defs is None:
                self._field_defs = dataset_fields(self.store, self.dataset)
            verdicts = self.field_verdicts()
            for row in self.texts.rows([m for m in mids if m not in self._field_spans], False):
                offset = len(row.subject or "") + 1
                text = message_text(row.subject, row.body)
                spans: dict[tuple[int, int], tuple[str, str, list[str]]] = {}  # one span, every field it may be
                for found in find_fields(text, self._field_defs, row.ts.year):
                    c = found.candidate
                    spans.setdefault((c.start, c.end), (c.text, c.value, []))[2].append(found.field)
                for (field, start, end), (value, verdict) in verdicts.get(row.mid, {}).items():
                    if verdict == "yes":  # a span people marked that no finder found
                        spans.setdefault((start, end), (text[start:end], value, []))
                        if field not in spans[(start, end)][2]:
                            spans[(start, end)][2].append(field)
                self._field_spans[row.mid] = [FieldSpan(tuple(names), start, end, written, value, offset)
                                              for (start, end), (written, value, names) in sorted(spans.items())]
        except FieldsUnavailable as exc:
            self.fields_missing = str(exc)

    def fields_of(self, mid: int) -> list[FieldSpan]:
        """The fields found in message ``mid`` (none until its page's were found)."""
        return getattr(self, "_field_spans", {}).get(mid, [])

    def field_items(self, mid: int) -> list[tuple[FieldSpan, str]]:
        """Each (span, field) to review in message ``mid``, in reading order."""
        return [(span, field) for span in self.fields_of(mid) for field in span.fields]

    def field_names(self) -> list[str]:
        return [f.name for f in self._field_defs or []]

    def field_verdicts(self) -> dict[int, dict[Key, tuple[str, str]]]:
        if self._verdicts is None:
            verdicts: dict[int, dict[Key, tuple[str, str]]] = {}
            for mid, field, start, end, value, verdict in self.store.field_reviews(self.dataset):
                verdicts.setdefault(mid, {})[(field, start, end)] = (value, verdict)
            self._verdicts = verdicts
        return self._verdicts

    def verdict(self, mid: int, field: str, span: FieldSpan) -> str | None:
        found = self.field_verdicts().get(mid, {}).get((field, span.start, span.end))
        return None if found is None else found[1]

    def review_field(self, mid: int, span: FieldSpan, field: str, verdict: str | None) -> None:
        """Say ``span`` is (``yes``) or is not (``no``) ``field`` (None: not reviewed),
        written at once; ``undo`` takes it back."""
        self.store.review_field(self.dataset, self.annotator, mid, field, span.start, span.end, span.value, verdict)
        self.stored()  # the next undo takes this back first
        mine = self.field_verdicts().setdefault(mid, {})
        if verdict is None:
            mine.pop((field, span.start, span.end), None)
        else:
            mine[(field, span.start, span.end)] = (span.value, verdict)

    def mark_field(self, mid: int, words: str, field: str) -> FieldSpan:
        """A span the finders missed: the first place ``words`` are written in message
        ``mid`` (case and spacing aside) is ``field``."""
        from .fields import message_text

        if field not in self.field_names():
            raise StoreError(f"no field {field!r} (cmtui fields lists them)")
        row = self.texts.rows([mid], False)[0]
        text = message_text(row.subject, row.body)
        pattern = r"\s+".join(re.escape(w) for w in words.split())
        match = re.search(pattern, text, re.IGNORECASE) if pattern else None
        if match is None:
            raise StoreError(f"{words!r} is not in this message")
        span = FieldSpan((field,), match.start(), match.end(), match.group(0), " ".join(match.group(0).split()),
                         len(row.subject or "") + 1)
        self.review_field(mid, span, field, "yes")
        self.forget_field_spans([mid])
        self.find_page_fields([mid])
        return span

    def fit_fields(self, report: dict[str, Any], probs: Any = None, row_of: Any = None,
                   version: int | None = None, cancelled: Any = lambda: False) -> None:
        """Fit every field from its reviews (after a validation) and put each field's
        figures in ``report["fields"]``, and the fields in model ``version``'s files
        (what ``cmtui predict`` reads); nothing when the fields extra is not installed."""
        from ..model import Cancelled
        from .fields import (
            LEAN_COLUMNS,
            dataset_fields,
            find_in_dataset,
            found_blocks,
            found_contexts,
            save_values,
        )
        from .kinds import DEFAULT_REGION, FieldsUnavailable
        from .model import LEARNER
        from .training import check_expected, train

        try:
            self._field_defs = dataset_fields(self.store, self.dataset)
            defs, meta = self._field_defs, self.trainer.meta  # held since open: not read again each validation
            found = find_in_dataset(self.store, self.dataset, defs, cancelled=cancelled, meta=meta,
                                    columns=LEAN_COLUMNS)  # the words around each value: only for a fitted field
        except FieldsUnavailable as exc:
            self.fields_missing = str(exc)
            return
        except Cancelled:  # a newer retrain is on its way: it fits the fields
            return
        self._verdicts = None
        label_probs = None if probs is None or not probs.size else (lambda mids: probs[row_of.rows(mids.to_list())])
        paths = [b.path for b in found_blocks(self.store, self.dataset, defs, DEFAULT_REGION, meta)]  # written by find_in_dataset
        self.fields_state = train(found, defs, self.field_verdicts(), label_probs, self.field_learner or LEARNER,
                                  lambda name: found_contexts(paths, name))
        check_expected(self.fields_state, self._field_defs, self.reviewed, self.field_verdicts())
        report["fields"] = self.fields_state.report()
        save_values(self.store, self.dataset, self.fields_state.predicted, self.field_verdicts())
        if version:
            self._keep_fields(version)

    def _keep_fields(self, version: int) -> None:
        from ..private import protect
        from ..versions import version_dir
        from .artifact import FIELDS_JSON, FIELDS_NPZ, write_fields

        directory = version_dir(self.store.path, self.dataset, version)
        if directory.is_dir():
            write_fields(directory, list(self._field_defs or []), self.fields_state.models)
            for name in (FIELDS_JSON, FIELDS_NPZ):
                protect(directory / name, self.store.path)

    def field_undone(self, kind: str, mids: Sequence[int]) -> None:
        """After an undo: a field review's message shows the verdicts as they are again."""
        if kind == "field-review":
            self._verdicts = None
            self.forget_field_spans(mids)
            self.find_page_fields(mids)

    def forget_field_spans(self, mids: Sequence[int]) -> None:
        """Find the fields of ``mids`` again on their next page."""
        spans = getattr(self, "_field_spans", {})
        for mid in mids:
            spans.pop(mid, None)
