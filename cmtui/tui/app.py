"""The terminal app: message list, message view, numbered labels, coverage meter, modes.

DuckDB and LightGBM work runs in thread workers that post messages; handlers on the
main thread alone change widgets, so keypresses never wait on the database or a retrain.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, get_current_worker

from ..config import load_settings
from ..queues import MODES, NEEDS_LABEL, NEEDS_QUERY
from ..session import (
    Cancelled,
    LabelImplied,
    ModelState,
    SavedSession,
    Session,
    Undone,
    check_label_name,
)
from ..taxonomy import LABEL_SEP, short_names
from ..textsafe import one_line
from ..workspace import LabelNameError, StoreError, Workspace
from .screens import (
    AskScreen,
    ConfirmScreen,
    DatasetsScreen,
    HelpScreen,
    LabelPickerScreen,
    ModeScreen,
    QueryScreen,
    ValidationScreen,
)
from .widgets import CoverageMeter, MessageList, MessageView, MeterFigures

NARROW = 100  # below this many columns the list sits above the message


class SessionLoaded(Message):
    def __init__(self, session: Session, resumed: SavedSession | None) -> None:
        super().__init__()
        self.session = session
        self.resumed = resumed


class PageLoaded(Message):
    def __init__(self, mode: str, arg: str | None, number: int, mids: list[int], cursor: int = 0) -> None:
        super().__init__()
        self.mode, self.arg, self.number, self.mids, self.cursor = mode, arg, number, mids, cursor


class Retrained(Message):
    def __init__(self, state: ModelState, then_page: bool, final: bool) -> None:
        super().__init__()
        self.state = state
        self.then_page = then_page
        self.final = final


class TrainProgress(Message):
    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction


class Written(Message):
    def __init__(self, mids: list[int], submitted: bool = False) -> None:
        super().__init__()
        self.mids = mids
        self.submitted = submitted


class UndoDone(Message):
    def __init__(self, step: Undone | None) -> None:
        super().__init__()
        self.step = step


class TaxonomyChanged(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class Failed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


@dataclass
class PageState:
    mode: str = "shuffle"
    arg: str | None = None
    number: int = 0


class CmtuiCommands(Provider):
    """Command palette entries built from the current state: cmtui's own first (modes,
    per-label modes, screens), Textual's generic ones after them."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        app = self.app
        assert isinstance(app, CmtuiApp)
        commands: list[tuple[str, Any, str]] = [
            (f"Mode: {title}", partial(app.start_mode, key, None), "show this training mode's queue")
            for key, title in MODES.items() if key not in NEEDS_LABEL and key not in NEEDS_QUERY
        ]
        commands += [("Mode: Search", partial(app._mode_chosen, "search"), "messages matching words"),
                     ("Validation", app.action_validation, "per-label figures and model rating"),
                     ("Datasets", app.action_datasets, "open, create or import into a dataset"),
                     ("Submit page", app.action_submit, "save the page and retrain"),
                     ("Help", app.action_help, "keys and rules")]
        if app.session is not None:
            for label in app.session.labels:
                for key in ("teach", "label", "check-label", "missed-label"):
                    commands.append((f"{MODES[key]}: {label}", partial(app.start_mode, key, label),
                                     f"{MODES[key]} mode for this label"))
        return commands

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands()[:14]:
            yield DiscoveryHit(text, callback, help=help_text)
        for command in self.app.get_system_commands(self.screen):
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
        for command in self.app.get_system_commands(self.screen):
            score = matcher.match(command.title)
            if score > 0:  # Textual's own commands rank below cmtui's
                yield Hit(score * 0.5, matcher.highlight(command.title), command.callback, help=command.help)


