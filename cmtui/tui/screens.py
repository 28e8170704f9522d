"""Modal screens: label picker, mode switch, search query, validation table, help."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..queues import MODES
from ..session import Session
from ..textsafe import one_line

HELP_RULES = """\
Informative labels: a label counts when it is useful on its own. Its weight is the share
of its messages on which none of its child labels is assigned (a parent never used alone
scores 0); a label that rides along with other labels on 90%+ of its messages, far more
often than labels usually share a message, scores 0. Informative = weight >= 0.2 and at
least 3 examples.

Coverage: the share of ALL messages with at least one informative label predicted at or
above that label's balanced threshold (best F1 with precision >= 50% on the 20% held-out
split; 0.5 with fewer than 5 test examples), raised if need be until the label flags at
most twice its share of the reviewed messages (of the Shuffle ones, once there are 30
and they show it more often).

Training: label every label that applies (a missing label teaches "no"), confirm, and
submit the page; the model retrains and Low confidence brings the least covered messages,
typical ones first, with every second slot from Shuffle.
Stop when the rating is Good or better and no important label has a warning."""


class LabelPickerScreen(ModalScreen[tuple[str, str] | None]):
    """Filter the taxonomy as you type; enter toggles, ctrl+n creates, ctrl+k creates a child."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="picker_close"),
        Binding("ctrl+n", "create", "New label", id="picker_new"),
        Binding("ctrl+t", "create_child", "Child of", id="picker_child"),
        Binding("down", "move(1)", show=False, id="picker_down"),
        Binding("up", "move(-1)", show=False, id="picker_up"),
        Binding("ctrl+o", "sentiment('positive')", "Positive", id="picker_positive"),
        Binding("ctrl+g", "sentiment('negative')", "Negative", id="picker_negative"),
    ]

    def __init__(self, session: Session, mid: int | None, numbered: list[tuple[str, float | None, bool]],
                 choose_only: bool = False) -> None:
        super().__init__()
        self.session = session
        self.mid = mid
        self.numbered = numbered
        self.choose_only = choose_only

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            title = "Choose a label" if self.choose_only else "Labels: enter toggles, ctrl+n new, ctrl+t child of highlighted"
            if self.session.sentiment and not self.choose_only:
                title += ", ctrl+o positive, ctrl+g negative"
            yield Static(title, id="picker-title")
            yield Input(placeholder="filter or new label name (Parent > Child)", id="picker-filter")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self.fill("")
        self.query_one("#picker-filter", Input).focus()

    def fill(self, text: str) -> None:
        options = self.query_one("#picker-options", OptionList)
        options.clear_options()
        assigned = self.session.labels_of(self.mid) if self.mid is not None else {}
        prob = {name: p for name, p, _ in self.numbered}
        order = [n for n, _, _ in self.numbered] + [n for n in self.session.labels if n not in prob]
        needle = text.casefold().strip()
        for name in order:
            if needle and needle not in name.casefold():
                continue
            line = Text()
            if not self.choose_only:
                line.append("[x] " if name in assigned else "[ ] ")
            line.append(one_line(name, 80))
            if prob.get(name) is not None:
                line.append(f"  {prob[name] * 100:.0f}%", style="dim")  # type: ignore[operator]
            options.add_option(Option(line, id=name))
        if options.option_count:
            options.highlighted = 0

    @on(Input.Changed, "#picker-filter")
    def _changed(self, event: Input.Changed) -> None:
        self.fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self) -> None:
        options = self.query_one("#picker-options", OptionList)
        if options.highlighted is not None and options.option_count:
            self._choose(options.get_option_at_index(options.highlighted).id or "")
        elif not self.choose_only:
            self.action_create()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id or "")

    def _choose(self, name: str) -> None:
        self.dismiss(("choose" if self.choose_only else "toggle", name))

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-options", OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def action_create(self) -> None:
        text = self.query_one("#picker-filter", Input).value.strip()
        if text and not self.choose_only:
            self.dismiss(("create", text))

    def action_create_child(self) -> None:
        """Start a child of the highlighted label: the filter becomes ``Parent > ``."""
        options = self.query_one("#picker-options", OptionList)
        if options.highlighted is None or not options.option_count or self.choose_only:
            return
        parent = options.get_option_at_index(options.highlighted).id or ""
        box = self.query_one("#picker-filter", Input)
        box.value = f"{parent} > "
        box.cursor_position = len(box.value)
        box.focus()

    def action_sentiment(self, which: str) -> None:
        options = self.query_one("#picker-options", OptionList)
        if self.session.sentiment and options.highlighted is not None and options.option_count:
            self.dismiss((which, options.get_option_at_index(options.highlighted).id or ""))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ModeScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="mode_close")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="modes"):
            yield Static("Training mode (enter to choose)", id="modes-title")
            yield OptionList(*[Option(f"{title}{'  (current)' if key == self.current else ''}", id=key)
                               for key, title in MODES.items()], id="mode-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class QueryScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="query_close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="query"):
            yield Static("Search messages (every word must appear)")
            yield Input(placeholder="words to search for", id="query-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


class ValidationScreen(ModalScreen[tuple[str, str] | None]):
    """Per-label figures; o sorts, t/c/x jump into Teach / Check label / Missed label."""

    BINDINGS = [
        Binding("escape,v", "dismiss_none", "Close", id="validation_close"),
        Binding("o", "sort", "Sort", id="validation_sort"),
        Binding("t", "jump('teach')", "Teach", id="validation_teach"),
        Binding("c", "jump('check-label')", "Check", id="validation_check"),
        Binding("x", "jump('missed-label')", "Missed", id="validation_missed"),
    ]
    SORTS = ["name", "examples", "precision", "recall", "ap", "warning"]

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report
        self.sort_index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="validation"):
            yield Static(self._summary(), id="validation-summary")
            yield DataTable(id="validation-table", cursor_type="row")
            yield Static("o sort · t Teach · c Check label · x Missed label · esc close", id="validation-keys")

    def _summary(self) -> Text:
        r = self.report
        if not r:
            return Text("No model yet: review and submit a page first.")
        if "rating" not in r:
            return Text("Validating the new model… reopen this screen in a moment.")
        text = Text()
        text.append(f"Rating {r['rating']:.0f} ({r['rating_band']})", style="bold")
        text.append(f"   MAP {_pct(r['map'])}   coverage {r['coverage'] * 100:.1f}%   "
                    f"balance {r['balance'].get('similarity', 0) * 100:.0f}%   reviewed {r['reviewed']}")
        text.append("\n" + "   ".join(f"{k.replace('_', ' ')} {v['score']:.0f} ({v['band']})"
                                     for k, v in r["rating_factors"].items()))
        return text

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("label", "examples", "precision", "recall", "AP", "informative", "warning")
        self.fill()
        table.focus()

    def fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        key = self.SORTS[self.sort_index]
        rows = list(self.report.get("labels", [])) if "rating" in self.report else []
        rows.sort(key=lambda r: (r[key] is None, r[key] if key in ("name", "warning") else -(r[key] or 0)))
        for row in rows:
            warning = {"red": "RED", "amber": "amber", "": "-"}[row["warning"]]
            table.add_row(Text(one_line(row["name"], 50)), str(row["examples"]), _pct(row["precision"]),
                          _pct(row["recall"]), _pct(row["ap"]), "yes" if row["informative"] else "no",
                          warning, key=row["name"])

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(self.SORTS)
        self.fill()
        self.notify(f"sorted by {self.SORTS[self.sort_index]}", timeout=2)

    def action_jump(self, mode: str) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            self.dismiss((mode, key))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss_none", "Close", id="help_close")]

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.main_app = app

    def compose(self) -> ComposeResult:
        lines = Text()
        lines.append("Keys\n", style="bold")
        lines.append("j/k, arrows  move          space/enter  confirm (reviewed) and move on\n")
        lines.append("1-9          toggle label  l or /       label picker (filter, create)\n")
        lines.append("a            accept predicted labels above threshold\n")
        lines.append("u            undo (also after a restart)\n")
        lines.append("s            submit page and retrain   S  submit only confirmed messages\n")
        lines.append("n / p        next / previous page     m  mode   v  validation   d  datasets\n")
        lines.append("ctrl+p       command palette          ?  help   q  quit\n")
        lines.append("Picker: type to filter · enter toggle · ctrl+n create what you typed · ctrl+t start a child "
                     "of the highlighted label (Parent > ...)\n\n")
        lines.append("Bindings by id (remap in ~/.config/cmtui/config.toml, [keys] id = \"key\")\n", style="bold")
        ids = [f"{b.id}={b.key}" for b in self.main_app.BINDINGS if getattr(b, "id", None)]
        lines.append(", ".join(ids) + "\n\n")
        lines.append("Rules\n", style="bold")
        # the source keeps short lines; on screen each paragraph wraps to the panel's width
        lines.append("\n\n".join(" ".join(p.split("\n")) for p in HELP_RULES.split("\n\n")))
        with VerticalScroll(id="help"):
            yield Static(lines)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DatasetsScreen(ModalScreen[str | None]):
    """Pick a dataset (enter), create one (n), import a CSV/JSONL file into the highlighted one (i)."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="datasets_close"),
        Binding("n", "new", "New dataset", id="datasets_new"),
        Binding("i", "import_file", "Import file", id="datasets_import"),
    ]

    def __init__(self, store: Any, annotator: str, current: str) -> None:
        super().__init__()
        self.store = store
        self.annotator = annotator
        self.current = current
        self.asking: str | None = None  # "new" or "import" while the input box is open

    def compose(self) -> ComposeResult:
        with Vertical(id="datasets"):
            yield Static("Datasets: enter opens · n new · i import a file into the highlighted one",
                         id="datasets-title")
            yield DataTable(id="datasets-table", cursor_type="row")
            yield Input(id="datasets-input", classes="hidden")
            yield Static(id="datasets-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("dataset", "messages", "reviewed", "labels", "sentiment")
        self.fill()
        table.focus()

    def fill(self, highlight: str | None = None) -> None:
        table = self.query_one(DataTable)
        highlight = highlight or self._highlighted()
        table.clear()
        names = []
        for info in self.store.datasets():
            marker = " (open)" if info.name == self.current else ""
            table.add_row(Text(one_line(info.name, 40) + marker), str(info.messages), str(info.reviewed),
                          str(info.labels), "on" if info.sentiment else "off", key=info.name)
            names.append(info.name)
        if highlight in names:
            table.move_cursor(row=names.index(highlight))

    def _highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowSelected, "#datasets-table")
    def _open(self) -> None:
        self.dismiss(self._highlighted())

    def _ask(self, what: str, placeholder: str) -> None:
        self.asking = what
        box = self.query_one("#datasets-input", Input)
        box.placeholder = placeholder
        box.value = ""
        box.remove_class("hidden")
        box.focus()

    def action_new(self) -> None:
        self._ask("new", "name of the new dataset, then enter")

    def action_import_file(self) -> None:
        if self._highlighted() is None:
            self.notify("Create a dataset first (n)", timeout=4)
            return
        self._ask("import", f"path of a CSV/TSV/JSONL file to import into {self._highlighted()}")

    @on(Input.Submitted, "#datasets-input")
    def _answered(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        event.input.add_class("hidden")
        self.query_one(DataTable).focus()
        if not value:
            return
        if self.asking == "new":
            try:
                self.store.create_dataset(value)
            except Exception as exc:  # StoreError: shown, not raised
                self.notify(str(exc), severity="error")
            self.fill(highlight=value)
        elif self.asking == "import":
            self.run_import(value, self._highlighted() or "")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_import(self, path: str, dataset: str) -> None:
        from pathlib import Path

        from ..cli import import_file
        from ..ingest import ImportFailed

        def progress(stage: str, fraction: float) -> None:
            self.app.call_from_thread(self._status, f"importing {one_line(path, 60)}: {stage} {fraction:.0%}")

        try:
            summary = import_file(self.store, Path(path).expanduser(), dataset, annotator=self.annotator,
                                  progress=progress)
        except ImportFailed as exc:
            self.app.call_from_thread(self._status, "\n".join(exc.lines[:5]))
            return
        except Exception as exc:  # CliError, StoreError: one line for the user
            self.app.call_from_thread(self._status, one_line(str(exc), 300))
            return
        self.app.call_from_thread(self._status, one_line(summary, 300))
        self.app.call_from_thread(self.fill)

    def _status(self, text: str) -> None:
        self.query_one("#datasets-status", Static).update(Text(text))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
