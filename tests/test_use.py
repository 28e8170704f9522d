"""Using the model: versions, the artifact, predict and streams."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cmtui import versions
from cmtui.cli import main
from cmtui.imports import import_file
from cmtui.sample import generate, write_csv
from cmtui.session import Session
from cmtui.store import Store

DATASET = "hm"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, list[str]]:
    """A dataset of 900 sample emails (properties, senders, threads), 600 reviewed, after
    one validation: the database, and the app's probabilities under that version."""
    root = tmp_path_factory.mktemp("trained")
    rows = list(generate(900, seed=5))
    for row in rows[600:]:
        row["labels"] = ""
    write_csv(root / "gold.csv", iter(rows[:600]))
    write_csv(root / "rest.csv", iter(rows[600:]), with_labels=False)
    store = Store(root / "db.duckdb")
    import_file(store, root / "gold.csv", DATASET, annotator="seed")
    import_file(store, root / "rest.csv", DATASET, annotator="seed")
    session = Session.open(store, DATASET, "seed")
    state = session.retrain()
    assert state.version == 1 and state.tree_labels  # some labels keep boosters: the trees are tested too
    return store.path, state.probs.copy(), list(session.ids)


@pytest.fixture
def db(trained: tuple[Path, np.ndarray, list[str]], tmp_path: Path) -> Path:
    """A copy of the trained database (with its cache folder) for one test."""
    source = trained[0]
    shutil.copy(source, tmp_path / source.name)
    shutil.copytree(source.with_name(source.name + ".cache"), tmp_path / (source.name + ".cache"))
    return tmp_path / source.name


def cli(db: Path, *args: str) -> int:
    return main([*args, "--db", str(db), "--dataset", DATASET])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# ---- versions -------------------------------------------------------------------------------
def test_validation_records_a_version_with_thresholds_and_files(db: Path) -> None:
    store = Store(db)
    [version] = store.model_versions(DATASET)
    points = version.report["operating_points"]
    assert set(points) == set(version.report["label_names"]) and len(points) > 5
    for t in points.values():
        assert t["high_recall"] <= t["balanced"] <= t["high_precision"]
    assert {"coverage", "map", "rating", "labels"} <= set(version.report)
    model = versions.load_artifact(versions.version_dir(db, DATASET, 1))
    assert model.labels == version.report["label_names"] and model.model.boosters


def test_unpinned_versions_beyond_the_last_ten_lose_their_files(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "KEEP_LAST", 3)  # the rule of the last ten, with three: fewer fits
    store = Store(db)
    session = Session.open(store, DATASET, "ann")
    store.pin_version(DATASET, 1, "first")
    unreviewed = [m for m in session.mids.tolist() if m not in session.reviewed]
    for mid in unreviewed[:4]:  # a review more each time: a validation of the same data keeps its version
        session.confirm([mid], "shuffle", labels={mid: {}})
        session.validate()
    have = sorted(int(p.name) for p in versions.versions_dir(db, DATASET).iterdir() if p.name.isdigit())
    assert have == [1, 3, 4, 5]  # 2 pruned; 1 pinned; the last three kept
    assert len(store.model_versions(DATASET)) == 5  # the records stay
    assert cli(db, "models", "unpin", "first") == 0
    session.confirm([unreviewed[4]], "shuffle", labels={unreviewed[4]: {}})
    session.validate()
    have = sorted(int(p.name) for p in versions.versions_dir(db, DATASET).iterdir() if p.name.isdigit())
    assert have == [4, 5, 6]


def test_opening_again_with_nothing_new_keeps_the_version(db: Path) -> None:
    """Every opening of the app validated and recorded a version of the same data; the
    files of older versions were pruned to make room for the copies."""
    store = Store(db)
    session = Session.open(store, DATASET, "ann")
    history = list(session.history)
    assert session.retrain().version == 1  # what the fixture's validation was fitted on
    assert len(store.model_versions(DATASET)) == 1 and session.history == history  # no new point
    mid = next(m for m in session.mids.tolist() if m not in session.reviewed)
    session.confirm([mid], "shuffle", labels={mid: {}})
    assert session.retrain().version == 2 and len(session.history) == len(history) + 1
    store.add_label(DATASET, "Brand new")  # a taxonomy change is new data too
    assert session.retrain().version == 3


