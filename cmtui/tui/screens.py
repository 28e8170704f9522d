"""Modal screens: label picker, mode switch, search query, validation table, help."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..queues import MODES
from ..session import (
    AMBER_EXAMPLES,
    ModelVersion,
    Session,
    check_label_name,
    expected_text,
    readiness,
)
from ..taxonomy import LABEL_SEP
from ..textsafe import one_line
from ..workspace import DatasetInfo, ImportFailed, StoreError, Workspace
from .widgets import CursorTable, fill_table

HELP_RULES = """\
Informative labels: a label counts when it is useful on its own. Its weight is the share
of its messages on which none of its child labels is assigned (a parent never used alone
scores 0). A label that comes with another label on 90%+ of its messages scores 0 when it
belongs to no facet: a flag like Urgent, never used instead of another label, only on top
of one. A facet is a group of alternatives (siblings, or labels almost never seen
together, such as the genres or the topics of a taxonomy): a topic that always comes with
a genre still counts. In one flat list mostly used several labels at a time (multi-intent
requests), co-occurrence is normal and no label is a rider (labels that merely happened
never to meet in the reviews so far, as chance does, do not make that list faceted).
Informative = weight >= 0.2 and at least 3 examples.

Coverage: the share of ALL messages with at least one informative label predicted at or
above that label's balanced threshold: best F1 with precision >= 50%, chosen on every
review scored by a model that did not see it (5 folds), on the randomly picked reviews
when they hold 3+ of the label (0.5 with fewer than 3 examples); raised if need be until
the label flags at most twice its share of the reviewed messages (of the random ones,
once there are 30 and they show it more often). Precision, recall and AP per label are
those of the fixed 20% test split. With a few hundred reviews the thresholds are
estimates: they move the figure by a few points from page to page (more where a frequent
label is hard to tell apart), so judge the trend over several pages, not one. Above 250k
messages the figure is first estimated on a fixed sample of 50k (within 0.45 points) and
made exact once every message is rescored, seconds later.

Expected coverage, beside it: the share of messages whose likeliest informative label is
right, as the model's probabilities put it once calibrated on the reviews (each scored by
a model that did not see it; one scaling for all labels) that sample the mailbox: the
random picks once there are 20, before that every review no mode chose by its content
(imported ones too). Low confidence's own picks are where the model is most wrong, and
Discover's clusters say nothing of the messages outside them, so after Discover alone the
figure waits for a page of Shuffle. It averages probabilities instead of counting messages
over thresholds, so it moves with the model, not with where a threshold fell: on most of
our benchmark sets it swung half as much from page to page. It reads a little low (the
held-out models are weaker than the one shown): watch its trend.

Training: label every label that applies (a missing label teaches "no"), confirm, and
submit the page; the model retrains and Low confidence brings the least covered messages,
typical ones first, with every second slot from Shuffle. The meter moves once a page, when
the validation after it is done (the spinner shows it running).
Stop when the rating is Good or better and no important label has a warning."""

HELP_FLOW = """\
Numbers: keys 1-9 are the labels in the order they were created (an imported taxonomy: by
name), the same on every message, after a restart and for every annotator, so you can
label from memory; a number pressed twice removes what it added. With sentiment, a number
gives its label positive and - then makes it negative (again: positive); a gives each label
the sentiment most of its reviews give it. A label you create takes
the next free number, a renamed one keeps its own, and labels past 9 are in the picker
(l). A parent made only because you named a child (Policy for Policy > Renewal) has no
number: it is in the picker, and `cmtui labels --add Policy` gives it the next one.
[x] assigned, [^] implied by an assigned child (a child implies its parent), [ ] not
assigned; 71% is the model's confidence (shown from 5%), * at or above its threshold (a
accepts those); labels without a number show when assigned or at their threshold.

