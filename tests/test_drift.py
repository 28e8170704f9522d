"""Concept drift on a gold set: messages of labels never seen raise the warning; more
messages of the same kind do not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cmtui.cli import main
from cmtui.drift import measure, newest_by_import
from cmtui.sample import generate, write_csv
from cmtui.session import Session, readiness
from cmtui.store import Store


def gold(kinds: tuple[str, ...], n: int, seed: int) -> list[dict[str, str]]:
    """Sample messages whose first label's top level is one of ``kinds`` (ids by seed: no
    import updates another's messages)."""
    rows = [{**r, "id": f"S{seed}-{r['id']}"} for r in generate(8 * n, seed=seed)
            if r["labels"].split(" > ")[0] in kinds]
    return rows[:n]


def drift_after(tmp_path: Path, second: list[dict[str, str]]) -> dict:
    first = gold(("Claims", "Policy"), 700, seed=1)
    write_csv(tmp_path / "first.csv", iter(first))
    write_csv(tmp_path / "second.csv", iter(second), with_labels=False)
    db = ["--db", str(tmp_path / "d.duckdb")]
    assert main(["import", str(tmp_path / "first.csv"), "--dataset", "d", *db]) == 0
    assert main(["import", str(tmp_path / "second.csv"), "--dataset", "d", *db]) == 0
    session = Session.open(Store(tmp_path / "d.duckdb"), "d", "ann")
    session.retrain()
    return session.state.report


@pytest.mark.parametrize("kind", ["unseen", "same"])
def test_new_kinds_of_message_raise_the_drift_warning_and_more_of_the_same_do_not(tmp_path: Path, kind: str) -> None:
    second = (gold(("Billing", "Quote", "Complaint"), 250, seed=2) if kind == "unseen"
              else gold(("Claims", "Policy"), 250, seed=3))
    report = drift_after(tmp_path, second)
    drift = report["drift"]
    assert drift["window"] == "latest import" and drift["new"] == 250
    if kind == "unseen":
        assert drift["warning"], drift
        assert drift["coverage_new"] < drift["coverage_rest"] - 0.15 and drift["auc"] > 0.85
        steps = readiness(report, {})["steps"]
        assert steps[0]["mode"] == "recent" and steps[0]["what"].startswith("Drift:")
    else:
        assert not drift["warning"], drift
        assert abs(drift["coverage_new"] - drift["coverage_rest"]) < 0.1 and drift["auc"] < 0.75


def test_drift_needs_a_before_and_enough_new_messages() -> None:
    x = np.eye(100, dtype=np.float32)
    covered = np.ones(100, dtype=bool)
    probs = np.ones((100, 1), dtype=np.float32)

    def fit(_x: object, _t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("no classifier is fitted")

    few = measure(x, np.arange(100) >= 90, covered, probs, [0.5], ["A"], np.arange(10), fit)
    assert not few["warning"] and few["why"] == "only 10 messages in the latest import"
    most = measure(x, np.arange(100) >= 20, covered, probs, [0.5], ["A"], np.arange(10), fit)
    assert not most["warning"] and "most of the dataset" in most["why"]
    stamps = np.array(["2024-01-01", "2024-02-01", "2024-02-01"], dtype="datetime64[us]")
    assert newest_by_import(stamps).tolist() == [False, True, True]


def test_stats_shows_drift_over_a_chosen_number_of_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = gold(("Claims", "Policy"), 300, seed=1)
    write_csv(tmp_path / "m.csv", iter(rows))
    db = ["--db", str(tmp_path / "d.duckdb")]
    assert main(["import", str(tmp_path / "m.csv"), "--dataset", "d", *db]) == 0
    capsys.readouterr()
    assert main(["stats", "--json", "--drift-days", "30", *db]) == 0
    drift = json.loads(capsys.readouterr().out)["drift"]
    assert drift["window"] == "last 30 days" and 0 < drift["new"] < 300
    assert main(["stats", *db]) == 0  # one import: nothing to compare the newest with
    assert "drift: not measured (the latest import holds most of the dataset" in capsys.readouterr().out


def test_time_windows_of_the_filter() -> None:
    from cmtui.scoping import window_rows
    from cmtui.store import StoreError

    stamps = np.array([1704067200, 1706745600, 1709251200])  # 2024-01-01, 02-01, 03-01 (UTC)
    updated = np.array(["2024-01-05", "2024-03-02", "2024-03-02"], dtype="datetime64[us]")
    assert window_rows("2024-02-01..", stamps, updated).tolist() == [False, True, True]
    assert window_rows("..2024-02-01", stamps, updated).tolist() == [True, False, False]
    assert window_rows("2024-01-15..2024-03-01", stamps, updated).tolist() == [False, True, False]
    assert window_rows("latest import", stamps, updated).tolist() == [False, True, True]
    for bad in ("2024-02-01", "soon..", "2024-03-01..2024-01-01"):
        with pytest.raises(StoreError):
            window_rows(bad, stamps, updated)


async def test_app_measures_drift_and_trains_on_the_new_messages(tmp_path: Path) -> None:
    from textual.widgets import Static

    from cmtui.tui.analytics import AnalyticsScreen
    from cmtui.tui.app import CmtuiApp
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    first = gold(("Claims", "Policy"), 700, seed=1)
    write_csv(tmp_path / "first.csv", iter(first))
    write_csv(tmp_path / "second.csv", iter(gold(("Billing", "Quote", "Complaint"), 250, seed=2)), with_labels=False)
    db = ["--db", str(tmp_path / "d.duckdb")]
    assert main(["import", str(tmp_path / "first.csv"), "--dataset", "d", *db]) == 0
    assert main(["import", str(tmp_path / "second.csv"), "--dataset", "d", *db]) == 0
    store = Store(tmp_path / "d.duckdb")
    second = set(store.messages_frame("d", "mid, id").filter(pl.col("id").str.starts_with("S2-"))["mid"].to_list())
    app = CmtuiApp(Workspace(store, "ann"), "d")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("A")
        await app.workers.wait_for_complete()
        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AnalyticsScreen)
        line = str(app.screen.query_one("#analytics-drift", Static).render())
        assert "250 messages of the latest import" in line and "They look new" in line, line
        assert "Most changed: " in line and "(was " in line, line
        await pilot.press("r")
        await settle(app, pilot)
        assert app.session is not None and app.session.scope == (None, None, "latest import")
        assert app.page.mode == "low-confidence" and set(app.page_mids) <= second and app.page_mids
        assert "latest import" in str(app.query_one("#status", Static).render())
