"""When to stop training: what the platform's guide asks of a model, checked one by one.

The guide's rule: a model rated Good or better on every factor, with no important label
(an informative one) carrying a warning, is ready for analytics; Excellent, for
automation. It also asks that at least 10% of the training be done in Shuffle (ideally
20% or more), so that the reviews stand for the whole dataset, and that Low confidence
has had five pages; and a model whose newest messages look new (``cmtui.drift``) is not
ready until it has been trained on them. ``readiness`` turns a validation report and the modes the reviews
were made in into those checks and an ordered list of next steps, each with the training
mode (and label) that fixes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .metrics import AMBER_EXAMPLES

SHUFFLE_MIN, SHUFFLE_IDEAL = 0.10, 0.20
LOW_CONFIDENCE_PAGES = 5
READY_BANDS = ("Good", "Excellent")


def readiness(report: Mapping[str, Any], review_modes: Mapping[int, str], page_size: int = 20) -> dict[str, Any]:
    """The checks, the labels holding the rating down, the next steps and the verdict."""
    if "rating" not in report:
        return {"ready_for_analytics": False, "ready_for_automation": False, "headline": "Not ready yet",
                "factors": [], "labels": [],
                "steps": [{"what": "Review and submit a page: there is no validated model yet",
                           "mode": "shuffle", "arg": None}],
                "shuffle_share": 0.0, "low_confidence_pages": 0, "verdict": "Not ready: no model yet."}
    reviews = len(review_modes)
    shuffle_share = sum(mode == "shuffle" for mode in review_modes.values()) / reviews if reviews else 0.0
    lc_pages = sum(mode == "low-confidence" for mode in review_modes.values()) // page_size
    factors = [{"factor": name, "score": f["score"], "band": f["band"], "ok": f["band"] in READY_BANDS}
               for name, f in report["rating_factors"].items()]
    labels = [_label_problem(row) for row in report["labels"] if row["warning"]]
    labels.sort(key=lambda p: (not p["important"], p["warning"] != "red", p["name"]))
    steps = _steps(factors, labels, shuffle_share, lc_pages)
    drift = report.get("drift") or {}
    if drift.get("warning"):  # the model does not know the newest messages: first of all
        steps.insert(0, {"what": f"Drift: train on the {drift['new']:,} newest messages (Recent brings them "
                                 "first; then Low confidence)", "mode": "recent", "arg": None})
    blocking_labels = [p for p in labels if p["important"]]
    analytics = (all(f["ok"] for f in factors) and not blocking_labels and shuffle_share >= SHUFFLE_MIN
                 and not drift.get("warning"))
    automation = analytics and report["rating_band"] == "Excellent" and not labels
    headline = ("Ready for automation" if automation else "Ready for analytics, not yet for automation"
                if analytics else "Not ready yet")
    if automation:
        verdict = "Ready for automation: rated Excellent, no label with a warning."
    elif analytics:
        verdict = ("Ready for analytics; not yet for automation (it needs an Excellent rating and no "
                   "label with a warning).")
    else:
        verdict = f"Not ready yet. Next: {steps[0]['what']}" if steps else "Not ready yet."
    return {"ready_for_analytics": analytics, "ready_for_automation": automation, "headline": headline,
            "factors": factors,
            "labels": labels, "steps": steps, "shuffle_share": round(shuffle_share, 3),
            "low_confidence_pages": lc_pages, "verdict": verdict}


def _label_problem(row: Mapping[str, Any]) -> dict[str, Any]:
    """Why a label's warning is on, and the mode that fixes it."""
    ap = row.get("ap")
    if row["examples"] < AMBER_EXAMPLES or ap is None:  # metrics.warning_level: few examples, or low AP
        why, mode = f"too few examples ({row['examples']} of {AMBER_EXAMPLES})", "teach"
    else:
        why, mode = f"low AP ({ap:.2f}): check its reviews, then find what it missed", "check-label"
    return {"name": row["name"], "warning": row["warning"], "important": bool(row["informative"]),
            "why": why, "mode": mode}


def _steps(factors: list[dict[str, Any]], labels: list[dict[str, Any]], shuffle_share: float,
           lc_pages: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    if shuffle_share < SHUFFLE_MIN:
        steps.append({"what": f"Shuffle: {shuffle_share:.0%} of the reviews are random picks "
                              f"(at least {SHUFFLE_MIN:.0%}, ideally {SHUFFLE_IDEAL:.0%}+)",
                      "mode": "shuffle", "arg": None})
    if lc_pages < LOW_CONFIDENCE_PAGES:
        steps.append({"what": f"Low confidence: {lc_pages} of {LOW_CONFIDENCE_PAGES} pages done",
                      "mode": "low-confidence", "arg": None})
    for problem in labels:
        steps.append({"what": f"{problem['name']}: {problem['why']}", "mode": problem["mode"],
                      "arg": problem["name"]})
    bands = {f["factor"]: f for f in factors}
    if "coverage" in bands and not bands["coverage"]["ok"]:
        steps.append({"what": f"Coverage rated {bands['coverage']['band']}: Low confidence brings what "
                              "the model covers worst", "mode": "low-confidence", "arg": None})
    if "balance" in bands and not bands["balance"]["ok"]:
        steps.append({"what": f"Balance rated {bands['balance']['band']}: Rebalance brings what the "
                              "reviews under-represent", "mode": "rebalance", "arg": None})
    if shuffle_share < SHUFFLE_IDEAL and shuffle_share >= SHUFFLE_MIN:
        steps.append({"what": f"Shuffle: {shuffle_share:.0%} of the reviews (ideally {SHUFFLE_IDEAL:.0%}+)",
                      "mode": "shuffle", "arg": None})
    return steps


def format_readiness(ready: Mapping[str, Any]) -> str:
    lines = [ready["verdict"], ""]
    for f in ready["factors"]:
        lines.append(f"{'ok ' if f['ok'] else '-- '} {f['factor'].replace('_', ' '):13} {f['score']:5.0f}  {f['band']}")
    lines.append(f"{'ok ' if ready['shuffle_share'] >= SHUFFLE_MIN else '-- '} shuffle share  "
                 f"{ready['shuffle_share']:5.0%}  (at least {SHUFFLE_MIN:.0%}, ideally {SHUFFLE_IDEAL:.0%}+)")
    lines.append(f"{'ok ' if ready['low_confidence_pages'] >= LOW_CONFIDENCE_PAGES else '-- '} low confidence "
                 f"{ready['low_confidence_pages']:5d}  pages (five wanted)")
    if ready["labels"]:
        lines += ["", "labels holding the rating down:"]
        lines += [f"  {p['warning']:5} {p['name']}: {p['why']}{'' if p['important'] else ' (not informative)'}"
                  for p in ready["labels"]]
    if ready["steps"]:
        lines += ["", "next steps (mode that fixes it):"]
        lines += [f"  {n}. {s['what']}  [{s['mode']}{': ' + s['arg'] if s['arg'] else ''}]"
                  for n, s in enumerate(ready["steps"], start=1)]
    return "\n".join(lines)
