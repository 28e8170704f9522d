"""The main screen's widgets: message list, message view and coverage meter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
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


def _lines(chips: list[Text], width: int) -> list[Text]:
    lines: list[Text] = [Text()]
    for chip in chips:
        if chip.cell_len > width:
            chip = chip[: max(1, width - 1)] + Text("…")
        gap = 1 if lines[-1].cell_len else 0
        if lines[-1].cell_len + gap + chip.cell_len > width:
            lines.append(Text())
            gap = 0
        if gap:
            lines[-1].append(" ")
        lines[-1].append_text(chip)
    return lines


def pack(chips: list[tuple[Text, bool]], width: int, max_lines: int) -> tuple[Text, int]:
    """Lay chips out in lines of ``width`` without breaking one, in their order. Chips
    flagged True (assigned labels) are always shown; the others while ``max_lines``
    allows. Returns the text and how many chips were left out."""
    chosen = [i for i, (_, keep) in enumerate(chips) if keep]
    hint = Text(f"+{len(chips)}: l")  # room for saying how many are left out
    for i, (_, keep) in enumerate(chips):
        if not keep:
            trial = sorted([*chosen, i])
            tail = [hint] if len(trial) < len(chips) else []
            if len(_lines([chips[j][0] for j in trial] + tail, width)) > max_lines:
                break  # numbers stay contiguous: no 7 shown after a 6 left out
            chosen = trial
    hidden = len(chips) - len(chosen)
    tail = [Text(f"+{hidden}: l", style="dim")] if hidden else []
    return Text("\n").join(_lines([chips[j][0] for j in chosen] + tail, width)), hidden


def fill_table(table: DataTable[Any], headers: Sequence[str], rows: Sequence[Sequence[str | Text]],
               keys: Sequence[str]) -> None:
    """Replace ``table``'s columns and rows. Each column is given the width of its widest
    cell or header: DataTable measures only when its queue is idle, and rows it drew
    before then stayed cut at the header's width ('Hom' for 'Home', on a loaded machine)."""
    table.clear(columns=True)
    for j, header in enumerate(headers):
        table.add_column(header, width=max([cell_len(header), *(_cell_width(row[j]) for row in rows)]))
    for row, key in zip(rows, keys, strict=True):
        table.add_row(*row, key=key)


def _cell_width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


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

    HEADERS = ("✓", "date", "subject", "labels")  # the sender is in the message view

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
    expected: float | None = None  # the expected coverage, from calibrated probabilities (no thresholds)
    rating: float | None = None
    band: str = ""
    reviewed: int = 0
    informative: int = 0
    labels: int = 0
    history: tuple[float, ...] = ()
    loading: bool = False
    drift: bool = False  # the newest messages look new (cmtui.drift): train on them


class CoverageMeter(Static):
    """Coverage bar and percent, change since the last model, rating, counts, history.

    Every part has a short form; the line keeps what fits the width, most important first.
    """

    training: reactive[bool] = reactive(False)
    spinner_frame: reactive[int] = reactive(0)
    progress: reactive[float] = reactive(0.0)  # of the retrain under way, 0..1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.figures = MeterFigures()
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

    def watch_progress(self) -> None:
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
            hint = "no model yet: label and submit a page"
            if not f.reviewed:  # where a new mailbox starts
                hint = "no model yet: c Discover, or label and submit a page"
            head.append("-  " + ("loading the model" if f.loading else hint))
        else:
            head.append(bar(f.coverage, 16 if wide else 8))
            head.append(f" {f.coverage * 100:.1f}%")
            if f.change is not None:
                head.append(f" ({signed(f.change)})")
        parts.append(head)
        if f.coverage is not None and f.expected is not None and f.informative:
            parts.append(Text(f"expected {f.expected * 100:.1f}%" if wide else f"exp {f.expected * 100:.0f}%"))
        if f.drift:  # right after coverage: it says the figure may not hold for the newest mail
            parts.append(Text("drift (v)" if not wide else "Drift: the newest messages look new (v)",
                              style="bold reverse"))
        if f.rating is not None:
            parts.append(Text(f"{f.band} {f.rating:.0f}" if not wide else f"Rating {f.band} ({f.rating:.0f})"))
        parts.append(Text(f"{f.reviewed} reviewed"))
        if f.coverage is not None and (wide or not self.training):  # narrow: the spinner needs the room
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


FIELD_STYLE = "bold underline"  # a field's candidate in the body: underlined, so NO_COLOR shows it too
CURRENT_FIELD_STYLE = "bold underline reverse"  # the one [ and ] are on
VERDICT_MARKS = {"yes": "✓", "no": "✗", None: "·"}
SEARCHED_STYLE = "reverse"  # the words a Search page was asked for, wherever they occur


