"""The terminal app: message list, message view, numbered labels, coverage meter, modes.

DuckDB and LightGBM work runs in thread workers that post messages; handlers on the
main thread alone change widgets, so keypresses never wait on the database or a retrain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from ..config import load_settings
from ..model import Cancelled
from ..queues import MODES, NEEDS_LABEL, NEEDS_QUERY
from ..session import ModelState, Session
from ..store import LabelNameError, Store, StoreError
from ..textsafe import inert, one_line
from .screens import (
    DatasetsScreen,
    HelpScreen,
    LabelPickerScreen,
    ModeScreen,
    QueryScreen,
    ValidationScreen,
)

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    return "".join(SPARK[min(7, int(v * 8))] for v in values[-20:])


def bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled)


class CoverageMeter(Static):
    """Coverage bar and percent, change since the last page, rating band, counts, history."""

    training: reactive[bool] = reactive(False)
    spinner_frame: reactive[int] = reactive(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report: dict[str, Any] = {}
        self.history: list[float] = []
        self.progress = 0.0
        self.phase = ""

    def on_mount(self) -> None:
        self.set_interval(0.2, self._tick)

    def _tick(self) -> None:
        if self.training:
            self.spinner_frame += 1

    def show(self, report: dict[str, Any], history: list[float]) -> None:
        self.report = report
        self.history = list(history)
        self.refresh_text()

    def watch_training(self) -> None:
        self.refresh_text()

    def watch_spinner_frame(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        report = self.report
        # before the first retrain of this run, show the last stored figure, not a drop to 0
        coverage = report.get("coverage", self.history[-1] if self.history else 0.0)
        delta = coverage - self.history[-2] if report and len(self.history) >= 2 else 0.0
        text = Text()
        text.append("Coverage ", style="bold")
        text.append(bar(coverage, 16))
        text.append(f" {coverage * 100:4.1f}% ({delta * 100:+.1f})")
        if report:
            text.append(f"  Rating {report.get('rating_band', '-')} ({report.get('rating', 0):.0f})")
            text.append(f"  Reviewed {report.get('reviewed', 0)}")
            text.append(f"  Informative {report.get('informative_labels', 0)}")
        else:
            text.append("  loading the model" if self.history else "  no model yet")
        if self.history:
            text.append(f"  {sparkline(self.history)}")
        if self.training:
            frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
            text.append(f"  {frames[self.spinner_frame % len(frames)]} {self.phase or 'retraining'} "
                        f"{self.progress:.0%}", style="bold")
        self.update(text)


class MessageView(VerticalScroll):
    """The highlighted message in full; its text is always inert."""

    def compose(self) -> ComposeResult:
        yield Static(id="message-head")
        yield Static(id="message-labels")
        yield Static(id="message-body")

    def show(self, session: Session, mid: int | None, numbered: list[tuple[str, float | None, bool]]) -> None:
        head = self.query_one("#message-head", Static)
        body = self.query_one("#message-body", Static)
        labels = self.query_one("#message-labels", Static)
        if mid is None:
            head.update(Text("No message on this page."))
            body.update("")
            labels.update("")
            return
        rows = session.rows([mid])
        if not rows:
            return
        row = rows[0]
        text = Text()
        text.append(one_line(row.subject) or "(no subject)", style="bold")
        text.append(f"  {row.ts:%Y-%m-%d %H:%M}  from {one_line(row.sender)}")
        details = [f"to {one_line(row.recipients)}"]
        if row.cc:
            details.append(f"cc {one_line(row.cc)}")
        details.append(f"id {one_line(row.id)}")
        if row.thread_id:
            details.append(f"thread {one_line(row.thread_id)}")
        if row.properties:
            details.append(one_line(row.properties, 200))
        text.append("\n" + "  ".join(details), style="dim")
        head.update(text)
        assigned = session.labels_of(mid)
        listing = Text()
        if mid in session.drafts:
            listing.append("EDITED ", style="bold")
        elif mid in session.reviewed:
            listing.append("REVIEWED ", style="bold")
        else:
            listing.append("unreviewed ", style="bold")
        shown = [name for name, _, _ in numbered[:9]]
        for number, (name, prob, above) in enumerate(numbered[:9], start=1):
            mark = "[x]" if name in assigned else "[ ]"
            if name in assigned and session.sentiment:
                mark += "+" if assigned[name] == 1 else "-"
            pct = f" {prob * 100:.0f}%" if prob is not None else ""
            listing.append(f" {number}{mark}", style="bold" if name in assigned else "")
            listing.append(f"{one_line(name, 50)}{pct}{'*' if above else ''} ")
        for name in assigned:
            if name not in shown:
                listing.append(f" [x]{one_line(name, 50)} ", style="bold")
        labels.update(listing)
        message = Text(inert(row.body))
        if row.thread_id:
            others = [r for r in session.thread(row.thread_id) if r.mid != mid]
            for other in others[:5]:
                message.append(f"\n\n── in thread: {one_line(other.subject, 80)} ({other.ts:%Y-%m-%d}) ──\n",
                               style="dim")
                message.append(inert(other.body)[:2000], style="dim")
        body.update(message)


class SessionLoaded(Message):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class PageLoaded(Message):
    def __init__(self, mode: str, arg: str | None, number: int, mids: list[int]) -> None:
        super().__init__()
        self.mode, self.arg, self.number, self.mids = mode, arg, number, mids


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
    def __init__(self, mids: list[int]) -> None:
        super().__init__()
        self.mids = mids


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
    """Command palette entries built from the current state: modes, per-label modes, screens."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, CmtuiApp)
        matcher = self.matcher(query)
        commands: list[tuple[str, Any, str]] = [
            (f"Mode: {title}", partial(app.start_mode, key, None), "show this training mode's queue")
            for key, title in MODES.items() if key not in NEEDS_LABEL and key not in NEEDS_QUERY
        ]
        commands += [("Validation", app.action_validation, "per-label figures and model rating"),
                     ("Datasets", app.action_datasets, "open, create or import into a dataset"),
                     ("Submit page", app.action_submit, "confirm the page and retrain"),
                     ("Help", app.action_help, "keys and rules")]
        if app.session is not None:
            for label in app.session.labels:
                for key in ("teach", "label", "check-label", "missed-label"):
                    commands.append((f"{MODES[key]}: {label}", partial(app.start_mode, key, label),
                                     f"{MODES[key]} mode for this label"))
        for text, callback, help_text in commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


