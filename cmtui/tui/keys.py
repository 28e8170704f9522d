"""The main screen's key bindings: every one has an id, so a settings file can remap it."""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

MAIN_BINDINGS: list[Binding] = [
    Binding("j,down", "cursor(1)", "Down", show=False, id="down", tooltip="Next message of the page"),
    Binding("k,up", "cursor(-1)", "Up", show=False, id="up", tooltip="Previous message of the page"),
    Binding("space,enter", "confirm", "Confirm", id="confirm", key_display="␣/⏎",
            tooltip="Mark the message reviewed with its labels and move on"),
    *[Binding(str(n), f"number({n})", f"Toggle label {n}", show=False, id=f"label_{n}",
              tooltip=f"Toggle the label on key {n} (the same on every message)") for n in range(1, 10)],
    Binding("minus", "flip_sentiment", "Negative", show=False, id="sentiment",
            tooltip="With sentiment: the label just given (or the only one) negative, or positive again"),
    Binding("l,slash", "pick_label", "Labels", id="labels", key_display="l",
            tooltip="Filter, assign, create, rename and delete labels"),
    Binding("a", "accept", "Accept", id="accept", tooltip="Assign predicted labels above threshold"),
    Binding("u", "undo", "Undo", id="undo", tooltip="Undo the latest step: an edit, a confirmation or a submit"),
    Binding("s", "submit", "Submit", id="submit", tooltip="Save the page and retrain"),
    Binding("J,shift+down", "scroll_body(3)", "Scroll", id="scroll_down", key_display="J/K",
            tooltip="Scroll the message body down (K: up)"),
    Binding("K,shift+up", "scroll_body(-3)", "Scroll up", show=False, id="scroll_up",
            tooltip="Scroll the message body up"),
    Binding("n", "next_page", "Next page", show=False, id="next_page", tooltip="Next page of this mode"),
    Binding("p", "previous_page", "Previous page", show=False, id="previous_page",
            tooltip="Previous page, as it was"),
    Binding("m", "mode", "Mode", id="mode", tooltip="Choose the training mode"),
    Binding("f", "filter", "Filter", show=False, id="filter",
            tooltip="Show one source's or one language's messages in every mode (or all again)"),
    Binding("c", "discover", "Discover", show=False, id="discover",
            tooltip="Clusters of similar unreviewed messages: label a group at a time"),
    Binding("v", "validation", "Validation", show=False, id="validation",
            tooltip="Per-label figures, warnings and the model rating"),
    Binding("A", "analytics", "Analytics", show=False, id="analytics",
            tooltip="Label volumes over time, sentiment and label pairs, by source, time and property"),
    Binding("]", "field(1)", "Next field", show=False, id="field_next",
            tooltip="Next field value in the message (dates, amounts, references...)"),
    Binding("[", "field(-1)", "Previous field", show=False, id="field_previous", tooltip="Previous field value"),
    Binding("y", "field_verdict('yes')", "Field yes", show=False, id="field_yes",
            tooltip="The field value under [ ] is right"),
    Binding("x", "field_verdict('no')", "Field no", show=False, id="field_no",
            tooltip="The field value under [ ] is not that field"),
    Binding("e", "field_rename", "Other field", show=False, id="field_other",
            tooltip="The value under [ ] is another field: choose which"),
    Binding("w", "field_mark", "Mark field", show=False, id="field_mark",
            tooltip="A field value the finders missed: type its words, choose its field"),
    Binding("d", "datasets", "Datasets", show=False, id="datasets", tooltip="Open, create or import into a dataset"),
    Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="Keys and rules"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit; unconfirmed edits are kept for next time"),
]


def binding_ids() -> set[str]:
    """Every binding id a config file may remap: the main screen's and each screen's."""
    from . import screens
    from .analytics import AnalyticsScreen
    from .discover import DiscoverScreen

    ids = {b.id for b in MAIN_BINDINGS if b.id}
    for cls in (screens.LabelPickerScreen, screens.ModeScreen, screens.QueryScreen, screens.FilterScreen, screens.ValidationScreen,
                screens.HelpScreen, screens.DatasetsScreen, screens.ConfirmScreen, screens.AskScreen,
                DiscoverScreen, AnalyticsScreen, screens.ChoiceScreen):
        ids |= {b.id for b in cls.BINDINGS if isinstance(b, Binding) and b.id}
    return ids


class UnknownKeyId(ValueError):
    """A key id in the settings file that no binding has."""


def help_keys(keymap: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(keys as bound now, what they do, binding id) for the help screen."""
    shown = []
    for binding in MAIN_BINDINGS:
        if binding.id is None or binding.id.startswith("label_") and binding.id != "label_1":
            continue
        keys = keymap.get(binding.id, binding.key)
        what = binding.tooltip or binding.description
        if binding.id == "label_1":
            keys = "1-9"
            what = "toggle the label on that key"
        shown.append((keys, what, binding.id))
    shown.append(("ctrl+p", "command palette: modes, per-label modes, screens", "-"))
    return shown