Confirm (space) with no label assigned reviews the message as having none: the app says so,
and its row reads "no labels" (the list shows predictions only on rows not yet reviewed).
After the page's last row is confirmed, the next label key says the page is done (s
submits it); the same key again changes the last message.

Submit (s) saves every message you confirmed or gave labels to. Messages you did not touch
are only reviewed as "no labels" when you say so (s asks). From s (or n, p, a mode) until
the next page is shown, label keys do nothing and say so. One u undoes the latest step:
an edit, a confirmation, a whole submit, a field review or a taxonomy change; an undone
confirmation or submit leaves its labels on the messages as unconfirmed edits.

Pages stay as they were until you submit: n and p move between them. Unconfirmed edits are
kept (a second after each, and when you quit) and come back with the page. In Low confidence, rows marked r were
picked at random (Shuffle), to keep training representative."""


NEW_LABEL = "\0new"  # the picker line that creates the label typed (no label name has a control character)


def typed_name(text: str) -> str:
    """What was typed in the picker, levels spaced as label names are: ``card>cancel``
    finds and makes ``card > cancel`` (it was refused as a malformed name)."""
    text = text.strip()
    return LABEL_SEP.join(part.strip() for part in text.split(">")).strip() if ">" in text else text


def match_rank(name: str, needle: str) -> int:
    """How well a label matches what was typed in the picker (lower first): the whole
    name, then its last level exactly, then every word typed starting a word of the
    name, then anywhere. In key order alone, typing "renewal" then enter toggled
    ``Claims > Renewal`` when it came before ``Renewal``."""
    levels = name.casefold().split(LABEL_SEP)
    if not needle or needle == name.casefold():
        return 0
    if needle == levels[-1]:
        return 1
    words = [word for level in levels for word in level.split()]
    return 2 if all(any(w.startswith(typed) for w in words) for typed in needle.split()) else 3


class LabelPickerScreen(ModalScreen[tuple[str, str] | None]):
    """Filter the taxonomy as you type; enter does what the highlighted line says (toggle a
    label, or create one), ctrl+n creates (after a confirming keystroke), ctrl+t starts a
    child; ctrl+r renames or merges, ctrl+d deletes, ctrl+e describes the highlighted label."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="picker_close"),
        Binding("ctrl+n", "create", "New label", id="picker_new"),
        Binding("ctrl+t", "create_child", "Child of", id="picker_child"),
        # priority: the filter box would take ctrl+d/ctrl+e as delete-right/end-of-line
        Binding("ctrl+r", "manage('rename')", "Rename/merge", id="picker_rename", priority=True),
        Binding("ctrl+d", "manage('delete')", "Delete", id="picker_delete", priority=True),
        Binding("ctrl+e", "manage('describe')", "Describe", id="picker_describe", priority=True),
        Binding("down", "move(1)", show=False, id="picker_down"),
        Binding("up", "move(-1)", show=False, id="picker_up"),
        Binding("ctrl+o", "sentiment('positive')", "Positive", id="picker_positive"),
        Binding("ctrl+g", "sentiment('negative')", "Negative", id="picker_negative"),
    ]

    def __init__(self, session: Session, mid: int | None, choose_only: bool = False) -> None:
        super().__init__()
        self.session = session
        self.mid = mid
        self.choose_only = choose_only

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            if self.choose_only:
                title = "Choose a label (type to filter, enter chooses)"
                placeholder = "filter labels"
            else:
                title = ("enter picks the line · ctrl+n new · ctrl+t child of · ctrl+r rename/merge · ctrl+d delete · "
                         "ctrl+e describe")
                if self.session.sentiment:
                    title += " · ctrl+o positive · ctrl+g negative"
                placeholder = "filter, or a new label name (Parent > Child)"
            yield Static(title, id="picker-title")
            yield Input(placeholder=placeholder, id="picker-filter")
            yield OptionList(id="picker-options")
            yield Static(id="picker-description")

    def on_mount(self) -> None:
        self.fill("")
        self.query_one("#picker-filter", Input).focus()

    def fill(self, text: str) -> None:
        options = self.query_one("#picker-options", OptionList)
        options.clear_options()
        session = self.session
        assigned = session.labels_of(self.mid) if self.mid is not None else {}
        implied = session.implied_of(self.mid) if self.mid is not None else set()
        prob = {name: p for name, p, _ in session.predictions_of(self.mid)} if self.mid is not None else {}
        text = typed_name(text)
        needle = text.casefold()
        words = needle.split()  # each word anywhere: "email query" finds "email > query"
        numbered = [(number, name) for number, name in session.numbered()
                    if all(word in name.casefold() for word in words)]
        new = self._new_label_option(text, [name for _, name in numbered])
        if new is not None and LABEL_SEP.strip() in needle and not any(
                name.casefold().startswith(needle) for _, name in numbered):
            options.add_option(new)  # a path typed, no label begins with it: a new label, first
            new = None
        for number, name in sorted(numbered, key=lambda item: match_rank(item[1], needle)):  # stable: key order
            line = Text()
            if not self.choose_only:
                line.append(f"{number} " if number is not None and number <= 9 else "  ")
                line.append("[x] " if name in assigned else "[^] " if name in implied else "[ ] ")
            line.append(one_line(name, 80))
            if name in prob:
                line.append(f"  {prob[name] * 100:.0f}%", style="dim")
            if name in session.descriptions:
                line.append(f"  {one_line(session.descriptions[name], 60)}", style="dim italic")
            options.add_option(Option(line, id=name))
        if new is not None:
            options.add_option(new)
        if options.option_count:
            options.highlighted = 0
        self._describe()

    def _new_label_option(self, typed: str, matching: list[str]) -> Option | None:
        """The line that creates ``typed`` (as ``typed_name`` gives it), unless it names a
        label (in any case). Enter does what the highlighted line says: typing ``Card >
        Cancel`` toggled ``Card > Payment cancelled`` (every word matched) when the new
        label was meant."""
        if self.choose_only or not typed or any(name.casefold() == typed.casefold() for name in matching):
            return None
        return Option(Text.assemble(("+ new label  ", "bold"), one_line(typed, 70), ("  (asks first)", "dim")),
                      id=NEW_LABEL)

    def _highlighted(self, new: bool = False) -> str | None:
        """The highlighted label's name (``NEW_LABEL`` for the new-label line when ``new``)."""
        options = self.query_one("#picker-options", OptionList)
        if options.highlighted is None or not options.option_count:
            return None
        name = options.get_option_at_index(options.highlighted).id
        return name if new or name != NEW_LABEL else None

    def _describe(self) -> None:
        name = self._highlighted()
        text = self.session.descriptions.get(name or "", "") if name else ""
        self.query_one("#picker-description", Static).update(Text(one_line(text, 300), style="italic"))

    @on(OptionList.OptionHighlighted)
    def _moved(self) -> None:
        self._describe()

    @on(Input.Changed, "#picker-filter")
    def _changed(self, event: Input.Changed) -> None:
        self.fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self) -> None:
        name = self._highlighted(new=True)
        if name is not None:
            self._choose(name)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id or "")

    def _choose(self, name: str) -> None:
        if name == NEW_LABEL:
            self.action_create()
        else:
            self.dismiss(("choose" if self.choose_only else "toggle", name))

    def action_move(self, step: int) -> None:
        options = self.query_one("#picker-options", OptionList)
        if options.option_count:
            current = options.highlighted or 0
            options.highlighted = max(0, min(options.option_count - 1, current + step))

    def action_create(self) -> None:
        text = typed_name(self.query_one("#picker-filter", Input).value)
        if text and not self.choose_only:
            self.dismiss(("create", text))  # the app asks before it creates anything

    def action_create_child(self) -> None:
        """Start a child of the highlighted label: the filter becomes ``Parent > ``."""
        parent = self._highlighted()
        if parent is None or self.choose_only:
            return
        box = self.query_one("#picker-filter", Input)
        box.value = f"{parent} > "
        box.cursor_position = len(box.value)
        box.focus()

    def action_manage(self, what: str) -> None:
        name = self._highlighted()
        if name is not None and not self.choose_only:
            self.dismiss((what, name))

    def action_sentiment(self, which: str) -> None:
        name = self._highlighted()
        if self.session.sentiment and name is not None:
            self.dismiss((which, name))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[str | None]):
    """A question answered by one key: ``choices`` maps a key to what it does. Enter
    takes the first choice; escape answers None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", id="confirm_back")]

    def __init__(self, question: str, choices: dict[str, str]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        lines = Text(self.question + "\n\n", style="bold")
        for number, (key, what) in enumerate(self.choices.items()):
            lines.append(f"{key + (' / enter' if number == 0 else ''):>10}  ", style="bold")
            lines.append(what + "\n")
        lines.append(f"{'esc':>10}  back, nothing done")
        with Vertical(id="confirm"):
            yield Static(lines)

    def on_key(self, event: Any) -> None:
        key = event.key
        if key == "enter":
            key = next(iter(self.choices))
        if key in self.choices:
            event.stop()
            self.dismiss(key)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def confirm_new_label(name: str, existing: Sequence[str], then: str) -> ConfirmScreen:
    """The second keystroke a new label takes, with the full path and any similar label in
    view: a typo would otherwise become a permanent label. Raises ``LabelNameError``."""
    check_label_name(name)
    similar = difflib.get_close_matches(name, list(existing), n=2, cutoff=0.75)
    question = f"Create the new label  {name}  {then}?"
    if similar:
        question += f"\nSimilar labels exist: {', '.join(similar)}"
    return ConfirmScreen(question, {"y": f"create {name}"})


class AskScreen(ModalScreen[str | None]):
    """One line of text: a label's new name or its description."""

    BINDINGS = [Binding("escape", "dismiss_none", "Back", id="ask_back")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="ask"):
            yield Static(Text(self.question, style="bold"))
            yield Input(value=self.value, id="ask-input")
            yield Static("enter: done · esc: back")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str | None]):
    """One choice from a list (a source, a user property value, a training mode)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="choice_close")]
    BOX_ID, OPTIONS_ID, TITLE_STYLE = "choice", "choice-options", "bold"

    def __init__(self, title: str, choices: list[tuple[str, str]], highlighted: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices  # (id, text)
        self.highlighted = highlighted  # the id the cursor starts on (else the first)

    def compose(self) -> ComposeResult:
        with Vertical(id=self.BOX_ID):
            yield Static(Text(self.title_text, style=self.TITLE_STYLE), id=f"{self.BOX_ID}-title")
            yield OptionList(*[Option(text, id=key) for key, text in self.choices], id=self.OPTIONS_ID)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [key for key, _ in self.choices]
        if self.highlighted in ids:
            options.highlighted = ids.index(self.highlighted)
        options.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ModeScreen(ChoiceScreen):
    """The training modes, the current one marked and under the cursor (enter keeps it;
    the cursor on the first mode turned a stray enter into Low confidence)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="mode_close")]
    BOX_ID, OPTIONS_ID, TITLE_STYLE = "modes", "mode-options", ""

    def __init__(self, current: str) -> None:
        super().__init__("Training mode (enter to choose)",
                         [(key, f"{title}{'  (current)' if key == current else ''}") for key, title in MODES.items()],
                         current)


