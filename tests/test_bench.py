"""`cmtui bench --quick` as a smoke test: it runs and reports every figure (no timing asserts)."""

from __future__ import annotations

import json

import pytest

from cmtui.cli import main


@pytest.mark.ci
def test_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    for key in ("messages", "import_per_s", "open_s", "tui_open_s", "discover_s", "discover_open_s",
                "submit_to_next_page_s", "validate_s", "validate_all_s", "rescore_s", "analytics_s", "peak_rss_mb"):
        assert key in result, key
    assert result["messages"] == 10_000
    assert set(result["submit_to_next_page_s"]) == {"200", "1000", "5000"}
    assert all(v > 0 for v in result["submit_to_next_page_s"].values()) and result["analytics_s"] > 0


@pytest.mark.ci
def test_bench_predict_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--predict", "--quick", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["messages"] == 10_000 and result["profile"] == "short"
    assert result["local_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["cluster_per_s"] > 0  # cmtui[cluster] is in the test extra: the local cluster ran


def test_bench_mail_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--mail", "--quick", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["messages"] == 2_000 and result["import_per_s"] > 0 and result["parse_per_s"] > 0
