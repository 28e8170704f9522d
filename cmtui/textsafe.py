"""Message text is data: make it inert before any terminal sees it.

Escape sequences (CSI, OSC such as clipboard writes or title changes), other control
characters and bidirectional overrides are replaced by visible placeholders. Rich
markup needs no escaping here because the app renders messages as ``rich.text.Text``,
which never parses markup.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def inert(text: str | None) -> str:
    """``text`` with escape sequences shown as ``␛…``, control and bidi characters as ``�``."""
    if not text:
        return ""
    text = _ESCAPE.sub(lambda m: "␛" + m.group(0)[1:].replace("\x1b", "␛").replace("\x07", "␇"), text)
    text = _CONTROL.sub("�", text.replace("\r\n", "\n").replace("\t", "    "))
    return _BIDI.sub("�", text)


def one_line(text: str | None, width: int = 200) -> str:
    return inert(text).replace("\n", " ")[:width]
