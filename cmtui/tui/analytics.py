"""The Analytics screen: label volumes over time, sentiment and label pairs, drawn.

A table of every label (parents first, their children indented) with its predicted and
reviewed messages, sentiment shares and a trend line; beside it (below it when narrow)
the highlighted label's messages per period as a bar chart, and the pairs of labels most
often given together. The figures are counted in a worker (DuckDB), so keys never wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from ..session import Analytics, Filters, Session, parse_filters, period_name, sparkline
from ..taxonomy import LABEL_SEP
from ..textsafe import one_line
from ..workspace import StoreError
from .screens import AskScreen, ChoiceScreen
from .widgets import fill_table

STACK_BELOW = 100  # columns: narrower, the chart sits below the table
BUCKETS: list[str | None] = [None, "day", "week", "month"]  # None: chosen from the span
TREND_WIDTH = 16  # periods in the table's trend column


class AnalyticsActions:
    """The app's key to the Analytics screen, and its way back to a page of the newest
    messages when they look new."""

    session: Session | None

    def action_analytics(self) -> None:
        if self.session is not None:
            self.push_screen(AnalyticsScreen(self.session), self._analytics_done)  # type: ignore[attr-defined]

    def _analytics_done(self, result: tuple[str, str] | None) -> None:
        """``(mode, window)``: that mode's page, among the messages of the time window."""
        if result is not None and self.session is not None:
            source, language, _ = self.session.scope
            self.apply_filter((source, language, result[1]), result[0], None)  # type: ignore[attr-defined]