def with_fields(body: str, spans: Sequence[Any], current: Any = None) -> Text:
    """``body`` made inert a piece at a time, each field's candidate underlined and
    bracketed (``⟦18 March⟧``): positions count in the raw text, and making a piece inert
    can change its length, so pieces are cut before."""
    text = Text()
    at = 0
    for span in sorted(spans, key=lambda s: s.start):
        start, end = span.start - span.offset, span.end - span.offset
        if start < at or end > len(body):
            continue
        text.append(inert(body[at:start]))
        text.append("⟦")
        text.append(inert(body[start:end]), style=CURRENT_FIELD_STYLE if span is current else FIELD_STYLE)
        text.append("⟧")
        at = end
    text.append(inert(body[at:]))
    return text


def fields_line(items: Sequence[tuple[Any, str, str | None]], current: int | None = None) -> Text:
    """Each field of the message with its value and verdict (✓ is, ✗ is not, · not
    reviewed), the one ``[``/``]`` are on in reverse: ``✓ date 2024-03-18 · ...``."""
    line = Text()
    for n, (span, field, verdict) in enumerate(items):
        if n:
            line.append("  ")
        piece = Text(f"{VERDICT_MARKS[verdict]} ")
        piece.append(one_line(field, 40), style="italic")
        piece.append(" " + one_line(span.value, 60))
        if n == current:
            piece.stylize("reverse")
        line.append_text(piece)
    return line


class MessageView(Vertical):
    """The highlighted message: a fixed one-line header and label line, and the body,
    which scrolls on its own (J/K). Its text is always inert."""

    def compose(self) -> ComposeResult:
        yield Static(id="message-head")
        yield Static(id="message-labels")
        yield Static(id="message-fields")
        with VerticalScroll(id="message-scroll"):
            yield Static(id="message-body")

    _shown: tuple[Any, list[tuple[Text, bool]], str, int] | None = None

    def clear(self, note: str) -> None:
        """No message: ``note`` says why, wrapped in the body (the head is one line)."""
        self._shown = None
        self.query_one("#message-head", Static).update("")
        self.query_one("#message-labels", Static).update("")
        self.query_one("#message-fields", Static).update("")
        self.query_one("#message-body", Static).update(Text(note))

    def scroll_body(self, lines: int) -> None:
        self.query_one("#message-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def show(self, row: Any, chips: list[tuple[Text, bool]], thread: list[Any], status: str, max_label_lines: int,
             same_message: bool, spans: Sequence[Any] = (), items: Sequence[tuple[Any, str, str | None]] = (),
             current: int | None = None, searched: Sequence[str] = ()) -> None:
        """``searched``: the words of a Search page, shown in reverse wherever they occur."""
        self._shown = (row, chips, status, max_label_lines)
        self._lay_out_head()
        details = [f"to {one_line(row.recipients)}"] if row.recipients else []
        if row.cc:
            details.append(f"cc {one_line(row.cc)}")
        details.append(f"id {one_line(row.id)}")
        if getattr(row, "source", ""):
            details.append(f"source {one_line(row.source, 40)}")
        if row.thread_id:
            details.append(f"thread {one_line(row.thread_id)}")
        if row.properties:
            details.append(one_line(row.properties, 200))
        body = Text()  # Text(..., style="dim") made the whole message dim, not just these details
        body.append("  ".join(details) + "\n\n", style="dim")
        turns = row.turn_list() if hasattr(row, "turn_list") else []
        if turns:  # a chat or call: who said what, one block per turn
            for turn in turns:
                body.append(inert(one_line(turn["speaker"], 30)), style="bold cyan")
                if turn.get("timestamp"):
                    body.append(f"  {one_line(turn['timestamp'], 30)}", style="dim")
                body.append("\n")
                body.append(inert(turn["text"]))
                body.append("\n\n")
        else:
            on = items[current][0] if current is not None and current < len(items) else None
            body.append_text(with_fields(row.body, [s for s in spans if not s.in_subject], on))
        for other in thread[:5]:
            body.append(f"\n\n── in thread: {one_line(other.subject, 80)} ({other.ts:%Y-%m-%d}) ──\n", style="dim")
            body.append(inert(other.body)[:2000], style="dim")
        if searched:  # no words: rich's pattern would be empty, one empty span per character
            body.highlight_words(searched, SEARCHED_STYLE, case_sensitive=False)
        self.query_one("#message-body", Static).update(body)
        self.query_one("#message-fields", Static).update(fields_line(items, current))
        self.query_one("#message-fields").display = bool(items)
        if not same_message:
            self.query_one("#message-scroll", VerticalScroll).scroll_home(animate=False)

    def on_resize(self) -> None:
        self._lay_out_head()  # the header and the chips are laid out for a width

    def _lay_out_head(self) -> None:
        if self._shown is None:
            return
        row, chips, status, max_label_lines = self._shown
        width = max(20, self.content_region.width)
        head = Text()
        head.append(status + " ", style="bold reverse")
        head.append(" " + (one_line(row.subject) or "(no subject)"), style="bold")
        head.append(f"  {row.ts:%Y-%m-%d %H:%M}  {one_line(row.sender, 60)}")
        head.truncate(width, overflow="ellipsis")
        self.query_one("#message-head", Static).update(head)
        packed, _hidden = pack(chips, width, max_label_lines)
        self.query_one("#message-labels", Static).update(packed)
