"""Reading message files (CSV, TSV, JSONL) with strict validation, and export writers.

Validation reports every fault as ``FILE:LINE: column: what is wrong`` and nothing is
written unless the whole file is good. Line numbers are physical lines of the file where
the faulty record starts (a quoted field may span lines).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .sources import chat
from .sources.language import SAMPLE_CHARS, start_languages
from .store import LabelNameError, validate_label_name
from .taxonomy import LABEL_SEP
from .textsafe import one_line

if TYPE_CHECKING:
    import numpy as np

MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_REPORTED = 20
MAX_COLUMNS = 1000
csv.field_size_limit(MAX_FILE_BYTES)  # a field may be as large as a file (long email threads)

# header name (case-insensitive) -> internal column
HEADER_ALIASES: dict[str, str] = {
    "id": "id", "timestamp": "timestamp", "body": "body", "text": "body", "message": "body",
    "subject": "subject", "from": "sender", "to": "recipients", "cc": "cc",
    "thread_id": "thread_id", "threadid": "thread_id",
    # written by `cmtui export`, read back on import
    "labels": "labels", "sentiments": "sentiments", "reviewed": "reviewed",
    "annotator": "annotator", "reviewed_at": "reviewed_at", "source": "source",
    "predicted": "predicted", "fields": "fields",
    # chats and calls (cmtui/sources/chat.py): a conversation's turns, or one row per turn
    "turns": "turns", "conversation_id": "conversation_id", "speaker": "speaker",
}
REQUIRED = ("id", "timestamp", "body")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


class ImportFailed(Exception):
    """The file is refused; ``lines`` are the user-facing error lines."""

    def __init__(self, lines: list[str], faults: list[tuple[int, str, str]] | None = None) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.faults = faults or []  # (line, column, what) of every fault found, listed or not


@dataclass
class ParsedFile:
    """A validated file, ready for ``Store.import_messages``."""

    frame: pl.DataFrame
    property_names: list[str] = field(default_factory=list)
    has_labels: bool = False
    source_hint: str | None = None
    lines: list[int] = field(default_factory=list)  # the file line each row starts on
    notes: list[str] = field(default_factory=list)  # what was left out, for the summary


@dataclass
class _Errors:
    path: str
    items: list[tuple[int, str, str]] = field(default_factory=list)
    unlisted: int = 0  # faults counted but not kept (there were far too many)

    def add(self, line: int, column: str, what: str) -> None:
        self.items.append((line, column, what))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        self.items.sort(key=lambda item: item[0])
        # file content quoted in a message is made inert: no escapes or line breaks reach the terminal
        lines = [f"{self.path}:{ln}: {one_line(col, 80)}: {one_line(what, 300)}"
                 for ln, col, what in self.items[:MAX_REPORTED]]
        more = len(self.items) - MAX_REPORTED + self.unlisted
        if more > 0:
            lines.append(f"{self.path}: ... and {more} more errors")
        raise ImportFailed(lines, list(self.items))


Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    return None


# ---- decoding ---------------------------------------------------------------------------
def encoding_of(raw: bytes) -> str:
    """The encoding a byte-order mark names (UTF-8 without one)."""
    boms = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16")]
    return next((name for bom, name in boms if raw.startswith(bom)), "utf-8")


def decode(path: Path, raw: bytes) -> str:
    """Decode by byte-order mark (UTF-8 without one); undecodable bytes are an error."""
    encoding = encoding_of(raw)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start]
        try:
            line = prefix.decode(encoding, errors="replace").count("\n") + 1
        except Exception:
            line = prefix.count(b"\n") + 1
        raise ImportFailed([f"{path}:{line}: (file): bytes not valid {encoding.upper().replace('-SIG', '')} "
                            f"at byte {exc.start} (save the file as UTF-8)"]) from None
    return text


# ---- parsing ----------------------------------------------------------------------------
def read_file(path: str | Path, progress: Progress = _no_progress,
              skip_lines: frozenset[int] = frozenset(), find_language: bool = True) -> ParsedFile:
    """Read and validate a CSV/TSV/JSONL file of messages, or raise ImportFailed.
    ``skip_lines``: records starting on these lines are left out (rejected ones);
    ``find_language``: add each message's ``language`` property (import does, predict not)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportFailed([f"{path}: cannot read: {exc.strerror}"]) from None
    if size > MAX_FILE_BYTES:
        raise ImportFailed([f"{path}: file is {size / 2**20:.0f} MiB, over the 128 MiB limit; "
                            "split it into smaller files and import each"])
    progress("reading", 0.0)
    try:
        raw = path.read_bytes()
    except OSError as exc:  # a folder, no permission
        raise ImportFailed([f"{path}: cannot read: {exc.strerror}"]) from None
    encoding = encoding_of(raw)
    utf8 = raw if encoding == "utf-8" else raw[len(codecs.BOM_UTF8):] if encoding == "utf-8-sig" else None
    start = (utf8 or b"")[:65536].decode("utf-8", errors="ignore").lstrip()
    # polars refuses bytes that are not UTF-8, so a CSV it reads needs no decoding first
    # (0.05 s and 90 MB of fresh memory per 90 MB file); any other file is decoded, and
    # its fault told
    tried = utf8 is not None and not skip_lines and bool(start) and not _is_jsonl(path, start)
    if tried and (parsed := _read_fast(path, utf8 or b"", progress, find_language)) is not None:
        return parsed
    return read_text(path, decode(path, raw), progress, skip_lines, find_language, utf8, fast=not tried)


