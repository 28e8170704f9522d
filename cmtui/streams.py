"""Streams: a queue of a dataset's messages that a consumer fetches with predictions.

A stream has a pinned model version and a cursor: the sequence id of the last message
advanced past. Sequence ids are the messages' ids in the database (``mid``), given in
import order, so messages imported after the stream was made come in its next fetch.

Delivery is at least once: ``fetch`` returns the batch after the cursor and moves
nothing; only ``advance`` moves the cursor (forward only, in one transaction). A consumer
that dies between fetch and advance gets the same batch again; two consumers of one
stream may see a batch twice, never lose one. ``reset`` moves the cursor back (or on)
to a sequence id or a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from .predict import load_model, prediction_rows
from .store import Condition, Store, StoreError, StreamInfo

FIELDS = ("source", "after", "before")


def parse_conditions(texts: list[str]) -> list[Condition]:
    """``source=NAME``, ``after=TIME``, ``before=TIME`` or ``property.NAME=VALUE`` (all must hold)."""
    out: list[Condition] = []
    for text in texts:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise StoreError(f"--filter {text!r}: use source=NAME, after=TIME, before=TIME or property.NAME=VALUE")
        if key in ("after", "before"):
            parse_time(value, f"--filter {key}")
            out.append((key, value.strip()))
        elif key == "source":
            out.append(("source", value))
        elif key.startswith("property.") and len(key) > len("property."):
            out.append(("property:" + key[len("property."):], value))
        else:
            raise StoreError(f"--filter {text!r}: unknown field {key!r} (source, after, before, property.NAME)")
    return out


def parse_time(text: str, what: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StoreError(f"{what}: {text!r} is not a time (use 2024-01-31 or 2024-01-31T09:30:00Z)") from None
    return stamp.replace(tzinfo=None) if stamp.tzinfo is None else stamp.astimezone(UTC).replace(tzinfo=None)


def create(store: Store, name: str, dataset: str, model: str, conditions: list[Condition]) -> StreamInfo:
    version = store.resolve_version(dataset, model)
    load_model(store, dataset, str(version))  # its files exist and load
    store.create_stream(name, dataset, version, conditions)
    return store.stream(name)


def fetch(store: Store, name: str, size: int) -> list[dict[str, Any]]:
    """The next ``size`` messages after the cursor, with the pinned version's predictions."""
    if size < 1:
        raise StoreError(f"--size must be at least 1 (got {size})")
    info = store.stream(name)
    scoring = load_model(store, info.dataset, str(info.version))
    frame = store.stream_messages(info, info.cursor, size)
    if not frame.height:
        return []
    threads = [t for t in frame["thread_id"].unique().to_list() if t]
    sizes = {t: len(m) for t, m in store.thread_mids(info.dataset, threads).items()}
    frame = frame.with_columns(pl.col("thread_id").replace_strict(sizes, default=1, return_dtype=pl.Int64)
                               .fill_null(1).alias("thread_length"))
    predicted = prediction_rows(scoring, frame["id"], *scoring.score(frame))
    sentiments = (predicted.select("sentiment", "sentiment_probability").to_dicts() if "sentiment" in predicted.columns
                  else [{}] * frame.height)
    rows = []
    for message, labels, sentiment in zip(frame.iter_rows(named=True), predicted["labels"].to_list(), sentiments,
                                          strict=True):
        rows.append({"sequence_id": message["mid"], "id": message["id"], "source": message["source"],
                     "timestamp": message["ts"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "subject": message["subject"],
                     "from": message["sender"], "to": message["recipients"], "cc": message["cc"],
                     "thread_id": message["thread_id"], "body": message["body"],
                     "properties": json.loads(message["properties"]) if message["properties"] else {},
                     "labels": labels, **sentiment, "model_version": info.version})
    return rows


def advance(store: Store, name: str, sequence_id: int) -> int:
    """Move the cursor past ``sequence_id`` (never back: a slower consumer's advance of an
    older batch changes nothing). Returns the cursor."""
    info = store.stream(name)
    last, _ = store.stream_bounds(info)
    if sequence_id < 0 or sequence_id > last:
        raise StoreError(f"stream {name!r}: sequence id {sequence_id} is past the end (its last message is "
                         f"{last})" if sequence_id > 0 else f"stream {name!r}: sequence id {sequence_id} is not one")
    return store.set_cursor(name, sequence_id, forward_only=True)


def reset(store: Store, name: str, to: str) -> int:
    """Put the cursor before the first message at or after a time, or at a sequence id."""
    info = store.stream(name)
    if to.strip().isdigit():
        last, _ = store.stream_bounds(info)
        if int(to) > last:
            raise StoreError(f"stream {name!r}: sequence id {to} is past the end (its last message is {last})")
        return store.set_cursor(name, int(to), forward_only=False)
    _, before = store.stream_bounds(info, parse_time(to, "--to"))
    return store.set_cursor(name, before, forward_only=False)


def describe(store: Store, info: StreamInfo) -> dict[str, Any]:
    last, _ = store.stream_bounds(info)
    pending = store.stream_pending(info)
    return {"name": info.name, "dataset": info.dataset, "model_version": info.version,
            "filters": [f"{k.replace('property:', 'property.')}={v}" for k, v in info.conditions],
            "cursor": info.cursor, "last_sequence_id": last, "pending": int(pending),
            "created": info.created.strftime("%Y-%m-%d %H:%M:%S")}
