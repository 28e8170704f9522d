"""Mail as it sits on a server: an mbox file, a Maildir (with its sub-folders), a folder
of ``.eml`` files or one ``.eml``, read with the standard library's ``mailbox`` and
``email`` packages, never by hand-written parsing.

The parser runs with policy ``compat32`` and headers are decoded with ``email.header``:
policy ``default`` parses every header it is asked for through its full RFC 5322 grammar
(and builds a header class per access), which read the generated sample mbox at 266
mails/s against 2,000 with ``compat32`` on the same (loaded) machine; the decoded text
is the same. Mailboxes of ``PARALLEL_FROM`` mails or more are parsed on every core.

Per mail:

* **id**: the ``Message-ID`` without its angle brackets and spaces, made ASCII and
  ``/``-free by percent-escaping (``%XX`` of each UTF-8 byte) every ``%``, ``/``, space,
  control or non-ASCII character: stable, and reversible with ``urllib.parse.unquote``.
  A mail without one gets ``nomsgid-`` and the first 24 hex digits of the SHA-256 of its
  bytes (without an mbox ``From `` line), the same on every import.
* **timestamp**: the ``Date`` header in UTC, its offset kept as the ``timezone`` property.
  When ``Date`` is missing or unreadable: the newest ``Received`` header's date, then the
  mbox ``From `` line, then the file's modification time; ``date_from`` then says which.
* **subject, from, to, cc**: decoded (encoded words in any charset).
* **body**: the ``text/plain`` part, else the ``text/html`` part as readable text
  (inscriptis: layout kept, links kept as text, no markup), else empty: a mail with a
  subject and no text is kept.
* **thread_id**: the thread's root: the first id of ``References``, else ``In-Reply-To``;
  a mail that others answer is its own thread's root.
* **properties**: ``attachments`` (count) and ``attachment_names``; ``folder`` for a
  Maildir (``INBOX`` for the top one, ``Archive/2024`` for a sub-folder).

A mail that cannot be read (no header fields, a failing part) is an error naming the file
and its position (``FILE:LINE`` of its ``From `` line in an mbox, the message key in a
Maildir); ``skip_bad`` leaves such mails out instead. A second copy of a ``Message-ID``
(the same mail filed twice) is left out and counted.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import itertools
import mailbox
import mmap
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from ..pool import cores, in_order
from .language import SAMPLE_CHARS, language_of

SNIFF_BYTES = 4096
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_KNOWN = re.compile(rb"^(from|date|subject|message-id|received|mime-version|return-path|to|"
                    rb"delivered-to|x-[!-9;-~]+):", re.IGNORECASE | re.MULTILINE)
_ID_SAFE = re.compile(r"[^\x21-\x24\x26-\x2e\x30-\x7e]")
_ANGLE = re.compile(r"<([^<>]*)>")
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)
COLUMNS = ["id", "timestamp", "subject", "from", "to", "cc", "thread_id", "body",
           "attachments", "attachment_names", "timezone", "date_from", "folder", "language"]
KEPT = {"id", "timestamp", "subject", "from", "to", "cc", "thread_id", "body", "attachments",
        "language"}  # even when empty


class BadMail(Exception):
    """One mail that cannot be read: ``where`` (file and position) and what is wrong."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: (mail): {what}")
        self.where, self.what = where, what


# ---- what a path holds -------------------------------------------------------------------
def kind_of(path: Path) -> str | None:
    """``mbox``, ``maildir``, ``eml-folder`` or ``eml`` by content; None for anything else
    (a CSV or JSONL file, which ``ingest`` reads)."""
    if path.is_dir():
        if maildir_folders(path):
            return "maildir"
        if any(looks_like_mail(_head(f)) for f in _files(path)):
            return "eml-folder"
        return None
    head = _head(path)
    if head.startswith(b"From "):
        return "mbox"
    return "eml" if looks_like_mail(head) else None


