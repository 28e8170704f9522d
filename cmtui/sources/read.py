"""Read whatever a path holds: a mail source, else a CSV/TSV/JSONL file."""

from __future__ import annotations

from pathlib import Path

from ..ingest import ImportFailed, ParsedFile, Progress, _no_progress, read_file, validate_rows


def read_source(path: Path, progress: Progress = _no_progress, *, skip_bad: bool = False) -> ParsedFile:
    """Read and validate whatever ``path`` holds, or raise ``ImportFailed``. Mails that
    cannot be read refuse the whole import unless ``skip_bad`` (then they are counted)."""
    from . import mail  # mailbox and email load only when something is imported

    if not path.exists():
        raise ImportFailed([f"{path}: cannot read: No such file or directory"])
    kind = mail.kind_of(path)
    if kind is None:
        if path.is_dir():
            raise ImportFailed([f"{path}: a folder with no mail in it (a folder is read as a Maildir or as "
                                ".eml files; name CSV and JSONL files one by one)"])
        return read_file(path, progress)
    progress("reading", 0.0)
    mails = mail.read_mail(path, kind)
    if mails.bad and not skip_bad:
        lines = [str(bad) for bad in mails.bad[:20]]
        if len(mails.bad) > 20:
            lines.append(f"{path}: ... and {len(mails.bad) - 20} more mails that cannot be read")
        lines.append(f"{path}: nothing imported; --skip-bad imports the other {len(mails.rows)} mails")
        raise ImportFailed(lines)
    if not mails.rows:
        raise ImportFailed([f"{path}: no mail in it ({kind})"])
    progress("validating", 0.4)
    header = [c for i, c in enumerate(mail.COLUMNS) if c in mail.KEPT or any(row[i] for row in mails.rows)]
    keep = [mail.COLUMNS.index(c) for c in header]
    rows = [[row[i] for i in keep] for row in mails.rows]
    parsed = validate_rows(path, header, rows, mails.lines, progress, empty_body_ok=True)
    if mails.bad:
        parsed.notes.append(f"{len(mails.bad)} mails that cannot be read skipped")
    if mails.duplicates:
        parsed.notes.append(f"{mails.duplicates} second copies of a Message-ID left out")
    return parsed