def _is_jsonl(path: Path, start: str) -> bool:
    """Whether a file with this name, whose text starts (after blanks) with ``start``, is JSONL."""
    return path.suffix.lower() in (".jsonl", ".ndjson") or start.startswith("{")


def _read_fast(path: Path, data: bytes, progress: Progress, find_language: bool) -> ParsedFile | None:
    """The CSV file of UTF-8 ``data`` read by polars and validated, or None (``_read_csv_fast``)."""
    read = _read_csv_fast(data)
    if read is None:
        return None
    progress("validating", 0.4)
    return validate_rows(path, *read, progress, find_language=find_language)


def read_text(path: Path, text: str, progress: Progress = _no_progress,
              skip_lines: frozenset[int] = frozenset(), find_language: bool = True,
              data: bytes | None = None, *, fast: bool = True) -> ParsedFile:
    """``read_file`` on text already read (``path`` names it in errors); ``data``: the
    text's UTF-8 bytes, when the file held them; ``fast``: False when polars' reading of
    them has been tried already."""
    if _is_jsonl(path, text.lstrip()):
        headers, rows, lines = _parse_jsonl(path, text, skip_lines)
    else:
        if fast and not skip_lines:
            parsed = _read_fast(path, text.encode() if data is None else data, progress, find_language)
            if parsed is not None:
                return parsed
        headers, rows, lines = _parse_csv(path, text, skip_lines)
        headers, rows, lines = _group_turns(path, headers, rows, lines)
    progress("validating", 0.4)
    return validate_rows(path, headers, rows, lines, progress, find_language=find_language)


def _internal(name: str) -> str | None:
    """The internal column a header name stands for (case, spaces and dashes aside), or None."""
    return HEADER_ALIASES.get(re.sub(r"[\s-]+", "_", name.strip().lstrip("\ufeff").lower()))


def _group_turns(path: Path, headers: list[str], rows: list[list[str]], lines: list[int]
                 ) -> tuple[list[str], list[list[str]], list[int]]:
    """A CSV of turns (``conversation_id`` and ``speaker`` columns) becomes one row per conversation."""
    columns = {_internal(name): index for index, name in enumerate(headers)}
    if "conversation_id" not in columns or "speaker" not in columns:
        return headers, rows, lines
    errors = _Errors(str(path))
    if "body" not in columns:
        errors.add(1, "text", "a file of turns needs a text column (or body/message)")
    if "id" in columns:
        errors.add(1, headers[columns["id"]], "a file of turns is grouped by conversation_id; drop the id column")
    errors.raise_if_any()
    present = {k: v for k, v in columns.items() if k is not None}
    headers, rows, lines, faults = chat.group_turn_rows(headers, rows, lines, present)
    for fault in faults:
        errors.add(*fault)
    errors.raise_if_any()
    return headers, rows, lines


