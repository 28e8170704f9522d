"""Analytics: what the mailbox holds over time, by the model and by the reviews.

Per label (parents rolled up: a message under ``A > B`` counts in ``A`` once), the number
of messages per day, week or month: predicted (each label at the threshold the meter
applies, the balanced one from validation) and reviewed (the labels people confirmed);
the share of positive and negative sentiment where the dataset has it; and the pairs of
labels most often given together. DuckDB counts (``store.analytics``); this module turns
the model's scores and the reviews into the rows it counts, and the counts into figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from .labelling import RowIndex
from .store import Filters, ModelVersion, Store, StoreError, Volumes, sort_labels
from .taxonomy import LABEL_SEP, ancestors

ORIGINS = ("predicted", "reviewed")
BLOCK = 65_536  # rows of scores compared with the thresholds at a time
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass
class Analytics:
    """The figures of one dataset under ``filters``, one column per period."""

    dataset: str
    filters: Filters
    bucket: str
    periods: list[datetime]
    messages: list[int]  # per period
    reviewed: list[int]  # reviewed messages per period
    labels: list[str]  # taxonomy order, parents included
    counts: dict[str, dict[str, list[int]]]  # origin -> label -> messages per period
    sentiment: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # origin -> label -> (+, -)
    pairs: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # origin -> top pairs
    model_version: int | None = None  # the model whose predictions are counted; None: none yet
    has_sentiment: bool = False

    def series(self, origin: str, label: str) -> list[int]:
        return self.counts.get(origin, {}).get(label, [0] * len(self.periods))

    def total(self, origin: str, label: str) -> int:
        return sum(self.series(origin, label))

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "filters": self.filters.describe(), "bucket": self.bucket,
            "model_version": self.model_version,
            "periods": [{"start": p.date().isoformat(), "messages": m, "reviewed": r}
                        for p, m, r in zip(self.periods, self.messages, self.reviewed, strict=True)],
            "labels": [{"name": name,
                        **{origin: {"total": self.total(origin, name), "per_period": self.series(origin, name),
                                    **({"positive": self.sentiment[origin].get(name, (0, 0))[0],
                                        "negative": self.sentiment[origin].get(name, (0, 0))[1]}
                                       if self.has_sentiment else {})}
                           for origin in ORIGINS}}
                       for name in self.labels],
            "pairs": {origin: [{"labels": [a, b], "messages": n} for a, b, n in self.pairs.get(origin, [])]
                      for origin in ORIGINS},
        }


def parse_filters(source: str | None = None, since: str | None = None, until: str | None = None,
                  where: str | None = None) -> Filters:
    """Filters from text as people type them (``since``/``until``: a date or time, UTC;
    ``until`` excluded; ``where``: ``key=value`` of a user property); ``StoreError`` says
    which is wrong."""
    from .streams import parse_time

    prop = None
    if where:
        key, sep, value = where.partition("=")
        if not sep or not key.strip():
            raise StoreError(f"--where: {where!r} is not KEY=VALUE (a user property and its value)")
        prop = (key.strip(), value.strip())
    first = parse_time(since, "--since") if since else None
    last = parse_time(until, "--until") if until else None
    if first is not None and last is not None and last <= first:
        raise StoreError(f"--until ({until}) must come after --since ({since})")
    return Filters(source or None, first, last, prop)


@dataclass(frozen=True)
class Names:
    """Every label the figures show, parents included, in taxonomy order: DuckDB counts
    their positions, not their names."""

    names: list[str]

    @classmethod
    def of(cls, *groups: Sequence[str]) -> Names:
        return cls(sort_labels([a for group in groups for name in group for a in (name, *ancestors(name))]))

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


def hits_frame(reviewed: bool, mids: np.ndarray, labels: np.ndarray, sentiment: np.ndarray,
               leaf: np.ndarray) -> pl.DataFrame:
    """The rows DuckDB counts: one per message and label it counts in (parents too)."""
    return pl.DataFrame({"reviewed": np.full(len(mids), reviewed), "mid": mids.astype(np.int64),
                         "label": labels.astype(np.int32), "sentiment": sentiment.astype(np.int8),
                         "leaf": leaf.astype(bool)})


def predicted_hits(mids: np.ndarray, probs: np.ndarray, thresholds: Sequence[float], labels: Sequence[str],
                   names: Names, positive: np.ndarray | None = None) -> pl.DataFrame:
    """Each message's labels at or above their thresholds, rolled up to every parent
    once (a block of rows at a time); ``leaf``: a label no more specific one on the same
    message says already (what pairs count); ``positive``: each message's probability of
    positive sentiment (0: not known)."""
    at = names.index()
    limits = np.asarray(thresholds, dtype=np.float32)
    column = np.array([at[name] for name in labels], dtype=np.int64)
    members = [[j for j, name in enumerate(labels) if a == name or name.startswith(a + LABEL_SEP)]
               for a in names.names]
    below = [[k for k, other in enumerate(labels) if other.startswith(name + LABEL_SEP)] for name in labels]
    parts: list[pl.DataFrame] = []
    for start in range(0, probs.shape[0], BLOCK):
        flags = probs[start:start + BLOCK] >= limits
        rolled = np.zeros((flags.shape[0], len(names.names)), dtype=bool)
        leaf = np.zeros_like(rolled)
        for r, given in enumerate(members):  # a loop over labels, each over every row at once
            if given:
                rolled[:, r] = flags[:, given].any(axis=1)
        for j, more in enumerate(below):
            leaf[:, column[j]] = flags[:, j] & ~flags[:, more].any(axis=1) if more else flags[:, j]
        rows, cols = np.nonzero(rolled)
        sign = (np.zeros(len(rows), np.int8) if positive is None
                else np.where(positive[start + rows] >= 0.5, 1, -1).astype(np.int8))
        parts.append(hits_frame(False, np.asarray(mids)[start + rows], cols, sign, leaf[rows, cols]))
    return pl.concat(parts) if parts else hits_frame(False, *(np.zeros(0, np.int64),) * 4)


def reviewed_hits(reviewed: dict[int, dict[str, int | None]], names: Names) -> pl.DataFrame:
    """The reviews' labels rolled up like ``predicted_hits`` (a parent's sentiment: the
    sign of its children's), and a row with label -1 for a message reviewed with none, so
    that it still counts as reviewed."""
    at = names.index()
    rows: list[tuple[int, int, int, bool]] = []
    for mid, given in reviewed.items():
        if not given:
            rows.append((mid, -1, 0, False))
            continue
        signs: dict[str, int] = {}
        for label, sentiment in given.items():
            for name in (label, *ancestors(label)):
                signs[name] = signs.get(name, 0) + (sentiment or 0)
        rows += [(mid, at[name], int(np.sign(total)),
                  name in given and not any(o.startswith(name + LABEL_SEP) for o in given))
                 for name, total in signs.items()]
    columns = [np.array(c) for c in zip(*rows, strict=True)] if rows else [np.zeros(0, np.int64)] * 4
    return hits_frame(True, *columns)


def compute(store: Store, dataset: str, hits: Sequence[pl.DataFrame], names: Names, filters: Filters,
            bucket: str | None = None, model_version: int | None = None,
            has_sentiment: bool = False) -> Analytics:
    """Count ``hits`` per period under ``filters``."""
    return shape(store.label_volumes(dataset, hits, filters, bucket), dataset, filters, names,
                 model_version, has_sentiment)


def shape(volumes: Volumes, dataset: str, filters: Filters, names: Names,
          model_version: int | None, has_sentiment: bool) -> Analytics:
    """The counted rows as one series per origin and label (a loop over the counted rows:
    labels x periods of them, not messages)."""
    periods = volumes.periods["period"].to_list()
    column = {p: i for i, p in enumerate(periods)}
    label = names.names
    counts: dict[str, dict[str, list[int]]] = {o: {} for o in ORIGINS}
    totals: dict[str, dict[str, list[int]]] = {o: {} for o in ORIGINS}
    for reviewed, period, r, n, positive, negative in volumes.volumes.iter_rows():
        origin = ORIGINS[int(reviewed)]
        counts[origin].setdefault(label[r], [0] * len(periods))[column[period]] = n
        signs = totals[origin].setdefault(label[r], [0, 0])
        signs[0] += positive
        signs[1] += negative
    sentiment = {o: {name: (s[0], s[1]) for name, s in totals[o].items()} for o in ORIGINS}
    pairs: dict[str, list[tuple[str, str, int]]] = {o: [] for o in ORIGINS}
    for reviewed, first, second, n in volumes.pairs.iter_rows():
        pairs[ORIGINS[int(reviewed)]].append((label[first], label[second], n))
    return Analytics(dataset, filters, volumes.bucket, periods, volumes.periods["messages"].to_list(),
                     volumes.periods["reviewed"].to_list(), list(label), counts, sentiment, pairs,
                     model_version, has_sentiment)


def sparkline(values: Sequence[int]) -> str:
    """The values as bars of eight heights (a blank for zero), readable without colour."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(" " if v <= 0 else SPARKS[min(7, int(7 * v / top + 0.5))] for v in values)


