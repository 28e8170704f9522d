"""The benchmark scripts (the ``bench`` extra: scikit-learn, matplotlib) run end to end on
a tiny gold set cut from the sample mailbox, so a change that breaks them shows in CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent


def tiny_gold(folder: Path) -> Path:
    """``toy_train.csv`` / ``toy_test.csv`` in the gold format, from the sample mailbox."""
    folder.mkdir()
    frame = pl.read_csv(ROOT / "sample_data" / "mailbox.csv", infer_schema=False)
    frame = frame.select("id", "timestamp", "subject", "body", pl.col("labels").fill_null(""))
    frame.head(200).write_csv(folder / "toy_train.csv", quote_style="always")
    frame.slice(200, 80).write_csv(folder / "toy_test.csv", quote_style="always")
    return folder


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.ci
def test_baseline_script_compares_with_cmtui(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    out = run("scripts/baseline.py", str(data / "toy_train.csv"), str(data / "toy_test.csv"),
              "--sizes", "60", "--seeds", "0", "--cmtui")
    assert "60" in out and "cmtui" in out.lower()


@pytest.mark.ci
def test_label_efficiency_script_writes_table_json_and_chart(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    out_json = tmp_path / "le.json"
    run("scripts/label_efficiency.py", "--data", str(data), "--pages", "5", "--seeds", "0",
        "--strategies", "shuffle", "--out", str(out_json), "--runs", str(tmp_path / "runs.json"))
    results = json.loads(out_json.read_text())
    assert results and out_json.with_suffix(".md").read_text().count("|") > 10
    assert list(tmp_path.glob("*.png"))  # matplotlib drew the chart


@pytest.mark.ci
def test_label_efficiency_pairs_low_confidence_with_shuffle_and_resumes(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    runs = tmp_path / "runs.json"
    args = ("scripts/label_efficiency.py", "--data", str(data), "--pages", "2", "--seeds", "0", "--no-baseline",
            "--strategies", "low-confidence,shuffle", "--out", str(tmp_path / "le.json"), "--runs", str(runs))
    out = run(*args)  # one seed keeps the suite short: pairing many seeds is the same code
    assert "low-confidence vs shuffle coverage" in out and "coverage swing under shuffle" in out
    assert len(json.loads(runs.read_text())) == 2  # 2 strategies x 1 seed, kept as they finish
    again = run(*args)  # a second run reuses every simulation: nothing new is printed per run
    assert not [line for line in again.splitlines() if line.startswith("toy/")]


@pytest.mark.ci
def test_trees_ablation_script_compares_prior_trees_and_gate(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    out = run("scripts/trees_ablation.py", "--data", str(data), "--sizes", "150", "--seeds", "0-1")
    row = json.loads(out.strip().splitlines()[-1])
    assert row["set"] == "toy" and row["labelled"] == 150
    assert {"prior", "all_trees", "gated", "gated_vs_prior"} <= set(row)


@pytest.mark.ci
def test_label_efficiency_compares_a_discover_start_with_a_random_one(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    common = ("scripts/label_efficiency.py", "--data", str(data), "--pages", "1", "--seeds", "0", "--no-baseline",
              "--strategies", "low-confidence", "--out", str(tmp_path / "le.json"))
    run(*common, "--runs", str(tmp_path / "random.json"))
    out = run(*common, "--runs", str(tmp_path / "discover.json"), "--start", "discover",
              "--compare", str(tmp_path / "random.json"))
    assert "low-confidence: this vs other coverage, page 0" in out  # after the seed
    assert "low-confidence: this vs other map_all, page 1" in out  # and on the last page


@pytest.mark.ci
def test_corpus_features_script_pairs_the_model_with_and_without_the_representation(tmp_path: Path) -> None:
    data = tiny_gold(tmp_path / "gold")
    out = run("scripts/corpus_features.py", "--data", str(data), "--sizes", "60", "--seeds", "0-1",
              "--weights", "1", "--jobs", "1")
    rows = [line for line in out.splitlines() if line.startswith("| toy |")]
    assert len(rows) == 1 and rows[0].split("|")[2].strip() == "60" and "/2 |" in rows[0]


@pytest.mark.ci
def test_faceted_set_joins_three_sets_and_label_efficiency_runs_it(tmp_path: Path) -> None:
    frame = pl.read_csv(ROOT / "sample_data" / "mailbox.csv", infer_schema=False)
    frame = frame.select("id", "timestamp", "subject", "body", pl.col("labels").fill_null(""))
    data = tmp_path / "gold"
    data.mkdir()
    for name, size in (("reuters", 150), ("hwu64", 120), ("goemotions", 200)):  # the smallest sets the size
        frame.head(size).write_csv(data / f"{name}_train.csv", quote_style="always")
        frame.slice(300, size // 2).write_csv(data / f"{name}_test.csv", quote_style="always")
    out = run("scripts/faceted_set.py", "--data", str(data), "--out", str(tmp_path / "faceted"))
    assert "120 messages" in out and "60 messages" in out
    train = pl.read_csv(tmp_path / "faceted" / "faceted_train.csv", infer_schema=False)
    assert train.height == 120 and train["id"].n_unique() == 120
    labelled = frame.filter(pl.col("labels") != "")
    assert labelled.height  # the sample mailbox has labels to carry over
    groups = [{name.split(" > ")[0] for name in (labels or "").split(";") if name} for labels in train["labels"]]
    assert any(g == {"Genre", "Topic", "Tone"} for g in groups)  # one label of each group where all had one
    assert all(g <= {"Genre", "Topic", "Tone"} for g in groups)
    genres = {name for labels in train["labels"] for name in (labels or "").split(";") if name.startswith("Genre")}
    assert genres and all(name.count(" > ") == 1 for name in genres)  # the scenario only, not its intent
    assert all(body.count("\n\n") >= 2 for body in train["body"])  # three texts joined
    assert "inside the repository" in subprocess.run(
        [sys.executable, "scripts/faceted_set.py", "--data", str(data), "--out", "docs/faceted"],
        cwd=ROOT, capture_output=True, text=True).stderr
    runs = tmp_path / "runs.json"
    run("scripts/label_efficiency.py", "--data", str(data), "--faceted", "--pages", "1", "--seeds", "0",
        "--no-baseline", "--strategies", "shuffle", "--out", str(tmp_path / "le.json"), "--runs", str(runs))
    assert "faceted/shuffle/0/1" in json.loads(runs.read_text())