def test_models_list_pin_compare(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = Session.open(Store(db), DATASET, "ann")
    mid = next(m for m in session.mids.tolist() if m not in session.reviewed)
    session.confirm([mid], "shuffle", labels={mid: {}})  # new data: a second version
    session.validate()
    assert cli(db, "models", "pin", "1", "--tag", "prod") == 0
    capsys.readouterr()
    assert cli(db, "models", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["pinned"], r["tag"]) for r in rows] == [(1, True, "prod"), (2, False, None)]
    assert cli(db, "models", "compare", "prod", "2") == 0
    out = capsys.readouterr().out
    assert "version 1" in out and "AP" in out and "rating" in out
    assert cli(db, "models", "pin", "2", "--tag", "prod") == 2  # a tag names one version
    assert "already on version 1" in capsys.readouterr().err
    assert cli(db, "models", "pin", "9") == 2
    assert "no model version '9'" in capsys.readouterr().err


def test_compare_marks_changed_figures() -> None:
    from datetime import datetime

    from cmtui.cli_use import format_compare
    from cmtui.store import ModelVersion

    def version(n: int, ap: float) -> ModelVersion:
        return ModelVersion(n, datetime(2026, 1, 1), 100, {"labels": [{"name": "A", "ap": ap, "precision": 0.9,
                                                                          "recall": 0.8}], "map": ap}, False, None)

    text = format_compare(version(1, 0.5), version(2, 0.7))
    row = next(line for line in text.splitlines() if line.startswith("A "))
    assert "0.500 0.700+" in row and "0.900 0.900 " in row


# ---- the artifact and predict ------------------------------------------------------------
def test_predict_on_a_file_equals_the_apps_predictions(trained: tuple[Path, np.ndarray, list[str]], db: Path,
                                                       tmp_path: Path) -> None:
    _, probs, ids = trained
    assert cli(db, "export", "--out", str(tmp_path / "all.csv")) == 0
    assert cli(db, "models", "export", "1", "--out", str(tmp_path / "model")) == 0
    shutil.rmtree(db.with_name(db.name + ".cache"))  # no database files needed from here on
    assert main(["predict", "--model", str(tmp_path / "model"), str(tmp_path / "all.csv"),
                 "--out", str(tmp_path / "p.jsonl"), "--db", str(tmp_path / "none.duckdb")]) == 0
    model = versions.load_artifact(tmp_path / "model")
    got = {r["id"]: r for r in read_jsonl(tmp_path / "p.jsonl")}
    assert len(got) == len(ids)
    t = model.thresholds
    for i, message_id in enumerate(ids):
        expected = {model.labels[j]: probs[i, j] for j in np.flatnonzero(probs[i] >= t[:, 0])}
        row = {label["name"]: label for label in got[message_id]["labels"]}
        assert set(row) == set(expected), message_id
        for name, p in expected.items():
            assert row[name]["probability"] == pytest.approx(float(p), abs=1e-4)
            j = model.labels.index(name)
            assert row[name]["balanced"] == bool(p >= np.float32(t[j, 1]))
            assert row[name]["high_precision"] == bool(p >= np.float32(t[j, 2]))