def period_name(period: datetime, bucket: str) -> str:
    return period.strftime("%Y-%m") if bucket == "month" else period.date().isoformat()


def format_tables(a: Analytics, max_periods: int = 60) -> str:
    """The figures as plain-text tables: per label, per period, and the top pairs."""
    span = (f"{period_name(a.periods[0], a.bucket)} to {period_name(a.periods[-1], a.bucket)} by {a.bucket}"
            if a.periods else "no messages")
    model = (f"predictions of model v{a.model_version} at the balanced thresholds"
             if a.model_version is not None else "no model yet: reviewed labels only")
    total = sum(a.messages)
    out = [f"Analytics of dataset {a.dataset!r} ({a.filters.describe()}): {total:,} messages, {span}; {model}", ""]
    mood = "   +pos  -neg" if a.has_sentiment else ""
    width = max([24, *(len(name) for name in a.labels)]) + 2
    out.append(f"{'label':<{width}}{'predicted':>10}{'share':>8}{'reviewed':>10}{mood}  trend (predicted per {a.bucket})")
    for name in a.labels:
        predicted = a.total("predicted", name)
        share = f"{predicted / total:.1%}" if total else "-"
        line = f"{name:<{width}}{predicted:>10,}{share:>8}{a.total('reviewed', name):>10,}"
        if a.has_sentiment:
            pos, neg = a.sentiment["predicted" if a.model_version is not None else "reviewed"].get(name, (0, 0))
            signed = pos + neg
            line += f"{pos / signed:>7.0%}{neg / signed:>6.0%}" if signed else f"{'-':>7}{'-':>6}"
        out.append(line + "  " + sparkline(a.series("predicted", name)[-max_periods:]))
    out += ["", _period_table(a, max_periods), "", "Labels given together (top pairs)"]
    for origin in ORIGINS:
        found = a.pairs.get(origin, [])
        out.append(f"  {origin}:" + (" none" if not found else ""))
        out += [f"    {n:>8,}  {first}  +  {second}" for first, second, n in found]
    return "\n".join(out)


