"""Label paths: the separator of hierarchy levels, ancestors, and display names.

A label's levels are joined by ``LABEL_SEP`` (``Claims > New claim > Motor``); this is
the one place that spells it. A child implies its ancestors.
"""

from __future__ import annotations

from collections.abc import Sequence

LABEL_SEP = " > "
DISPLAY_SEP = "›"  # one column wide: compact views join levels with it


def is_below(name: str, label: str) -> bool:
    """Whether ``name`` is a descendant of ``label`` (``A > B`` is below ``A``)."""
    return name.startswith(label + LABEL_SEP)


def within(name: str, label: str) -> bool:
    """Whether ``name`` is ``label`` or one of its descendants: the labels a rename,
    merge or delete of ``label`` takes along."""
    return name == label or is_below(name, label)


def ancestors(name: str) -> list[str]:
    """``A > B > C`` -> ``["A", "A > B"]``."""
    parts = name.split(LABEL_SEP)
    return [LABEL_SEP.join(parts[:i]) for i in range(1, len(parts))]


def short_names(labels: Sequence[str]) -> dict[str, str]:
    """Each label's shortest tail of levels that no other label of ``labels`` ends with.

    ``Claims > New claim > Home`` beside ``Quote > Home`` becomes ``New claim›Home`` and
    ``Quote›Home``; a label whose leaf is unique keeps just the leaf.
    """
    parts = {name: name.split(LABEL_SEP) for name in labels}
    out: dict[str, str] = {}
    for name, levels in parts.items():
        for depth in range(1, len(levels) + 1):
            tail = levels[-depth:]
            clash = any(other != name and len(o) >= depth and o[-depth:] == tail for other, o in parts.items())
            if not clash:
                break
        out[name] = DISPLAY_SEP.join(tail)
    return out
