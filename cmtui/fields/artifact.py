"""A model version's fields: what ``cmtui predict`` needs to find them in new messages.

Beside a version's model files (docs/model-artifact.md), ``fields.json`` lists the
dataset's fields (name, kind, shape, the labels expecting each) and ``fields.npz`` holds
each trained field's logistic regression (``weights_<i>`` over the hashed context columns
and then the model's labels, ``bias_<i>``). A scorer finds each field's candidates with the
same finders, scores a trained field's candidates, and keeps those at 0.5 or more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import model
from .fields import Field, find_fields, message_text

FIELDS_JSON, FIELDS_NPZ = "fields.json", "fields.npz"
FIELD_VALUE = pl.Struct({"field": pl.String, "value": pl.String, "text": pl.String, "start": pl.Int64,
                         "end": pl.Int64, "for_labels": pl.List(pl.String)})


@dataclass
class FieldsArtifact:
    fields: list[Field]
    weights: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)  # trained field -> (w, b)

    def values(self, chunk: pl.DataFrame, probs: np.ndarray, labels: list[str],
               predicted: np.ndarray) -> pl.Series:
        """Per message of ``chunk`` (subject, body, ts?), its field values; a value
        names the predicted labels (``predicted``: rows x labels flags) that expect it."""
        expecting = {f.name: [j for j, name in enumerate(labels) if name in f.labels] for f in self.fields}
        stamps = chunk["ts"].to_list() if "ts" in chunk.columns else [None] * chunk.height
        texts = [message_text(subject, body) for subject, body in zip(chunk["subject"].to_list(),
                                                                     chunk["body"].to_list(), strict=True)]
        found = [find_fields(text, self.fields, _year(stamp)) for text, stamp in zip(texts, stamps, strict=True)]
        dropped = self._dropped(texts, found, probs)
        out = [[{"field": f.field, "value": f.candidate.value, "text": f.candidate.text,
                 "start": f.candidate.start, "end": f.candidate.end,
                 "for_labels": [labels[j] for j in expecting[f.field] if predicted[row, j]]}
                for k, f in enumerate(values) if (row, k) not in dropped]
               for row, values in enumerate(found)]
        return pl.Series("fields", out, dtype=pl.List(FIELD_VALUE))

    def _dropped(self, texts: list[str], found: list[list[Any]], probs: np.ndarray) -> set[tuple[int, int]]:
        """(message, value) of the trained fields' candidates scored under 0.5: each
        field's candidates of the whole chunk scored at once (hashing starts a thread
        pool per call: once per candidate was most of predict's time)."""
        dropped: set[tuple[int, int]] = set()
        for name, (w, b) in self.weights.items():
            at = [(row, k) for row, values in enumerate(found) for k, f in enumerate(values) if f.field == name]
            if not at:
                continue
            contexts = [model.context_of(texts[row], found[row][k].candidate.start, found[row][k].candidate.end)
                        for row, k in at]
            x = model.features(contexts, probs[[row for row, _ in at]])
            scores = 1 / (1 + np.exp(-(np.asarray(x @ w).ravel() + b)))
            dropped |= {place for place, score in zip(at, scores, strict=True) if score < 0.5}
        return dropped


def _year(stamp: Any) -> int:
    if isinstance(stamp, datetime):
        return stamp.year
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).year
    except ValueError:
        return datetime.now(UTC).year


def write_fields(directory: Path, fields: list[Field], models: dict[str, model.FieldModel]) -> None:
    """``fields.json`` and ``fields.npz`` in a version's directory (linear models only:
    a field fitted with LightGBM is written as a pattern)."""
    trained = {name for name, m in models.items() if m.learner == "linear"}
    meta = {"fields": [{"name": f.name, "kind": f.kind, "shape": f.shape, "labels": list(f.labels),
                        "builtin": f.builtin, "trained": f.name in trained} for f in fields],
            "context_words": model.CONTEXT, "bits": model.BITS}
    arrays: dict[str, np.ndarray] = {}
    for i, f in enumerate(fields):  # arrays are named by the field's place in the list
        if f.name in trained:
            fitted = models[f.name].fitted
            arrays[f"weights_{i}"] = fitted.coef_[0].astype(np.float32)
            arrays[f"bias_{i}"] = np.array([fitted.intercept_[0]], np.float32)
    np.savez(directory / FIELDS_NPZ, **arrays)  # type: ignore[arg-type]
    (directory / FIELDS_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False))


def read_fields(directory: Path) -> FieldsArtifact | None:
    """The fields of a version's directory, or None when it has none (older versions)."""
    path = directory / FIELDS_JSON
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    fields = [Field(f["name"], f["kind"], f.get("shape"), tuple(f.get("labels", [])), bool(f.get("builtin")))
              for f in meta["fields"]]
    weights: dict[str, tuple[np.ndarray, float]] = {}
    with np.load(directory / FIELDS_NPZ) as arrays:
        for i, f in enumerate(meta["fields"]):
            if f.get("trained"):
                weights[f["name"]] = (arrays[f"weights_{i}"], float(arrays[f"bias_{i}"][0]))
    return FieldsArtifact(fields, weights)
