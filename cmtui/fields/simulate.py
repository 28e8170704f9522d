"""``cmtui simulate GOLD.csv --fields GOLD_FIELDS.jsonl``: an oracle reviews fields too.

The gold fields come from the sample generator (``python -m cmtui.sample --fields-gold``):
per message, each value it filled in (policy and claim numbers, amounts, phone numbers,
dates of six kinds: the cancellation date, the date someone moved house, a date of birth,
a missed payment's date, the date cover starts, the date someone is back). The team's
fields are made as a person would (``policy number`` a reference of its shape, ``move
date`` like a date...). Each page the oracle confirms the gold labels, then says yes or
no to every field value shown and marks the ones no finder found, through the same
Session calls as the app's keys; after each submit validation fits the fields. Figures
per field after the pages asked for: precision and recall of its predicted values on
the messages not reviewed, against the gold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LIKE = {"policy number": "reference:AA-9999999", "claim number": "reference:AA-999999", "amount": "money",
        "phone number": "phone"}  # every other gold field is a kind of date


def load_gold_fields(path: Path) -> dict[str, list[tuple[str, int, int]]]:
    gold: dict[str, list[tuple[str, int, int]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold[row["id"]] = [(f["field"], int(f["start"]), int(f["end"])) for f in row["fields"]]
    return gold


def simulate_fields(session: Any, gold_labels: dict[str, list[str]], gold: dict[str, list[tuple[str, int, int]]],
                    pages: int, report_at: Sequence[int], seed: int, learner: str) -> list[dict[str, Any]]:
    """Review ``pages`` pages of Shuffle with the oracle; rows of figures at ``report_at``."""
    from .fields import dataset_fields, find_in_dataset, parse_like

    session.field_learner = learner
    store, dataset = session.store, session.dataset
    for name in sorted({f for spans in gold.values() for f, _, _ in spans}):
        kind, shape = parse_like(LIKE.get(name, "date"))
        store.add_field(dataset, name, kind, shape, [], "oracle")
    found = find_in_dataset(store, dataset, dataset_fields(store, dataset))
    id_of = dict(zip(session.mids.tolist(), session.ids, strict=True))
    candidates: dict[int, list[tuple[str, int, int, str]]] = {}
    for mid, field, start, end, value in found.select("mid", "field", "start", "end", "value").iter_rows():
        candidates.setdefault(mid, []).append((field, start, end, value))
    order = [int(m) for m in np.random.default_rng(seed).permutation(session.mids)]
    team = {f for spans in gold.values() for f, _, _ in spans}
    rows = []
    for page in range(1, pages + 1):
        mids = order[(page - 1) * session.page_size: page * session.page_size]
        for mid in mids:
            session.set_labels(mid, dict.fromkeys(gold_labels.get(id_of[mid], [])))
            _review(store, dataset, mid, candidates.get(mid, []), set(gold.get(id_of[mid], [])), team)
        session.submit(mids, "shuffle", untouched=True)
        session.retrain(persist=False)  # validation fits the fields
        if page in report_at:
            reviewed = set(order[: page * session.page_size])
            rows += _figures(session, gold, id_of, reviewed, team, page, learner)
    return rows


def _review(store: Any, dataset: str, mid: int, shown: list[tuple[str, int, int, str]],
            gold: set[tuple[str, int, int]], team: set[str]) -> None:
    """The oracle on one message: yes or no to each team field's value, and the values
    no finder found marked (as ``w`` does)."""
    for field, start, end, value in shown:
        if field in team:
            verdict = "yes" if (field, start, end) in gold else "no"
            store.review_field(dataset, "oracle", mid, field, start, end, value, verdict)
    seen = {(f, s, e) for f, s, e, _ in shown}
    for field, start, end in gold - seen:
        store.review_field(dataset, "oracle", mid, field, start, end, "", "yes")


def _figures(session: Any, gold: dict[str, list[tuple[str, int, int]]], id_of: dict[int, str],
             reviewed: set[int], team: set[str], page: int, learner: str) -> list[dict[str, Any]]:
    """Precision and recall of each team field's predicted values on the unreviewed messages."""
    state = session.fields_state
    predicted = state.predicted.filter(~state.predicted["mid"].is_in(list(reviewed)))
    out = []
    for field in sorted(team):
        guess = {(m, s, e) for m, f, s, e in predicted.select("mid", "field", "start", "end").iter_rows() if f == field}
        truth = {(m, s, e) for m, i in id_of.items() if m not in reviewed
                 for f, s, e in gold.get(i, []) if f == field}
        hits = len(guess & truth)
        figures = next((f for f in state.figures if f.name == field), None)
        out.append({"page": page, "learner": learner, "field": field, "gold": len(truth), "predicted": len(guess),
                    "precision": round(hits / len(guess), 3) if guess else None,
                    "recall": round(hits / len(truth), 3) if truth else None,
                    "trained": bool(figures and figures.trained), "examples": figures.examples if figures else 0})
    return out


def run(gold_csv: Path, gold_fields: Path, pages: int, seed: int, learners: Sequence[str],
        workdir: Path) -> list[dict[str, Any]]:
    """Every learner on the same messages and pages (paired): figures at pages 5 and 10
    (and the last)."""
    from ..session import Session
    from ..simulate import load_gold
    from ..store import Store

    frame, labels = load_gold(gold_csv)
    gold = load_gold_fields(gold_fields)
    rows: list[dict[str, Any]] = []
    for learner in learners:
        store = Store(workdir / f"fields-{learner}.duckdb")
        store.import_messages("sim", "sim", frame.drop("labels", "sentiments", "annotator", "reviewed_at"),
                              annotator="gold")
        for name in sorted({n for names in labels.values() for n in names}):
            store.add_label("sim", name)
        session = Session.open(store, "sim", "oracle", seed=seed)
        rows += simulate_fields(session, labels, gold, pages, sorted({5, 10, pages} & set(range(1, pages + 1))),
                                seed, learner)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [f"{'page':>4} {'learner':<7} {'field':<20} {'trained':>7} {'examples':>8} {'gold':>6} "
             f"{'predicted':>9} {'precision':>9} {'recall':>7}"]
    lines += [f"{r['page']:>4} {r['learner']:<7} {r['field']:<20} {'yes' if r['trained'] else 'no':>7} "
              f"{r['examples']:>8} {r['gold']:>6} {r['predicted']:>9} {f(r['precision']):>9} {f(r['recall']):>7}"
              for r in rows]
    return "\n".join(lines)
