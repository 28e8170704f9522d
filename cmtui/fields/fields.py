"""A dataset's fields and where they are in its messages.

Every dataset has the built-in fields, one per kind (``date``, ``money``...). A team adds
its own: ``--like KIND`` takes that kind's candidates (``renewal date`` is a date; which
dates are renewal dates is for reviews to teach), ``--like reference:SHAPE`` a reference of
a shape (``HM-9999999``), ``--like regex:PATTERN`` a pattern of its own. A field can be
expected by labels (``Claims > New claim`` expects ``policy number``).

Finding every field in a dataset runs on every core for large datasets and is kept in
cache files beside the database, a block of messages a file, keyed by the field
definitions and the block's update times, so a change is found again in its block only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ..pool import cores, in_order
from ..store import FieldInfo, Store, StoreError
from .kinds import DEFAULT_REGION, FINDERS, KINDS, Candidate, find_pattern, shape_pattern

PARALLEL_FROM = 5_000  # messages: below this one process is quicker than handing them out
CHUNK = 2_000  # messages a worker takes at a time
BLOCK = 10_000  # mids whose candidates are cached together: found again when one of them changes
READ_CHARS = 25_000_000  # characters of text read from the store at a time (7,000 long emails)
LEAN_COLUMNS = ["mid", "field", "start", "end", "value"]  # what fitting needs of every candidate
FOUND_SCHEMA = {"mid": pl.Int64, "field": pl.String, "kind": pl.String, "start": pl.Int32, "end": pl.Int32,
                "text": pl.String, "value": pl.String, "context": pl.String}
CACHE_VERSION = 3  # what the cache files hold: 2 added the candidates' context, 3 split them in blocks


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a built-in kind, or "regex"
    shape: str | None = None  # a reference's shape, or the regular expression
    labels: tuple[str, ...] = ()  # the labels that expect it
    builtin: bool = False

    def describe(self) -> str:
        like = self.kind if self.shape is None else f"{self.kind}:{self.shape}"
        return like if self.builtin else f"like {like}"


def parse_like(like: str) -> tuple[str, str | None]:
    """``--like`` as (kind, shape): ``date``, ``reference:AA-999999`` or ``regex:PATTERN``;
    ``StoreError`` says what is wrong."""
    kind, sep, shape = like.partition(":")
    kind = kind.strip().lower()
    if kind not in (*KINDS, "regex"):
        raise StoreError(f"--like: {like!r} is not one of {', '.join(KINDS)}, reference:SHAPE or regex:PATTERN")
    if kind == "regex":
        if not shape:
            raise StoreError("--like regex:PATTERN needs a pattern")
        try:
            if re.compile(shape).search("") is not None:
                raise StoreError(f"--like: the pattern {shape!r} matches empty text")
        except re.error as exc:
            raise StoreError(f"--like: the pattern {shape!r} is not a regular expression: {exc}") from None
        return kind, shape
    if sep and kind != "reference":
        raise StoreError(f"--like: only reference and regex take a shape (got {like!r})")
    if kind == "reference" and shape:
        try:
            shape_pattern(shape)
        except ValueError as exc:
            raise StoreError(f"--like: {exc}") from None
    return kind, shape or None


def dataset_fields(store: Store, dataset: str) -> list[Field]:
    """The built-in fields, then the team's (alphabetically)."""
    own = [_field(info) for info in store.fields(dataset)]
    return [*(Field(kind, kind, builtin=True) for kind in KINDS), *own]


def _field(info: FieldInfo) -> Field:
    return Field(info.name, info.kind, info.shape, info.labels)


@dataclass(frozen=True)
class Found:
    field: str
    candidate: Candidate


def find_fields(text: str, fields: Sequence[Field], base_year: int = 2024,
                region: str = DEFAULT_REGION) -> list[Found]:
    """Every field's candidates in ``text``, by position: a kind is looked for once and
    its candidates go to each field of that kind."""
    by_kind: dict[tuple[str, str | None], list[Candidate]] = {}
    found: list[Found] = []
    for field in fields:
        key = (field.kind, field.shape)
        if key not in by_kind:
            by_kind[key] = list(_candidates(text, field, base_year, region))
        found += [Found(field.name, c) for c in by_kind[key]]
    found.sort(key=lambda f: (f.candidate.start, -f.candidate.end, f.field))
    return found