class AnalyticsScreen(ModalScreen[tuple[str, str] | None]):
    """Every label's volume over time; filters by source, time range and user property."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="analytics_close"),
        Binding("j", "cursor(1)", "Down", show=False, id="analytics_down", tooltip="Next label"),
        Binding("k", "cursor(-1)", "Up", show=False, id="analytics_up", tooltip="Previous label"),
        Binding("b", "bucket", "Period", id="analytics_bucket",
                tooltip="Count per day, week or month (auto: chosen from the span)"),
        Binding("s", "source", "Source", id="analytics_source", tooltip="Only one source's messages"),
        Binding("t", "time_range", "Time", id="analytics_time", tooltip="Only the messages of a time range"),
        Binding("w", "property", "Property", id="analytics_property",
                tooltip="Only the messages with a user property value"),
        Binding("x", "clear", "All", id="analytics_clear", tooltip="Every message again (no filter)"),
        Binding("d", "drift", "Drift", id="analytics_drift",
                tooltip="Do the messages of the time range (or of the latest import) look new to the model?"),
        Binding("r", "train_window", "Train on them", id="analytics_train",
                tooltip="A Low confidence page among the messages the drift figures are about"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.filters = Filters()
        self.bucket: str | None = None
        self.figures: Analytics | None = None
        self.choices: dict[str, list[tuple[str, int]]] | None = None
        self.drift_window: str | None = None  # the window the drift line is about

    def compose(self) -> ComposeResult:
        with Vertical(id="analytics") as box:
            box.border_title = "Analytics"
            yield Static(Text("counting…"), id="analytics-title")
            yield Static(id="analytics-drift")
            with Horizontal(id="analytics-panes"):
                yield DataTable(id="analytics-labels", cursor_type="row", zebra_stripes=False)
                with Vertical(id="analytics-side"):
                    yield Static(id="analytics-legend")
                    yield PlotextPlot(id="analytics-chart")
                    yield Static(id="analytics-pairs")
            yield Static("b period · s source · t time · w property · x all · d drift · esc close",
                         id="analytics-keys")

    def on_mount(self) -> None:
        self.query_one("#analytics-drift").display = False  # until d measures it
        self._stack()
        self.query_one(DataTable).focus()
        self.count()

    def on_resize(self) -> None:
        self._stack()
        if self.figures is not None:
            self.call_after_refresh(self._draw_side)
            self.call_after_refresh(self._keep_cursor_in_view)

    def _keep_cursor_in_view(self) -> None:
        """After a resize the highlighted label stays on screen (the table got shorter)."""
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row)

    def _stack(self) -> None:
        self.query_one("#analytics-panes").set_class(self.app.size.width < STACK_BELOW, "stacked")

    # ---- counting ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="analytics", exit_on_error=False)
    def count(self) -> None:
        try:
            figures = self.session.analytics(self.filters, self.bucket)
        except StoreError as exc:
            self.app.call_from_thread(self._title, str(exc))
            return
        self.app.call_from_thread(self.show, figures)

    def show(self, figures: Analytics) -> None:
        self.figures = figures
        total = sum(figures.messages)
        span = (f"{_name(figures, 0)}..{_name(figures, -1)} by {figures.bucket}"
                if figures.periods else "no messages")
        model = f"model v{figures.model_version}" if figures.model_version is not None else "no model yet: reviews only"
        self._title(f"{total:,} messages · {span} · {model} · {figures.filters.describe()}")
        table = self.query_one(DataTable)
        keep = table.cursor_row
        columns = ["label", "predicted", "reviewed"]
        if figures.has_sentiment:
            columns.append("+/-")
        columns.append(f"per {figures.bucket}")
        origin = self._origin()
        rows: list[list[Text]] = []
        for name in figures.labels:
            depth = name.count(LABEL_SEP)
            row = [Text("  " * depth + one_line(name.split(LABEL_SEP)[-1], 28)),
                   Text(f"{figures.total('predicted', name):,}", justify="right"),
                   Text(f"{figures.total('reviewed', name):,}", justify="right")]
            if figures.has_sentiment:
                pos, neg = figures.sentiment.get(origin, {}).get(name, (0, 0))
                row.append(Text(f"{pos / (pos + neg):.0%}/{neg / (pos + neg):.0%}" if pos + neg else "-"))
            row.append(Text(sparkline(figures.series(origin, name)[-TREND_WIDTH:])))
            rows.append(row)
        fill_table(table, columns, rows, figures.labels)
        if figures.labels:
            table.move_cursor(row=min(keep, len(figures.labels) - 1))
        self._draw_side()

    def _origin(self) -> str:
        return "predicted" if self.figures is not None and self.figures.model_version is not None else "reviewed"

    def _title(self, text: str) -> None:
        self.query_one("#analytics-title", Static).update(Text(one_line(text, 300)))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._draw_side()

    def _label(self) -> str | None:
        table = self.query_one(DataTable)
        if self.figures is None or not self.figures.labels or table.cursor_row >= len(self.figures.labels):
            return None
        return self.figures.labels[table.cursor_row]

    def _draw_side(self) -> None:
        """The highlighted label's messages per period (bars: predicted, line: reviewed),
        or every message's when no label is there; and the top label pairs."""
        figures = self.figures
        if figures is None:
            return
        label = self._label()
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        xs: list[float] = list(range(len(figures.periods)))
        # the key is a line above the chart: a legend would cover the bars of a short one
        legend = Text()
        if label is None:
            plt.bar(xs, figures.messages)
            legend.append(f"█ messages per {figures.bucket}")
            top = max(figures.messages, default=0)
        else:
            predicted, reviewed = figures.series("predicted", label), figures.series("reviewed", label)
            if figures.model_version is not None:
                plt.bar(xs, predicted)
            plt.plot(xs, reviewed, marker="•")
            legend.append(one_line(label, 60), style="bold")
            legend.append(f"  {'█ predicted  ' if figures.model_version is not None else ''}• reviewed")
            top = max([*predicted, *reviewed, 0])
        self.query_one("#analytics-legend", Static).update(legend)
        top = max(1, top)
        plt.ylim(0, top)
        plt.yticks(sorted({0, top // 2, top}))  # whole messages, not 1.33
        # a tick every 12 columns or so, from the screen's width (the chart's own may not
        # be laid out yet when the figures arrive)
        width = self.app.size.width if self.app.size.width < STACK_BELOW else self.app.size.width * 2 // 5
        step = max(1, len(xs) // max(1, width // 12))
        plt.xticks(xs[::step], [_name(figures, int(i))[-5:] for i in xs[::step]])
        plot.refresh()
        self._draw_pairs(self._origin(), figures.pairs.get(self._origin(), []))

    def _draw_pairs(self, origin: str, pairs: list[tuple[str, str, int]]) -> None:
        """The top pairs of labels: one line each when wide, run together when stacked."""
        text = Text(f"Together ({origin}):", style="bold", no_wrap=True, overflow="ellipsis")
        if not pairs:
            text.append(" no pairs yet", style="")
        elif self.app.size.width < STACK_BELOW:
            text.append(" " + " · ".join(f"{one_line(a, 30)} + {one_line(b, 30)} ({n:,})" for a, b, n in pairs[:2]),
                        style="")
        else:
            for a, b, n in pairs[:6]:
                text.append(f"\n{n:>7,}  {one_line(a, 40)} + {one_line(b, 40)}", style="")
        self.query_one("#analytics-pairs", Static).update(text)

    # ---- filters ----------------------------------------------------------------------
    def _refilter(self, filters: Filters) -> None:
        self.filters = filters
        self._title("counting…")
        self.count()

    def action_bucket(self) -> None:
        self.bucket = BUCKETS[(BUCKETS.index(self.bucket) + 1) % len(BUCKETS)]
        self.count()

    def action_clear(self) -> None:
        self._refilter(Filters())

    def action_source(self) -> None:
        self._with_choices(lambda c: self.app.push_screen(ChoiceScreen(
            "Count the messages of (enter to choose)",
            [("*", "every source"), *((name, f"{one_line(name, 40)}  ({n:,})") for name, n in c["source"])]),
            self._source_chosen))

    def _source_chosen(self, choice: str | None) -> None:
        if choice is not None:
            f = self.filters
            self._refilter(Filters(None if choice == "*" else choice, f.since, f.until, f.prop))

    def action_property(self) -> None:
        self._with_choices(lambda c: self.app.push_screen(ChoiceScreen(
            "Count the messages with (enter to choose)",
            [("*", "any properties"), *((kv, f"{one_line(kv, 50)}  ({n:,} in a sample)") for kv, n in c["property"])]),
            self._property_chosen))

    def _property_chosen(self, choice: str | None) -> None:
        if choice is not None:
            f = self.filters
            key, _, value = choice.partition("=")
            self._refilter(Filters(f.source, f.since, f.until, None if choice == "*" else (key, value)))

    def action_time_range(self) -> None:
        f = self.filters
        now = f"{f.since.date().isoformat() if f.since else ''}..{f.until.date().isoformat() if f.until else ''}"
        self.app.push_screen(AskScreen("Time range FROM..TO (dates, TO excluded; either may be empty)",
                                       "" if now == ".." else now), self._time_chosen)

    def _time_chosen(self, text: str | None) -> None:
        if text is None:
            return
        since, _, until = text.partition("..")
        try:
            picked = parse_filters(since=since.strip() or None, until=until.strip() or None)
        except StoreError as exc:
            self.notify(str(exc), severity="error")
            return
        f = self.filters
        self._refilter(Filters(f.source, picked.since, picked.until, f.prop))

    @work(thread=True, exclusive=True, group="analytics-choices", exit_on_error=False)
    def _with_choices(self, then: Callable[[dict[str, list[tuple[str, int]]]], object]) -> None:
        """``then`` the sources and user property values to choose from (read once)."""
        if self.choices is None:
            self.choices = self.session.analytics_choices()
        self.app.call_from_thread(then, self.choices)

    # ---- drift ------------------------------------------------------------------------
    def action_drift(self) -> None:
        f = self.filters
        window = None
        if f.since is not None or f.until is not None:
            window = f"{_time_text(f.since)}..{_time_text(f.until)}"
        line = self.query_one("#analytics-drift", Static)
        line.display = True
        line.update(Text("Drift: measuring…"))
        self._measure_drift(window)

    @work(thread=True, exclusive=True, group="analytics-drift", exit_on_error=False)
    def _measure_drift(self, window: str | None) -> None:
        try:
            found = self.session.drift_of(window)
        except StoreError as exc:
            found = {"window": window, "warning": False, "why": str(exc)}
        self.app.call_from_thread(self._show_drift, found)

    def _show_drift(self, found: dict[str, object]) -> None:
        self.drift_window = str(found["window"])
        text = Text("Drift: ", style="bold")
        if "coverage_new" not in found:
            text.append(f"not measured ({found.get('why', '')})")
        else:
            auc = "-" if found.get("auc") is None else f"{found['auc']:.2f}"
            text.append(f"{found['new']:,} messages of the {found['window']}: {found['coverage_new']:.0%} covered "
                        f"against {found['coverage_rest']:.0%} before, told apart at AUC {auc}. ")
            shares = cast(list[dict[str, Any]], found.get("shares") or [])[:3]
            if shares:
                text.append("Most changed: " + ", ".join(
                    f"{one_line(s['label'], 30)} {s['new']:.0%} (was {s['before']:.0%})" for s in shares) + ". ")
            if found["warning"]:
                text.append("They look new: r trains on them (Low confidence among them)", style="bold")
            else:
                text.append("No drift seen.")
        self.query_one("#analytics-drift", Static).update(text)

    def action_train_window(self) -> None:
        if self.drift_window is not None:
            self.dismiss(("low-confidence", self.drift_window))

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_close(self) -> None:
        self.dismiss(None)


def _time_text(moment: datetime | None) -> str:
    """A time as typed back: the date alone at midnight."""
    if moment is None:
        return ""
    return moment.date().isoformat() if moment.time() == time() else moment.isoformat()


def _name(figures: Analytics, i: int) -> str:
    return period_name(figures.periods[i], figures.bucket)
