"""Hashed text features: tokenise with polars, hash into a fixed space, cache on disk.

Text is subject + body with quoted replies and signatures removed where they can be
recognised (lines starting with ``>``, everything after ``On ... wrote:`` or a ``--``
signature line), because in real email threads they repeat other messages' words.
Tokens are lower-case words in any script, accents on Latin, Greek and Cyrillic letters
dropped (so "café" and "cafe" meet); scripts written without spaces between words
(Chinese, Japanese, Thai, Lao, Khmer, Myanmar) are cut into single characters, so their
"bigrams" are character bigrams. Features are unigrams and bigrams hashed into
``2**bits`` columns, weighted ``log1p(count) * idf`` and L2-normalised per row.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from .private import write_cache_file

DEFAULT_BITS = 18
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN = rf"[{_UNSPACED}]|[\p{{L}}\p{{N}}--{_UNSPACED}]+(?:'\p{{L}}+)?"
_ACCENTED = r"([\p{Latin}\p{Greek}\p{Cyrillic}])\p{Mn}+"
_QUOTE_HEAD = r"(?ms)^\s*On [^\n]{0,200}wrote:\s*$.*"
_SIGNATURE = r"(?ms)^-- ?\n.*"
_QUOTED_LINE = r"(?m)^\s*>[^\n]*$"
CHUNK = 10_000  # messages fetched from the database at a time
HASH_CHUNK = 2_000  # messages hashed at a time: bounds the memory of exploded tokens
HASH_THREADS = 2
TFIDF_ROWS = 65_536  # rows weighted at a time (bounds the temporaries)
MAX_PROPERTIES = 24  # user properties given to the trees (the first ones, by name)
MAX_CATEGORIES = 32  # values of a text property kept as categories; the rarer ones are "other"
MIN_CATEGORY_COUNT = 3
PROPERTY_CHUNK = 50_000  # messages whose properties are parsed at once


def clean_text(subject: pl.Expr, body: pl.Expr) -> pl.Expr:
    """Subject + body without quoted replies and signatures (as a polars expression)."""
    stripped = (body.str.replace(_QUOTE_HEAD, "").str.replace(_SIGNATURE, "")
                .str.replace_all(_QUOTED_LINE, ""))
    return pl.concat_str([subject.fill_null(""), stripped], separator="\n")


def hash_texts(texts: pl.Series, bits: int = DEFAULT_BITS) -> sp.csr_matrix:
    """Term counts of unigrams and bigrams hashed into ``2**bits`` columns (CSR, float32)."""
    starts = range(0, len(texts), HASH_CHUNK)
    # polars and scipy release the GIL: two chunks at a time take half as long on two cores
    with ThreadPoolExecutor(min(HASH_THREADS, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(lambda start: _hash_chunk(texts.slice(start, HASH_CHUNK), bits), starts))
    if not parts:
        return sp.csr_matrix((0, 1 << bits), dtype=np.float32)
    return sp.vstack(parts, format="csr")


def _hash_chunk(texts: pl.Series, bits: int) -> sp.csr_matrix:
    """Counts of one chunk: each token and each pair of neighbouring tokens of a text,
    hashed; scipy sums the repeated (row, column) pairs (a polars group-by took twice as
    long for the whole chunk)."""
    tokens = pl.DataFrame({"tok": words(texts)}).with_row_index("row").explode("tok").drop_nulls("tok")
    row, tok = tokens["row"], tokens["tok"]
    same = row == row.shift(-1)  # the next token is of the same text: a bigram
    bigrams = (tok + " " + tok.shift(-1)).filter(same)
    rows = np.concatenate([row.to_numpy(), row.filter(same).to_numpy()])
    cols = (pl.concat([tok, bigrams]).hash(seed=42).to_numpy() & ((1 << bits) - 1)).astype(np.int32)
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), 1 << bits))
    matrix.sum_duplicates()
    return matrix


def words(texts: pl.Series) -> pl.Series:
    """Each text's tokens, lower-case, accents dropped from Latin, Greek and Cyrillic
    letters only (other scripts' marks are part of their letters; recomposed afterwards so
    that, say, a Japanese voiced kana keeps its mark). Only texts with non-ASCII characters
    are normalised: that halves the time on English mail."""
    accented = texts.str.contains(r"[^\x00-\x7F]").fill_null(False)
    if accented.any():
        rows = accented.arg_true()
        plain = (texts.gather(rows).str.normalize("NFKD").str.replace_all(_ACCENTED, "$1")
                 .str.normalize("NFKC"))
        texts = texts.scatter(rows, plain)
    return texts.str.to_lowercase().str.extract_all(_TOKEN)


def tfidf(counts: sp.csr_matrix, idf: np.ndarray | None = None,
          in_place: bool = False) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sublinear TF-IDF, L2-normalised rows; ``idf`` is computed from ``counts`` if not given.

    Works on the data array alone and shares the index arrays with ``counts``: at a
    million messages a copy of the matrix is over a gigabyte. ``in_place`` overwrites
    ``counts``' own data (for a caller that has no further use for the counts), and the
    rows are weighted ``TFIDF_ROWS`` at a time: done on the whole array at once, the
    temporaries (a float copy, the logarithm, the idf of every entry, the squares) had
    taken 2.3 GB beside the 1.15 GB matrix of 1M short messages.
    """
    if idf is None:
        df = document_frequency(counts).astype(np.float32)
        idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
    own = in_place and counts.data.dtype == np.float32
    data = counts.data if own else counts.data.astype(np.float32)
    indptr = counts.indptr
    for first in range(0, counts.shape[0], TFIDF_ROWS):
        last = min(counts.shape[0], first + TFIDF_ROWS)
        start, end = int(indptr[first]), int(indptr[last])
        if start == end:
            continue
        block = data[start:end]  # a view: the rows' entries
        np.log1p(block, out=block)
        block *= idf[counts.indices[start:end]]
        lengths = np.diff(indptr[first:last + 1])
        nonempty = lengths > 0
        sums = np.zeros(last - first, dtype=np.float32)
        sums[nonempty] = np.add.reduceat(block * block, indptr[first:last][nonempty] - start)
        norms = np.sqrt(sums)
        norms[norms == 0] = 1
        block /= np.repeat(norms, lengths)
    return sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape), idf