def _period_table(a: Analytics, max_periods: int) -> str:
    """Messages, reviews and each top-level label's predicted volume, one row per period."""
    tops = [name for name in a.labels if not ancestors(name)]
    heads = [name[:14] for name in tops]
    lines = [f"{a.bucket:<11}{'messages':>10}{'reviewed':>10}" + "".join(f"{h:>16}" for h in heads)]
    shown = range(max(0, len(a.periods) - max_periods), len(a.periods))
    if len(a.periods) > max_periods:
        lines.append(f"(the last {max_periods} of {len(a.periods)} periods; --json has them all)")
    for i in shown:
        lines.append(f"{period_name(a.periods[i], a.bucket):<11}{a.messages[i]:>10,}{a.reviewed[i]:>10,}"
                     + "".join(f"{a.series('predicted', name)[i]:>16,}" for name in tops))
    return "\n".join(lines)


class Reporting:
    """The Session's analytics: the current model's predictions and every review, counted."""

    store: Store
    dataset: str
    mids: np.ndarray
    labels: list[str]
    reviewed: dict[int, dict[str, int | None]]
    sentiment: bool
    row_of: RowIndex
    trainer: Any
    _positive: tuple[tuple[int, int], np.ndarray | None] | None = None
    _predicted: tuple[tuple[int, int, tuple[str, ...]], pl.DataFrame] | None = None

    def analytics(self, filters: Filters | None = None, bucket: str | None = None) -> Analytics:
        """The figures under ``filters`` by ``bucket`` (None: chosen from the span)."""
        state = self.trainer.state
        names, predicted = self._predicted_hits()
        frames = [reviewed_hits(self.reviewed, names), *([] if predicted is None else [predicted])]
        return compute(self.store, self.dataset, frames, names, filters or Filters(),
                       bucket, None if predicted is None else state.version, self.sentiment)

    def _predicted_hits(self) -> tuple[Names, pl.DataFrame | None]:
        """The label names counted, and the current model's labels rolled up (kept while
        the model serves; None without a model)."""
        state = self.trainer.state
        modelled = state.model is not None and state.probs.shape[0] == len(self.mids)
        given = {name for labels in self.reviewed.values() for name in labels}
        names = Names.of(self.labels, sorted(given), state.labels if modelled else [])
        if not modelled:
            return names, None
        key = (state.version, id(state), tuple(names.names))
        if self._predicted is None or self._predicted[0] != key:
            self._predicted = (key, predicted_hits(self.mids, state.probs, state.thresholds, state.labels,
                                                   names, self._predicted_positive()))
        return names, self._predicted[1]

    def drift_of(self, window: str | None = None) -> dict[str, Any]:
        """Drift figures (``cmtui.drift``) of the messages of a time ``window`` (see
        ``scoping.window_rows``; default: the latest import) against the rest."""
        from .scoping import LATEST_IMPORT

        window = window or LATEST_IMPORT
        new = self.window_mask(window)  # type: ignore[attr-defined]
        state = self.trainer.state
        if state.model is None or state.probs.shape[0] != len(self.mids):
            return {"window": window, "new": int(new.sum()), "warning": False, "why": "no model yet"}
        reviewed_rows = self.row_of.present_rows(self.reviewed)
        return dict(self.trainer.drift(new, window if window == LATEST_IMPORT else f"window {window}",
                                       reviewed_rows))

    def pinned_versions(self) -> list[ModelVersion]:
        """The pinned model versions other than the current one, newest first (to compare)."""
        return [v for v in reversed(self.store.model_versions(self.dataset, pinned_only=True))
                if v.version != self.trainer.state.version]

    def analytics_choices(self) -> dict[str, list[tuple[str, int]]]:
        """What the figures can be filtered by: sources, and user properties as ``key=value``."""
        return {"source": [(s or "", n) for s, n in self.store.scope_counts(self.dataset)["source"]],
                "property": [(f"{k}={v}", n) for k, v, n in self.store.property_values(self.dataset)]}

    def _predicted_positive(self) -> np.ndarray | None:
        """Each message's probability of positive sentiment, by a linear model of the
        reviews' sentiments (as a model version keeps); kept while model and reviews stay."""
        if not self.sentiment:
            return None
        key = (self.trainer.state.version, len(self.reviewed))
        if self._positive is None or self._positive[0] != key:
            from .model import predict
            from .versions import fit_sentiment

            reviewed = self.row_of.present(self.reviewed)
            rows = self.row_of.rows(reviewed)
            model = fit_sentiment(self.trainer.x[rows], [self.reviewed[m] for m in reviewed]) if reviewed else None
            self._positive = (key, None if model is None else predict(model, self.trainer.x)[:, 0])
        return self._positive[1]
