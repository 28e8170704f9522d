"""Reviewing general fields on a page: ``]``/``[`` move through the message's field
values, ``y`` says one is right, ``x`` that it is not that field, ``e`` that it is another
field, ``w`` marks one the finders missed. Each review is written at once (a worker) and
``u`` takes it back, like a label."""

from __future__ import annotations

from collections.abc import Callable

from textual import work

from ..session import FieldSpan, Session
from ..textsafe import one_line
from ..workspace import StoreError
from .screens import AskScreen, ChoiceScreen


class FieldActions:
    session: Session | None
    field_cursor: int | None = None  # the field value [ and ] are on, in the shown message
    page_ready: Callable[[], bool]  # AppBase's: False (and says why) while the page takes no edits

    def _field_items(self) -> tuple[int, list[tuple[FieldSpan, str]]] | None:
        mid = self.current_mid()  # type: ignore[attr-defined]
        if self.session is None or mid is None:
            return None
        return mid, self.session.field_items(mid)

    def field_view(self, mid: int) -> tuple[list[FieldSpan], list[tuple[FieldSpan, str, str | None]]]:
        """The message's spans and its (span, field, verdict) items, for the view."""
        assert self.session is not None
        items = [(span, field, self.session.verdict(mid, field, span)) for span, field in self.session.field_items(mid)]
        return self.session.fields_of(mid), items

    def action_field(self, step: int) -> None:
        found = self._field_items()
        if self.session is not None and self.session.fields_missing:  # the fields extra is not installed
            self.notify(self.session.fields_missing, severity="warning", timeout=5)  # type: ignore[attr-defined]
            return
        if found is None or not found[1]:
            self.notify("No field values in this message (w marks one)", timeout=3)  # type: ignore[attr-defined]
            return
        count = len(found[1])
        start = (0 if step > 0 else -1) if self.field_cursor is None else self.field_cursor + step
        self.field_cursor = start % count
        self.refresh_message()  # type: ignore[attr-defined]

    def _current_field(self) -> tuple[int, FieldSpan, str] | None:
        found = self._field_items()
        if found is None or self.field_cursor is None or self.field_cursor >= len(found[1]):
            self.notify("Move to a field value first: ] and [", timeout=3)  # type: ignore[attr-defined]
            return None
        span, field = found[1][self.field_cursor]
        return found[0], span, field

    def action_field_verdict(self, verdict: str) -> None:
        current = self._current_field()
        if current is not None and self.page_ready():
            mid, span, field = current
            self._write_field_reviews(mid, [(span, field, verdict)])

    def action_field_rename(self) -> None:
        current = self._current_field()
        if current is None or self.session is None or not self.page_ready():
            return
        mid, span, field = current
        choices = [(name, one_line(name, 60)) for name in self.session.field_names() if name != field]
        self.push_screen(ChoiceScreen(f"{one_line(span.text, 40)!r} is the field (enter to choose)", choices),  # type: ignore[attr-defined]
                         lambda name: None if name is None else self._write_field_reviews(
                             mid, [(span, field, "no"), (span, name, "yes")]))

    def action_field_mark(self) -> None:
        found = self._field_items()
        if found is None or self.session is None or not self.page_ready():
            return
        mid = found[0]

        def words_given(words: str | None) -> None:
            if words and words.strip() and self.session is not None:
                choices = [(name, one_line(name, 60)) for name in self.session.field_names()]
                self.push_screen(ChoiceScreen(f"{one_line(words, 40)!r} is the field (enter to choose)", choices),  # type: ignore[attr-defined]
                                 lambda name: None if name is None else self._mark(mid, words, name))

        self.push_screen(AskScreen("Words of the field value the finders missed, as written"), words_given)  # type: ignore[attr-defined]

    @work(thread=True, group="write", exit_on_error=False)
    def _write_field_reviews(self, mid: int, reviews: list[tuple[FieldSpan, str, str]]) -> None:
        assert self.session is not None
        try:
            for span, field, verdict in reviews:
                self.session.review_field(mid, span, field, verdict)
        except StoreError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")  # type: ignore[attr-defined]
            return
        self.app.call_from_thread(self._field_reviewed)  # type: ignore[attr-defined]

    @work(thread=True, group="write", exit_on_error=False)
    def _mark(self, mid: int, words: str, field: str) -> None:
        assert self.session is not None
        try:
            self.session.mark_field(mid, words, field)
        except StoreError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")  # type: ignore[attr-defined]
            return
        self.app.call_from_thread(self._field_reviewed)  # type: ignore[attr-defined]

    def _field_reviewed(self) -> None:
        found = self._field_items()
        if found is not None and self.field_cursor is not None and self.field_cursor < len(found[1]) - 1:
            self.field_cursor += 1  # on to the next value, as confirm moves on to the next message
        self.refresh_message()  # type: ignore[attr-defined]