Scope = tuple[str | None, str | None, str | None]  # (source, language, time window) of the filter
RECENT_DAYS = (7, 30)  # the time windows offered besides the latest import


class FilterScreen(ModalScreen[Scope | None]):
    """Choose which messages every mode draws from: one source, one language, the newest
    (the latest import, the last days), or all. The counts are read in a worker, so the
    screen opens at once."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="filter_close")]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.current: Scope = session.scope

    def compose(self) -> ComposeResult:
        with Vertical(id="filter"):
            yield Static("Show messages of (enter to choose; applies to every mode)", id="filter-title")
            yield OptionList(Option("counting messages…", id="none", disabled=True), id="filter-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._count()

    @work(thread=True, exit_on_error=False)
    def _count(self) -> None:
        counts = self.session.scope_counts()
        self.app.call_from_thread(self._fill, counts)

    def _fill(self, counts: dict[str, list[tuple[str | None, int]]]) -> None:
        source, language, window = self.current
        mark = "  (current)"
        options = [Option("every message" + (mark if self.current == (None, None, None) else ""), id="all")]
        if source is not None:
            options.append(Option("every source", id="source:*"))
        options += [Option(f"source {one_line(name or '', 40)}  ({n:,}){mark if name == source else ''}",
                           id=f"source:{name}") for name, n in counts["source"]]
        if language is not None:
            options.append(Option("every language", id="language:*"))
        options += [Option(f"language {code or '(not found)'}  ({n:,}){mark if (code or '') == language else ''}",
                           id=f"language:{code or ''}") for code, n in counts["language"]]
        if window is not None:
            options.append(Option(f"any time (now: {one_line(window, 30)})", id="window:*"))
        for what, choice in self.session.recent_windows(RECENT_DAYS):
            options.append(Option(f"newest: {what}{mark if choice == window else ''}", id=f"window:{choice}"))
        box = self.query_one(OptionList)
        box.clear_options()
        box.add_options(options)
        box.highlighted = 0

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or "all"
        source, language, window = self.current
        if choice == "all":
            self.dismiss((None, None, None))
            return
        field, _, value = choice.partition(":")
        picked = None if value == "*" else value
        self.dismiss((picked, language, window) if field == "source" else (source, picked, window)
                     if field == "language" else (source, language, picked))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class QueryScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="query_close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="query"):
            yield Static("Search messages: every word must appear (shown reversed)")
            yield Input(placeholder="words to search for", id="query-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def _beside(current: float | None, pinned: float | None) -> Text:
    """A pinned version's AP, marked + / - (and coloured) where the current one is higher / lower."""
    if pinned is None:
        return Text("-")
    text = Text(_pct(pinned))
    if current is not None and abs(current - pinned) >= 0.02:
        text.append(" +" if current > pinned else " -", style="green" if current > pinned else "red")
    return text


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def warning_text(row: dict[str, Any]) -> str:
    """Why a label is flagged, and the key of the mode that fixes it."""
    if row["examples"] < AMBER_EXAMPLES:
        return f"{row['warning'] or 'amber'}: few, t"
    if row["warning"]:
        return f"{row['warning']}: low AP, c x"
    return "-"