def looks_like_mail(head: bytes) -> bool:
    """Header lines from the first line on, one of them a mail header (From, Date, ...)."""
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first):
        return False
    headers = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    return bool(_KNOWN.search(headers))


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError:
        return b""


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (sorted, hidden ones left out)."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out


def maildir_folders(path: Path) -> list[tuple[str, Path]]:
    """(folder name, path) of every Maildir under ``path``: a directory with ``cur`` and
    ``new``. The top one is ``INBOX``; Maildir++ names (``.Archive.2024``) and nested
    directories both read as ``Archive/2024``."""
    found = []
    for root, dirs, _ in os.walk(path):
        here = Path(root)
        if {"cur", "new"} <= set(dirs):
            rel = here.relative_to(path)
            name = "INBOX" if rel == Path(".") else "/".join(
                p for part in rel.parts for p in part.strip(".").split(".") if p)
            found.append((name, here))
        dirs[:] = sorted(d for d in dirs if d not in ("cur", "new", "tmp"))
    return found


# ---- reading -------------------------------------------------------------------------------
@dataclass
class Mails:
    """What a mail source gave: rows (``COLUMNS`` as text), the line or position each
    starts at, and what was left out."""

    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[BadMail] = field(default_factory=list)
    duplicates: int = 0


PARALLEL_FROM = 2000  # mails: below this one process reads them (a worker takes ~0.3 s to start)
CHUNK = 500  # mails a worker reads at a time
Raw = tuple[str, int, bytes, tuple[str, datetime | bytes | None], str]  # where, line, bytes, fallback date (or an mbox From line), folder


def read_mail(path: Path, kind: str, progress: Callable[[float], None] = lambda _f: None,
              workers: int | None = None) -> Mails:
    """Every mail of ``path`` (of ``kind``, see ``kind_of``) as rows; bad mails are
    collected in ``Mails.bad`` for the caller to refuse or skip. Mails are read on every
    core (``workers``, default all) when there are many: parsing a mail is pure Python."""
    out = Mails()
    seen: set[str] = set()
    roots: set[str] = set()
    number = 0
    for chunk, rows in _parsed(_raw_mails(path, kind), workers or cores()):
        for (where, line, *_rest), row in zip(chunk, rows, strict=True):
            number += 1
            if isinstance(row, BadMail):
                out.bad.append(BadMail(where, row.what))
                continue
            if row[0] in seen:
                out.duplicates += 1
                continue
            seen.add(row[0])
            if row[6]:
                roots.add(row[6])
            out.rows.append(row)
            out.lines.append(line or number)
        progress(0.0)
    for row in out.rows:  # a mail others answer is the root of its thread
        if not row[6] and row[0] in roots:
            row[6] = row[0]
    return out


def _parsed(raws: Iterator[Raw], workers: int) -> Iterator[tuple[list[Raw], list[list[str] | BadMail]]]:
    """Chunks of raw mails with their rows, in order; on ``workers`` processes once there
    are ``PARALLEL_FROM`` mails."""
    first = list(itertools.islice(raws, PARALLEL_FROM))
    if len(first) < PARALLEL_FROM or workers < 2:
        for start in range(0, len(first), CHUNK):
            chunk = first[start:start + CHUNK]
            yield chunk, _rows(chunk)
        for chunk in _chunks(raws):
            yield chunk, _rows(chunk)
        return
    held: deque[list[Raw]] = deque()  # the chunks out at the pool, to pair with their rows

    def handed() -> Iterator[list[Raw]]:
        for chunk in _chunks(itertools.chain(first, raws)):
            held.append(chunk)
            yield chunk

    for rows in in_order(_rows, handed()):  # the shared pool, a bounded window: never the whole mailbox
        yield held.popleft(), rows


def _chunks(raws: Iterator[Raw]) -> Iterator[list[Raw]]:
    while chunk := list(itertools.islice(raws, CHUNK)):
        yield chunk