def _candidates(text: str, field: Field, base_year: int, region: str) -> list[Candidate]:
    if field.kind == "regex":
        return list(find_pattern(text, re.compile(field.shape or ""), field.name))
    if field.kind == "reference":
        return list(FINDERS["reference"](text, field.shape))
    if field.kind == "date":
        return list(FINDERS["date"](text, base_year))
    if field.kind == "phone":
        return list(FINDERS["phone"](text, region))
    return list(FINDERS[field.kind](text))


# ---- a whole dataset ----------------------------------------------------------------------
def find_in_dataset(store: Store, dataset: str, fields: Sequence[Field], region: str = DEFAULT_REGION,
                    progress: Callable[[float], None] = lambda _f: None,
                    cancelled: Callable[[], bool] = lambda: False,
                    meta: pl.DataFrame | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Every field's candidates in every message of ``dataset`` (mid, field, kind, start,
    end, text, value, context; or only ``columns``), in mid order.

    Cached a block of ``BLOCK`` mids at a time, each block named by its messages' (mid,
    updated): a changed or new message means finding its block's again, not the whole
    dataset's (100k long emails take a minute on two cores, 1M ten). ``model.Cancelled``
    when ``cancelled`` says stop between chunks; the blocks finished by then are kept, so
    the next call goes on from them. ``meta``: the messages' (mid, updated), when the
    caller holds them."""
    from ..private import write_cache_file

    if meta is None:
        meta = store.messages_frame(dataset, "mid, updated")
    blocks = found_blocks(store, dataset, fields, region, meta)
    todo = [b for b in blocks if not b.path.exists()]
    jobs = ((b, last, frame, list(fields), region) for b in todo for last, frame in _text_chunks(store, dataset, b))
    left = sum(b.messages for b in todo)
    parallel = left >= PARALLEL_FROM and cores() > 1
    parts: list[pl.DataFrame] = []
    for block, last, part in in_order(_find_chunk, jobs) if parallel else map(_find_chunk, jobs):
        if cancelled():
            from ..model import Cancelled

            raise Cancelled
        parts.append(part)
        if last:  # the block is whole: kept at once, so a stop later loses none of it
            write_cache_file(block.path, pl.concat(parts).write_parquet)
            parts, left = [], left - block.messages
            progress(1 - left / max(1, meta.height))
    _forget_other_blocks(blocks)
    if not blocks:
        return pl.DataFrame(schema=FOUND_SCHEMA).select(columns or list(FOUND_SCHEMA))
    return pl.read_parquet([b.path for b in blocks], columns=list(columns) if columns else None)


@dataclass(frozen=True)
class FoundBlock:
    """The cache file of one block of mids (``number * BLOCK`` to the next block's first)."""

    number: int
    path: Path
    messages: int

    @property
    def mids(self) -> tuple[int, int]:
        return self.number * BLOCK, (self.number + 1) * BLOCK - 1


def found_blocks(store: Store, dataset: str, fields: Sequence[Field], region: str,
                 meta: pl.DataFrame) -> list[FoundBlock]:
    """Where ``find_in_dataset`` caches what it found, block by block in mid order: a
    folder named by the fields and the region, a file per block named by its messages'
    (mid, updated), so a change to any of them is a new file."""
    from ..features import cache_dir

    spec = json.dumps([[f.name, f.kind, f.shape] for f in fields] + [region, CACHE_VERSION]).encode()
    folder = cache_dir(store.path, dataset) / f"fields-{hashlib.sha256(spec).hexdigest()[:16]}"
    keyed = meta.select((pl.col("mid") // BLOCK).alias("block"), meta.hash_rows().alias("hash"))
    blocks = []
    for (number,), part in keyed.partition_by("block", maintain_order=True, as_dict=True).items():
        key = hashlib.sha256(part["hash"].to_numpy().tobytes()).hexdigest()[:16]
        blocks.append(FoundBlock(int(number), folder / f"block-{int(number)}-{key}.parquet", part.height))
    return blocks


def _forget_other_blocks(blocks: Sequence[FoundBlock]) -> None:
    """Drop the cache files no block of ``blocks`` is: other field definitions', changed
    messages', and the whole-dataset files of cache version 2."""
    import shutil

    if not blocks:
        return
    folder = blocks[0].path.parent
    kept = {b.path.name for b in blocks}
    for old in folder.parent.glob("fields-*"):
        if old.is_dir() and old != folder:
            shutil.rmtree(old, ignore_errors=True)
        elif old.is_file():
            old.unlink(missing_ok=True)
    for old in folder.glob("block-*"):
        if old.name not in kept:
            old.unlink(missing_ok=True)


def found_contexts(paths: Sequence[Path], field: str) -> pl.Series:
    """The words around each of ``field``'s candidates in the cache files ``paths``, in
    their order: only that field's rows are read."""
    return pl.scan_parquet(list(paths)).filter(pl.col("field") == field).select("context").collect()["context"]


def _text_chunks(store: Store, dataset: str, block: FoundBlock) -> Iterator[tuple[bool, pl.DataFrame]]:
    """A block's texts, ``CHUNK`` messages at a time (each with whether it is the block's
    last), read in windows of about ``READ_CHARS`` characters: every text of 1M short
    messages at once took 1.3 GB on top of the session, 50,000 long emails at once 550 MB."""
    sizes = store.messages_frame(dataset, "mid, length(coalesce(subject, '')) + length(body) AS n",
                                 between=block.mids).with_columns((pl.col("n").cum_sum() // READ_CHARS).alias("chars"))
    windows = sizes.partition_by("chars", maintain_order=True)
    for n, window in enumerate(windows, start=1):
        frame = store.messages_frame(dataset, "mid, ts, subject, body", between=(window["mid"][0], window["mid"][-1]))
        for at in range(0, frame.height, CHUNK):
            yield n == len(windows) and at + CHUNK >= frame.height, frame.slice(at, CHUNK)


def _find_chunk(job: tuple[FoundBlock, bool, pl.DataFrame, list[Field], str]
                ) -> tuple[FoundBlock, bool, pl.DataFrame]:
    """One chunk of a block's messages, in a worker process: the subject and body searched
    as one text (subject, a newline, body), so positions count from the subject's start."""
    block, last, frame, fields, region = job
    from .model import context_of

    rows: list[tuple[int, str, str, int, int, str, str, str]] = []
    for mid, ts, subject, body in frame.iter_rows():
        year = ts.year if isinstance(ts, datetime) else datetime.now(UTC).year
        text = message_text(subject, body)
        for found in find_fields(text, fields, year, region):
            c = found.candidate
            rows.append((mid, found.field, c.kind, c.start, c.end, c.text, c.value, context_of(text, c.start, c.end)))
    return block, last, pl.DataFrame(rows, schema=FOUND_SCHEMA, orient="row")


def message_text(subject: str | None, body: str | None) -> str:
    """What fields are found in: the subject, a newline, the body."""
    return f"{subject or ''}\n{body or ''}"


def values_path(store: Store, dataset: str) -> Path:
    from ..features import cache_dir

    return cache_dir(store.path, dataset) / "field-values.parquet"


def save_values(store: Store, dataset: str, predicted: pl.DataFrame | None,
                verdicts: dict[int, dict[tuple[str, int, int], tuple[str, str]]]) -> pl.DataFrame:
    """Each message's field values as the last validation left them (what export writes):
    the predicted ones, less those reviewed as not the field, plus those reviewed as it."""
    from ..private import write_cache_file

    said = [(mid, f, s, e, v, d) for mid, spans in verdicts.items() for (f, s, e), (v, d) in spans.items()]
    judged = pl.DataFrame(said, schema={"mid": pl.Int64, "field": pl.String, "start": pl.Int32, "end": pl.Int32,
                                        "value": pl.String, "verdict": pl.String}, orient="row")
    keys = ["mid", "field", "start", "end"]
    values = (predicted.select(*keys, "value") if predicted is not None
              else pl.DataFrame(schema={k: judged.schema[k] for k in (*keys, "value")}))
    values = values.with_columns(pl.col("start").cast(pl.Int32), pl.col("end").cast(pl.Int32))
    values = values.join(judged.filter(pl.col("verdict") == "no").select(keys), on=keys, how="anti")
    values = pl.concat([values, judged.filter(pl.col("verdict") == "yes").select(*keys, "value")]).unique(
        keys, keep="last").sort("mid", "start", "field")
    write_cache_file(values_path(store, dataset), lambda tmp: values.write_parquet(tmp))
    return values


def load_values(store: Store, dataset: str) -> pl.DataFrame | None:
    path = values_path(store, dataset)
    return pl.read_parquet(path) if path.exists() else None