class ValidationScreen(ModalScreen[tuple[str, str | None] | None]):
    """Per-label figures; o sorts, p sets a pinned version beside the current one,
    t/c/x jump into Teach / Check label / Missed label; below the table, whether the model
    is ready (cmtui.readiness) and the next steps, each a digit away."""

    BINDINGS = [
        Binding("escape,v", "dismiss_none", "Close", id="validation_close"),
        Binding("o", "sort", "Sort", id="validation_sort"),
        Binding("p", "pinned", "Pinned", id="validation_pinned",
                tooltip="Show a pinned model version's AP beside the current one (again: the next, then none)"),
        Binding("t", "jump('teach')", "Teach", id="validation_teach"),
        Binding("c", "jump('check-label')", "Check", id="validation_check"),
        Binding("x", "jump('missed-label')", "Missed", id="validation_missed"),
        *[Binding(str(n), f"step({n})", f"Step {n}", show=False, id=f"validation_step_{n}",
                  tooltip=f"Go to the mode of readiness step {n}") for n in range(1, 10)],
    ]
    SORTS = ["name", "examples", "precision", "recall", "ap", "warning"]

    def __init__(self, report: dict[str, Any], session: Session | None = None) -> None:
        super().__init__()
        self.report = report
        self.session = session
        self.sort_index = 0
        self.pinned: list[ModelVersion] = []  # read in a worker once the screen is up
        self.beside: ModelVersion | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="validation"):
            yield Static(self._summary(), id="validation-summary")
            yield DataTable(id="validation-table", cursor_type="row")
            yield Static(self._fields(), id="validation-fields")
            yield Static(self._readiness(), id="validation-readiness")
            yield Static(f"Figures show from {AMBER_EXAMPLES} examples (AP: needs N more). Warnings: few "
                         "examples, fixed in t Teach; low AP, fixed in c Check label and x Missed label. "
                         "p pinned version beside · o sort · esc close", id="validation-keys")

    def _summary(self) -> Text:
        r = self.report
        if not r:
            return Text("No model yet: review and submit a page first.")
        if "rating" not in r:
            return Text("Validating the new model… reopen this screen in a moment.")
        text = Text()
        text.append(f"Rating {r['rating']:.0f} ({r['rating_band']})", style="bold")
        map_text = _pct(r["map"]) if r["map"] is not None else f"- (needs a label with {AMBER_EXAMPLES} examples)"
        text.append(f"   {r['reviewed']} reviewed   balance {r['balance'].get('similarity', 0) * 100:.0f}%"
                    f"\nMAP {map_text}   coverage {r['coverage'] * 100:.1f}%{expected_text(r)}")
        text.append("\n" + "   ".join(f"{k.replace('_', ' ')} {v['score']:.0f} ({v['band']})"
                                     for k, v in r["rating_factors"].items()))
        drift = r.get("drift") or {}
        if drift.get("warning"):
            auc = "" if drift.get("auc") is None else f", told apart at AUC {drift['auc']:.2f}"
            text.append(f"\nDrift: the {drift['new']:,} newest messages look new ({drift['coverage_new']:.0%} "
                        f"covered against {drift['coverage_rest']:.0%}{auc})", style="bold")
        if self.beside is not None:
            b = self.beside.report
            tag = f" ({one_line(self.beside.tag, 20)})" if self.beside.tag else ""
            text.append(f"\nbeside: version {self.beside.version}{tag}, {self.beside.reviewed} reviewed: rating "
                        f"{b.get('rating', 0):.0f} ({b.get('rating_band')})   MAP {_pct(b.get('map'))}   "
                        f"coverage {(b.get('coverage') or 0) * 100:.1f}%", style="italic")
        return text

    def _fields(self) -> Text:
        """The general fields that have reviews: examples, precision/recall, warnings."""
        shown = [f for f in self.report.get("fields") or [] if f["reviewed"] or f["examples"]]
        if not shown:
            return Text("")
        text = Text("Fields: ", style="bold", no_wrap=True, overflow="ellipsis")
        for n, f in enumerate(shown):
            text.append(("  " if n else "") + one_line(f["name"], 30), style="italic")
            text.append(f" {f['examples']} ex. {_pct(f['precision'])}/{_pct(f['recall'])}"
                        + (f" ⚠ {one_line(f['warning'], 60)}" if f["warning"] else ""))
        return text

    def _readiness(self) -> Text:
        """When to stop training: the verdict and the next steps, each a digit away."""
        modes = self.session.review_modes if self.session is not None else {}
        self.ready = readiness(self.report, modes)
        steps = self.ready["steps"][:3]
        text = Text(self.ready["headline"] + (": next steps (press the digit)" if steps else ""), style="bold",
                    no_wrap=True, overflow="ellipsis")  # one line each: the table keeps its rows at 80x24
        for n, step in enumerate(steps, start=1):
            text.append(f"\n{n} ", style="bold reverse")
            text.append(f" {one_line(step['what'], 300)}")
        return text

    def action_step(self, number: int) -> None:
        steps = self.ready["steps"] if "rating" in self.report else []
        if number <= len(steps):
            step = steps[number - 1]
            self.dismiss((step["mode"], step["arg"]))

    def on_mount(self) -> None:
        self.fill()
        self.query_one("#validation-fields").display = bool(self._fields().plain)  # no line without fields
        self.query_one(DataTable).focus()
        if self.session is not None:
            self._load_pinned()

    @work(thread=True, exclusive=True, group="validation-pinned")
    def _load_pinned(self) -> None:
        assert self.session is not None
        pinned = self.session.pinned_versions()
        self.app.call_from_thread(setattr, self, "pinned", pinned)

    def action_pinned(self) -> None:
        if not self.pinned:
            self.notify("no pinned version to compare with (cmtui models pin N)", timeout=3)
            return
        order = [None, *self.pinned]
        self.beside = order[(order.index(self.beside) + 1) % len(order)]
        self.query_one("#validation-summary", Static).update(self._summary())
        self.fill()

    def fill(self) -> None:
        # the pinned version's column only while one is beside: 80 columns are few
        pinned = [f"v{self.beside.version} AP"] if self.beside else []
        key = self.SORTS[self.sort_index]
        rows = list(self.report.get("labels", [])) if "rating" in self.report else []
        rows.sort(key=lambda r: (r[key] is None, r[key] if key in ("name", "warning") else -(r[key] or 0)))
        beside = {r["name"]: r for r in self.beside.report.get("labels", [])} if self.beside else {}
        cells: list[list[str | Text]] = []
        for row in rows:
            if row["examples"] < AMBER_EXAMPLES:  # too few to say anything: held back
                figures = ["-", "-", f"needs {AMBER_EXAMPLES - row['examples']}"]
            else:
                figures = [_pct(row["precision"]), _pct(row["recall"]), _pct(row["ap"])]
            compared = [_beside(row.get("ap"), beside.get(row["name"], {}).get("ap"))] if self.beside else []
            cells.append([Text(one_line(row["name"], 40)), str(row["examples"]), *figures, *compared,
                          "yes" if row["informative"] else "no", warning_text(row)])
        fill_table(self.query_one(DataTable), ["label", "ex.", "prec", "recall", "AP", *pinned, "inf", "warning"],
                   cells, [row["name"] for row in rows])

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