def _rows(chunk: list[Raw]) -> list[list[str] | BadMail]:
    out: list[list[str] | BadMail] = []
    for _where, _line, raw, fallback, folder in chunk:
        try:
            out.append(mail_row(raw, fallback, folder))
        except BadMail as exc:
            out.append(exc)
        except Exception as exc:  # the email package may raise on a mangled part or header
            out.append(BadMail("", f"cannot be read: {type(exc).__name__}: {exc}"))
    return out


def _raw_mails(path: Path, kind: str) -> Iterator[Raw]:
    """(where, line, bytes, (fallback name, fallback time), folder) per mail."""
    if kind == "mbox":
        box = _Mbox(path, create=False)
        try:
            for key in box.iterkeys():
                raw = box.get_bytes(key, from_=True)
                from_line, _, message = raw.partition(b"\n")
                # the From line's date is read in the worker, and only for a mail without a Date
                line = box.lines[key]
                yield (f"{path}:{line}", line, message, ("mbox From line", from_line), "")
        finally:
            box.close()
    elif kind == "maildir":
        for name, folder in maildir_folders(path):
            maildir = mailbox.Maildir(folder, factory=None, create=False)
            for key in sorted(maildir.iterkeys()):
                raw = maildir.get_bytes(key)
                yield (f"{folder}: message {key}", 0, raw, ("delivery time", _delivery_time(key)), name)
    else:
        files = [path] if kind == "eml" else [f for f in _files(path)]
        for file in files:
            raw = file.read_bytes()
            when = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            yield (str(file), 0, raw, ("file time", when), "")


class _Mbox(mailbox.mbox):
    """``mailbox.mbox`` whose table of contents is found by one regular expression over
    the file (mapped, not read), by the standard library's own rule: a mail starts at each
    line beginning ``From `` and ends before it, less one newline when the line before is
    empty. The standard library finds it a line at a time with a ``tell()`` per line: 0.95
    s of the parent's time for 20,000 short mails, before any worker can start. Also keeps
    each mail's line number (``lines``), to name it in errors."""

    lines: dict[Any, int]  # by key (an int; typed as str by typeshed's Mailbox)
    _file: BinaryIO

    def _generate_toc(self) -> None:
        self._file.seek(0, os.SEEK_END)
        size = self._file.tell()
        starts: list[int] = []
        self.lines = {}
        if size:
            with mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                line, last = 1, 0
                for found in _FROM_LINE.finditer(data):
                    start = found.start()
                    line += data[last:start].count(b"\n")
                    self.lines[len(starts)] = line
                    starts.append(start)
                    last = start
                ends = [*starts[1:], size]
                stops = [end - 1 if _after_empty_line(data, end) else end for end in ends] if starts else []
        else:
            stops = []
        self._toc = dict(enumerate(zip(starts, stops, strict=True)))
        self._next_key = len(self._toc)
        self._file_length = size


def _after_empty_line(data: mmap.mmap, end: int) -> bool:
    """Whether the line before offset ``end`` (a line start, or the end of the file) is
    exactly a newline."""
    return end >= 1 and data[end - 1:end] == b"\n" and (end == 1 or data[end - 2:end - 1] == b"\n")


def _delivery_time(key: str) -> datetime | None:
    """A Maildir file name starts with its delivery time in seconds (``1700000000.M1P2.host``)."""
    head = key.split(".", 1)[0]
    return datetime.fromtimestamp(int(head), UTC) if head.isdigit() and len(head) <= 11 else None