def _delimiter(text: str) -> str:
    """Tab when the first line has more tabs than commas (TSV), else comma."""
    first_line = text[: text.find("\n") % (len(text) + 1)]
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _read_csv_fast(data: bytes) -> tuple[list[str], pl.DataFrame, list[int]] | None:
    """The header, every row (a frame of text columns) and the line each starts on, read from
    the UTF-8 ``data`` by polars' reader (ten times the csv module's speed on long emails); or
    None when only the csv module's reading is sure to give the same rows, or its exact fault
    (``_parse_csv``): a reader error, a NUL, a lone carriage return, a short row or a blank
    line, a header that polars would rename, a file of chat turns. (Counting bytes counts
    characters here: no byte of a UTF-8 multi-byte character is ASCII.)"""
    import numpy as np

    start = data[:65536].decode("utf-8", errors="ignore")
    delimiter = _delimiter(start)
    codes = np.frombuffer(data, dtype=np.uint8)
    if b"\x00" in data:
        return None
    if b"\r" in data:
        returns = _positions(codes, "\r")
        if returns[-1] + 1 == len(codes) or (codes[returns + 1] != ord("\n")).any():
            return None
    if _stray_quote(codes, delimiter):
        return None
    try:  # the header (a quoted name may span lines)
        header = next(csv.reader(io.StringIO(start, newline=""), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return None
    if len(header) < 2 or {"conversation_id", "speaker"} <= {_internal(name) for name in header}:
        return None
    try:
        ended = data if data.endswith(b"\n") else data + b"\n"  # else a last line may carry a stray delimiter
        table = pl.read_csv(ended, separator=delimiter, quote_char='"', infer_schema=False,
                            empty_string_is_null=False, has_header=True, raise_if_empty=False)
    except Exception:  # any refusal (polars raises several kinds): the csv module says what is wrong
        return None
    if table.columns != header or table.null_count().sum_horizontal().item():
        return None
    inside = table.select(pl.sum_horizontal(pl.all().str.count_matches(delimiter, literal=True)).alias("d"),
                          pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True)).alias("n"))
    delimiters = int(inside["d"].sum()) + sum(name.count(delimiter) for name in header)
    if _count(codes, delimiter) != (len(header) - 1) * (table.height + 1) + delimiters:
        return None  # a row short of fields, or a blank line, which polars fills with empty text
    first = 2 + sum(name.count("\n") for name in header)
    starts = (inside["n"] + 1).cum_sum().shift(1, fill_value=0) + first
    end = int(starts[-1] + inside["n"][-1]) if table.height else first - 1
    if end != _count(codes, "\n") + (not data.endswith(b"\n")):
        return None  # lines the rows do not account for
    return header, table, starts.to_list()


def _stray_quote(codes: np.ndarray, delimiter: str) -> bool:
    """Whether some quote could end a field where the csv module would refuse the file (a
    closing quote with no delimiter or line end after it: polars reads ``""a""`` as ``a``),
    or stands in a bare field. Judged run by run: an odd number of quotes before a run means
    it is inside a quoted field, where an odd run closes it; outside, a run must open a
    field, and an even one closes it at once. ``codes``: the file's bytes."""
    import numpy as np

    quotes = _positions(codes, '"')
    if not len(quotes):
        return False
    breaks = np.flatnonzero(np.diff(quotes) != 1)
    heads = np.concatenate(([0], breaks + 1))  # each run's first quote, and how many came before
    firsts, lasts = quotes[heads], quotes[np.concatenate((breaks, [len(quotes) - 1]))]
    odd = (lasts - firsts) % 2 == 0
    inside = heads % 2 == 1
    before, after = codes[np.maximum(firsts - 1, 0)], codes[np.minimum(lasts + 1, len(codes) - 1)]
    at_start = (firsts == 0) | (before == ord(delimiter)) | (before == ord("\n"))
    closed = (lasts == len(codes) - 1) | (after == ord(delimiter)) | (after == ord("\n")) | (after == ord("\r"))
    closes = np.where(inside, odd, at_start & ~odd)
    return bool((closes & ~closed).any() or (~inside & ~at_start).any())


_SLICE = 1 << 22  # bytes: a slice at a time stays in the cache, 5x quicker than a whole file


def _positions(codes: np.ndarray, char: str) -> np.ndarray:
    """Where the ASCII ``char`` is in ``codes`` (a file's bytes)."""
    import numpy as np

    return np.concatenate([np.flatnonzero(codes[at:at + _SLICE] == ord(char)) + at
                           for at in range(0, len(codes), _SLICE)] or [np.zeros(0, np.int64)])


def _count(codes: np.ndarray, char: str) -> int:
    """How many of the ASCII ``char`` ``codes`` holds (4x quicker than ``bytes.count``)."""
    import numpy as np

    return sum(int(np.count_nonzero(codes[at:at + _SLICE] == ord(char))) for at in range(0, len(codes), _SLICE))


