"""The Discover screen: clusters of unreviewed messages, labelled a cluster at a time."""

from __future__ import annotations

import re
from contextlib import suppress
from functools import partial

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..queues import NEEDS_CLUSTER
from ..session import Cluster, Clusters, Session
from ..textsafe import one_line
from ..workspace import LabelNameError, StoreError
from .screens import LabelPickerScreen, confirm_new_label

TERM_STYLE = "bold underline"  # readable without colour too
STACK_BELOW = 100  # columns: narrower, the clusters sit above their messages


def highlighted(text: str, terms: list[str], width: int) -> Text:
    """``text`` on one line (made inert) with the cluster's terms in bold underline."""
    line = Text(one_line(text, width))
    for term in terms:
        pattern = re.escape(term) if not term.isalnum() or not term.isascii() else rf"\b{re.escape(term)}\b"
        line.highlight_regex(re.compile(pattern, re.IGNORECASE), TERM_STYLE)
    return line


def _fit(line: Text, widget: OptionList) -> Text:
    """``line`` cut to one row of ``widget`` (an option list wraps what is longer)."""
    width = widget.scrollable_content_region.width - 2 or widget.app.size.width // 2
    line.truncate(max(10, width), overflow="ellipsis")
    return line


class DiscoverScreen(ModalScreen[tuple[str, int] | None]):
    """Clusters on the left, the highlighted cluster's messages on the right. Every
    message starts selected; x deselects what does not fit, l gives the selected ones a
    label (the picker, with create), o opens them as a page, s submits it.

    A clustering made in the background while a cluster is being worked on (selected,
    labelled) does not replace what is shown: the title says it is ready, r shows it."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="discover_close"),
        Binding("x", "toggle_selected", "Select", id="discover_select", tooltip="Select or deselect the message"),
        Binding("A", "select_all", "All/none", id="discover_all", tooltip="Select every message, or none"),
        Binding("l", "label", "Label", id="discover_label", tooltip="Give the selected messages a label"),
        Binding("u", "undo", "Undo", id="discover_undo", tooltip="Take back the latest label given here"),
        Binding("o", "open_page", "Open page", id="discover_open",
                tooltip="Open the cluster as a page: confirm and submit as on any page"),
        Binding("s", "submit", "Submit", id="discover_submit", tooltip="Open the cluster's page and submit it"),
        Binding("r", "refresh", "Re-cluster", id="discover_refresh",
                tooltip="Cluster again what is not reviewed (or not covered) yet"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.selected: dict[int, bool] = {}
        self.cluster: Cluster | None = None
        self.shown: Clusters | None = None  # the clustering on screen
        self.touched = False  # the shown cluster's selection or labels were changed here
        self.heading = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="discover"):
            yield Static(id="discover-title")
            with Horizontal(id="discover-panes"):
                yield OptionList(id="discover-clusters")
                yield OptionList(id="discover-messages")
            yield Static("x select · A all/none · l label · u undo · o open as page · s submit · r re-cluster · esc close",
                         id="discover-keys")

    def on_mount(self) -> None:
        current = self.session.clusters()
        if current is None:
            self.action_refresh()
        else:
            self.fill(current)
            if self.session.discover_due():
                self.action_refresh()

    def on_resize(self) -> None:
        self.query_one("#discover-panes").set_class(self.app.size.width < STACK_BELOW, "stacked")
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        """Lines cut to the new width; the cluster, its selection and the focus stay."""
        if self.shown is not None:
            self.fill(self.shown, self.cluster.id if self.cluster is not None else None, focus=False)

    # ---- the lists ------------------------------------------------------------------------
    def fill(self, current: Clusters | None, keep: int | None = None, focus: bool = True) -> None:
        """The cluster list of the clustering ``current``; cluster ``keep`` stays
        highlighted (with its selection)."""
        self.shown = current
        options = self.query_one("#discover-clusters", OptionList)
        options.clear_options()
        if current is None:
            self._title("Discover: no clusters yet (r clusters the messages)")
            return
        shown = current.open()
        what = "not covered by a label" if current.uncovered else "unreviewed"
        self.heading = f"Discover: {len(shown)} clusters of {current.candidates} messages {what}"
        self._title(self.heading)
        for cluster in shown:
            line = Text(f"{cluster.size:>6} ", style="dim")
            line.append(one_line(", ".join(cluster.terms), 100), style=TERM_STYLE)
            options.add_option(Option(_fit(line, options), id=str(cluster.id)))
        if shown:
            index = next((i for i, c in enumerate(shown) if c.id == keep and c is self.cluster), 0)
            options.highlighted = index
            if shown[index] is self.cluster:
                self.refresh_messages()
            else:
                self.show_cluster(shown[index])
        else:
            self.query_one("#discover-messages", OptionList).clear_options()
        if focus:
            options.focus()

    def clustering(self, fraction: float | None) -> None:
        """The app's clustering worker: its progress, then (``None``) its clusters, shown
        unless the cluster on screen is being worked on."""
        if fraction is not None:
            self._title(f"Discover: clustering the messages… {fraction:.0%}")
        elif self.touched and self.cluster is not None and self.session.clusters() is not self.shown:
            self._title(f"{self.heading} · new clusters ready: r shows them")
        else:
            self.fill(self.session.clusters(), self.cluster.id if self.cluster is not None else None,
                      focus=False)

    def _title(self, text: str) -> None:
        self.query_one("#discover-title", Static).update(Text(text))

    @on(OptionList.OptionHighlighted, "#discover-clusters")
    def _cluster_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        cluster = self.session.discoverer.cluster(int(event.option.id or 0))
        if cluster is not None and cluster is not self.cluster:
            self.show_cluster(cluster)

    @on(OptionList.OptionSelected, "#discover-clusters")
    def _cluster_chosen(self) -> None:
        self.query_one("#discover-messages", OptionList).focus()

    @on(OptionList.OptionSelected, "#discover-messages")
    def _message_chosen(self) -> None:
        self.action_toggle_selected()

    def show_cluster(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.selected = {m: True for m in cluster.rows}
        self.touched = False
        self._load_rows(cluster)

    @work(thread=True, exclusive=True, group="discover-rows")
    def _load_rows(self, cluster: Cluster) -> None:
        self.session.rows(cluster.rows)  # from the database, off the main thread
        self.app.call_from_thread(self.refresh_messages)

    def refresh_messages(self) -> None:
        cluster = self.cluster
        messages = self.query_one("#discover-messages", OptionList)
        keep = messages.highlighted
        messages.clear_options()
        if cluster is None:
            return
        rows = {r.mid: r for r in self.session.rows(cluster.rows, fetch=False)}
        for mid, copies in zip(cluster.rows, cluster.copies, strict=True):
            row = rows.get(mid)
            if row is None:
                continue
            line = Text("[x] " if self.selected.get(mid) else "[ ] ")
            labels = self.session.labels_of(mid)
            line.append_text(highlighted(row.subject or "(no subject)", cluster.terms, 60))
            if copies > 1:
                line.append(f"  x{copies}", style="dim")
            if labels:
                line.append("  " + ", ".join(one_line(n, 40) for n in labels), style="italic")
            body = Text("    ")
            body.append_text(highlighted(row.body, cluster.terms, 300))
            messages.add_option(Option(Text("\n").join([_fit(line, messages), _fit(body, messages)]), id=str(mid)))
        if messages.option_count:
            messages.highlighted = min(keep or 0, messages.option_count - 1)

    def showing_messages(self) -> bool:
        """Whether a cluster's messages are on screen (what the bench waits for)."""
        return bool(self.query_one("#discover-messages", OptionList).option_count)

    def _highlighted_mid(self) -> int | None:
        messages = self.query_one("#discover-messages", OptionList)
        if messages.highlighted is None or not messages.option_count:
            return None
        return int(messages.get_option_at_index(messages.highlighted).id or 0)

    # ---- selecting and labelling --------------------------------------------------------
    def action_toggle_selected(self) -> None:
        mid = self._highlighted_mid()
        if mid is None:
            return
        self.selected[mid] = not self.selected.get(mid)
        self.touched = True
        self.refresh_messages()
        messages = self.query_one("#discover-messages", OptionList)
        if messages.highlighted is not None and messages.highlighted < messages.option_count - 1:
            messages.highlighted += 1

    def action_select_all(self) -> None:
        every = not all(self.selected.values())
        self.selected = dict.fromkeys(self.selected, every)
        self.touched = True
        self.refresh_messages()

    def chosen(self) -> list[int]:
        return [m for m, on_ in self.selected.items() if on_]

    def action_label(self) -> None:
        if not self.chosen():
            self.notify("Select some messages first (x)", timeout=3)
            return
        self.touched = True  # the clusters stay while the picker is open: its label goes to these
        self.app.push_screen(LabelPickerScreen(self.session, None), self._picked)

    def _picked(self, result: tuple[str, str] | None) -> None:
        if result is None:
            return
        action, name = result
        if action == "create":
            try:
                question = confirm_new_label(name, self.session.labels, "and give it to the selected messages")
            except LabelNameError as exc:
                self.notify(str(exc), severity="error", timeout=6)
                return
            self.app.push_screen(question, partial(self._create, name))
        elif action in ("toggle", "choose", "positive", "negative"):
            self.apply(name, {"positive": 1, "negative": -1}.get(action))
        else:
            self.notify("Rename, merge and delete labels from the main screen (l)", timeout=4)

    def _create(self, name: str, answer: str | None) -> None:
        if answer:
            self._create_label(name)

    @work(thread=True, group="discover-create")
    def _create_label(self, name: str) -> None:
        try:
            created = self.session.add_label(name)
        except (LabelNameError, StoreError, ValueError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=6)
            return
        self.app.call_from_thread(self.apply, created, None)

    def apply(self, name: str, sentiment: int | None) -> None:
        """Give ``name`` to every selected message that lacks it (drafts, as on a page; one
        step for u)."""
        given, refused = self.session.give(self.chosen(), name, sentiment)
        for reason in dict.fromkeys(refused):
            self.notify(reason, timeout=4)
        self.refresh_messages()
        self.app.keep_drafts_soon()  # type: ignore[attr-defined]
        self.notify(f"{name} on {len(given)} messages: o opens them as a page, s submits, u takes it back",
                    timeout=4)

    def action_undo(self) -> None:
        """Take back the latest label given here (or any draft edit since the last step
        written, which u on the page undoes: taken here, undo would skip past it)."""
        undone = self.session.undo_edit() if self.session.latest_is_edit() else None
        if undone is None:
            self.notify("Nothing to take back here: u on the page undoes a submit", timeout=4)
            return
        self.refresh_messages()
        self.app.keep_drafts_soon()  # type: ignore[attr-defined]
        self.notify(f"Took back the latest edit, on {len(undone)} messages", timeout=3)

    # ---- leaving --------------------------------------------------------------------------
    def action_open_page(self) -> None:
        if self.cluster is not None:
            self.dismiss(("open", self.cluster.id))

    def action_submit(self) -> None:
        if self.cluster is not None:
            self.dismiss(("submit", self.cluster.id))

    def action_refresh(self) -> None:
        """The clustering made while this screen showed another; else cluster again,
        through the app's clustering worker, the one the background re-clustering uses:
        two at once would both write the clusters."""
        made = self.session.clusters()
        if made is not None and made is not self.shown:
            self.fill(made)
            return
        self.clustering(0.0)
        self.app.refresh_clusters()  # type: ignore[attr-defined]

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DiscoverActions:
    """The app's side of Discover: open the screen, then its cluster as a page."""

    session: Session | None
    _default_low_confidence: bool
    _submit_after_load = False  # Discover's s: submit the cluster's page once it is shown

    def offer_discover(self, fresh: bool) -> None:
        if fresh and self.session is not None and not self.session.reviewed:
            self.notify("Nothing reviewed yet: c opens Discover, clusters of similar messages to label "  # type: ignore[attr-defined]
                        "a group at a time", timeout=10)
        self.prefetch_clusters()

    @work(thread=True, exclusive=True, group="discover-texts", exit_on_error=False)
    def prefetch_clusters(self) -> None:
        """The shown messages of every open cluster, read before Discover is opened: at 1M
        messages, reading a cluster's when it was shown put opening at 0.43-0.51 s."""
        session = self.session
        current = session.clusters() if session is not None else None
        if session is None or current is None:
            return
        with suppress(StoreError):  # read again when a cluster is shown, where a failure is reported
            session.rows(current.shown_mids())

    def _discover_screen(self) -> DiscoverScreen | None:
        """The open Discover screen, also under the picker or a question it opened."""
        stack = self.screen_stack  # type: ignore[attr-defined]
        return next((s for s in reversed(stack) if isinstance(s, DiscoverScreen)), None)

    def discover_progress(self, fraction: float) -> None:
        """The clustering worker's progress, on an open Discover screen."""
        if (screen := self._discover_screen()) is not None:
            screen.clustering(fraction)

    def clusters_made(self, made: Clusters | None) -> None:
        """The clustering worker is done (``None``: it failed, and said so): an open
        Discover screen shows the clusters; elsewhere a notice says they are ready."""
        if (screen := self._discover_screen()) is not None:
            screen.clustering(None)
        elif made is not None:
            what = "no label covers yet" if made.uncovered else "unreviewed"
            self.notify(f"Discover: {len(made.open())} new clusters of the messages {what} (c)",  # type: ignore[attr-defined]
                        timeout=6)

    def submit_if_asked(self) -> None:
        if self._submit_after_load:
            self._submit_after_load = False
            self.action_submit()  # type: ignore[attr-defined]

    def recluster_if_due(self, final: bool) -> None:
        """After a validation: Discover moves on to what the model does not cover yet."""
        if final and self.session is not None and self.session.clusters() is not None \
                and self.session.discover_due():
            self.refresh_clusters()  # type: ignore[attr-defined]

    def discover_instead(self, mode: str, arg: str | None) -> bool:
        """Discover's mode needs a cluster: without one, the Discover screen opens."""
        if mode in NEEDS_CLUSTER and not arg:
            self.action_discover()
            return True
        return False

    def action_discover(self) -> None:
        if self.session is not None:
            self.push_screen(DiscoverScreen(self.session), self._discover_done)  # type: ignore[attr-defined]

    def _discover_done(self, result: tuple[str, int] | None) -> None:
        if result is None:
            return
        action, cluster = result
        self._default_low_confidence = False
        self.load_page("discover", str(cluster), 0)  # type: ignore[attr-defined]
        self._submit_after_load = action == "submit"