def _from_line_date(line: bytes) -> datetime | None:
    """The date of an mbox ``From sender Sat Jan  3 01:05:34 1996`` line (UTC)."""
    parts = line.decode("ascii", "replace").split()
    if len(parts) < 7:
        return None
    try:
        return datetime.strptime(" ".join(parts[-5:]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def mail_row(raw: bytes, fallback: tuple[str, datetime | bytes | None] = ("", None), folder: str = "") -> list[str]:
    """One mail as a row of ``COLUMNS`` (text), or ``BadMail``."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not message.keys():
        raise BadMail("", "not a mail: no header fields")
    message_id = mail_id(_header(message, "Message-ID"), raw)
    when, zone, date_from = _timestamp(message, fallback)
    subject = _one_line(_header(message, "Subject"))
    body, names = _body_and_attachments(message)
    if not body.strip() and not subject:
        raise BadMail("", "has neither a subject nor any text")
    # the language here, in the worker that has the text: not in a second pass over every mail
    language = language_of(f"{subject}\n{body[:2 * SAMPLE_CHARS]}") or ""
    return [message_id, when, subject, _one_line(_header(message, "From")), _one_line(_header(message, "To")),
            _one_line(_header(message, "Cc")), _thread_root(message), body,
            str(len(names)), "; ".join(names), zone, date_from, folder, language]


def mail_id(header: str, raw: bytes) -> str:
    """The id rule of the module docstring."""
    found = _ANGLE.search(header)
    value = (found.group(1) if found else header).strip().replace(" ", "")
    if not value:
        return "nomsgid-" + hashlib.sha256(raw.rstrip(b"\r\n")).hexdigest()[:24]
    return _ID_SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), value)


def _header(message: Message, name: str) -> str:
    """A header's text, encoded words decoded (``=?iso-8859-1?q?...?=``)."""
    value = message.get(name)
    return "" if value is None else _decoded(str(value))


def _decoded(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, HeaderParseError, ValueError):  # an unknown charset: as written
        return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _thread_root(message: Message) -> str:
    for name in ("References", "In-Reply-To"):
        ids = _ANGLE.findall(_header(message, name))
        if ids:
            return mail_id(ids[0], b"")
    return ""


def _timestamp(message: Message, fallback: tuple[str, datetime | bytes | None]) -> tuple[str, str, str]:
    """(RFC 3339 UTC, the Date's offset like ``+02:00``, where it came from when not Date)."""
    when = _date(_header(message, "Date"))
    if when is not None:
        offset = when.utcoffset()
        zone = "" if offset is None else _offset_text(offset.total_seconds())
        return _utc_text(when), zone, ""
    for received in message.get_all("Received", failobj=[]):
        when = _date(str(received).rpartition(";")[2])
        if when is not None:
            return _utc_text(when), "", "Received"
    name, given = fallback
    at = _from_line_date(given) if isinstance(given, bytes) else given
    if at is None:
        at = datetime(1970, 1, 1, tzinfo=UTC)
        name = "none (1970-01-01)"
    return _utc_text(at), "", name


def _date(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None


def _utc_text(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset_text(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _is_attachment(part: Any) -> bool:
    if part.is_multipart():
        return False
    disposition = part.get_content_disposition()
    return disposition == "attachment" or (disposition == "inline" and bool(part.get_filename())
                                           and part.get_content_maintype() != "text")


def _body_and_attachments(message: Message) -> tuple[str, list[str]]:
    """The body (the first text/plain part that is not an attachment, else the first
    text/html one) and the attachments' names, in one walk over the parts."""
    found: dict[str, Message] = {}
    names: list[str] = []
    for part in message.walk():
        if _is_attachment(part):
            names.append(_one_line(_decoded(part.get_filename() or "(unnamed)")))
            continue
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            found[kind] = part
    chosen = found.get("text/plain") or found.get("text/html")
    if chosen is None:
        return "", names
    text = _text_of(chosen)
    if chosen.get_content_subtype() == "html":
        text = html_to_text(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n"), names


def _text_of(part: Message) -> str:
    """A part's text: transfer encoding (quoted-printable, base64) undone, then its charset
    (UTF-8 when it names none or one Python does not know; bad bytes become U+FFFD)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail: inscriptis keeps the layout (paragraphs, lists,
    tables) and writes each link as ``text [url]``; no markup is left."""
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    if not html.strip():
        return ""
    return get_text(html, ParserConfig(display_links=True))
