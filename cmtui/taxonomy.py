"""Label names for display: the shortest unambiguous form of each path."""

from __future__ import annotations

from collections.abc import Sequence

from .store import LABEL_SEP

__all__ = ["DISPLAY_SEP", "LABEL_SEP", "short_names"]

DISPLAY_SEP = "›"  # one column wide: compact views join levels with it


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