def document_frequency(x: sp.csr_matrix, block: int = 1 << 24) -> np.ndarray:
    """How many rows use each column, counted ``block`` entries at a time: ``np.bincount``
    of all the (int32) indices at once first copies them as int64, 1.15 GB at 1M short
    messages."""
    counts = np.zeros(x.shape[1], dtype=np.int64)
    for start in range(0, x.nnz, block):
        counts += np.bincount(x.indices[start:start + block], minlength=x.shape[1])
    return counts


def features_version(bits: int) -> str:
    """Changes whenever the same text could hash to other columns: caches built on the
    features (counts, Discover's representation) carry it in their names."""
    return hashlib.sha1(f"{pl.__version__}|{bits}|{_TOKEN}|{_ACCENTED}|2".encode()).hexdigest()[:10]


@dataclass
class FeatureCache:
    """Hashed counts of a dataset's messages, stored beside the database.

    Rows are keyed by (mid, updated) so an updated message is hashed again and a
    reopened dataset is not.
    """

    directory: Path
    bits: int = DEFAULT_BITS

    def _file(self) -> Path:
        return self.directory / f"features-{features_version(self.bits)}.npz"

    def load_or_build(self, meta: pl.DataFrame,
                      fetch_texts: Callable[[list[int]], pl.DataFrame]) -> sp.csr_matrix:
        """Counts for the messages of ``meta`` (mid, updated) in its row order.

        ``fetch_texts(mids)`` returns (mid, subject, body) for messages that need hashing.
        """
        mids = meta["mid"].to_numpy()
        stamps = meta["updated"].dt.epoch("us").to_numpy()
        cached = self._read()
        fresh = np.zeros(len(mids), dtype=bool)
        take = np.full(len(mids), -1, dtype=np.int64)
        if cached is not None:
            c_mids, c_stamps, c_matrix = cached
            if len(c_mids) == len(mids) and (c_mids == mids).all() and (c_stamps == stamps).all():
                return c_matrix
            position = {int(m): i for i, m in enumerate(c_mids)}
            take = np.array([position.get(int(m), -1) for m in mids], dtype=np.int64)
            fresh = take >= 0
            fresh[fresh] = c_stamps[take[fresh]] == stamps[fresh]
        todo = np.flatnonzero(~fresh)
        parts = []
        for start in range(0, len(todo), CHUNK):  # texts are fetched a chunk at a time, too
            chunk = mids[todo[start:start + CHUNK]]
            texts = fetch_texts(chunk.tolist())
            order_of = {int(m): i for i, m in enumerate(texts["mid"].to_list())}
            texts = texts[[order_of[int(m)] for m in chunk]]
            parts.append(hash_texts(texts.select(clean_text(pl.col("subject"), pl.col("body")))[:, 0],
                                    self.bits))
        built = stack_rows(parts, 1 << self.bits)
        if cached is not None and fresh.any():
            stacked = sp.vstack([cached[2][take[fresh]], built], format="csr")
            order = np.concatenate([np.flatnonzero(fresh), todo])
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            matrix = stacked[inverse]
        else:
            matrix = built
        self._write(mids, stamps, matrix)
        return matrix

    def _read(self) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix] | None:
        path = self._file()
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                matrix = sp.csr_matrix((data["data"], data["indices"], data["indptr"]),
                                       shape=tuple(data["shape"]))
                return data["mids"], data["stamps"], matrix
        except (OSError, ValueError, KeyError):
            return None  # a damaged cache is rebuilt, never trusted

    def _write(self, mids: np.ndarray, stamps: np.ndarray, matrix: sp.csr_matrix) -> None:
        write_cache_file(self._file(), lambda tmp: np.savez(
            tmp, mids=mids, stamps=stamps, data=matrix.data, indices=matrix.indices,
            indptr=matrix.indptr, shape=np.array(matrix.shape)))


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Hashing and fitting free arrays of a few megabytes, which glibc keeps in
    its heap once its mmap threshold has grown past them: after hashing 1M short messages
    the process held 1.1 GB it no longer used, and the next validation's own peak came on
    top. Called after each of those heavy steps."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc: Any = None


