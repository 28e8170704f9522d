"""Training modes over a session's state: which messages, in what order.

``queues`` holds the pure orderings over arrays; this module gathers what each needs from
a session (reviews, leases, the model's scores) and turns rows back into message ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from . import metrics, queues

if TYPE_CHECKING:
    from .session import Session


def ranked(session: Session, mode: str, arg: str | None, count: int) -> list[int]:
    """Message ids (mids) of ``mode`` in order, inside the session's filter (source,
    language); ``count`` bounds the work where it can."""
    scope = session.scope_mask
    if mode in ("discover", "exceptions", "search"):
        return session.in_scope(_listed(session, mode, arg, count if scope is None else max(count, 1000)))[:count]
    state = session.state
    reviewed = session.reviewed_mask()
    unreviewed = ~reviewed if scope is None else ~reviewed & scope
    leased = session.store.leased_by_others(session.dataset, session.annotator)
    if leased:
        for mid in leased:
            row = session.row_of.get(mid)
            if row is not None:
                unreviewed[row] = False
    has_model = state.model is not None and state.probs.shape[0] == len(session.mids)
    column = _label_column(session, arg) if mode in queues.NEEDS_LABEL else None
    if mode in queues.NEEDS_LABEL and column is None:
        raise ValueError(f"mode {mode!r} needs a label of the taxonomy (got {arg!r})")
    probs = np.zeros(len(session.mids), np.float32)  # a label the model has not seen yet
    if has_model and column is not None and column >= 0:
        probs = state.probs[:, column]
    # Rebalance's order comes with a validation (on a large dataset, with its full rescore)
    likeness_ready = state.reviewed_likeness.shape[0] == len(session.mids)
    if mode == "shuffle" or (mode == "low-confidence" and not has_model) or (mode == "rebalance" and not likeness_ready):
        rows = queues.shuffle(unreviewed, session.shuffle_order)
    elif mode == "low-confidence":
        random_rows: set[int] = set()
        rows = queues.low_confidence(unreviewed, state.covered_score, session.x, session.shuffle_order,
                                     count, session.explore, random_rows)
        session.random_picks |= {int(session.mids[r]) for r in random_rows}
    elif mode == "teach":
        rows = queues.teach(unreviewed, probs, 0.66 if session.sentiment else 0.5)
    elif mode == "label":
        rows = queues.by_label(probs)
        rows = rows if scope is None else rows[scope[rows]]
    elif mode == "check-label":
        has, disagreement = _label_membership(session, arg or "", reviewed)
        rows = queues.check_label(has if scope is None else has & scope, probs, disagreement)
    elif mode == "missed-label":
        has, _ = _label_membership(session, arg or "", reviewed)
        rows = queues.missed_label(reviewed & ~has if scope is None else reviewed & ~has & scope, probs)
    elif mode == "rebalance":
        rows = queues.rebalance(unreviewed, state.reviewed_likeness)
    elif mode == "recent":
        rows = queues.recent(session.timestamps, unreviewed)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return [int(session.mids[r]) for r in rows[:count]]


def _listed(session: Session, mode: str, arg: str | None, count: int) -> list[int]:
    """The modes that list messages rather than rank rows: a Discover cluster, a stream's
    exceptions, search results."""
    leased = session.store.leased_by_others(session.dataset, session.annotator)
    if mode == "discover":  # a cluster's shown messages, as Discover listed them
        cluster = session.discoverer.cluster(int(arg)) if arg and arg.isdigit() else None
        if cluster is None:
            raise ValueError(f"no cluster {arg!r}: open Discover first")
        return [m for m in cluster.rows if m not in leased and m not in session.reviewed][:count]
    if mode == "exceptions":  # what a stream's consumer could not handle, by type, newest first
        return [m for m in session.store.open_exceptions(session.dataset, arg)
                if m not in leased and m in session.row_of][:count]
    found = session.store.search(session.dataset, arg or "", limit=max(count, 1000))
    return [m for m in found if m not in leased][:count]


def _label_column(session: Session, label: str | None) -> int | None:
    """The label's column in the model's scores; -1 for a label the model has not seen
    yet; None for no label of the taxonomy."""
    if label is None or label not in session.state.labels:
        return None if label not in session.labels else -1
    return session.state.labels.index(label)


def _label_membership(session: Session, label: str, reviewed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose review carries ``label`` (or a child of it), and rows annotators disagree on."""
    has = np.zeros(len(session.mids), dtype=bool)
    for mid, assigned in session.reviewed.items():
        row = session.row_of.get(mid)
        if row is not None and label in metrics.closure(session.labels, set(assigned)):
            has[row] = True
    disagreement = np.zeros(len(session.mids), dtype=bool)
    reviews = session.store.annotator_reviews(session.dataset)
    if reviews.height:
        per = reviews.with_columns(pl.col("labels").list.contains(label).fill_null(False).alias("has"))
        disputed = per.group_by("mid").agg(pl.col("has").n_unique().alias("n")).filter(pl.col("n") > 1)
        for mid in disputed["mid"].to_list():
            row = session.row_of.get(mid)
            if row is not None:
                disagreement[row] = True
    return has, disagreement