class CmtuiApp(App[int]):
    """cmtui's terminal app."""

    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {CmtuiCommands}
    TITLE = "cmtui"
    BINDINGS = [
        Binding("j", "cursor(1)", "Down", show=False, id="down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="up"),
        Binding("space,enter", "confirm", "Confirm", id="confirm", tooltip="Mark reviewed with its labels"),
        Binding("1", "number(1)", show=False, id="label_1"),
        Binding("2", "number(2)", show=False, id="label_2"),
        Binding("3", "number(3)", show=False, id="label_3"),
        Binding("4", "number(4)", show=False, id="label_4"),
        Binding("5", "number(5)", show=False, id="label_5"),
        Binding("6", "number(6)", show=False, id="label_6"),
        Binding("7", "number(7)", show=False, id="label_7"),
        Binding("8", "number(8)", show=False, id="label_8"),
        Binding("9", "number(9)", show=False, id="label_9"),
        Binding("l,slash", "pick_label", "Labels", id="labels", tooltip="Filter, assign and create labels"),
        Binding("a", "accept", "Accept", id="accept", tooltip="Assign predicted labels above threshold"),
        Binding("u", "undo", "Undo", id="undo"),
        Binding("s", "submit", "Submit", id="submit", tooltip="Submit the page and retrain"),
        Binding("S", "submit_confirmed", "Submit confirmed", show=False, id="submit_confirmed"),
        Binding("n", "next_page", "Next", show=False, id="next_page"),
        Binding("p", "previous_page", "Prev", show=False, id="previous_page"),
        Binding("m", "mode", "Mode", id="mode"),
        Binding("v", "validation", "Validation", id="validation"),
        Binding("d", "datasets", "Datasets", show=False, id="datasets"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, store: Store, dataset: str, annotator: str, *,
                 session: Session | None = None, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.store = store
        self.dataset = dataset
        self.annotator = annotator
        self.session: Session | None = session
        self.page = PageState()
        self.page_mids: list[int] = []
        self.numbered: list[tuple[str, float | None, bool]] = []
        self._keymap = keymap or {}
        self._writes: list[Any] = []
        self.pending: dict[int, dict[str, int | None]] = {}  # confirmed, write under way

    # ---- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal(id="main"):
            yield DataTable(id="message-list", cursor_type="row", zebra_stripes=False)
            yield MessageView(id="message-view")
        yield CoverageMeter(id="meter")
        yield Footer()

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        table = self.query_one("#message-list", DataTable)
        table.add_columns("✓", "date", "subject", "labels")  # the sender is in the message view
        self.query_one("#status", Static).update(Text(f"Loading dataset {self.dataset}…"))
        if self.session is None:
            self.load_session()
        else:
            self.post_message(SessionLoaded(self.session))

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        self.query_one("#main").set_class(narrow, "stacked")

    # ---- workers ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_session(self) -> None:
        try:
            session = Session.open(self.store, self.dataset, self.annotator)
        except StoreError as exc:
            self.post_message(Failed(str(exc)))
            return
        self.post_message(SessionLoaded(session))

    @work(thread=True, group="page", exit_on_error=False)
    def load_page(self, mode: str, arg: str | None, number: int) -> None:
        assert self.session is not None
        try:
            mids = self.session.page(mode, arg, number)
            self.session.rows(mids)  # warm the text cache off the main thread
        except (StoreError, ValueError) as exc:
            self.post_message(Failed(str(exc)))
            return
        self.post_message(PageLoaded(mode, arg, number, mids))

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
    def write_confirm(self, mids: list[int], mode: str, kind: str,
                      labels: dict[int, dict[str, int | None]]) -> None:
        assert self.session is not None
        try:
            if kind == "confirm":
                self.session.confirm(mids, mode, labels=labels)
            else:
                self.session.submit(mids, mode, only_confirmed=kind == "submit-confirmed", labels=labels)
        except StoreError as exc:
            self.post_message(Failed(f"NOT SAVED: {exc}"))
        finally:
            self.post_message(Written(mids))

    # ---- message handlers -------------------------------------------------------------
    def on_session_loaded(self, message: SessionLoaded) -> None:
        self.session = message.session
        self.meter.show({}, self.session.history)
        resumed = self.session.resume()
        if resumed is not None and resumed[0] in MODES:
            self.page = PageState(resumed[0], resumed[1], 0)
        if self.session.reviewed:
            self.meter.training = True
            self.retrain(then_page=resumed is None)
        if resumed is not None and resumed[2]:
            self.post_message(PageLoaded(resumed[0], resumed[1], 0, resumed[2]))
        else:
            self.load_page(self.page.mode, self.page.arg, self.page.number)

    def on_page_loaded(self, message: PageLoaded) -> None:
        self.page = PageState(message.mode, message.arg, message.number)
        self.page_mids = message.mids
        self.refresh_list()
        table = self.query_one("#message-list", DataTable)
        if self.page_mids:
            table.move_cursor(row=0)
        table.focus()
        self.refresh_message()
        self.refresh_status()

    def on_retrained(self, message: Retrained) -> None:
        assert self.session is not None
        self.meter.training = not message.final
        self.meter.phase = "validating" if not message.final else ""
        if message.final:
            self.meter.show(message.state.report, self.session.history)
        if message.then_page:
            mode = self.page.mode
            if mode == "shuffle" and self.page.arg is None and message.state.model is not None \
                    and self._default_low_confidence:
                mode = "low-confidence"
            self.load_page(mode, self.page.arg, 0)
        else:
            self.refresh_list()
            self.refresh_message()

    def on_train_progress(self, message: TrainProgress) -> None:
        self.meter.progress = message.fraction
        self.meter.refresh_text()

    def on_written(self, message: Written) -> None:
        for mid in message.mids:
            self.pending.pop(mid, None)
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
        return self.query_one("#meter", CoverageMeter)

    def current_mid(self) -> int | None:
        table = self.query_one("#message-list", DataTable)
        if not self.page_mids or table.cursor_row is None or table.cursor_row >= len(self.page_mids):
            return None
        return self.page_mids[table.cursor_row]

    def refresh_status(self) -> None:
        mode = MODES.get(self.page.mode, self.page.mode)
        arg = f": {one_line(self.page.arg, 40)}" if self.page.arg else ""
        text = Text()
        text.append(f" {mode}{arg} ", style="reverse")
        text.append(f"  page {self.page.number + 1}  ·  {len(self.page_mids)} messages  ·  "
                    f"dataset {one_line(self.dataset, 30)}  ·  {one_line(self.annotator, 20)}  ·  ? help")
        self.query_one("#status", Static).update(text)

    def refresh_list(self) -> None:
        assert self.session is not None
        table = self.query_one("#message-list", DataTable)
        cursor = table.cursor_row
        table.clear()
        rows = {r.mid: r for r in self.session.rows(self.page_mids)}
        for mid in self.page_mids:
            row = rows.get(mid)
            if row is None:
                continue
            if mid in self.pending:
                mark = "✓"
            elif mid in self.session.drafts:
                mark = "~"
            elif mid in self.session.reviewed:
                mark = "✓"
            else:
                mark = "·"
            assigned = self.session.labels_of(mid)
            label_text = Text(", ".join(one_line(n.split(" > ")[-1], 20) for n in assigned))
            predicted = [p for p in self.session.predictions_of(mid)[:2] if p[1] >= 0.3 and p[0] not in assigned]
            for name, prob, _ in predicted:
                label_text.append(f" {one_line(name.split(' > ')[-1], 14)}", style="italic")
                label_text.append(f" {prob * 100:.0f}%", style="dim")
            table.add_row(mark, f"{row.ts:%m-%d}", Text(one_line(row.subject or row.body, 28)), label_text,
                          key=str(mid))
        if cursor is not None and self.page_mids:
            table.move_cursor(row=min(cursor, len(self.page_mids) - 1))

    def refresh_message(self) -> None:
        if self.session is None:
            return
        mid = self.current_mid()
        self.numbered = self._numbered(mid) if mid is not None else []
        self.query_one("#message-view", MessageView).show(self.session, mid, self.numbered)

    def _numbered(self, mid: int) -> list[tuple[str, float | None, bool]]:
        """Labels behind keys 1-9: assigned, then predicted by confidence, then the taxonomy."""
        assert self.session is not None
        assigned = self.session.labels_of(mid)
        predicted = self.session.predictions_of(mid)
        prob = {name: (p, ok) for name, p, ok in predicted}
        out: list[tuple[str, float | None, bool]] = []
        seen: set[str] = set()
        for name in assigned:
            out.append((name, prob.get(name, (None, False))[0], prob.get(name, (None, False))[1]))
            seen.add(name)
        for name, p, ok in predicted:
            if name not in seen and not any(o.startswith(name + " > ") for o in seen):
                out.append((name, p, ok))
                seen.add(name)
        for name in self.session.labels:
            if name not in seen:
                out.append((name, None, False))
                seen.add(name)
        return out

    def _after_edit(self) -> None:
        self.refresh_list()
        self.refresh_message()

    # ---- actions ----------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        table = self.query_one("#message-list", DataTable)
        if self.page_mids:
            table.move_cursor(row=max(0, min(len(self.page_mids) - 1, table.cursor_row + step)))

    def action_number(self, number: int) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None or number > len(self.numbered):
            return
        self.session.toggle(mid, self.numbered[number - 1][0])
        self._after_edit()

    def action_confirm(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None:
            return
        labels = {mid: self.session.labels_of(mid)}
        self.pending.update(labels)  # shown confirmed now; the write runs in its worker
        self._writes.append(self.write_confirm([mid], self.page.mode, "confirm", labels))
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
        if self.session is None:
            return
        self._undo()

    @work(thread=True, group="write", exit_on_error=False)
    def _undo(self) -> None:
        assert self.session is not None
        try:
            mid = self.session.undo()
        except StoreError as exc:
            self.post_message(Failed(str(exc)))
            return
        self.call_from_thread(self._undone, mid)

    def _undone(self, mid: int | None) -> None:
        if mid is None:
            self.notify("Nothing to undo", timeout=3)
            return
        if mid in self.page_mids:
            self.query_one("#message-list", DataTable).move_cursor(row=self.page_mids.index(mid))
        self._after_edit()

    def action_submit(self) -> None:
        self._submit("submit")

    def action_submit_confirmed(self) -> None:
        self._submit("submit-confirmed")

    def _submit(self, kind: str) -> None:
        if self.session is None or not self.page_mids:
            return
        labels = {m: self.session.labels_of(m) for m in self.page_mids}
        self.pending.update(labels if kind == "submit" else {})
        worker = self.write_confirm(list(self.page_mids), self.page.mode, kind, labels)
        self._writes.append(worker)
        self.meter.training = True
        self.meter.phase = ""
        self.meter.progress = 0.0
        self._retrain_after(worker)

    @work(exclusive=False, group="after-submit")
    async def _retrain_after(self, writer: Any) -> None:
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
        self.push_screen(LabelPickerScreen(self.session, mid, self.numbered), self._picked)

    def _picked(self, result: tuple[str, str] | None) -> None:
        if result is None or self.session is None:
            return
        action, name = result
        mid = self.current_mid()
        if action == "create":
            try:
                name = self.session.add_label(name)
            except (LabelNameError, StoreError) as exc:
                self.notify(str(exc), severity="error", timeout=6)
                return
        if mid is not None and action in ("toggle", "create", "positive", "negative"):
            sentiment = {"positive": 1, "negative": -1}.get(action)
            self.session.toggle(mid, name, sentiment)
        self._after_edit()

    def action_mode(self) -> None:
        if self.session is not None:
            self.push_screen(ModeScreen(self.page.mode), self._mode_chosen)

    def _mode_chosen(self, mode: str | None) -> None:
        if mode is None or self.session is None:
            return
        if mode in NEEDS_LABEL:
            self.push_screen(LabelPickerScreen(self.session, None, [], choose_only=True),
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

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self))

    def action_datasets(self) -> None:
        self.push_screen(DatasetsScreen(self.store, self.annotator, self.dataset), self._dataset_chosen)

    def _dataset_chosen(self, name: str | None) -> None:
        if name is None or name == self.dataset:
            return
        self.workers.cancel_group(self, "train")
        self.dataset = name
        self.session = None
        self.page = PageState()
        self.page_mids = []
        self.pending.clear()
        self.meter.show({}, [])
        self.query_one("#message-list", DataTable).clear()
        self.query_one("#status", Static).update(Text(f"Loading dataset {one_line(name, 40)}…"))
        self.load_session()

    async def action_quit(self) -> None:
        # confirmations are written as they are made: let pending writes finish first
        for worker in self._writes:
            if not worker.is_finished:
                await worker.wait()
        self.exit(0)


def run_app(store: Store, dataset: str, annotator: str) -> int:
    settings = load_settings()
    app = CmtuiApp(store, dataset, annotator, keymap=settings.keymap)
    result = app.run()
    return result or 0
