"""The terminal app: message list, message view, numbered labels, coverage meter, modes.

DuckDB and LightGBM work runs in thread workers that post messages; handlers on the
main thread alone change widgets, so keypresses never wait on the database or a retrain.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker

from ..config import load_settings
from ..queues import MODES, NEEDS_LABEL, NEEDS_QUERY
from ..session import LabelImplied, Session
from ..taxonomy import short_names
from ..textsafe import one_line
from ..workspace import Workspace
from .analytics import AnalyticsActions
from .commands import CmtuiCommands
from .discover import DiscoverActions
from .fields import FieldActions
from .keys import MAIN_BINDINGS, UnknownKeyId, binding_ids, help_keys
from .messages import (
    Failed,
    PageLoaded,
    PageState,
    Retrained,
    SessionLoaded,
    TrainProgress,
    UndoDone,
    Written,
)
from .parts import LabelActions, Workers
from .screens import (
    DatasetsScreen,
    HelpScreen,
    LabelPickerScreen,
    ModeScreen,
    QueryScreen,
    ValidationScreen,
)
from .widgets import CoverageMeter, MessageList, MessageView

NARROW = 100  # below this many columns the list sits above the message

__all__ = ["CmtuiApp", "PageLoaded", "UnknownKeyId", "run_app"]


class CmtuiApp(LabelActions, Workers, DiscoverActions, AnalyticsActions, FieldActions):
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
        footer = Footer(show_command_palette=False)  # ctrl+p is on the help screen
        footer.compact = True  # a reactive (not the constructor's argument, which came later)
        yield footer

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        table = self.query_one(MessageList)
        table.add_columns(*MessageList.HEADERS)
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
        self.offer_discover(resumed is None)

    def on_page_loaded(self, message: PageLoaded) -> None:
        self.page_busy, self.confirmed_at_end = "", None
        self.page = PageState(message.mode, message.arg, message.number)
        self.page_mids = message.mids
        self.refresh_list()
        table = self.query_one(MessageList)
        if self.page_mids:
            table.move_cursor(row=min(message.cursor, len(self.page_mids) - 1))
        table.focus()
        self.refresh_message()
        self.refresh_status()
        self.submit_if_asked()

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
            elif mode == "discover":  # a cluster done: back to the clusters, the queue behind
                self.load_page("low-confidence" if message.state.model is not None else "shuffle", None, 0)
                self.action_discover()
                return
            self.load_page(mode, self.page.arg, number)
        else:
            self.refresh_list()
            self.refresh_message()
        self.recluster_if_due(message.final)

    def on_train_progress(self, message: TrainProgress) -> None:
        self.meter.progress = message.fraction  # a reactive: the meter redraws itself

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
            self.load_page_with(step.page or step.mids)
            self.meter.training = True
            self.retrain(then_page=False)
            return
        if step.kind == "field-review":
            self.notify(f"Undid a review of field {step.label or ''}", timeout=3)
            self.refresh_message()
            return
        if step.kind not in ("edit", "confirm"):
            self.notify(f"Undid {step.kind.replace('-', ' ')} {step.label or ''}", timeout=4)
        elif step.mids and step.mids[0] in self.page_mids:
            self.query_one(MessageList).move_cursor(row=self.page_mids.index(step.mids[0]))
        elif step.mids:
            rows = session.rows(step.mids[:1], fetch=False)
            what = f"{one_line(rows[0].subject, 40)!r}" if rows else "a message"
            what += f" and {len(step.mids) - 1} more" if len(step.mids) > 1 else ""
            done = "an edit of" if step.kind == "edit" else "the confirmation of"
            self.notify(f"Undid {done} {what} (not on this page)", timeout=5)
        self._after_edit()

    def on_failed(self, message: Failed) -> None:
        self.page_busy = ""  # the page shown takes edits again
        self.meter.training = False
        self.notify(message.text, severity="error", timeout=8)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_message()

    # ---- actions ----------------------------------------------------------------------
    def action_cursor(self, step: int) -> bool:  # whether the cursor moved
        self.confirmed_at_end, row = None, self.cursor_row()
        if self.page_mids:
            self.query_one(MessageList).move_cursor(row=max(0, min(len(self.page_mids) - 1, row + step)))
        return self.cursor_row() != row

    def action_scroll_body(self, lines: int) -> None:
        self.query_one(MessageView).scroll_body(lines)

    def action_number(self, number: int) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None or not self.page_ready():
            return
        keys = self.session.key_order()
        if number > len(keys):
            self.notify(f"No label on key {number}: {len(keys)} labels have keys (l for every label)", timeout=3)
            return
        try:
            self.session.toggle(mid, keys[number - 1])
        except LabelImplied as exc:
            self.notify(str(exc), timeout=4)
            return
        self._after_edit()

    def action_confirm(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None or not self.page_ready():
            return
        labels = {mid: self.session.labels_of(mid)}
        if not labels[mid]:  # a review in its own right, and easy to give by a missed number key
            self.notify("Confirmed with no labels (u undoes)", timeout=4)
        self.pending.update(labels)  # shown confirmed now; the write runs in its worker
        self.confirmed_since_retrain += 1
        self._writes.append(self.write_confirm([mid], self.page.mode, labels))
        self._after_edit()
        if not self.action_cursor(1):  # the last row: the next label key is asked about
            self.confirmed_at_end = mid

    def action_accept(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None or not self.page_ready():
            return
        accepted = self.session.accept_predictions(mid)
        if not accepted:
            self.notify("No predicted label is above its threshold", timeout=3)
        self._after_edit()

    def action_undo(self) -> None:
        if self.session is not None:
            self._writes.append(self.run_undo())

    def action_submit(self) -> None:
        if self.session is None or not self.page_mids or not self.page_ready(edit=False):
            return
        self.page_busy = "Submitting the page"  # until the next page is shown
        self._submit_when_written()

    def action_next_page(self) -> None:
        if self.session is not None and self.page_mids:  # an empty page is the last: it says so
            self.load_page(self.page.mode, self.page.arg, self.page.number + 1)

    def action_previous_page(self) -> None:
        if self.session is not None and self.page.number > 0:
            self.load_page(self.page.mode, self.page.arg, self.page.number - 1)

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
        if self.discover_instead(mode, arg):
            return
        if (mode in NEEDS_LABEL or mode in NEEDS_QUERY) and not arg:
            return
        self._default_low_confidence = False
        self.load_page(mode, arg, 0)

    def action_validation(self) -> None:
        if self.session is None:
            return
        self.push_screen(ValidationScreen(self.session.state.report, self.session), self._validation_done)

    def _validation_done(self, result: tuple[str, str | None] | None) -> None:
        if result is not None:
            self.start_mode(*result)

    def action_help(self) -> None:
        descriptions = self.session.descriptions if self.session is not None else {}
        self.push_screen(HelpScreen(help_keys(self._keymap), descriptions))

    def action_datasets(self) -> None:
        screen = DatasetsScreen(self.workspace, self.dataset)
        self.push_screen(screen, partial(self._dataset_chosen, screen))

    async def _dataset_chosen(self, screen: DatasetsScreen, name: str | None) -> None:
        """Open the dataset chosen, or this one again when a file was imported into it;
        first keep the page and its unconfirmed edits, as quitting does (switching lost
        them, and the messages imported did not show until a restart)."""
        name = name or self.dataset
        if name == self.dataset and name not in screen.imported_into:
            return
        await self.keep_place()
        self.workers.cancel_group(self, "train")
        self.dataset = name
        self.session = None
        self.page = PageState()
        self.page_mids = []
        self.pending.clear()
        self.pages_submitted, self.page_busy = 0, ""  # the header showed the last dataset's pages
        self.show_meter(None)
        self.query_one(MessageList).clear()
        self.query_one("#status", Static).update(Text(f"Loading dataset {one_line(name, 40)}…"))
        self.load_session()

    async def action_quit(self) -> None:
        await self.keep_place()
        if self.session is not None:
            self.kept_drafts = sum(1 for m in self.session.drafts if self.session.is_edited(m))
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
