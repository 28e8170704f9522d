"""Fitting every field from its reviews, and its validation figures.

A field that is a pattern (the built-in kinds, a reference's shape, a regex) takes every
candidate until it has ``model.MIN_EACH`` reviewed candidates of each verdict; then a
team's field is trained (``model``) and takes the candidates its classifier scores at 0.5
or more. Figures per field: precision and recall on the reviewed candidates (trained
fields: each scored by a model fitted without its message), examples (candidates said to
be the field), and a warning when they are few or the figures low.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from . import model

MIN_EXAMPLES = 5  # fewer examples than this: the figures say little
LOW = 0.7  # precision or recall under this is warned about

Verdicts = dict[int, dict[tuple[str, int, int], tuple[str, str]]]  # mid -> (field, start, end) -> (value, verdict)


@dataclass
class FieldFigures:
    name: str
    kind: str
    trained: str | None  # the learner, when the field has a model
    examples: int  # candidates said to be this field
    reviewed: int  # candidates given a verdict
    precision: float | None
    recall: float | None
    warning: str = ""
    missing: dict[str, int] = field(default_factory=dict)  # label expecting it -> reviewed messages without it


@dataclass
class FieldsState:
    models: dict[str, model.FieldModel] = field(default_factory=dict)
    figures: list[FieldFigures] = field(default_factory=list)
    predicted: pl.DataFrame | None = None  # mid, field, start, end, value, score: each field's values

    def report(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.figures]


def train(found: pl.DataFrame, fields: Sequence[Any], verdicts: Verdicts, label_probs: Any,
          learner: str = model.LEARNER, contexts: Callable[[str], pl.Series] | None = None) -> FieldsState:
    """Fit each team field from ``verdicts`` over its candidates in ``found`` (every
    message's); ``label_probs(mids)``: the messages' predicted label probabilities (None:
    not used). The words around each candidate are ``found``'s ``context`` column, or
    ``contexts(field)`` (in ``found``'s order) when it has none: read only for a field
    that is fitted, they are the larger half of ``found``."""
    state = FieldsState()
    parts = []
    judged_mids = [m for m, said in verdicts.items() if said]
    for f in fields:
        rows = found.filter(pl.col("field") == f.name)
        # only candidates of reviewed messages can have a verdict: the rest are not looked at
        reviewed_rows = rows.with_row_index("row").filter(pl.col("mid").is_in(judged_mids))
        y, reviewed = _targets(reviewed_rows, f.name, verdicts)
        examples = reviewed_rows.filter(pl.Series(reviewed))
        marked = sum(1 for spans in verdicts.values() for (name, _, _), (_, v) in spans.items()
                     if name == f.name and v == "yes") - int(y[reviewed].sum())  # spans no finder found
        fitted = checked = None
        words: list[str] = []
        if not f.builtin and min(int(y[reviewed].sum()), int((1 - y[reviewed]).sum())) >= model.MIN_EACH:
            words = (rows["context"] if "context" in rows.columns or contexts is None else contexts(f.name)).to_list()
            x = model.features([words[i] for i in examples["row"]], _probs(label_probs, examples["mid"]))
            fitted = model.fit(x, y[reviewed], learner)
            checked = model.cross_scores(x, y[reviewed], examples["mid"].to_numpy(), learner)
        if fitted is not None:
            state.models[f.name] = fitted
            scores = fitted.scores(model.features(words, _probs(label_probs, rows["mid"])))
        else:  # a pattern: every candidate is the field
            scores = np.ones(rows.height, np.float32)
        state.figures.append(_figures(f, y[reviewed], checked, marked, fitted))
        parts.append(rows.select("mid", "field", "start", "end", "value").with_columns(
            score=pl.Series(scores)).filter(pl.col("score") >= 0.5))
    state.predicted = pl.concat(parts) if parts else None
    return state


def _probs(label_probs: Any, mids: pl.Series) -> Any:
    return None if label_probs is None else label_probs(mids)


def _targets(rows: pl.DataFrame, name: str, verdicts: Verdicts) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: 1 when said to be the field, 0 when said not to be, or said to be
    another field; and whether it was reviewed at all."""
    y = np.zeros(rows.height, np.float32)
    reviewed = np.zeros(rows.height, bool)
    for i, (mid, start, end) in enumerate(rows.select("mid", "start", "end").iter_rows()):
        said = verdicts.get(mid)
        if not said:
            continue
        mine = said.get((name, start, end))
        other_yes = any(v == "yes" and s == start and e == end and n != name for (n, s, e), (_, v) in said.items())
        if mine is not None or other_yes:
            reviewed[i] = True
            y[i] = 1.0 if mine is not None and mine[1] == "yes" else 0.0
    return y, reviewed


def _figures(f: Any, y: np.ndarray, checked: np.ndarray | None, marked: int,
             fitted: model.FieldModel | None) -> FieldFigures:
    predicted = np.ones(len(y), bool) if checked is None else checked >= 0.5
    hits = int((predicted & (y == 1)).sum())
    precision = hits / int(predicted.sum()) if predicted.any() else None
    positives = int(y.sum()) + max(0, marked)
    recall = hits / positives if positives else None
    figures = FieldFigures(f.name, f.kind, None if fitted is None else fitted.learner, int(y.sum()) + max(0, marked),
                           len(y), None if precision is None else round(precision, 3),
                           None if recall is None else round(recall, 3))
    if figures.examples < MIN_EXAMPLES:
        figures.warning = f"few examples ({figures.examples}): review more of its values"
    elif precision is not None and precision < LOW:
        figures.warning = "low precision: say x to the values that are not this field"
    elif recall is not None and recall < LOW:
        figures.warning = "low recall: mark the values it misses (w)"
    return figures


def check_expected(state: FieldsState, fields: Sequence[Any], reviewed: dict[int, dict[str, Any]],
                   verdicts: Verdicts) -> None:
    """A label that expects a field: its reviewed messages with no value of that field
    (none predicted, none marked) are counted in the field's warning."""
    from ..taxonomy import within

    for f, figures in zip(fields, state.figures, strict=True):
        if not f.labels:
            continue
        have = set() if state.predicted is None else set(
            state.predicted.filter(pl.col("field") == f.name)["mid"].to_list())
        have |= {m for m, said in verdicts.items() if any(n == f.name and v == "yes" for (n, _, _), (_, v) in said.items())}
        for label in f.labels:
            given = [m for m, labels in reviewed.items() if any(within(n, label) for n in labels)]
            missing = [m for m in given if m not in have]
            if missing:
                note = f"missing in {len(missing)} of {len(given)} reviewed {label!r} messages"
                figures.warning = f"{figures.warning}; {note}" if figures.warning else note
                figures.missing[label] = len(missing)