def _parse_csv(path: Path, text: str, skip_lines: frozenset[int]) -> tuple[list[str], list[list[str]], list[int]]:
    errors = _Errors(str(path))
    delimiter = _delimiter(text)
    if "\x00" in text:
        nul_line = text[: text.index("\x00")].count("\n") + 1
        errors.add(nul_line, "(file)", "contains a NUL byte (binary data, not a text file)")
        errors.raise_if_any()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFailed([f"{path}:1: (header): file is empty"])
        start = reader.line_num + 1
        width = len(header)
        for record in reader:
            if not record or start in skip_lines:  # a blank line, or a rejected record
                start = reader.line_num + 1
                continue
            if len(record) != width:
                column = header[len(record)] if len(record) < width else f"column {len(record)}"
                errors.add(start, column.strip() or "?",
                           f"row has {len(record)} fields, header has {width}")
            else:
                rows.append(record)
                lines.append(start)
            start = reader.line_num + 1
            if len(errors.items) > 1000:
                break
    except csv.Error as exc:
        errors.add(start, "(row)", f"malformed CSV: {exc}")
    errors.raise_if_any()
    assert header is not None
    return header, rows, lines


def _parse_jsonl(path: Path, text: str, skip_lines: frozenset[int]) -> tuple[list[str], list[list[str]], list[int]]:
    errors = _Errors(str(path))
    records: list[tuple[int, dict[str, Any]]] = []
    headers: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or number in skip_lines:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(number, "(row)", f"not valid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            errors.add(number, "(row)", "a line must hold one JSON object")
            continue
        if "turns" in obj:  # a chat or call: its turns as canonical JSON text
            turns, what = chat.turns_json(obj["turns"])
            if what:
                errors.add(number, "turns", what)
                continue
            obj["turns"] = turns
        for key in obj:
            if key not in seen:
                seen.add(key)
                headers.append(key)
        records.append((number, obj))
    errors.raise_if_any()
    rows: list[list[str]] = []
    for _, obj in records:
        row = []
        for key in headers:
            value = obj.get(key)
            if value is None:
                row.append("")
            elif isinstance(value, list):
                row.append(";".join(str(v) for v in value))
            elif isinstance(value, bool):
                row.append("true" if value else "false")
            elif isinstance(value, dict):
                row.append(json.dumps(value))
            else:
                row.append(str(value))
        rows.append(row)
    return headers, rows, [n for n, _ in records]


def _unescape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo export's spreadsheet-formula escaping (a leading ' before = + - @) in the text
    columns that have a leading quote at all (a replace copies the whole column)."""
    texts = [c for c in frame.columns if c != "_line"]
    quoted = frame.select(pl.col(c).str.starts_with("'").any() for c in texts).row(0)
    return frame.with_columns(pl.col(c).str.replace(r"^'([=+\-@\t\r])", "$1")
                              for c, has in zip(texts, quoted, strict=True) if has)


def validate_rows(path: Path, headers: list[str], rows: list[list[str]] | pl.DataFrame, lines: list[int],
                  progress: Progress, *, empty_body_ok: bool = False, find_language: bool = True) -> ParsedFile:
    """``empty_body_ok``: a message may have no body when it has a subject (mail)."""
    errors = _Errors(str(path))
    mapping, properties = _map_headers(path, headers, errors)
    errors.raise_if_any()
    frame = _frame(rows, lines, mapping, properties)
    if "turns" in frame.columns:
        frame = _check_turns(frame, errors)
    find_language = find_language and not any(name.lower() == "language" for name in properties.values())
    languages = _start_languages(frame) if find_language else None  # found while the rest is checked
    _check_ids_and_bodies(frame, errors, empty_body_ok)
    frame = frame.with_columns(_parse_timestamps(frame, errors))
    progress("validating", 0.6)
    has_labels = "labels" in frame.columns
    if has_labels:  # labels, sentiments, reviewed flag
        frame = _parse_labels(frame, errors)
    source_hint = _source_hint(frame, errors)
    errors.raise_if_any()
    out = frame.select(
        "id", "ts",
        *[(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)) if c in frame.columns
           else pl.lit(None, dtype=pl.String)).alias(c)
          for c in ("subject", "sender", "recipients", "cc", "thread_id")],
        "body",
        pl.col("turns") if "turns" in frame.columns else pl.lit(None, dtype=pl.String).alias("turns"),
    )
    if languages is not None:
        frame = frame.with_columns(pl.Series("prop:language", [code or "" for code in languages()], dtype=pl.String))
        properties[-1] = "language"
    out = out.with_columns(_properties(frame, list(properties.values())))
    if has_labels:
        out = pl.concat([out, frame.select("labels", "sentiments", "annotator", "reviewed_at")],
                        how="horizontal")
    progress("validating", 1.0)
    return ParsedFile(out, list(properties.values()), has_labels, source_hint, frame["_line"].to_list())


def _map_headers(path: Path, headers: list[str], errors: _Errors) -> tuple[dict[int, str], dict[int, str]]:
    """Column index -> internal name, and column index -> user property name."""
    if len(headers) > MAX_COLUMNS:
        raise ImportFailed([f"{path}:1: (header): {len(headers)} columns, more than the {MAX_COLUMNS} "
                            "cmtui accepts; keep the message columns and the properties you need"])
    mapping: dict[int, str] = {}
    properties: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, name in enumerate(headers):
        clean = name.strip().lstrip("\ufeff")
        if not clean:
            errors.add(1, f"column {index + 1}", "header is empty (stray column?)")
            continue
        internal = _internal(clean)
        target = internal or f"prop:{clean}"
        if target in seen:
            errors.add(1, clean, f"header repeats column {seen[target] + 1}")
            continue
        seen[target] = index
        if internal:
            mapping[index] = internal
        else:
            properties[index] = clean
    required = [c for c in REQUIRED if not (c == "body" and "turns" in seen)]  # a chat's body is its turns
    for column in [c for c in required if c not in seen]:
        hint = " (or text/message)" if column == "body" else ""
        errors.add(1, column, f"required column is missing{hint}; header is: {', '.join(headers)}")
    return mapping, properties


def _frame(rows: list[list[str]] | pl.DataFrame, lines: list[int], mapping: dict[int, str],
           properties: dict[int, str]) -> pl.DataFrame:
    if isinstance(rows, pl.DataFrame):  # read by polars: its columns in the file's order
        names = {**mapping, **{index: f"prop:{name}" for index, name in properties.items()}}
        frame = rows.select(pl.nth(index).alias(name) for index, name in names.items())
        frame = frame.with_columns(pl.Series("_line", lines, dtype=pl.Int64))
        return _unescape_formulas(frame)
    columns: dict[str, list[str]] = {}
    for index, internal in mapping.items():
        columns[internal] = [row[index] for row in rows]
    for index, name in properties.items():
        columns[f"prop:{name}"] = [row[index] for row in rows]
    columns["_line"] = lines  # type: ignore[assignment]
    frame = pl.DataFrame(columns, schema={k: (pl.Int64 if k == "_line" else pl.String) for k in columns})
    return _unescape_formulas(frame)


def _report(frame: pl.DataFrame, errors: _Errors, mask: pl.Expr, column: str, what: pl.Expr | str) -> None:
    what_expr = pl.lit(what) if isinstance(what, str) else what
    hits = frame.select(mask.alias("hit"))["hit"]
    if not hits.any():
        return
    bad = frame.filter(hits).select("_line", what_expr.alias("what")).head(MAX_REPORTED * 50)
    for line, message in bad.iter_rows():
        errors.add(line, column, message)
    errors.unlisted += int(hits.sum()) - bad.height


def _check_turns(frame: pl.DataFrame, errors: _Errors) -> pl.DataFrame:
    """Each turns cell canonical (or null); a conversation without a body takes its turns' text."""
    turns: list[str | None] = []
    for line, value in zip(frame["_line"].to_list(), frame["turns"].to_list(), strict=True):
        encoded, what = chat.turns_json(value)
        if what:
            errors.add(line, "turns", what)
        turns.append(encoded)
    bodies = frame["body"].to_list() if "body" in frame.columns else [""] * frame.height
    filled = [chat.body_of(t) if t and not (b or "").strip() else (b or "") for b, t in zip(bodies, turns, strict=True)]
    return frame.with_columns(pl.Series("turns", turns, dtype=pl.String), pl.Series("body", filled, dtype=pl.String))


