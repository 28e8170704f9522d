"""Export writers: messages with their labels, sentiment, review and predictions.

Label order is deterministic (taxonomy order). CSV, JSONL and Parquet are offered; a
file is written beside its destination and renamed, so a failure leaves nothing
half-written. CSV cells a spreadsheet would run as a formula are quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .ingest import _NUMBER, FORMULA_START
from .store import Store

Predictions = tuple[Sequence[int], Sequence[str], Any]


def escape_formula(value: str | None) -> str | None:
    """Prefix cells a spreadsheet would execute (=, +, -, @ ...) with a quote."""
    if value and value.startswith(FORMULA_START) and not re.match(_NUMBER, value):
        return "'" + value
    return value


def write_export(frame: pl.DataFrame, out: Path) -> None:
    """Write an export frame (see ``build_export_frame``) by the file's extension."""
    suffix = out.suffix.lower()
    tmp = out.with_name(out.name + ".part")
    if suffix == ".csv":
        flat = frame.with_columns(
            pl.col(c).list.join(";") for c, t in frame.schema.items() if isinstance(t, pl.List))
        flat = flat.with_columns(
            pl.col(c).map_elements(escape_formula, return_dtype=pl.String)
            for c, t in flat.schema.items() if t == pl.String)
        flat.write_csv(tmp, quote_style="non_numeric")
    elif suffix == ".jsonl":
        frame.write_ndjson(tmp)
    elif suffix == ".parquet":
        frame.write_parquet(tmp)
    else:
        raise ValueError(f"{out}: unknown export format {suffix!r} (use .csv, .jsonl or .parquet)")
    tmp.replace(out)


def build_export_frame(store: Store, dataset: str, predictions: Predictions | None = None,
                       min_probability: float = 0.05, fields: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every message of ``dataset`` with its effective review and, if given, predictions.

    ``predictions`` is ``(mids, label_names, probabilities[n_messages, n_labels])``; labels
    are written in taxonomy order, predicted ones as ``name=probability``. ``fields``
    (mid, field, value: cmtui.fields.fields.load_values) become a ``fields`` column of
    ``field=value`` items.
    """
    order = {name: i for i, name in enumerate(store.labels(dataset))}
    messages = store.messages_frame(dataset)
    mids = messages["mid"].to_list()
    out = messages.select(
        "source", "id",
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").alias("timestamp"),
        "subject", pl.col("sender").alias("from"), pl.col("recipients").alias("to"), "cc",
        "thread_id", "body",
    )
    if messages["turns"].null_count() < messages.height:  # chats and calls: their turns, as JSON
        out = out.with_columns(messages["turns"])
    out = out.with_columns(_property_columns(messages["properties"].to_list()))
    reviews = _review_columns(store, dataset, mids, order)
    if not store.dataset_info(dataset).sentiment:
        reviews.pop()
    out = out.with_columns(reviews)
    if predictions is not None:
        out = out.with_columns(_predicted_column(mids, predictions, order, min_probability))
    if fields is not None:
        items = (fields.group_by("mid", maintain_order=True)
                 .agg((pl.col("field") + "=" + pl.col("value")).alias("fields")))
        out = out.with_columns(pl.DataFrame({"mid": mids}).join(items, on="mid", how="left", maintain_order="left")["fields"]
                               .fill_null(pl.lit([], dtype=pl.List(pl.String))))
    return out


def _property_columns(texts: list[str | None]) -> list[pl.Series]:
    parsed = [json.loads(text) if text else {} for text in texts]
    keys = list(dict.fromkeys(key for obj in parsed for key in obj))
    return [pl.Series(key, [obj.get(key) for obj in parsed]) for key in keys]


def _review_columns(store: Store, dataset: str, mids: list[int], order: dict[str, int]) -> list[pl.Series]:
    """labels, reviewed, annotator, reviewed_at and (last) sentiments, per message."""
    latest: dict[int, tuple[str, Any]] = {}
    for mid, annotator, at in store.annotator_reviews(dataset).select("mid", "annotator", "at_ts").iter_rows():
        if mid not in latest or at > latest[mid][1]:
            latest[mid] = (annotator, at)
    effective, _ = store.effective_reviews(dataset)
    labels_of = {mid: sorted(labels, key=lambda n: order.get(n, len(order))) for mid, labels in effective.items()}
    sign: dict[int | None, str] = {1: "positive", -1: "negative"}
    return [
        pl.Series("labels", [labels_of.get(m, []) for m in mids], dtype=pl.List(pl.String)),
        pl.Series("reviewed", [m in effective for m in mids], dtype=pl.Boolean),
        pl.Series("annotator", [latest[m][0] if m in effective else None for m in mids], dtype=pl.String),
        pl.Series("reviewed_at", [latest[m][1].strftime("%Y-%m-%dT%H:%M:%S.%fZ") if m in effective else None
                                  for m in mids], dtype=pl.String),
        pl.Series("sentiments", [[sign.get(effective[m][n], "") for n in labels_of[m]] if m in effective else []
                                 for m in mids], dtype=pl.List(pl.String)),
    ]


def _predicted_column(mids: list[int], predictions: Predictions, order: dict[str, int],
                      min_probability: float) -> pl.Series:
    pred_mids, pred_labels, probs = predictions
    row_of = {int(m): i for i, m in enumerate(pred_mids)}
    columns = sorted(range(len(pred_labels)), key=lambda j: order.get(pred_labels[j], len(order)))
    predicted: list[list[str]] = []
    for mid in mids:
        i = row_of.get(mid)
        row = np.asarray(probs[i]) if i is not None else None
        predicted.append([] if row is None else
                         [f"{pred_labels[j]}={row[j]:.3f}" for j in columns if row[j] >= min_probability])
    return pl.Series("predicted", predicted, dtype=pl.List(pl.String))
