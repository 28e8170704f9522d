"""Chats and calls: one message per conversation, its turns kept.

A conversation arrives either as one JSONL record with a ``turns`` list
(``{"speaker", "text", "timestamp"?}``) or as CSV rows, one per turn
(``conversation_id``, ``speaker``, ``text``, ``timestamp``), grouped here in file order.
The message's body is the turns' text, one turn per line, without the speaker names: the
model learns from what was said, never from who is on shift. The turns themselves are
stored as JSON (``messages.turns``), so the app can show who said what.
"""

from __future__ import annotations

import json
from typing import Any

TURN_KEYS = ("speaker", "text", "timestamp")


def turns_json(value: Any) -> tuple[str | None, str | None]:
    """``(turns as canonical JSON, None)`` for a valid list of turns, else ``(None, what is wrong)``.
    ``value`` is the list itself (JSONL) or its JSON text (a CSV column, an export)."""
    if isinstance(value, str):
        if not value.strip():
            return None, None
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return None, f"not valid JSON: {exc.msg}"
    if not isinstance(value, list) or not value:
        return None, "turns must be a non-empty list of {speaker, text} objects"
    turns = []
    for number, turn in enumerate(value, start=1):
        if not isinstance(turn, dict):
            return None, f"turn {number} is not an object with speaker and text"
        speaker, text = turn.get("speaker"), turn.get("text")
        if not isinstance(speaker, str) or not speaker.strip():
            return None, f"turn {number} has no speaker"
        if not isinstance(text, str):
            return None, f"turn {number} has no text"
        clean: dict[str, Any] = {"speaker": speaker.strip(), "text": text}
        if turn.get("timestamp") not in (None, ""):
            clean["timestamp"] = str(turn["timestamp"])
        turns.append(clean)
    return json.dumps(turns, ensure_ascii=False), None


def body_of(turns: str) -> str:
    """The text a model reads: every turn's words, one turn per line, no speaker names."""
    return "\n".join(turn["text"] for turn in json.loads(turns))


def parse_turns(turns: str | None) -> list[dict[str, str]]:
    """The stored turns of a message, or [] (not a conversation)."""
    if not turns:
        return []
    value = json.loads(turns)
    return value if isinstance(value, list) else []


def group_turn_rows(header: list[str], rows: list[list[str]], lines: list[int],
                    columns: dict[str, int]) -> tuple[list[str], list[list[str]], list[int], list[tuple[int, str, str]]]:
    """Per-turn CSV rows -> one row per conversation (``columns``: internal name -> index of
    conversation_id, speaker, body and timestamp). The conversation starts at its first
    turn's line and takes that row's other columns; its turns keep the file's order.
    Returns the new header, rows, lines and faults (line, column, what)."""
    conv, speaker, text, stamp = (columns["conversation_id"], columns["speaker"], columns["body"],
                                  columns.get("timestamp"))
    drop = {conv, speaker, text}
    keep = [i for i in range(len(header)) if i not in drop]
    out_header = ["id"] + [header[i] for i in keep] + ["body", "turns"]
    faults: list[tuple[int, str, str]] = []
    order: list[str] = []
    first: dict[str, tuple[list[str], int]] = {}
    turns: dict[str, list[dict[str, str]]] = {}
    for row, line in zip(rows, lines, strict=True):
        key = row[conv].strip()
        if not key:
            faults.append((line, header[conv], "conversation_id is empty"))
            continue
        if not row[speaker].strip():
            faults.append((line, header[speaker], "speaker is empty"))
            continue
        turn = {"speaker": row[speaker].strip(), "text": row[text]}
        if stamp is not None and row[stamp].strip():
            turn["timestamp"] = row[stamp].strip()
        if key not in first:
            order.append(key)
            first[key] = (row, line)
            turns[key] = []
        turns[key].append(turn)
    out_rows, out_lines = [], []
    for key in order:
        row, line = first[key]
        encoded = json.dumps(turns[key], ensure_ascii=False)
        out_rows.append([key] + [row[i] for i in keep] + [body_of(encoded), encoded])
        out_lines.append(line)
    return out_header, out_rows, out_lines, faults