def _start_languages(frame: pl.DataFrame) -> Callable[[], list[str | None]]:
    """Each message's language (``cmtui.sources.language``), from its subject and the start
    of its body (no long copies), collected by calling the result."""
    subject = pl.col("subject").fill_null("") if "subject" in frame.columns else pl.lit("")
    text = pl.concat_str([subject, pl.col("body").fill_null("").str.slice(0, 2 * SAMPLE_CHARS)], separator="\n")
    return start_languages(frame.select(text.str.slice(0, 2 * SAMPLE_CHARS))[:, 0].to_list())


def _check_ids_and_bodies(frame: pl.DataFrame, errors: _Errors, empty_body_ok: bool = False) -> None:
    _report(frame, errors, pl.col("id").str.strip_chars() == "", "id", "id is empty")
    _report(frame, errors, (pl.col("id") != "") & ~pl.col("id").str.contains(r"^[\x21-\x2e\x30-\x7e]+$"), "id",
            pl.format("id {} must be ASCII letters, digits and punctuation other than '/'",
                      pl.col("id").str.slice(0, 60)))
    first_line = frame.group_by("id").agg(pl.col("_line").min().alias("_first"))
    dup = frame.join(first_line, on="id").filter(pl.col("_line") != pl.col("_first"))
    for line, rid, first in dup.select("_line", "id", "_first").head(MAX_REPORTED * 5).iter_rows():
        errors.add(line, "id", f"duplicate id {rid[:60]!r} (first on line {first})")
    empty = ~pl.col("body").str.contains(r"\S")  # only white space (no copy, as stripping makes)
    if empty_body_ok and "subject" in frame.columns:  # a mail with a subject and no text is kept
        empty = empty & ~pl.col("subject").str.contains(r"\S")
    _report(frame, errors, empty, "body", "message text is empty" + (" and so is the subject" if empty_body_ok else ""))