def test_predict_formats_and_stdin(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    assert cli(db, "export", "--out", str(tmp_path / "all.parquet")) == 0
    assert cli(db, "predict", "--model", "1", str(tmp_path / "all.parquet"), "--out", str(tmp_path / "p.csv")) == 0
    from_parquet = pl.read_csv(tmp_path / "p.csv")
    # the version found general fields too (cmtui[fields] is in the test extra)
    assert from_parquet.columns == ["id", "predicted", "high_recall", "balanced", "high_precision", "fields"]
    assert from_parquet.height == 900
    lines = [json.dumps({"id": "n1", "timestamp": "2024-05-01T10:00:00Z", "body": "My car was hit, claim please"}),
             json.dumps({"id": "n2", "timestamp": "2024-05-01T11:00:00Z", "body": "Refund my premium"})]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert cli(db, "predict", "--model", "1", "-", "--out", str(tmp_path / "p.parquet")) == 0
    out = pl.read_parquet(tmp_path / "p.parquet")
    assert out["id"].to_list() == ["n1", "n2"] and out.schema["labels"] == pl.List(pl.Struct({
        "name": pl.String, "probability": pl.Float64, "high_recall": pl.Boolean, "balanced": pl.Boolean,
        "high_precision": pl.Boolean}))


def test_predict_refuses_bad_rows_unless_skipped(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "new.csv"
    bad.write_text("id,timestamp,body\na1,2024-01-01,my car was hit\na2,not a time,refund\na3,2024-01-02,\n"
                   "a4,2024-01-03,charged twice\n")
    out = tmp_path / "p.jsonl"
    assert cli(db, "predict", "--model", "1", str(bad), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: timestamp:" in err and f"{bad}:4: body:" in err
    assert not out.exists() and not list(tmp_path.glob("p.jsonl*"))  # nothing half-written
    assert cli(db, "predict", "--model", "1", str(bad), "--out", str(out), "--skip-bad") == 0
    assert [r["id"] for r in read_jsonl(out)] == ["a1", "a4"]
    rejects = read_jsonl(tmp_path / "p.jsonl.rejects.jsonl")
    assert [(r["line"], r["column"]) for r in rejects] == [(3, "timestamp"), (4, "body")]
    header_fault = tmp_path / "nobody.csv"
    header_fault.write_text("id,timestamp\na1,2024-01-01\n")
    assert cli(db, "predict", "--model", "1", str(header_fault), "--out", str(out), "--skip-bad") == 2
    assert "body: required column is missing" in capsys.readouterr().err


def test_missing_damaged_and_newer_artifacts_are_refused(db: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(db, "models", "export", "1", "--out", str(tmp_path / "m")) == 0
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "x", "timestamp": "2024-01-01", "body": "hello"}) + "\n")

    def refused(directory: Path) -> str:
        capsys.readouterr()
        assert main(["predict", "--model", str(directory), str(tmp_path / "in.jsonl"), "--db", str(db)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1  # one line
        return err

    assert "no model there" in refused(tmp_path / "nothing")
    for case in ("booster", "json", "newer", "arrays"):
        broken = tmp_path / case
        shutil.copytree(tmp_path / "m", broken)
        if case == "booster":
            booster = next((broken / "boosters").iterdir())
            booster.write_text(booster.read_text()[:200])
            assert "damaged booster" in refused(broken)
        elif case == "json":
            (broken / "model.json").write_text("{not json")
            assert "damaged" in refused(broken)
        elif case == "newer":
            meta = json.loads((broken / "model.json").read_text())
            meta["format_version"] = versions.FORMAT_VERSION + 1
            (broken / "model.json").write_text(json.dumps(meta))
            assert "made by a newer cmtui" in refused(broken)
        else:
            (broken / "arrays.npz").unlink()
            assert "arrays.npz" in refused(broken)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["features"]["probe_columns"] = meta["features"]["probe_columns"][1:]  # hashing as another cmtui did
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    assert "hashes words to other columns" in refused(tmp_path / "m")


def test_a_pruned_version_cannot_predict(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(versions.version_dir(db, DATASET, 1))
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "x", "timestamp": "2024-01-01", "body": "hello"}) + "\n")
    assert cli(db, "predict", "--model", "1", str(tmp_path / "in.jsonl")) == 2
    assert "files were pruned" in capsys.readouterr().err


# ---- streams -------------------------------------------------------------------------------
def fetch(db: Path, capsys: pytest.CaptureFixture[str], name: str, size: int) -> list[dict]:
    capsys.readouterr()
    assert cli(db, "stream", "fetch", name, "--size", str(size)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_stream_fetch_advance_reset(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(db, "stream", "create", "email", "--model", "1", "--filter", "property.channel=email") == 0
    first = fetch(db, capsys, "email", 5)
    assert len(first) == 5 and all(r["properties"]["channel"] == "email" for r in first)
    assert fetch(db, capsys, "email", 5) == first  # no advance: the same batch again
    seqs = [r["sequence_id"] for r in first]
    assert seqs == sorted(seqs) and "labels" in first[0] and first[0]["model_version"] == 1
    assert cli(db, "stream", "advance", "email", str(seqs[-1])) == 0
    second = fetch(db, capsys, "email", 5)
    assert second[0]["sequence_id"] > seqs[-1]
    assert cli(db, "stream", "advance", "email", str(seqs[0])) == 0  # an older batch: the cursor stays
    assert fetch(db, capsys, "email", 5) == second
    assert cli(db, "stream", "reset", "email", "--to", "2000-01-01") == 0
    assert fetch(db, capsys, "email", 5) == first
    assert cli(db, "stream", "advance", "email", "99999999") == 2
    assert "past the end" in capsys.readouterr().err
    assert cli(db, "stream", "fetch", "nope") == 2
    assert "no stream 'nope'" in capsys.readouterr().err
    assert cli(db, "models", "unpin", "1") == 2  # a stream uses it
    # messages imported after the stream was made come in its next fetch
    last = json.loads(subprocess_free_list(db, capsys))[0]["last_sequence_id"]
    assert cli(db, "stream", "reset", "email", "--to", str(last)) == 0
    (tmp_path / "late.csv").write_text("id,timestamp,body,channel\nlate1,2025-01-01,my car was hit,email\n")
    assert cli(db, "import", str(tmp_path / "late.csv")) == 0
    assert [r["id"] for r in fetch(db, capsys, "email", 5)] == ["late1"]
    assert cli(db, "stream", "exception", "email", "late1", "--type", "no policy number") == 0
    assert Store(db).exceptions(DATASET)[0][1] == "no policy number"
    assert cli(db, "stream", "delete", "email") == 0
    assert Store(db).streams() == []


def subprocess_free_list(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli(db, "stream", "list", "--json") == 0
    return capsys.readouterr().out


CONSUMER = """
import json, sys, time
from cmtui.cli import main
db, log, die_after_fetch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
import contextlib, io
while True:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["stream", "fetch", "s", "--size", "7", "--db", db, "--dataset", "hm"])
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    if not rows:
        break
    with open(log, "a") as fh:
        fh.write("".join(r["id"] + "\\n" for r in rows))
    if die_after_fetch:
        print("fetched", flush=True)
        time.sleep(600)  # killed here, between fetch and advance
    main(["stream", "advance", "s", str(rows[-1]["sequence_id"]), "--db", db, "--dataset", "hm"])
"""


@pytest.mark.ci
def test_two_consumers_and_a_kill_lose_no_message(db: Path, tmp_path: Path) -> None:
    assert cli(db, "stream", "create", "s", "--model", "1", "--filter", "after=2024-03-01",
               "--filter", "before=2024-03-20") == 0
    store = Store(db)
    expected = store.stream_messages(store.stream("s"), 0, 10**6)["id"].to_list()
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER)
    victim = subprocess.Popen([sys.executable, str(script), str(db), str(tmp_path / "dead.log"), "1"],
                              stdout=subprocess.PIPE, text=True)
    assert victim.stdout is not None and victim.stdout.readline().strip() == "fetched"
    victim.kill()  # SIGKILL between fetch and advance
    victim.wait()
    consumers = [subprocess.Popen([sys.executable, str(script), str(db), str(tmp_path / f"c{i}.log"), "0"])
                 for i in range(2)]
    for c in consumers:
        assert c.wait(timeout=300) == 0
    seen = set()
    for i in range(2):
        seen |= set((tmp_path / f"c{i}.log").read_text().split()) if (tmp_path / f"c{i}.log").exists() else set()
    assert len(expected) > 20 and seen == set(expected)  # at least once: nothing lost, the dead batch redone
    assert Store(db).stream("s").cursor == Store(db).stream_bounds(Store(db).stream("s"))[0]


# ---- beyond one machine ----------------------------------------------------------------------
def test_predict_on_a_local_dask_cluster_equals_local_predict(db: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A real cluster on loopback: a scheduler and two worker processes, no mocks."""
    from distributed import Client, LocalCluster

    from cmtui import predict
    from cmtui.cluster import predict_on_cluster

    monkeypatch.setattr(predict, "CHUNK", 1_000)  # several tasks per file (the plan says so)
    rows = list(generate(3_000, seed=9))
    frame = pl.DataFrame(rows).drop("labels")
    frame[:1_800].write_parquet(tmp_path / "a.parquet")
    frame[1_800:].write_parquet(tmp_path / "b.parquet")
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    assert cli(db, "models", "export", "1", "--out", str(tmp_path / "model")) == 0
    assert cli(db, "predict", "--model", "1", *map(str, files), "--out", str(tmp_path / "local.jsonl")) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        scored, rejects = predict_on_cluster(cluster.scheduler_address, tmp_path / "model", files,
                                             tmp_path / "cluster.jsonl")
        assert cli(db, "predict", "--model", "1", *map(str, files), "--cluster", cluster.scheduler_address,
                   "--out", str(tmp_path / "cli.jsonl")) == 0
    assert (tmp_path / "cli.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
    assert scored == 3_000 and not rejects.faults  # six tasks of 1,000 rows, none read twice
    assert (tmp_path / "cluster.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()


# ---- in the app ------------------------------------------------------------------------------
async def test_exceptions_mode_and_pinned_version_in_the_app(db: Path) -> None:
    from textual.widgets import DataTable

    from cmtui.tui.app import CmtuiApp
    from cmtui.tui.screens import ValidationScreen
    from cmtui.workspace import Workspace
    from tests.test_tui import settle

    store = Store(db)
    assert cli(db, "models", "pin", "1", "--tag", "prod") == 0
    assert cli(db, "stream", "create", "s", "--model", "prod") == 0
    unreviewed = Session.open(store, DATASET, "x").ids[-3:]  # the last 300 are not reviewed
    for message_id, kind in zip(unreviewed, ["wrong queue", "missing policy number", "wrong queue"], strict=True):
        assert cli(db, "stream", "exception", "s", message_id, "--type", kind) == 0
    app = CmtuiApp(Workspace(store, "tester"), DATASET)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.start_mode("exceptions", None)
        await settle(app, pilot)
        assert app.page.mode == "exceptions"
        shown = [r.id for r in app.session.rows(app.page_mids)]  # by type: missing policy number first
        assert shown == [unreviewed[1], unreviewed[2], unreviewed[0]]
        assert app.session.exception_kinds[app.page_mids[0]] == ["missing policy number"]
        await pilot.press("1", "s", "enter")  # a label for the first; submit it, leaving the untouched two
        await settle(app, pilot)
        assert store.open_exceptions(DATASET) == app.session.ranked("exceptions")[:2]
        assert len(store.open_exceptions(DATASET)) == 2  # the reviewed one is answered: it left the list
        await pilot.press("v")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, ValidationScreen)
        await pilot.pause(0.5)
        await pilot.press("p")
        await pilot.pause()
        assert screen.beside is not None and screen.beside.version == 1
        table = screen.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()][5] == "v1 AP"
        assert any(str(table.get_row_at(i)[5]) not in ("", "-") for i in range(table.row_count))
        await pilot.press("p")  # again: no version beside, and no column for one
        await pilot.pause()
        assert screen.beside is None and "v1 AP" not in [str(c.label) for c in screen.query_one(DataTable).columns.values()]


def test_exception_types_are_read_with_a_resumed_exceptions_page(db: Path) -> None:
    store = Store(db)
    assert cli(db, "stream", "create", "s", "--model", "1") == 0
    last = Session.open(store, DATASET, "x").ids[-1]
    assert cli(db, "stream", "exception", "s", last, "--type", "wrong queue") == 0
    first = Session.open(store, DATASET, "ann")
    page = first.page("exceptions", None)
    again = Session.open(store, DATASET, "ann")
    assert again.resume() is not None and again.exception_kinds == {}
    assert again.page("exceptions", None) == page  # the saved page, not a new ranking
    assert again.exception_kinds == {page[0]: ["wrong queue"]}


def test_predict_csv_quotes_formulas_and_checks_the_folder_first(db: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "=HYPERLINK(1)", "timestamp": "2024-01-01",
                                                   "body": "my car was hit"}) + "\n")
    assert cli(db, "predict", "--model", "1", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p.csv")) == 0
    assert pl.read_csv(tmp_path / "p.csv")["id"].to_list() == ["'=HYPERLINK(1)"]
    assert cli(db, "predict", "--model", "1", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "no" / "p.csv")) == 2
    assert "no folder" in capsys.readouterr().err


def test_a_dataset_with_sentiment_predicts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = ["thank you so much, great help", "wonderful service, very happy", "excellent, quick and kind"]
    bad = ["terrible service, very angry", "awful, nobody answers, disappointed", "worst experience, furious"]
    lines = ["id,timestamp,body,labels,sentiments"]
    for i in range(60):
        text, sign = (good[i % 3], "positive") if i % 2 else (bad[i % 3], "negative")
        lines.append(f"s{i},2024-02-{1 + i % 28:02d},\"{text} about my claim {i}\",Service,{sign}")
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    db = tmp_path / "s.duckdb"
    assert main(["import", str(tmp_path / "s.csv"), "--dataset", "d", "--sentiment", "--db", str(db)]) == 0
    Session.open(Store(db), "d", "ann").retrain()
    (tmp_path / "new.jsonl").write_text(
        json.dumps({"id": "n1", "timestamp": "2024-05-01", "body": "great help, thank you, very happy"}) + "\n"
        + json.dumps({"id": "n2", "timestamp": "2024-05-01", "body": "awful and terrible, I am furious"}) + "\n")
    capsys.readouterr()
    assert main(["predict", "--model", "1", str(tmp_path / "new.jsonl"), "--db", str(db), "--dataset", "d"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["sentiment"] for r in rows] == ["positive", "negative"]
    assert rows[0]["sentiment_probability"] > 0.5 > rows[1]["sentiment_probability"]
    assert main(["stream", "create", "st", "--model", "1", "--db", str(db), "--dataset", "d"]) == 0
    capsys.readouterr()
    assert main(["stream", "fetch", "st", "--size", "2", "--db", str(db), "--dataset", "d"]) == 0
    fetched = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["sentiment"] for r in fetched] == ["negative", "positive"]  # s0 is negative, s1 positive
