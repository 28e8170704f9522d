"""The main screen's widgets: message list, message view and coverage meter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from ..textsafe import inert, one_line

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    return "".join(SPARK[min(7, int(v * 8))] for v in values)


def bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "░" * (width - filled)


def signed(change: float) -> str:
    """A change in percentage points: ``+1.2``, ``-0.4``, and ``±0.0`` for what rounds to none."""
    points = round(change * 100, 1)
    return "±0.0" if points == 0 else f"{points:+.1f}"


def pack(chips: list[Text], width: int, max_lines: int) -> tuple[Text, int]:
    """Lay chips out in lines of ``width`` without breaking one; returns the text and how
    many chips did not fit in ``max_lines``."""
    lines: list[Text] = [Text()]
    shown = 0
    for chip in chips:
        if chip.cell_len > width:
            chip = chip[: max(1, width - 1)] + Text("…")
        line = lines[-1]
        gap = 1 if line.cell_len else 0
        if line.cell_len + gap + chip.cell_len > width:
            if len(lines) == max_lines:
                break
            lines.append(Text())
            line, gap = lines[-1], 0
        if gap:
            line.append(" ")
        line.append_text(chip)
        shown += 1
    return Text("\n").join(lines), len(chips) - shown


class CursorTable(DataTable[Any]):
    """A row table where home/end move the cursor to the first/last row."""

    BINDINGS = [
        Binding("home", "first_row", "First", show=False),
        Binding("end", "last_row", "Last", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class MessageList(CursorTable, inherit_bindings=False):
    """The page. Enter is not the table's: it confirms the message (the app's binding)."""

    BINDINGS = [
        Binding("up", "cursor_up", show=False),
        Binding("down", "cursor_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("pagedown", "page_down", show=False),
        *CursorTable.BINDINGS,
    ]


@dataclass
class MeterFigures:
    coverage: float | None = None  # None: no model yet
    change: float | None = None
    rating: float | None = None
    band: str = ""
    reviewed: int = 0
    informative: int = 0
    labels: int = 0
    history: tuple[float, ...] = ()
    loading: bool = False


class CoverageMeter(Static):
    """Coverage bar and percent, change since the last model, rating, counts, history.

    Every part has a short form; the line keeps what fits the width, most important first.
    """

    training: reactive[bool] = reactive(False)
    spinner_frame: reactive[int] = reactive(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.figures = MeterFigures()
        self.progress = 0.0
        self.phase = ""

    def on_mount(self) -> None:
        self.set_interval(0.2, self._tick)

    def _tick(self) -> None:
        if self.training:
            self.spinner_frame += 1

    def show(self, figures: MeterFigures) -> None:
        self.figures = figures
        self.refresh_text()

    def watch_training(self) -> None:
        self.refresh_text()

    def watch_spinner_frame(self) -> None:
        self.refresh_text()

    def on_resize(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        self.update(self.line(self.size.width or 80))

    def line(self, width: int) -> Text:
        f = self.figures
        wide = width >= 110
        parts: list[Text] = []
        head = Text("Coverage " if wide else "Cov ", style="bold")
        if f.coverage is None:
            head.append("-  " + ("loading the model" if f.loading else "no model yet: label and submit a page"))
        else:
            head.append(bar(f.coverage, 16 if wide else 8))
            head.append(f" {f.coverage * 100:.1f}%")
            if f.change is not None:
                head.append(f" ({signed(f.change)})")
        parts.append(head)
        if f.rating is not None:
            parts.append(Text(f"{f.band} {f.rating:.0f}" if not wide else f"Rating {f.band} ({f.rating:.0f})"))
        parts.append(Text(f"{f.reviewed} reviewed"))
        if f.coverage is not None:
            parts.append(Text(f"{f.informative}/{f.labels} informative" if wide else f"{f.informative}/{f.labels} inf"))
        if self.training:
            frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
            parts.append(Text(f"{frames[self.spinner_frame % len(frames)]} {self.phase or 'retraining'} "
                              f"{self.progress:.0%}", style="bold"))
        text = Text(" · ").join(parts)
        room = width - text.cell_len - 3
        if f.history and room >= 4:
            text.append(" · " + sparkline(list(f.history)[-min(room, 30):]))
        text.truncate(width, overflow="ellipsis")
        return text


class MessageView(Vertical):
    """The highlighted message: a fixed one-line header and label line, and the body,
    which scrolls on its own (J/K). Its text is always inert."""

    def compose(self) -> ComposeResult:
        yield Static(id="message-head")
        yield Static(id="message-labels")
        with VerticalScroll(id="message-scroll"):
            yield Static(id="message-body")

    def clear(self, note: str) -> None:
        self.query_one("#message-head", Static).update(Text(note))
        self.query_one("#message-labels", Static).update("")
        self.query_one("#message-body", Static).update("")

    def scroll_body(self, lines: int) -> None:
        self.query_one("#message-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def show(self, row: Any, chips: list[Text], thread: list[Any], status: str, max_label_lines: int,
             same_message: bool) -> None:
        head = Text()
        head.append(status + " ", style="bold reverse")
        head.append(" " + (one_line(row.subject) or "(no subject)"), style="bold")
        head.append(f"  {row.ts:%Y-%m-%d %H:%M}  {one_line(row.sender, 60)}")
        head.truncate(max(10, self.size.width), overflow="ellipsis")
        self.query_one("#message-head", Static).update(head)
        width = max(20, self.size.width - 2)
        packed, hidden = pack(chips, width, max_label_lines)
        if hidden:
            packed.append(f" +{hidden}: l")
        self.query_one("#message-labels", Static).update(packed)
        details = [f"to {one_line(row.recipients)}"] if row.recipients else []
        if row.cc:
            details.append(f"cc {one_line(row.cc)}")
        details.append(f"id {one_line(row.id)}")
        if row.thread_id:
            details.append(f"thread {one_line(row.thread_id)}")
        if row.properties:
            details.append(one_line(row.properties, 200))
        body = Text("  ".join(details) + "\n\n", style="dim")
        body.append(inert(row.body))
        for other in thread[:5]:
            body.append(f"\n\n── in thread: {one_line(other.subject, 80)} ({other.ts:%Y-%m-%d}) ──\n", style="dim")
            body.append(inert(other.body)[:2000], style="dim")
        self.query_one("#message-body", Static).update(body)
        if not same_message:
            self.query_one("#message-scroll", VerticalScroll).scroll_home(animate=False)