def _source_hint(frame: pl.DataFrame, errors: _Errors) -> str | None:
    if "source" not in frame.columns:
        return None
    values = frame["source"].unique().to_list()
    if len(values) > 1:
        errors.add(1, "source", "file mixes several sources; import each source's rows separately")
    return values[0] if len(values) == 1 and values[0] else None


def _properties(frame: pl.DataFrame, names: list[str]) -> pl.Series:
    """User properties as JSON text: a whole number when every non-empty value is one
    (12 stays 12, not 12.0), else a number when every value is one, else text."""
    exprs = []
    for name in names:
        col = pl.col(f"prop:{name}")
        present = frame.filter(col != "")[f"prop:{name}"]
        numeric = len(present) > 0 and bool(present.str.contains(_NUMBER).all())
        whole = numeric and bool(present.str.contains(r"^[+-]?\d{1,18}$").all())
        value = pl.when(col == "").then(None).otherwise(col)
        exprs.append((value.cast(pl.Int64) if whole else value.cast(pl.Float64) if numeric else value).alias(name))
    if not exprs:
        return pl.Series("properties", [None] * frame.height, dtype=pl.String)
    return frame.select(pl.struct(exprs).struct.json_encode().alias("properties"))["properties"]


_ISO = (r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
        r"\s*(Z|z|[+-]\d{2}:?\d{2})?$")
_SLASH = r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
_TS_HINT = "use RFC 3339 (2024-01-31T09:30:00Z) or YYYY-MM-DD HH:MM[:SS]"