def row_range(x: sp.csr_matrix, start: int, end: int) -> sp.csr_matrix:
    """Rows ``start:end`` of ``x`` sharing its data and indices (``x[start:end]`` copies
    them: 75 MB for 65,536 of 1M short messages' rows, per block and thread)."""
    end = min(end, x.shape[0])
    first, last = int(x.indptr[start]), int(x.indptr[end])
    view = sp.csr_matrix((end - start, x.shape[1]), dtype=x.dtype)
    # set directly: the constructor copies a small view of a large array (scipy's prune)
    view.data, view.indices = x.data[first:last], x.indices[first:last]
    view.indptr = x.indptr[start:end + 1] - first
    return view


def stack_rows(parts: list[sp.csr_matrix], n_columns: int) -> sp.csr_matrix:
    """``parts`` (CSR, float32) stacked by rows; each part is released as it is copied
    (and the freed memory handed back every 16 parts), so the stack never needs twice its
    size (``sp.vstack`` holds the parts and the result together: 2.3 GB for the 1.15 GB
    counts of 1M short messages). Empties ``parts``."""
    nnz = sum(part.nnz for part in parts)
    rows = sum(part.shape[0] for part in parts)
    data = np.empty(nnz, dtype=np.float32)  # pages are taken as they are written
    indices = np.empty(nnz, dtype=np.int32)
    indptr = np.zeros(rows + 1, dtype=np.int64 if nnz > np.iinfo(np.int32).max else np.int32)
    at = row = 0
    while parts:
        part = parts.pop(0)
        data[at:at + part.nnz] = part.data
        indices[at:at + part.nnz] = part.indices
        indptr[row + 1:row + part.shape[0] + 1] = part.indptr[1:] + at
        at += part.nnz
        row += part.shape[0]
        if len(parts) % 16 == 0:  # the freed parts sit in the C heap until handed back
            release_freed_memory()
    return sp.csr_matrix((data, indices, indptr), shape=(rows, n_columns))


def cache_dir(db_path: Path, dataset: str) -> Path:
    safe = hashlib.sha1(dataset.encode()).hexdigest()[:12]
    return db_path.with_name(db_path.name + ".cache") / safe


