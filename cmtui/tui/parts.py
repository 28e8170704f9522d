"""The app's parts, one job each: the workers that touch the database and the model, the
view that draws the page, and the label actions. ``CmtuiApp`` (app.py) is all of them
with the handlers and the keys."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from ..queues import MODES
from ..session import Cancelled, LabelImplied, ModelState, Session
from ..taxonomy import LABEL_SEP, is_below, short_names
from ..textsafe import one_line
from ..workspace import LabelNameError, StoreError, Workspace
from .messages import (
    Failed,
    PageLoaded,
    PageState,
    Retrained,
    SessionLoaded,
    TaxonomyChanged,
    TrainProgress,
    UndoDone,
    Written,
)
from .screens import AskScreen, ConfirmScreen, FilterScreen, LabelPickerScreen, confirm_new_label
from .widgets import CoverageMeter, MessageList, MessageView, MeterFigures, fill_table

CHIP_PERCENT_FROM = 0.05  # a chip shows the model's confidence from 5%
KEEP_DRAFTS_AFTER = 1.0  # seconds after the latest edit that the page and its drafts are kept


class AppBase(App[int]):
    """What the app's parts share: the session, the page and what is being written."""

    workspace: Workspace
    dataset: str
    annotator: str
    session: Session | None
    page: PageState
    page_mids: list[int]
    pending: dict[int, dict[str, int | None]]
    pages_submitted: int
    _shown_mid: int | None
    _names: dict[str, str]
    _writes: list[Worker[Any]]
    confirmed_since_retrain: int
    field_cursor: int | None  # the field value [ and ] are on (tui.fields.FieldActions)
    _keep_timer: Timer | None = None
    page_busy: str = ""  # why the page shown takes no label edits now ("": it takes them)
    confirmed_at_end: int | None = None  # the page's last message, just confirmed by space or enter

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

    def page_ready(self, edit: bool = True) -> bool:
        """Whether the page shown takes label edits (``edit``) or a submit now: not from the
        moment it is submitted until the next page is shown, nor while another page loads.
        ``s 1`` typed fast gave the 1 to the submitted page's message, and the submit wrote
        it; ``n 1`` gave it to a message of the page being left."""
        if self.page_busy:
            self.notify(f"{self.page_busy}: press that key again once the next page is shown", timeout=2)
            return False
        if edit and self.confirmed_at_end is not None and self.confirmed_at_end == self.current_mid():
            # typed once more than the page has rows: "9 space" again took the 9 back off the
            # last message and confirmed it with no label
            self.confirmed_at_end = None
            self.notify("That was the page's last message, confirmed: s submits the page "
                        "(the same key again changes the last message)", timeout=4)
            return False
        return True

    def save_state(self) -> object:  # Workers': the page, the cursor row and the drafts, kept
        raise NotImplementedError

    def keep_drafts_soon(self) -> None:
        """Keep the page and its unconfirmed edits a moment after the latest edit: kept only
        on quit, a dropped SSH connection (the app hung up) lost every edit of the page."""
        if self._keep_timer is not None:
            self._keep_timer.stop()
        self._keep_timer = self.set_timer(KEEP_DRAFTS_AFTER, self.save_state)