def _parse_timestamps(frame: pl.DataFrame, errors: _Errors) -> pl.Series:
    """Parse the timestamp column into naive UTC datetimes, reporting every bad value."""
    ts = frame["timestamp"].str.strip_chars()
    iso = ts.str.extract_groups(_ISO).struct.unnest()
    iso.columns = ["y", "mo", "d", "h", "mi", "s", "frac", "tz"]
    slash = ts.str.extract_groups(_SLASH).struct.unnest()
    slash.columns = ["a", "b", "y", "h", "mi", "s"]
    is_iso = iso["y"].is_not_null()
    is_slash = slash["y"].is_not_null() & ~is_iso
    lines = frame["_line"]
    order = _date_order(slash, is_slash, lines, errors)
    bad = ~(is_iso | is_slash)
    for line, value in zip(lines.filter(bad).head(MAX_REPORTED).to_list(),
                           ts.filter(bad).head(MAX_REPORTED).to_list(), strict=True):
        errors.add(line, "timestamp", f"cannot read {value[:40]!r}; {_TS_HINT}")
    errors.unlisted += max(0, int(bad.sum()) - MAX_REPORTED)
    if errors.items:
        return pl.Series("ts", [None] * len(ts), dtype=pl.Datetime("us"))
    month, day = (slash["a"], slash["b"]) if order == "mdy" else (slash["b"], slash["a"])
    parts = pl.DataFrame({
        "y": iso["y"].fill_null(slash["y"]),
        "mo": iso["mo"].fill_null(month),
        "d": iso["d"].fill_null(day),
        "h": iso["h"].fill_null(slash["h"]).fill_null("0"),
        "mi": iso["mi"].fill_null(slash["mi"]).fill_null("0"),
        "s": iso["s"].fill_null(slash["s"]).fill_null("0"),
        "frac": iso["frac"].fill_null("0"),
        "tz": iso["tz"].fill_null(""),
        "_line": lines,
    })
    built = _datetimes(parts)
    # impossible dates (31 February) come back null: check them one by one
    nulls = built.filter(pl.col("ts").is_null())
    if nulls.height:
        for line in nulls["_line"].head(MAX_REPORTED).to_list():
            raw = ts[lines.to_list().index(line)] if nulls.height < 50 else "?"
            errors.add(line, "timestamp", f"not a real date or time: {raw!r}")
        return pl.Series("ts", [None] * len(ts), dtype=pl.Datetime("us"))
    return built["ts"].alias("ts")


def _date_order(slash: pl.DataFrame, is_slash: pl.Series, lines: pl.Series, errors: _Errors) -> str | None:
    """Day-first ("dmy") or month-first ("mdy") for dates like 03/04/2024: decided by the
    file's unambiguous dates, never guessed; a file mixing both is an error."""
    a = slash["a"].cast(pl.Int32, strict=False)
    b = slash["b"].cast(pl.Int32, strict=False)
    day_first = is_slash & (a > 12)
    month_first = is_slash & (b > 12)
    if bool(day_first.any()) and bool(month_first.any()):
        first_day = int(lines.filter(day_first).min())  # type: ignore[arg-type]
        first_month = int(lines.filter(month_first).min())  # type: ignore[arg-type]
        later = month_first if first_day < first_month else day_first
        for line in lines.filter(later).head(MAX_REPORTED).to_list():
            errors.add(line, "timestamp",
                       "file mixes day-first and month-first dates "
                       f"(day-first on line {first_day}, month-first on line {first_month})")
        return None
    if bool(day_first.any()):
        return "dmy"
    if bool(month_first.any()):
        return "mdy"
    if bool(is_slash.any()):
        line = int(lines.filter(is_slash).min())  # type: ignore[arg-type]
        errors.add(line, "timestamp", "dates like 03/04/2024 are ambiguous (day or month first?); "
                   + _TS_HINT)
    return None