@dataclass
class TreeInputs:
    """What the trees see beside the text: per message, numbers and categories (user
    properties, the sender's domain, the length of its thread), NaN where missing.

    A category is a whole-number code; LightGBM splits on it as a category, not a number.
    """

    values: np.ndarray  # (n_messages, n_columns) float32
    names: list[str] = field(default_factory=list)
    categorical: list[int] = field(default_factory=list)  # columns of ``values`` that are categories

    def rows(self, rows: np.ndarray | slice) -> TreeInputs:
        return TreeInputs(self.values[rows], self.names, self.categorical)

    @staticmethod
    def none(n: int) -> TreeInputs:
        return TreeInputs(np.zeros((n, 0), np.float32))


@dataclass
class TreeColumn:
    """How one tree input is read from a message: ``kind`` is ``domain`` (the sender's
    domain, a category), ``thread`` (messages on its thread), ``number`` or ``category``
    (a user property); ``codes`` maps a category's kept values to their codes, every
    other value taking ``len(codes)``."""

    name: str
    kind: str
    codes: dict[str, float] = field(default_factory=dict)

    @property
    def categorical(self) -> bool:
        return self.kind in ("domain", "category")


LANGUAGE = "language"  # the property import adds (cmtui/sources/language.py)


def fit_tree_spec(frame: pl.DataFrame, properties: dict[str, PropertyValues] | None = None) -> list[TreeColumn]:
    """The tree inputs of a dataset, from (sender, thread_id, properties as JSON text).

    The sender's domain (a category), the thread's length (messages on the thread in
    ``frame``, 1 without one), then each user property (the first ``MAX_PROPERTIES`` by name): a
    number when every value is one, else a category of its ``MAX_CATEGORIES`` most
    frequent values. Kept with a model version, so new messages are read the same way.
    ``language`` (which import finds from the words) is left out: the prior reads the words.
    ``properties``: ``read_properties(frame)``, when the caller has it.
    """
    spec: list[TreeColumn] = []
    if "sender" in frame.columns:
        spec.append(TreeColumn("sender domain", "domain", _category_map(_domains(frame["sender"]))))
    if "thread_id" in frame.columns:
        spec.append(TreeColumn("thread length", "thread"))
    if _has_properties(frame):
        for name, values in (read_properties(frame) if properties is None else properties).items():
            present = values.texts.is_not_null().to_numpy()
            if present.any() and np.array_equal(values.numeric, present):
                spec.append(TreeColumn(name, "number"))  # every value a number
            else:
                spec.append(TreeColumn(name, "category", _category_map(values.texts)))
    return spec


def apply_tree_spec(spec: list[TreeColumn], frame: pl.DataFrame,
                    properties: dict[str, PropertyValues] | None = None) -> TreeInputs:
    """``frame``'s tree inputs as ``spec`` reads them (NaN where a value is missing, or a
    number property holds something else)."""
    if not spec:
        return TreeInputs.none(frame.height)
    wanted = [c.name for c in spec if c.kind in ("number", "category")]
    if properties is None:
        properties = read_properties(frame, wanted) if wanted else {}
    columns = []
    for column in spec:
        if column.kind == "domain":
            values = _codes(column.codes, _domains(frame["sender"]).to_list())
        elif column.kind == "thread" and "thread_length" in frame.columns:  # counted by the caller
            values = frame["thread_length"].to_numpy()
        elif column.kind == "thread":
            values = frame.select(thread_length())["thread_length"].to_numpy()
        elif column.kind == "number":
            values = properties[column.name].numbers
        else:
            values = _codes(column.codes, properties[column.name].texts.to_list())
        columns.append(np.asarray(values, dtype=np.float32))
    return TreeInputs(np.column_stack(columns), [c.name for c in spec],
                      [i for i, c in enumerate(spec) if c.categorical])


def tree_inputs(frame: pl.DataFrame) -> TreeInputs:
    """Tree inputs of ``frame``, read by the spec fitted on it (``fit_tree_spec``)."""
    return fit_tree_inputs(frame)[1]