def reflowed(text: str) -> str:
    """``text`` with each paragraph on one line: the source keeps short lines, and on
    screen a paragraph wraps to the panel's width (kept as written, an 80-column panel
    broke every line of the help twice)."""
    return "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in text.split("\n\n"))


class HelpScreen(ModalScreen[None]):
    """Keys as they are bound now (after a remap), label descriptions and the rules."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_none", "Close", id="help_close")]

    def __init__(self, keys: list[tuple[str, str, str]], descriptions: dict[str, str]) -> None:
        super().__init__()
        self.keys = keys  # (keys, what it does, binding id)
        self.descriptions = descriptions

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2), expand=True)
        keys.add_column(no_wrap=True, style="bold")
        keys.add_column(ratio=1)
        keys.add_column(no_wrap=True, style="dim")
        for key, what, binding_id in self.keys:
            keys.add_row(key, what, binding_id)
        with VerticalScroll(id="help"):
            yield Static(Text("Keys (remap by id in ~/.config/cmtui/config.toml: [keys] id = \"key\")",
                              style="bold"))
            yield Static(keys)
            yield Static(Text("\n" + reflowed(HELP_FLOW)))
            if self.descriptions:
                labels = Text()
                for name, text in self.descriptions.items():
                    labels.append(one_line(name, 80), style="bold")
                    labels.append(f"  {one_line(text, 300)}\n")
                yield Static(Text("\nLabels", style="bold"))
                yield Static(labels)
            yield Static(Text("\nRules", style="bold"))
            yield Static(Text(reflowed(HELP_RULES)))

    def on_mount(self) -> None:
        self.app.clear_notifications()  # the first-run notice sat over the help's last lines

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DatasetsScreen(ModalScreen[str | None]):
    """Pick a dataset (enter), create one (n), import a CSV/JSONL file into the highlighted one (i).

    Every database call runs in a worker; the table fills when its answer comes back."""

    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="datasets_close"),
        Binding("n", "new", "New dataset", id="datasets_new"),
        Binding("i", "import_file", "Import file", id="datasets_import"),
    ]
    HEADERS = ("dataset", "messages", "reviewed", "labels", "sentiment")

    def __init__(self, workspace: Workspace, current: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.current = current
        self.asking: str | None = None  # "new" or "import" while the input box is open
        self.imported_into: set[str] = set()  # datasets a file was imported into here

    def compose(self) -> ComposeResult:
        with Vertical(id="datasets"):
            yield Static("Datasets: enter opens · n new · i import a file into the highlighted one",
                         id="datasets-title")
            yield CursorTable(id="datasets-table", cursor_type="row")
            yield Input(id="datasets-input", classes="hidden")
            yield Static(id="datasets-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*self.HEADERS)
        table.focus()
        self.load(highlight=self.current)  # on the first row, i imported into another dataset than the open one

    @work(thread=True, exclusive=True, group="datasets", exit_on_error=False)
    def load(self, highlight: str | None = None, status: str | None = None) -> None:
        try:
            infos = self.workspace.datasets()
        except StoreError as exc:
            self.app.call_from_thread(self._status, one_line(str(exc), 300))
            return
        self.app.call_from_thread(self.fill, infos, highlight)
        if status:
            self.app.call_from_thread(self._status, status)

    def fill(self, infos: list[DatasetInfo], highlight: str | None = None) -> None:
        table = self.query_one(DataTable)
        highlight = highlight or self._highlighted()
        names = [info.name for info in infos]
        fill_table(table, self.HEADERS, [
            [Text(one_line(info.name, 40) + (" (open)" if info.name == self.current else "")), str(info.messages),
             str(info.reviewed), str(info.labels), "on" if info.sentiment else "off"] for info in infos], names)
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
        if self.asking == "new":  # fixed once made, and the screen had no way to choose it
            self.app.push_screen(ConfirmScreen(
                f"Do the labels of {value} carry sentiment (positive or negative)? It is fixed once made.",
                {"n": "no sentiment", "y": "labels carry sentiment"}), partial(self._create, value))
        elif self.asking == "import":
            self.run_import(value, self._highlighted() or "")

    def _create(self, name: str, answer: str | None) -> None:
        if answer:
            self.create(name, answer == "y")

    @work(thread=True, exclusive=True, group="datasets", exit_on_error=False)
    def create(self, name: str, sentiment: bool) -> None:
        try:
            self.workspace.create_dataset(name, sentiment)
        except StoreError as exc:
            self.app.call_from_thread(self._status, one_line(str(exc), 300))
            return
        self.load(highlight=name)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def run_import(self, path: str, dataset: str) -> None:
        def progress(stage: str, fraction: float) -> None:
            self.app.call_from_thread(self._status, f"importing {one_line(path, 60)}: {stage} {fraction:.0%}")

        try:
            summary = self.workspace.import_file(Path(path).expanduser(), dataset, progress)
        except ImportFailed as exc:
            self.app.call_from_thread(self._status, "\n".join(exc.lines[:5]))
            return
        except StoreError as exc:
            self.app.call_from_thread(self._status, one_line(str(exc), 300))
            return
        self.imported_into.add(dataset)
        self.load(status=one_line(summary, 300))

    def _status(self, text: str) -> None:
        self.query_one("#datasets-status", Static).update(Text(text))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