def _datetimes(parts: pl.DataFrame) -> pl.DataFrame:
    """``parts`` (text fields of each date) with ``ts``: UTC, or null where impossible."""
    offset = pl.col("tz").str.replace(":", "")
    offset_minutes = (
        pl.when(pl.col("tz").is_in(["", "Z", "z"])).then(0)
        .otherwise(
            (offset.str.slice(1, 2).cast(pl.Int32, strict=False) * 60
             + offset.str.slice(3, 2).cast(pl.Int32, strict=False))
            * pl.when(offset.str.starts_with("-")).then(-1).otherwise(1))
    )
    micros = pl.col("frac").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int32, strict=False)
    built = parts.with_columns(
        pl.datetime(pl.col("y").cast(pl.Int32), pl.col("mo").cast(pl.Int32), pl.col("d").cast(pl.Int32),
                    pl.col("h").cast(pl.Int32), pl.col("mi").cast(pl.Int32), pl.col("s").cast(pl.Int32),
                    micros, time_unit="us").alias("local"),
        offset_minutes.alias("off"),
    )
    valid = (pl.col("mo").cast(pl.Int32).is_between(1, 12) & pl.col("d").cast(pl.Int32).is_between(1, 31)
             & pl.col("h").cast(pl.Int32).is_between(0, 23) & pl.col("mi").cast(pl.Int32).is_between(0, 59)
             & pl.col("s").cast(pl.Int32).is_between(0, 60))
    try:
        return built.with_columns(
            pl.when(valid).then(pl.col("local") - pl.duration(minutes=pl.col("off"))).alias("ts"))
    except pl.exceptions.ComputeError:
        return built.with_columns(pl.lit(None, dtype=pl.Datetime("us")).alias("ts"))


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _parse_labels(frame: pl.DataFrame, errors: _Errors) -> pl.DataFrame:
    reviewed = None
    if "reviewed" in frame.columns:
        flags = frame["reviewed"].str.strip_chars().str.to_lowercase()
        bad = ~flags.is_in(list(_TRUE | _FALSE))
        for line, value in zip(frame["_line"].filter(bad).to_list(), frame["reviewed"].filter(bad).to_list(),
                               strict=True):
            errors.add(line, "reviewed", f"expected true or false, not {value[:20]!r}")
        reviewed = flags.is_in(list(_TRUE))
    label_lists = frame["labels"].str.split(";").list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element() != ""))
    checked: dict[str, str | None] = {}
    for line, names in zip(frame["_line"].to_list(), label_lists.to_list(), strict=True):
        for name in names:
            if name not in checked:
                try:
                    validate_label_name(name)
                    checked[name] = None
                except LabelNameError as exc:
                    checked[name] = str(exc)
            if checked[name]:
                errors.add(line, "labels", str(checked[name]))
        if len(set(n.casefold() for n in names)) != len(names):
            errors.add(line, "labels", "a label is listed twice")
    _check_case(frame["_line"].to_list(), label_lists.to_list(), {}, errors)
    if reviewed is None:  # no reviewed column: a row is reviewed when it names a label
        reviewed = label_lists.list.len() > 0
    labels = pl.Series("labels", [lst if flag else None for lst, flag in
                                  zip(label_lists.to_list(), reviewed.to_list(), strict=True)],
                       dtype=pl.List(pl.String))
    sentiments: list[list[int | None] | None] = [None] * frame.height
    if "sentiments" in frame.columns:
        signs = {"positive": 1, "+": 1, "pos": 1, "negative": -1, "-": -1, "neg": -1, "": None}
        for i, (line, raw, names) in enumerate(zip(frame["_line"].to_list(), frame["sentiments"].to_list(),
                                                   label_lists.to_list(), strict=True)):
            parts = [p.strip().lower() for p in raw.split(";")] if raw.strip() else []
            if parts and len(parts) != len(names):
                errors.add(line, "sentiments", f"{len(parts)} sentiments for {len(names)} labels")
                continue
            unknown = [p for p in parts if p not in signs]
            if unknown:
                errors.add(line, "sentiments", f"expected positive or negative, not {unknown[0][:20]!r}")
                continue
            sentiments[i] = [signs[p] for p in parts] if parts else None
    annot = (frame["annotator"].str.strip_chars().replace("", None) if "annotator" in frame.columns
             else pl.Series([None] * frame.height, dtype=pl.String))
    if "reviewed_at" in frame.columns:
        at = frame["reviewed_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False,
                                                   time_unit="us")
    else:
        at = pl.Series([None] * frame.height, dtype=pl.Datetime("us"))
    return frame.with_columns(
        labels,
        pl.Series("sentiments", sentiments, dtype=pl.List(pl.Int16)),
        annot.alias("annotator"),
        at.alias("reviewed_at"),
    )


# ---- labels against the taxonomy ---------------------------------------------------------
def _check_case(lines: list[int], label_lists: list[list[str]], known: dict[str, str], errors: _Errors) -> None:
    """Report each label (or level path) that differs only in case from one seen before:
    ``known`` maps casefolded names to the taxonomy's spelling and grows as rows are read."""
    where: dict[str, int] = {}
    for line, names in zip(lines, label_lists, strict=True):
        for name in names:
            levels = name.split(LABEL_SEP)
            for depth in range(1, len(levels) + 1):
                path = LABEL_SEP.join(levels[:depth])
                first = known.setdefault(path.casefold(), path)
                if first != path:
                    seen = f" (line {where[first]})" if first in where else " (in the taxonomy)"
                    errors.add(line, "labels", f"label {path!r} differs only in case from {first!r}{seen}")
                    break
                where.setdefault(path, line)


def check_against_taxonomy(parsed: ParsedFile, path: Path, taxonomy: list[str]) -> None:
    """Refuse (with file and line) labels that differ only in case from the dataset's."""
    if not parsed.has_labels:
        return
    errors = _Errors(str(path))
    known = {name.casefold(): name for name in taxonomy}
    lists = [names or [] for names in parsed.frame["labels"].to_list()]
    _check_case(parsed.lines or list(range(2, len(lists) + 2)), lists, known, errors)
    errors.raise_if_any()