def fit_tree_inputs(frame: pl.DataFrame) -> tuple[list[TreeColumn], TreeInputs]:
    """The spec fitted on ``frame`` and ``frame``'s tree inputs, its properties parsed once."""
    properties = read_properties(frame) if _has_properties(frame) else {}
    spec = fit_tree_spec(frame, properties)
    return spec, apply_tree_spec(spec, frame, properties)


def _has_properties(frame: pl.DataFrame) -> bool:
    return "properties" in frame.columns and frame["properties"].null_count() < frame.height


@dataclass
class PropertyValues:
    """One user property over the messages: its value as a number (NaN where missing or
    not a number), whether it is a number, and as text (null where missing)."""

    numbers: np.ndarray
    numeric: np.ndarray
    texts: pl.Series


def read_properties(frame: pl.DataFrame, keys: list[str] | None = None) -> dict[str, PropertyValues]:
    """Each user property (``keys``, or by name the first ``MAX_PROPERTIES``), parsed from
    ``frame``'s JSON a chunk of ``PROPERTY_CHUNK`` messages at a time: 1M messages' parsed
    rows held at once were the peak of a whole session (830 MB over the rest)."""
    texts = frame["properties"]
    sizes: list[int] = []
    parts: dict[str, dict[int, PropertyValues]] = {k: {} for k in keys or []}
    for start in range(0, len(texts), PROPERTY_CHUNK):
        rows = [_parse_object(t) for t in texts.slice(start, PROPERTY_CHUNK).to_list()]
        sizes.append(len(rows))
        if keys is None:  # a key past the first MAX_PROPERTIES by name never comes back
            parts.update({k: {} for k in {k for row in rows for k in row} - {LANGUAGE} - parts.keys()})
            parts = {k: parts[k] for k in sorted(parts)[:MAX_PROPERTIES]}
        for name, chunks in parts.items():
            values = [row.get(name) for row in rows]
            numbers = [_number(v) for v in values]
            chunks[len(sizes) - 1] = PropertyValues(
                np.array([np.nan if n is None else n for n in numbers], dtype=np.float64),
                np.array([n is not None for n in numbers], dtype=bool), _as_text(values))
    return {name: _joined(chunks, sizes) for name, chunks in parts.items()}


def _joined(chunks: dict[int, PropertyValues], sizes: list[int]) -> PropertyValues:
    """One property's chunks end to end, missing in the chunks before it first appeared."""
    whole = [chunks.get(i) or PropertyValues(np.full(n, np.nan), np.zeros(n, bool), pl.Series([None] * n, dtype=pl.String))
             for i, n in enumerate(sizes)]
    return PropertyValues(np.concatenate([c.numbers for c in whole]) if whole else np.empty(0),
                          np.concatenate([c.numeric for c in whole]) if whole else np.empty(0, bool),
                          pl.concat([c.texts for c in whole]) if whole else pl.Series([], dtype=pl.String))


def thread_length() -> pl.Expr:
    """Messages of the frame on each message's thread (1 without one): ``thread_length``."""
    thread = pl.col("thread_id")
    return (pl.when(thread.is_null() | (thread == "")).then(1).otherwise(pl.len().over(thread))
            .alias("thread_length"))


def _domains(senders: pl.Series) -> pl.Series:
    return senders.str.to_lowercase().str.extract(r"@([^\s>]+)\s*>?$", 1)


def _as_text(values: list[object]) -> pl.Series:
    return pl.Series([None if v is None else str(v) for v in values], dtype=pl.String)


def _parse_object(text: str | None) -> dict[str, Any]:
    """A message's properties: its JSON object, {} for anything else."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _category_map(values: pl.Series) -> dict[str, float]:
    """Codes 0.. for the most frequent values (seen at least ``MIN_CATEGORY_COUNT`` times)."""
    counts = values.drop_nulls().value_counts(sort=True)
    kept = [v for v, n in counts.iter_rows() if n >= MIN_CATEGORY_COUNT][:MAX_CATEGORIES]
    return {v: float(i) for i, v in enumerate(kept)}


def _codes(code: dict[str, float], values: list[str | None]) -> np.ndarray:
    """Each value's code, one more code for all the rarer ones, NaN for missing."""
    other = float(len(code))
    return np.array([np.nan if v is None else code.get(v, other) for v in values], dtype=np.float32)
