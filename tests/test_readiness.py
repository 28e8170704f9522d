"""When to stop training: the readiness checks against reports built by hand."""

from __future__ import annotations

from typing import Any

from cmtui.readiness import format_readiness, readiness


def report(band: str = "Good", factor_bands: dict[str, str] | None = None,
           labels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    bands = {"all_labels": "Good", "worst_labels": "Good", "coverage": "Good", "balance": "Good"}
    bands.update(factor_bands or {})
    scores = {"Excellent": 95.0, "Good": 80.0, "Average": 60.0, "Poor": 30.0}
    return {"rating": scores[band], "rating_band": band,
            "rating_factors": {k: {"score": scores[b], "band": b} for k, b in bands.items()},
            "labels": labels or []}


def label(name: str, examples: int = 60, ap: float | None = 0.9, warning: str = "", informative: bool = True) -> dict[str, Any]:
    return {"name": name, "examples": examples, "ap": ap, "warning": warning, "informative": informative}


MODES = {m: "shuffle" for m in range(30)} | {m: "low-confidence" for m in range(30, 130)}  # 23% shuffle, 5 LC pages


def test_good_everywhere_is_ready_for_analytics_and_excellent_for_automation() -> None:
    good = readiness(report("Good", labels=[label("A"), label("B")]), MODES)
    assert good["ready_for_analytics"] and not good["ready_for_automation"]
    assert good["shuffle_share"] == round(30 / 130, 3) and good["low_confidence_pages"] == 5
    assert good["steps"] == [] and good["verdict"].startswith("Ready for analytics")
    best = readiness(report("Excellent", {k: "Excellent" for k in ("all_labels", "coverage")}, [label("A")]), MODES)
    assert best["ready_for_automation"] and best["verdict"].startswith("Ready for automation")


def test_each_shortfall_is_a_step_with_the_mode_that_fixes_it() -> None:
    labels = [label("Few", examples=12, ap=None, warning="red"), label("Weak", ap=0.6, warning="amber"),
              label("Rider", examples=15, warning="amber", informative=False)]
    modes = {m: "low-confidence" for m in range(40)} | {40: "shuffle"}  # 2% shuffle, 2 LC pages
    ready = readiness(report("Average", {"coverage": "Average", "balance": "Poor"}, labels), modes)
    assert not ready["ready_for_analytics"] and not ready["ready_for_automation"]
    steps = [(s["mode"], s["arg"]) for s in ready["steps"]]
    assert steps == [("shuffle", None), ("low-confidence", None), ("teach", "Few"), ("check-label", "Weak"),
                     ("teach", "Rider"), ("low-confidence", None), ("rebalance", None)]
    assert ready["verdict"] == "Not ready yet. Next: " + ready["steps"][0]["what"]
    assert [p["name"] for p in ready["labels"]] == ["Few", "Weak", "Rider"]  # important ones first, red first
    text = format_readiness(ready)
    assert "too few examples (12 of 25)" in text and "low AP (0.60)" in text and "(not informative)" in text


def test_an_uninformative_label_with_a_warning_does_not_hold_analytics_back() -> None:
    ready = readiness(report("Good", labels=[label("A"), label("Flag", examples=15, warning="amber",
                                                                informative=False)]), MODES)
    assert ready["ready_for_analytics"] and not ready["ready_for_automation"]
    assert ready["steps"] == [{"what": "Flag: too few examples (15 of 25)", "mode": "teach", "arg": "Flag"}]


def test_no_model_yet() -> None:
    ready = readiness({}, {})
    assert not ready["ready_for_analytics"] and ready["steps"][0]["mode"] == "shuffle"


def test_stats_readiness_on_the_command_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from cmtui.cli import main
    from cmtui.sample import generate, write_csv

    write_csv(tmp_path / "m.csv", generate(300, seed=4))
    db = ["--db", str(tmp_path / "r.duckdb")]
    assert main(["import", str(tmp_path / "m.csv"), "--dataset", "d", *db]) == 0
    capsys.readouterr()
    assert main(["stats", "--readiness", "--json", *db]) == 0
    ready = json.loads(capsys.readouterr().out)
    # every review was imported (mode "import"): no Shuffle share, no Low confidence pages
    assert ready["shuffle_share"] == 0 and ready["low_confidence_pages"] == 0
    assert [s["mode"] for s in ready["steps"][:2]] == ["shuffle", "low-confidence"]
    assert main(["stats", "--readiness", *db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Not ready yet. Next: Shuffle: 0% of the reviews") and "next steps" in out