class Workers(AppBase):
    """Thread workers: each does its database or model work and posts a message."""

    def load_page_with(self, mids: list[int]) -> None:
        """Show ``mids`` as the first page of the current mode (after an undone submit)."""
        assert self.session is not None
        self.session.pin_page(self.page.mode, self.page.arg, mids)
        self.load_page(self.page.mode, self.page.arg, 0)

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

    def action_filter(self) -> None:
        """Choose a source or language to work in (every mode), or every message again."""
        if self.session is not None:
            self.push_screen(FilterScreen(self.session), self._filter_chosen)

    def _filter_chosen(self, scope: tuple[str | None, str | None, str | None] | None) -> None:
        if scope is not None and self.session is not None and scope != self.session.scope:
            self.page_busy = "Loading the page"
            self.apply_filter(scope, self.page.mode, self.page.arg)

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def apply_filter(self, scope: tuple[str | None, str | None, str | None], mode: str, arg: str | None) -> None:
        """Narrow every mode to a source, language and/or time window, then show the
        mode's first page."""
        assert self.session is not None
        try:
            count = self.session.set_scope(*scope)
            mids = self.session.page(mode, arg, 0)
            self.session.prefetch(mids)
        except Exception as exc:  # said, and the label keys no longer wait for this page
            self.post_message(Failed(f"could not show the page: {exc}"))
            return
        what = "every message" if scope == (None, None, None) else f"{count:,} messages"
        self.app.call_from_thread(self.notify, f"Showing {what}", timeout=3)
        self.post_message(PageLoaded(mode, arg, 0, mids, 0))

    def load_page(self, mode: str, arg: str | None, number: int, cursor: int = 0) -> None:
        """Show page ``number`` of ``mode``; label keys wait until it is shown."""
        self.page_busy = "Loading the page"
        self._load_page(mode, arg, number, cursor)

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def _load_page(self, mode: str, arg: str | None, number: int, cursor: int) -> None:
        assert self.session is not None
        try:
            mids = self.session.page(mode, arg, number, cursor)
            self.session.prefetch(mids)  # texts and threads, off the main thread
        except Exception as exc:  # said, and the label keys no longer wait for this page
            self.post_message(Failed(f"could not show the page: {exc}"))
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
                                          progress=lambda f: progress(0.3 + 0.7 * f),
                                          shown=lambda figures: self.post_message(Retrained(figures, False, False)))
        except Cancelled:
            return
        except Exception as exc:  # a failed retrain must not take the annotator's work down
            self.post_message(Failed(f"retrain failed: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(Retrained(state, False, final=True))

    @work(thread=True, exclusive=True, group="discover", exit_on_error=False)
    def refresh_clusters(self) -> None:
        """Cluster again in the background: after 5 pages or 10% new messages, or from
        Discover's r. An open Discover screen shows the progress, then the clusters."""
        assert self.session is not None

        def progress(fraction: float) -> None:
            self.call_from_thread(self.discover_progress, fraction)  # type: ignore[attr-defined]

        made = None
        try:
            made = self.session.discover(progress=progress)
            self.session.rows(made.shown_mids())  # ready before c
        except Exception as exc:  # Discover failing must not take the page down
            self.post_message(Failed(f"Discover failed: {exc}"))
        finally:
            self.call_from_thread(self.clusters_made, made)  # type: ignore[attr-defined]

    @work(thread=True, group="write", exit_on_error=False)
    def write_confirm(self, mids: list[int], mode: str, labels: dict[int, dict[str, int | None]]) -> None:
        assert self.session is not None
        try:
            self.session.confirm(mids, mode, labels=labels)
        except Exception as exc:  # any failure is said: the row shows unconfirmed again
            self.post_message(Failed(f"NOT SAVED: {exc}"))
        finally:
            self.post_message(Written(mids))

    @work(thread=True, group="write", exit_on_error=False)
    def write_submit(self, mids: list[int], mode: str, untouched: bool,
                     labels: dict[int, dict[str, int | None]]) -> bool:
        """Whether the page was written; if not, its edits stay drafts and it stays shown."""
        assert self.session is not None
        try:
            self.session.submit(mids, mode, untouched=untouched, labels=labels)
        except Exception as exc:  # any failure: said, and nothing moves on
            self.post_message(Failed(f"NOT SAVED: {exc}"))
            self.post_message(Written(mids))
            return False
        self.post_message(Written(mids, submitted=True))
        return True

    @work(thread=True, group="write", exit_on_error=False)
    def run_undo(self) -> None:
        assert self.session is not None
        try:
            step = self.session.undo()
        except Exception as exc:  # any failure is said (u did nothing, without a word)
            self.post_message(Failed(f"could not undo: {exc}"))
            return
        self.post_message(UndoDone(step))

    async def keep_place(self) -> None:
        """Confirmations are written as they are made: let those under way finish, then
        keep the page, the cursor row and any unconfirmed edits for the next opening."""
        for worker in list(self._writes):
            if not worker.is_finished:
                await worker.wait()
        if self.session is not None:
            await self.save_state().wait()

    @work(thread=True, group="write", exit_on_error=False)
    def save_state(self) -> None:
        if self.session is None:
            return
        try:
            self.session.save_state(self.page.mode, self.page.arg, self.page_mids, self.cursor_row())
        except StoreError as exc:
            self.post_message(Failed(f"could not keep your place: {exc}"))



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
                self.page_busy = ""
                return
            include_untouched = answer == "y"
        if not edited and not include_untouched and not self.confirmed_since_retrain:
            self.page_busy = ""
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
        if writer.result:  # a page not saved stays, with its edits (the notice says why)
            self.retrain(then_page=True)


class PageView(AppBase):
    """Drawing the page: the list, the message, the status line and the meter."""

    _default_low_confidence = True

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
        untrained = not session.reviewed and (state is None or state.model is None)  # e.g. the only submit undone
        coverage = None if untrained else report.get("coverage", history[-1] if history else None)
        change = None
        if coverage is not None and history:
            # the first model's change is from nothing covered
            change = coverage - (history[-2] if len(history) >= 2 else 0.0)
        figures = MeterFigures(
            coverage=coverage, change=change, expected=report.get("coverage_expected"),
            rating=report.get("rating"), band=report.get("rating_band", ""),
            reviewed=self.reviewed_count(),
            informative=report.get("informative_labels", 0), labels=len(session.labels),
            history=history, loading=bool(session.reviewed) and state is None,
            drift=bool(report.get("drift", {}).get("warning")))
        self.meter.show(figures)

    def refresh_status(self) -> None:
        mode = MODES.get(self.page.mode, self.page.mode)
        arg = f": {one_line(self.page.arg, 30)}" if self.page.arg else ""
        text = Text()
        text.append(f" {mode}{arg} ", style="reverse")
        source, language, window = self.session.scope if self.session is not None else (None, None, None)
        if source is not None or language is not None or window is not None:
            shown = " ".join(v for v in (source, None if language is None else language or "no language",
                                         window) if v)
            text.append(f" only {one_line(shown, 30)} ", style="bold")
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
        rows = {r.mid: r for r in session.rows(self.page_mids, fetch=False)}
        cells: list[list[str | Text]] = []
        keys: list[str] = []
        low_confidence = self.page.mode == "low-confidence"
        label_width = max(12, table.size.width - 47)  # beside mark, date, subject, padding, scrollbar
        for mid in self.page_mids:
            row = rows.get(mid)
            if row is None:
                continue
            status = self.status_of(mid)
            if status == "new":
                mark = "r" if low_confidence and mid in session.random_picks else "·"
            else:
                mark = "✓" if status == "reviewed" else "~"
            assigned = session.labels_of(mid)
            signs = {1: "+", -1: "-"} if session.sentiment else {}  # as on the chips: -Service
            label_text = Text(", ".join(signs.get(v or 0, "") + self._short(n) for n, v in assigned.items()),
                              style="bold")
            if status == "reviewed" and not assigned:
                label_text = Text("no labels", style="dim")
            # a reviewed row shows its review alone: a prediction beside it read as a label
            likely = [] if status == "reviewed" else [
                p for p in session.predictions_of(mid)[:6]
                if p[1] >= 0.3 and p[0] not in assigned and p[0] not in session.implied_of(mid)]
            # a predicted parent says nothing its predicted child does not
            predicted = [p for p in likely if not any(is_below(o[0], p[0]) for o in likely)][:2]
            for name, prob, _ in predicted:
                label_text.append(f" ({self._short(name)} {prob * 100:.0f}%)", style="italic")
            label_text.truncate(label_width, overflow="ellipsis")
            cells.append([mark, f"{row.ts:%m-%d}", Text(one_line(row.subject or row.body, 28)), label_text])
            keys.append(str(mid))
        fill_table(table, MessageList.HEADERS, cells, keys)
        if cursor is not None and self.page_mids:
            table.move_cursor(row=min(cursor, len(self.page_mids) - 1))

    def status_of(self, mid: int) -> str:
        """"reviewed" (confirmed, or its write under way), "edited" (unconfirmed edits) or "new"."""
        assert self.session is not None
        if mid in self.pending or (mid in self.session.reviewed and not self.session.is_edited(mid)):
            return "reviewed"
        return "edited" if self.session.is_edited(mid) else "new"

    def empty_page(self) -> str:
        """Why a page shows no message, and where to go from it ("No message on this page."
        was all a fully reviewed import showed)."""
        session, page = self.session, self.page
        assert session is not None
        name = MODES.get(page.mode, page.mode)
        if page.number > 0:
            return f"No more messages in {name}: p goes back a page, m changes mode."
        if page.mode == "search":
            return f"Nothing found for {page.arg!r}: m, then Search, to try other words."
        if page.mode == "exceptions":
            return "No open exceptions: a stream's consumer reports them (cmtui stream exception)."
        if page.mode in ("check-label", "missed-label"):  # the modes that go over the reviews
            if not session.reviewed:
                return f"Nothing reviewed yet: {name} goes over the reviews (m: Shuffle or Discover to start)."
        else:
            left = ~session.reviewed_mask()
            if session.scope_mask is not None:
                left &= session.scope_mask
            if not left.any():
                where = " inside the filter (f shows every message)" if session.scope_mask is not None else ""
                return (f"Every message{where} is reviewed: Check label and Missed label (m) go over the "
                        "reviews, d imports more messages.")
        return f"No message in {name} now: m changes mode."

    def refresh_message(self) -> None:
        session = self.session
        if session is None:
            return
        view = self.query_one(MessageView)
        mid = self.current_mid()
        if mid is None:
            view.clear(self.empty_page())
            return
        rows = session.rows([mid], fetch=False)
        if not rows:
            return
        row = rows[0]
        thread = [r for r in session.thread(row.thread_id, fetch=False) if r.mid != mid] if row.thread_id else []
        status = self.status_of(mid)
        status = status.upper() if status != "new" else status
        if self.page.mode == "exceptions" and mid in session.exception_kinds:
            status += " · exception: " + ", ".join(one_line(k, 40) for k in session.exception_kinds[mid])
        narrow = self.query_one("#main").has_class("stacked")
        if mid != self._shown_mid:
            self.field_cursor = None
        spans, items = self.field_view(mid)  # type: ignore[attr-defined]
        searched = (self.page.arg or "").split() if self.page.mode == "search" else []
        view.show(row, self.chips(mid), thread, status, 2 if narrow else 4, same_message=mid == self._shown_mid,
                  spans=spans, items=items, current=self.field_cursor, searched=searched)
        self._shown_mid = mid

    def chips(self, mid: int) -> list[tuple[Text, bool]]:
        """One chip per key, in key order: ``3[x]Quote›Home 71%*``; after them, labels past
        key 9 or without a key that are assigned, implied or predicted at their threshold."""
        session = self.session
        assert session is not None
        assigned = session.labels_of(mid)
        implied = session.implied_of(mid)
        prob = {name: (p, ok) for name, p, ok in session.predictions_of(mid)}
        out: list[tuple[Text, bool]] = []
        for number, name in session.numbered():
            p, ok = prob.get(name, (None, False))
            keyed = number is not None and number <= 9
            if not keyed and name not in assigned and name not in implied and not ok:
                continue
            mark = "[x]" if name in assigned else "[^]" if name in implied else "[ ]"
            if name in assigned and session.sentiment:
                mark += "+" if assigned[name] == 1 else "-"
            chip = Text(f"{number}" if keyed else "")
            chip.append(mark + self._short(name), style="bold" if name in assigned else "")
            if p is not None and (p >= CHIP_PERCENT_FROM or ok):  # 1% and 3% on every chip cost a key's room
                chip.append(f" {p * 100:.0f}%{'*' if ok else ''}", style="dim")
            out.append((chip, name in assigned or name in implied))
        return out

    def _after_edit(self) -> None:
        self.refresh_list()
        self.refresh_message()
        self.keep_drafts_soon()
        if self.session is not None:
            self.meter.figures.reviewed = self.reviewed_count()
            self.meter.refresh_text()



class LabelActions(PageView):
    """The label picker and what it leads to: toggle, create, rename, merge, delete, describe."""

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

    def on_taxonomy_changed(self, message: TaxonomyChanged) -> None:
        assert self.session is not None
        self._names = short_names(self.session.labels)
        self.notify(message.text, timeout=4)
        self._after_edit()

    def action_flip_sentiment(self) -> None:
        mid = self.current_mid()
        if self.session is None or mid is None or not self.page_ready():
            return
        try:
            self.session.flip_sentiment(mid)
        except ValueError as exc:
            self.notify(str(exc), timeout=4)
            return
        self._after_edit()

    def action_pick_label(self) -> None:
        """The picker; on a page without messages for the taxonomy alone (create, rename,
        merge, delete, describe)."""
        mid = self.current_mid()
        if self.session is None or not self.page_ready():
            return
        self.clear_notifications()  # at 80x24 a notice covered the right half of the labels listed
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
        assert self.session is not None
        try:
            question = confirm_new_label(name, self.session.labels, "and assign it")
        except LabelNameError as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return
        self.push_screen(question, partial(self._if_yes, partial(self.change_taxonomy, "create", name)))

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