MAIN_BINDINGS: list[Binding] = [
    Binding("j,down", "cursor(1)", "Down", show=False, id="down"),
    Binding("k,up", "cursor(-1)", "Up", show=False, id="up"),
    Binding("space,enter", "confirm", "Confirm", id="confirm", key_display="␣/⏎",
            tooltip="Mark the message reviewed with its labels and move on"),
    *[Binding(str(n), f"number({n})", f"Toggle label {n}", show=False, id=f"label_{n}") for n in range(1, 10)],
    Binding("l,slash", "pick_label", "Labels", id="labels", key_display="l",
            tooltip="Filter, assign, create, rename and delete labels"),
    Binding("a", "accept", "Accept", id="accept", tooltip="Assign predicted labels above threshold"),
    Binding("u", "undo", "Undo", id="undo", tooltip="Undo one step: an edit, a confirmation or a submit"),
    Binding("s", "submit", "Submit", id="submit", tooltip="Save the page and retrain"),
    Binding("J,shift+down", "scroll_body(3)", "Scroll", id="scroll_down", key_display="J/K",
            tooltip="Scroll the message body down (K: up)"),
    Binding("K,shift+up", "scroll_body(-3)", "Scroll up", show=False, id="scroll_up"),
    Binding("n", "next_page", "Next page", show=False, id="next_page"),
    Binding("p", "previous_page", "Previous page", show=False, id="previous_page"),
    Binding("m", "mode", "Mode", id="mode", tooltip="Choose the training mode"),
    Binding("v", "validation", "Validation", show=False, id="validation"),
    Binding("d", "datasets", "Datasets", show=False, id="datasets"),
    Binding("question_mark", "help", "Help", id="help", key_display="?"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit; unconfirmed edits are kept for next time"),
]


def binding_ids() -> set[str]:
    """Every binding id a config file may remap: the main screen's and each screen's."""
    from . import screens

    ids = {b.id for b in MAIN_BINDINGS if b.id}
    for cls in (screens.LabelPickerScreen, screens.ModeScreen, screens.QueryScreen, screens.ValidationScreen,
                screens.HelpScreen, screens.DatasetsScreen, screens.ConfirmScreen, screens.AskScreen):
        ids |= {b.id for b in cls.BINDINGS if isinstance(b, Binding) and b.id}
    return ids


class UnknownKeyId(ValueError):
    """A key id in the settings file that no binding has."""


class CmtuiApp(App[int]):
    """cmtui's terminal app."""

    CSS_PATH = "app.tcss"
    COMMANDS = {CmtuiCommands}
    TITLE = "cmtui"
    BINDINGS: ClassVar[list[BindingType]] = [*MAIN_BINDINGS]

    def __init__(self, workspace: Workspace, dataset: str, *, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        unknown = sorted(set(keymap or {}) - binding_ids())
        if unknown:
            raise UnknownKeyId(f"unknown key id {unknown[0]!r} in [keys]; valid ids: {', '.join(sorted(binding_ids()))}")
        self.workspace = workspace
        self.dataset = dataset
        self.annotator = workspace.annotator
        self.session: Session | None = None
        self.page = PageState()
        self.page_mids: list[int] = []
        self._keymap = keymap or {}
        self._writes: list[Worker[Any]] = []
        self.pending: dict[int, dict[str, int | None]] = {}  # confirmed, write under way
        self.pages_submitted = 0
        self.confirmed_since_retrain = 0
        self._shown_mid: int | None = None
        self._names: dict[str, str] = {}
        self.kept_drafts = 0  # unconfirmed edits saved on quit (said after the app closes)

    # ---- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal(id="main"):
            yield MessageList(id="message-list", cursor_type="row", zebra_stripes=False)
            yield MessageView(id="message-view")
        yield CoverageMeter(id="meter")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p: in help

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        table = self.query_one(MessageList)
        table.add_columns("✓", "date", "subject", "labels")  # the sender is in the message view
        self.query_one("#status", Static).update(Text(f"Loading dataset {one_line(self.dataset, 40)}…"))
        self._layout(self.size.width)
        self.load_session()

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        self.query_one("#main").set_class(width < NARROW, "stacked")
        if self.session is not None:  # once the widgets have their new sizes
            self.call_after_refresh(self.refresh_message)
            self.call_after_refresh(self.refresh_status)

    # ---- workers ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_session(self) -> None:
        try:
            session = self.workspace.open_session(self.dataset)
            resumed = session.resume()
            if resumed is not None:
                session.prefetch(resumed.page)  # texts and threads, off the main thread
        except StoreError as exc:
            self.post_message(Failed(str(exc)))
            return
        self.post_message(SessionLoaded(session, resumed))

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def load_page(self, mode: str, arg: str | None, number: int, cursor: int = 0) -> None:
        assert self.session is not None
        try:
            mids = self.session.page(mode, arg, number, cursor)
            self.session.prefetch(mids)  # texts and threads, off the main thread
        except (StoreError, ValueError) as exc:
            self.post_message(Failed(str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(PageLoaded(mode, arg, number, mids, cursor))

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def retrain(self, then_page: bool) -> None:
        """Quick retrain (the next page comes from it), then validation (the figures)."""
        assert self.session is not None
        worker = get_current_worker()

        def progress(fraction: float) -> None:
            self.post_message(TrainProgress(fraction))

        try:
            state = self.session.quick_retrain(cancelled=lambda: worker.is_cancelled,
                                               progress=lambda f: progress(0.3 * f))
            if worker.is_cancelled:
                return
            self.post_message(Retrained(state, then_page, final=False))
            state = self.session.validate(cancelled=lambda: worker.is_cancelled,
                                          progress=lambda f: progress(0.3 + 0.7 * f))
        except Cancelled:
            return
        except Exception as exc:  # a failed retrain must not take the annotator's work down
            self.post_message(Failed(f"retrain failed: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(Retrained(state, False, final=True))

    @work(thread=True, group="write", exit_on_error=False)
    def write_confirm(self, mids: list[int], mode: str, labels: dict[int, dict[str, int | None]]) -> None:
        assert self.session is not None
        try:
            self.session.confirm(mids, mode, labels=labels)
        except StoreError as exc:
            self.post_message(Failed(f"NOT SAVED: {exc}"))
        finally:
            self.post_message(Written(mids))

    @work(thread=True, group="write", exit_on_error=False)
    def write_submit(self, mids: list[int], mode: str, untouched: bool,
                     labels: dict[int, dict[str, int | None]]) -> None:
        assert self.session is not None
        try:
            self.session.submit(mids, mode, untouched=untouched, labels=labels)
        except StoreError as exc:
            self.post_message(Failed(f"NOT SAVED: {exc}"))
            self.post_message(Written(mids))
            return
        self.post_message(Written(mids, submitted=True))

    @work(thread=True, group="write", exit_on_error=False)
    def run_undo(self) -> None:
        assert self.session is not None
        try:
            step = self.session.undo()
        except StoreError as exc:
            self.post_message(Failed(str(exc)))
            return
        self.post_message(UndoDone(step))

    @work(thread=True, group="write", exit_on_error=False)
    def change_taxonomy(self, what: str, name: str, value: str = "") -> None:
        """Create, rename, merge, delete or describe a label, off the main thread."""
        session = self.session
        assert session is not None
        try:
            if what == "create":
                created = session.add_label(name)
                mid = self.current_mid()
                if mid is not None:
                    session.toggle(mid, created)
                text = f"created {created}"
            elif what in ("rename", "merge"):
                moved = session.rename_label(name, value, merge=what == "merge")
                text = f"{what}d {name} → {value} ({moved} annotations moved; u undoes)"
            elif what == "delete":
                removed = session.delete_label(name)
                text = f"deleted {name} ({removed} annotations removed; u undoes)"
            else:
                session.describe_label(name, value)
                text = f"description of {name} saved"
        except (LabelNameError, StoreError, ValueError) as exc:
            self.post_message(Failed(str(exc)))
            return
        self.post_message(TaxonomyChanged(text))

    @work(thread=True, group="write", exit_on_error=False)
    def save_state(self) -> None:
        if self.session is None:
            return
        try:
            self.session.save_state(self.page.mode, self.page.arg, self.page_mids, self.cursor_row())
        except StoreError as exc:
            self.post_message(Failed(f"could not keep your place: {exc}"))

    # ---- message handlers -------------------------------------------------------------
    def on_session_loaded(self, message: SessionLoaded) -> None:
        session = self.session = message.session
        self._names = short_names(session.labels)
        self.show_meter(None)
        resumed = message.resumed
        if resumed is not None and resumed.mode in MODES:
            self.page = PageState(resumed.mode, resumed.arg, 0)
            self._default_low_confidence = resumed.mode == "shuffle"
        if session.reviewed:
            self.meter.training = True
            self.retrain(then_page=resumed is None)
        if resumed is not None and resumed.page:
            self.post_message(PageLoaded(resumed.mode, resumed.arg, 0, resumed.page, resumed.cursor))
            if resumed.drafts:
                self.notify(f"Unconfirmed edits from last time are back: {len(resumed.drafts)}", timeout=4)
        else:
            self.load_page(self.page.mode, self.page.arg, self.page.number)

    def on_page_loaded(self, message: PageLoaded) -> None:
        self.page = PageState(message.mode, message.arg, message.number)
        self.page_mids = message.mids
        self.refresh_list()
        table = self.query_one(MessageList)
        if self.page_mids:
            table.move_cursor(row=min(message.cursor, len(self.page_mids) - 1))
        table.focus()
        self.refresh_message()
        self.refresh_status()

    def on_retrained(self, message: Retrained) -> None:
        assert self.session is not None
        self.meter.training = not message.final
        self.meter.phase = "validating" if not message.final else ""
        self._names = short_names(self.session.labels)
        self.show_meter(message.state)
        if message.then_page:
            mode, number = self.page.mode, 0
            if mode == "shuffle" and self.page.arg is None and message.state.model is not None \
                    and self._default_low_confidence:
                mode = "low-confidence"
                self._default_low_confidence = False
                self.notify("The model is trained: Low confidence now brings the messages it covers worst "
                            "(m to change mode)", timeout=6)
            elif mode == "search":
                number = self.page.number + 1  # search results do not change: on to the next ones
            self.load_page(mode, self.page.arg, number)
        else:
            self.refresh_list()
            self.refresh_message()

    def on_train_progress(self, message: TrainProgress) -> None:
        self.meter.progress = message.fraction
        self.meter.refresh_text()

    def on_written(self, message: Written) -> None:
        for mid in message.mids:
            self.pending.pop(mid, None)
        self._writes = [w for w in self._writes if not w.is_finished]
        if message.submitted:
            self.pages_submitted += 1
            self.confirmed_since_retrain = 0
        self._after_edit()
        self.refresh_status()

    def on_undo_done(self, message: UndoDone) -> None:
        step = message.step
        session = self.session
        if step is None or session is None:
            self.notify("Nothing to undo", timeout=3)
            return
        self._names = short_names(session.labels)
        if step.kind == "submit":  # the page comes back as it was, and the model with it
            session.forget_pages()
            self.pages_submitted = max(0, self.pages_submitted - 1)
            self.notify(f"Undid a submit of {len(step.mids)} messages", timeout=4)
            self.load_page_with(step.mids)
            self.meter.training = True
            self.retrain(then_page=False)
            return
        if step.kind not in ("edit", "confirm"):
            self.notify(f"Undid {step.kind.replace('-', ' ')} {step.label or ''}", timeout=4)
        elif step.mids and step.mids[0] in self.page_mids:
            self.query_one(MessageList).move_cursor(row=self.page_mids.index(step.mids[0]))
        elif step.mids:
            rows = session.rows(step.mids[:1], fetch=False)
            subject = one_line(rows[0].subject, 40) if rows else ""
            self.notify(f"Undid the confirmation of {subject!r} (not on this page)", timeout=5)
        self._after_edit()

    def on_taxonomy_changed(self, message: TaxonomyChanged) -> None:
        assert self.session is not None
        self._names = short_names(self.session.labels)
        self.notify(message.text, timeout=4)
        self._after_edit()

    def on_failed(self, message: Failed) -> None:
        self.meter.training = False
        self.notify(message.text, severity="error", timeout=8)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_message()

    # ---- helpers ----------------------------------------------------------------------
    _default_low_confidence = True

    @property
    def meter(self) -> CoverageMeter:
        return self.query_one(CoverageMeter)

    def cursor_row(self) -> int:
        return self.query_one(MessageList).cursor_row or 0

    def current_mid(self) -> int | None:
        row = self.query_one(MessageList).cursor_row
        if not self.page_mids or row is None or row >= len(self.page_mids):
            return None
        return self.page_mids[row]

    def load_page_with(self, mids: list[int]) -> None:
        """Show ``mids`` as the first page of the current mode (after an undone submit)."""
        assert self.session is not None
        self.session.pin_page(self.page.mode, self.page.arg, mids)
        self.load_page(self.page.mode, self.page.arg, 0)

    def reviewed_count(self) -> int:
        assert self.session is not None
        return len(self.session.reviewed) + sum(1 for m in self.pending if m not in self.session.reviewed)

    def show_meter(self, state: ModelState | None) -> None:
        session = self.session
        if session is None:
            self.meter.show(MeterFigures())
            return
        history = tuple(session.history)
        report = state.report if state is not None else {}
        coverage = report.get("coverage", history[-1] if history else None)
        change = None
        if coverage is not None and history:
            # the first model's change is from nothing covered
            change = coverage - (history[-2] if len(history) >= 2 else 0.0)
        figures = MeterFigures(
            coverage=coverage, change=change,
            rating=report.get("rating"), band=report.get("rating_band", ""),
            reviewed=self.reviewed_count(),
            informative=report.get("informative_labels", 0), labels=len(session.labels),
            history=history, loading=bool(session.reviewed) and state is None)
        self.meter.show(figures)

    def refresh_status(self) -> None:
        mode = MODES.get(self.page.mode, self.page.mode)
        arg = f": {one_line(self.page.arg, 30)}" if self.page.arg else ""
        text = Text()
        text.append(f" {mode}{arg} ", style="reverse")
        text.append(f" page {self.page.number + 1} · {self.pages_submitted} submitted · "
                    f"{one_line(self.dataset, 24)} · {one_line(self.annotator, 16)} · ? help")
        text.truncate(max(10, self.size.width), overflow="ellipsis")
        self.query_one("#status", Static).update(text)

    def _short(self, name: str) -> str:
        return self._names.get(name) or name.replace(LABEL_SEP, "›")

    def refresh_list(self) -> None:
        session = self.session
        assert session is not None
        table = self.query_one(MessageList)
        cursor = table.cursor_row
        table.clear()
        rows = {r.mid: r for r in session.rows(self.page_mids, fetch=False)}
        low_confidence = self.page.mode == "low-confidence"
        label_width = max(12, table.size.width - 47)  # beside mark, date, subject, padding, scrollbar
        for mid in self.page_mids:
            row = rows.get(mid)
            if row is None:
                continue
            if mid in self.pending or (mid in session.reviewed and not session.is_edited(mid)):
                mark = "✓"
            elif session.is_edited(mid):
                mark = "~"
            else:
                mark = "r" if low_confidence and mid in session.random_picks else "·"
            assigned = session.labels_of(mid)
            label_text = Text(", ".join(self._short(n) for n in assigned), style="bold")
            likely = [p for p in session.predictions_of(mid)[:6] if p[1] >= 0.3 and p[0] not in assigned
                      and p[0] not in session.implied_of(mid)]
            # a predicted parent says nothing its predicted child does not
            predicted = [p for p in likely if not any(o[0].startswith(p[0] + LABEL_SEP) for o in likely)][:2]
            for name, prob, _ in predicted:
                label_text.append(f" ({self._short(name)} {prob * 100:.0f}%)", style="italic")
            label_text.truncate(label_width, overflow="ellipsis")
            table.add_row(mark, f"{row.ts:%m-%d}", Text(one_line(row.subject or row.body, 28)), label_text,
                          key=str(mid))
        if cursor is not None and self.page_mids:
            table.move_cursor(row=min(cursor, len(self.page_mids) - 1))

    def refresh_message(self) -> None:
        session = self.session
        if session is None:
            return
        view = self.query_one(MessageView)
        mid = self.current_mid()
        if mid is None:
            view.clear("No message on this page.")
            return
        rows = session.rows([mid], fetch=False)
        if not rows:
            return
        row = rows[0]
        thread = [r for r in session.thread(row.thread_id, fetch=False) if r.mid != mid] if row.thread_id else []
        if mid in self.pending or (mid in session.reviewed and not session.is_edited(mid)):
            status = "REVIEWED"
        elif session.is_edited(mid):
            status = "EDITED"
        else:
            status = "new"
        narrow = self.query_one("#main").has_class("stacked")
        view.show(row, self.chips(mid), thread, status, 2 if narrow else 4, same_message=mid == self._shown_mid)
        self._shown_mid = mid

    def chips(self, mid: int) -> list[tuple[Text, bool]]:
        """One chip per label slot: ``3[x]Quote›Home 71%*``; assigned labels past slot 9
        and implied parents are shown too."""
        session = self.session
        assert session is not None
        assigned = session.labels_of(mid)
        implied = session.implied_of(mid)
        prob = {name: (p, ok) for name, p, ok in session.predictions_of(mid)}
        slots = session.slots(mid)
        out: list[tuple[Text, bool]] = []
        for number, name in enumerate(slots, start=1):
            if number > 9 and name not in assigned and name not in implied:
                continue
            mark = "[x]" if name in assigned else "[^]" if name in implied else "[ ]"
            if name in assigned and session.sentiment:
                mark += "+" if assigned[name] == 1 else "-"
            chip = Text(f"{number}" if number <= 9 else "")
            p, ok = prob.get(name, (None, False))
            chip.append(mark + self._short(name), style="bold" if name in assigned else "")
            if p is not None:
                chip.append(f" {p * 100:.0f}%{'*' if ok else ''}", style="dim")
            out.append((chip, name in assigned or name in implied))
        return out

    def _after_edit(self) -> None:
        self.refresh_list()
        self.refresh_message()
        if self.session is not None:
            self.meter.figures.reviewed = self.reviewed_count()
            self.meter.refresh_text()

    # ---- actions ----------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        table = self.query_one(MessageList)
        if self.page_mids:
            table.move_cursor(row=max(0, min(len(self.page_mids) - 1, self.cursor_row() + step)))

    def action_scroll_body(self, lines: int) -> None:
        self.query_one(MessageView).scroll_body(lines)

    def action_number(self, number: int) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None:
            return
        slots = self.session.slots(mid)
        if number > len(slots):
            self.notify(f"No label on key {number}: the taxonomy has {len(slots)}", timeout=3)
            return
        try:
            self.session.toggle(mid, slots[number - 1])
        except LabelImplied as exc:
            self.notify(str(exc), timeout=4)
            return
        self._after_edit()

    def action_confirm(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None:
            return
        labels = {mid: self.session.labels_of(mid)}
        self.pending.update(labels)  # shown confirmed now; the write runs in its worker
        self.confirmed_since_retrain += 1
        self._writes.append(self.write_confirm([mid], self.page.mode, labels))
        self._after_edit()
        self.action_cursor(1)

    def action_accept(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None:
            return
        accepted = self.session.accept_predictions(mid)
        if not accepted:
            self.notify("No predicted label is above its threshold", timeout=3)
        self._after_edit()

    def action_undo(self) -> None:
        if self.session is not None:
            self._writes.append(self.run_undo())

    def action_submit(self) -> None:
        if self.session is None or not self.page_mids:
            return
        self._submit_when_written()

    @work(group="submit", exclusive=True)
    async def _submit_when_written(self) -> None:
        """Wait for confirmations under way, then say what a submit writes, asking before
        untouched messages are reviewed as "no labels"."""
        for worker in list(self._writes):
            if not worker.is_finished:
                await worker.wait()
        session = self.session
        assert session is not None
        mids = list(self.page_mids)
        labels = {m: session.labels_of(m) for m in mids}
        edited, untouched = session.to_submit(mids, labels)
        include_untouched = False
        if untouched:
            confirmed = len(mids) - len(edited) - len(untouched)
            answer = await self.push_screen_wait(ConfirmScreen(
                f"Submit this page: {confirmed} confirmed, {len(edited)} with labels to save, "
                f"{len(untouched)} untouched (no label, not confirmed).",
                {"n": f"submit, and leave the {len(untouched)} untouched unreviewed (they come back later)",
                 "y": f"submit, and review the {len(untouched)} untouched as having NO label"}))
            if answer is None:
                return
            include_untouched = answer == "y"
        if not edited and not include_untouched and not self.confirmed_since_retrain:
            self.notify("Nothing to submit on this page: n shows the next one", timeout=4)
            return
        self.pending.update({m: labels[m] for m in edited})
        if include_untouched:
            self.pending.update({m: {} for m in untouched})
        writer = self.write_submit(mids, self.page.mode, include_untouched, labels)
        self._writes.append(writer)
        self.meter.training = True
        self.meter.phase = ""
        self.meter.progress = 0.0
        await writer.wait()
        self.retrain(then_page=True)

    def action_next_page(self) -> None:
        if self.session is not None:
            self.load_page(self.page.mode, self.page.arg, self.page.number + 1)

    def action_previous_page(self) -> None:
        if self.session is not None and self.page.number > 0:
            self.load_page(self.page.mode, self.page.arg, self.page.number - 1)

    def action_pick_label(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None:
            return
        self.push_screen(LabelPickerScreen(self.session, mid), self._picked)

    def _picked(self, result: tuple[str, str] | None) -> None:
        session = self.session
        if result is None or session is None:
            return
        action, name = result
        mid = self.current_mid()
        if action == "create":
            self._ask_create(name)
        elif action == "rename":
            self.push_screen(AskScreen(f"Rename {name} (with its children) to:", name),
                             partial(self._renamed, name))
        elif action == "delete":
            self.push_screen(ConfirmScreen(
                f"Delete label {name}, its children and their annotations on every message? (u undoes)",
                {"y": f"delete {name}"}), partial(self._if_yes, partial(self.change_taxonomy, "delete", name)))
        elif action == "describe":
            self.push_screen(AskScreen(f"Description of {name} (empty: none):", session.descriptions.get(name, "")),
                             partial(self._described, name))
        elif mid is not None and action in ("toggle", "positive", "negative"):
            try:
                session.toggle(mid, name, {"positive": 1, "negative": -1}.get(action))
            except LabelImplied as exc:
                self.notify(str(exc), timeout=4)
            self._after_edit()

    @staticmethod
    def _if_yes(action: Callable[[], object], answer: str | None) -> None:
        if answer:
            action()

    def _described(self, name: str, text: str | None) -> None:
        if text is not None:
            self.change_taxonomy("describe", name, text)

    def _ask_create(self, name: str) -> None:
        """Creating a label takes a second keystroke that sees the full path: a typo
        would otherwise become a permanent label."""
        assert self.session is not None
        try:
            check_label_name(name)
        except LabelNameError as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return
        similar = difflib.get_close_matches(name, self.session.labels, n=2, cutoff=0.75)
        question = f"Create the new label  {name}  and assign it?"
        if similar:
            question += f"\nSimilar labels exist: {', '.join(similar)}"
        self.push_screen(ConfirmScreen(question, {"y": f"create {name}"}),
                         partial(self._if_yes, partial(self.change_taxonomy, "create", name)))

    def _renamed(self, old: str, new: str | None) -> None:
        assert self.session is not None
        new = (new or "").strip()
        if not new or new == old:
            return
        if new in self.session.labels:
            self.push_screen(ConfirmScreen(
                f"{new} exists. Merge {old} into it? Its annotations move there. (u undoes)",
                {"y": f"merge {old} into {new}"}),
                partial(self._if_yes, partial(self.change_taxonomy, "merge", old, new)))
        else:
            self.change_taxonomy("rename", old, new)

    def action_mode(self) -> None:
        if self.session is not None:
            self.push_screen(ModeScreen(self.page.mode), self._mode_chosen)

    def _mode_chosen(self, mode: str | None) -> None:
        if mode is None or self.session is None:
            return
        if mode in NEEDS_LABEL:
            self.push_screen(LabelPickerScreen(self.session, None, choose_only=True),
                             lambda result: self.start_mode(mode, result[1] if result else None))
        elif mode in NEEDS_QUERY:
            self.push_screen(QueryScreen(), lambda query: self.start_mode(mode, query))
        else:
            self.start_mode(mode, None)

    def start_mode(self, mode: str, arg: str | None) -> None:
        if (mode in NEEDS_LABEL or mode in NEEDS_QUERY) and not arg:
            return
        self._default_low_confidence = False
        self.load_page(mode, arg, 0)

    def action_validation(self) -> None:
        if self.session is None:
            return
        self.push_screen(ValidationScreen(self.session.state.report), self._validation_done)

    def _validation_done(self, result: tuple[str, str] | None) -> None:
        if result is not None:
            self.start_mode(*result)

    def help_keys(self) -> list[tuple[str, str, str]]:
        """(keys as bound now, what they do, binding id) for the help screen."""
        shown = []
        for binding in MAIN_BINDINGS:
            if binding.id is None or binding.id.startswith("label_") and binding.id != "label_1":
                continue
            keys = self._keymap.get(binding.id, binding.key)
            what = binding.tooltip or binding.description
            if binding.id == "label_1":
                keys = "1-9"
                what = "toggle the label on that key"
            shown.append((keys, what, binding.id))
        shown.append(("ctrl+p", "command palette: modes, per-label modes, screens", "-"))
        return shown

    def action_help(self) -> None:
        descriptions = self.session.descriptions if self.session is not None else {}
        self.push_screen(HelpScreen(self.help_keys(), descriptions))

    def action_datasets(self) -> None:
        self.push_screen(DatasetsScreen(self.workspace, self.dataset), self._dataset_chosen)

    def _dataset_chosen(self, name: str | None) -> None:
        if name is None or name == self.dataset:
            return
        self.workers.cancel_group(self, "train")
        self.dataset = name
        self.session = None
        self.page = PageState()
        self.page_mids = []
        self.pending.clear()
        self.show_meter(None)
        self.query_one(MessageList).clear()
        self.query_one("#status", Static).update(Text(f"Loading dataset {one_line(name, 40)}…"))
        self.load_session()

    async def action_quit(self) -> None:
        # confirmations are written as they are made: let pending writes finish first,
        # then keep the page, the cursor row and any unconfirmed edits for next time
        for worker in list(self._writes):
            if not worker.is_finished:
                await worker.wait()
        if self.session is not None:
            self.kept_drafts = sum(1 for m in self.session.drafts if self.session.is_edited(m))
            await self.save_state().wait()
        self.exit(0)


def run_app(workspace: Workspace, dataset: str) -> int:
    settings = load_settings()
    try:
        app = CmtuiApp(workspace, dataset, keymap=settings.keymap)
    except UnknownKeyId as exc:
        from ..config import config_path

        raise SystemExit(f"cmtui: {config_path()}: {exc}") from None
    result = app.run()
    if app.kept_drafts:
        edits = "edit; it is" if app.kept_drafts == 1 else "edits; they are"
        print(f"cmtui: kept {app.kept_drafts} unconfirmed {edits} back when you open dataset {dataset!r} again")
    return result or 0
