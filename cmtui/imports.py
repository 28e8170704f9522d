"""Importing a file into a dataset: one place for the command line and the app.

``read_file`` (ingest) validates; this module checks the file's labels against the
dataset's taxonomy and writes it in one transaction. Faults come back as
``ImportFailed`` with ``FILE:LINE: column: what`` lines; progress goes to a callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .ingest import ImportFailed, ParsedFile, check_against_taxonomy
from .sources.read import read_source
from .store import LabelNameError, Store

SAMPLE_DATASET = "sample"
Progress = Callable[[str, float], None]


def _quiet(stage: str, fraction: float) -> None:
    return None


def import_file(store: Store, path: Path, dataset: str, *, source: str | None = None,
                annotator: str, with_labels: bool = True, sentiment: bool | None = None,
                progress: Progress = _quiet, skip_bad: bool = False) -> str:
    """Validate and import one file (or a mail folder); return the one-line summary."""
    started = time.monotonic()
    parsed = read_source(Path(path), progress, skip_bad=skip_bad)
    return _write(store, parsed, Path(path), dataset, started, source=source, annotator=annotator,
                  with_labels=with_labels, sentiment=sentiment, progress=progress)


def import_files(store: Store, paths: Sequence[Path], dataset: str, *, source: str | None = None,
                 annotator: str, with_labels: bool = True, sentiment: bool | None = None,
                 progress: Progress = _quiet, skip_bad: bool = False) -> Iterator[str]:
    """``import_file`` for each path in turn, each in a transaction of its own, yielding its
    summary; each file is read and validated on a thread while the one before is written
    (the write is DuckDB's work, outside Python's lock). A file that is refused raises
    ``ImportFailed`` in its turn, after the files before it are in. ``progress`` is told
    ``FILE: stage`` and the fraction of all the files done."""
    if not paths:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="cmtui-import") as reader:
        ahead = reader.submit(read_source, Path(paths[0]), skip_bad=skip_bad)
        for index, path in enumerate(paths):
            started = time.monotonic()
            progress(f"{path}: reading", index / len(paths))
            parsed = ahead.result()
            if index + 1 < len(paths):
                ahead = reader.submit(read_source, Path(paths[index + 1]), skip_bad=skip_bad)

            def step(stage: str, fraction: float, index: int = index, path: Path = path) -> None:
                progress(f"{path}: {stage}", (index + fraction) / len(paths))

            yield _write(store, parsed, Path(path), dataset, started, source=source, annotator=annotator,
                         with_labels=with_labels, sentiment=sentiment, progress=step)


def _write(store: Store, parsed: ParsedFile, path: Path, dataset: str, started: float, *,
           source: str | None, annotator: str, with_labels: bool, sentiment: bool | None,
           progress: Progress) -> str:
    frame = parsed.frame
    if not with_labels and parsed.has_labels:
        frame = frame.drop("labels", "sentiments", "annotator", "reviewed_at")
    else:
        check_against_taxonomy(parsed, path, store.labels(dataset))
    progress("writing", 0.8)
    try:
        result = store.import_messages(dataset, source or parsed.source_hint or dataset, frame,
                                       annotator=annotator, sentiment=sentiment)
    except LabelNameError as exc:
        raise ImportFailed([f"{path}: labels: {exc}"]) from None
    seconds = time.monotonic() - started
    unchanged = f"{result.unchanged} unchanged, " if result.unchanged else ""
    return (f"{path}: {result.added} added, {result.updated} updated, {unchanged}"
            f"{result.labels_found} new labels, {result.reviewed} reviewed "
            f"into dataset {dataset!r} in {seconds:.1f} s" + "".join(f"; {note}" for note in parsed.notes))


def ensure_sample(store: Store, annotator: str) -> str | None:
    """Load the sample mailbox into a new, empty database as a team meets a new mailbox:
    its messages unreviewed and no taxonomy yet (Discover's clusters are where it starts)."""
    if not store.is_empty():
        return None
    from .sample import sample_path

    import_file(store, sample_path(), SAMPLE_DATASET, source=SAMPLE_DATASET, annotator=annotator,
                with_labels=False)
    return SAMPLE_DATASET
