from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from cmtui.cli import main
from cmtui.store import SCHEMA_VERSION, LabelNameError, Review, Store, StoreBusy, StoreError
from cmtui.store.base import APP_MARKER, MIGRATIONS
from tests.conftest import write


def seeded(store: Store, tmp_path: Path) -> list[int]:
    src = write(tmp_path / "m.csv", "id,timestamp,body\n" + "".join(
        f"m{i},2024-01-0{i + 1},message {i}\n" for i in range(5)))
    assert main(["import", str(src), "--dataset", "d", "--db", str(store.path)]) == 0
    return store.messages_frame("d")["mid"].to_list()


def test_migrations_from_empty_file(db_path: Path) -> None:
    store = Store(db_path)
    store.ensure_schema()
    assert store.schema_version() == SCHEMA_VERSION
    store.ensure_schema()  # idempotent
    assert store.dataset_names() == []


def test_parents_made_for_a_child_have_no_key_and_keep_none(store: Store, tmp_path: Path) -> None:
    """Typing ``Policy > Renewal`` made ``Policy`` take key 1: four of the first nine keys
    went to such parents. They have none, through a rename, a delete undone, and a
    database made before keys were stored keeps its parents' keys (no key moves)."""
    seeded(store, tmp_path)
    for name in ("Policy > Renewal", "Billing > Refund", "Policy > Cancellation"):
        store.add_label("d", name, "ann")
    keyed = ["Policy > Renewal", "Billing > Refund", "Policy > Cancellation"]
    assert store.taxonomy("d")[2] == keyed and {"Policy", "Billing"} <= set(store.labels("d"))
    store.move_label("d", "Policy", "Cover", "ann")
    assert store.taxonomy("d")[2] == ["Cover > Renewal", "Billing > Refund", "Cover > Cancellation"]
    store.undo_last("d", "ann")
    store.delete_label("d", "Policy", "ann")
    store.undo_last("d", "ann")
    assert store.taxonomy("d")[2] == keyed and "Policy" in store.labels("d")
    old = tmp_path / "old.duckdb"  # schema 8: every label had a key
    con = duckdb.connect(str(old))
    for step in MIGRATIONS[:8]:
        con.execute(step)
    con.execute("INSERT INTO meta VALUES ('app', ?), ('schema_version', '8')", [APP_MARKER])
    con.execute("INSERT INTO labels (dataset, name, created) VALUES ('d', 'Claims', now()), "
                "('d', 'Claims > Home', now() + INTERVAL 1 SECOND)")
    con.close()
    assert Store(old).taxonomy("d")[2] == ["Claims", "Claims > Home"]


def test_foreign_and_newer_databases_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE payroll(x INT)")
    con.close()
    with pytest.raises(StoreError, match="not a cmtui database"):
        Store(foreign).ensure_schema()
    newer = tmp_path / "newer.duckdb"
    Store(newer).ensure_schema()
    con = duckdb.connect(str(newer))
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer cmtui"):
        Store(newer).ensure_schema()
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match=str(garbage)):
        Store(garbage).ensure_schema()
    assert garbage.read_bytes() == b"this is not a database at all" * 100


def test_output_read_only_in_part_ends_quietly(store: Store, tmp_path: Path) -> None:
    """``cmtui labels | head`` printed "cmtui: Broken pipe" under the lines shown."""
    import subprocess
    import sys

    seeded(store, tmp_path)
    store.add_labels("d", [f"Group {i // 50} > Label {i}" for i in range(1500)])  # ~150 kB of JSON
    child = subprocess.Popen([sys.executable, "-m", "cmtui", "labels", "--json", "--db", str(store.path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(10)  # the reader takes a little, then goes away
    child.stdout.close()
    assert child.wait(timeout=60) == 1
    assert child.stderr.read().decode() == ""


def test_cli_reports_foreign_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.duckdb"
    bad.write_bytes(b"\x00garbage" * 50)
    assert main(["datasets", "--db", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_confirm_and_undo_survive_restart(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "Claims > Motor")
    store.confirm("d", "ann", [Review(mids[0], {"Claims > Motor": None}, "shuffle")])
    store.confirm("d", "ann", [Review(mids[0], {}, "shuffle")])  # changed their mind
    store.confirm("d", "ann", [Review(mids[1], {"Claims": None}, "shuffle")])
    reopened = Store(store.path)  # a new process would do just this
    assert reopened.undo_last("d", "ann").mids == [mids[1]]
    assert mids[1] not in reopened.effective_reviews("d")[0]
    assert reopened.undo_last("d", "ann").mids == [mids[0]]
    assert reopened.effective_reviews("d")[0][mids[0]] == {"Claims > Motor": None}
    assert reopened.undo_last("d", "ann").mids == [mids[0]]
    assert reopened.effective_reviews("d")[0] == {}
    assert reopened.undo_last("d", "ann") is None
    kinds = [row[4] for row in reopened.events("d")]
    assert kinds.count("undo") == 3 and kinds.count("confirm") == 3  # append-only


def test_undo_is_per_annotator(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    store.confirm("d", "alice", [Review(mids[0], {"A": None})])
    store.confirm("d", "bob", [Review(mids[1], {"A": None})])
    assert store.undo_last("d", "alice").mids == [mids[0]]
    assert set(store.effective_reviews("d")[0]) == {mids[1]}
    store.describe_label("d", "A", "about a")
    store.confirm("d", "alice", [Review(mids[1], {}, "shuffle")])  # the latest review is the effective one
    # what a session re-reads before each page and fit, in one opening of the file
    together = store.reviews_and_taxonomy("d")
    assert together == (*store.taxonomy("d"), *store.effective_reviews("d"))
    assert together[1:] == ({"A": "about a"}, ["A"], {mids[1]: {}}, {mids[1]: "shuffle"})


def test_label_names_are_validated(store: Store, tmp_path: Path) -> None:
    seeded(store, tmp_path)
    for bad in ["", "   ", " > A", "A > ", "x" * 1000, "A >  > B", "A;B"]:
        with pytest.raises(LabelNameError):
            store.add_label("d", bad)
    store.add_label("d", "Claims > Motor")
    with pytest.raises(LabelNameError, match="differs only in case"):
        store.add_label("d", "claims > motor")
    assert store.labels("d") == ["Claims", "Claims > Motor"]


def test_delete_message_and_dataset(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    store.confirm("d", "ann", [Review(mids[0], {"A": None})])
    assert main(["delete-message", "m0", "--yes", "--db", str(store.path)]) == 0
    assert store.messages_frame("d").height == 4
    assert store.effective_reviews("d")[0] == {}
    assert main(["delete-dataset", "d", "--yes", "--db", str(store.path)]) == 0
    assert store.dataset_names() == []
    assert store.query_frame("SELECT count(*) AS n FROM messages")["n"][0] == 4  # sources stay


def test_delete_without_terminal_needs_yes(store: Store, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    seeded(store, tmp_path)
    assert main(["delete-dataset", "d", "--db", str(store.path)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert store.dataset_names() == ["d"]


def test_dataset_may_be_left_out_only_when_unique(store: Store, tmp_path: Path) -> None:
    seeded(store, tmp_path)
    assert store.resolve_dataset(None) == "d"
    store.create_dataset("other")
    with pytest.raises(StoreError, match="several datasets"):
        store.resolve_dataset(None)


def test_last_used_dataset_is_remembered_per_annotator(store: Store, tmp_path: Path) -> None:
    seeded(store, tmp_path)
    store.create_dataset("other")
    store.save_session_state("other", "alice", "shuffle", None, [])
    store.save_session_state("d", "bob", "shuffle", None, [])
    assert store.resolve_dataset(None, "alice") == "other"
    assert store.resolve_dataset(None, "bob") == "d"
    with pytest.raises(StoreError, match="several datasets"):
        store.resolve_dataset(None, "carol")


def test_rename_merge_delete_describe_labels_and_undo(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "Complaint")
    typo = store.add_label("d", "Compliant > Delay", "ann")
    store.confirm("d", "ann", [Review(mids[0], {typo: None}), Review(mids[1], {"Complaint": None}),
                               Review(mids[2], {typo: None, "Complaint": None})])
    before_labels, before_reviews = store.labels("d"), store.effective_reviews("d")[0]
    assert store.move_label("d", "Compliant", "Complaint", "ann", merge=True) == 2
    assert store.labels("d") == ["Complaint", "Complaint > Delay"]
    reviews = store.effective_reviews("d")[0]
    assert reviews[mids[0]] == {"Complaint > Delay": None}
    assert reviews[mids[2]] == {"Complaint > Delay": None, "Complaint": None}
    step = store.undo_last("d", "ann")
    assert step is not None and step.kind == "merge-label"
    assert store.labels("d") == before_labels and store.effective_reviews("d")[0] == before_reviews
    store.move_label("d", "Compliant > Delay", "Complaint > Late", "ann")
    assert "Complaint > Late" in store.labels("d") and "Compliant > Delay" not in store.labels("d")
    with pytest.raises(LabelNameError, match="exists already"):
        store.move_label("d", "Complaint > Late", "Complaint", "ann")
    store.describe_label("d", "Complaint", "  The customer is unhappy\n with us ", "ann")
    assert store.label_descriptions("d") == {"Complaint": "The customer is unhappy with us"}
    assert store.delete_label("d", "Complaint", "ann") == 4
    assert store.labels("d") == ["Compliant"]
    assert store.effective_reviews("d")[0][mids[1]] == {}  # still reviewed, without the label
    store.undo_last("d", "ann")  # the delete
    store.undo_last("d", "ann")  # the description
    assert store.label_descriptions("d") == {}
    store.undo_last("d", "ann")  # the rename
    assert store.labels("d") == before_labels and store.effective_reviews("d")[0] == before_reviews
    kinds = [row[4] for row in store.events("d")]
    assert {"merge-label", "rename-label", "describe-label", "delete-label"} <= set(kinds)


def test_one_undo_reverts_one_submit(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    store.confirm("d", "ann", [Review(mids[0], {"A": None})])
    store.confirm("d", "ann", [Review(m, {}) for m in mids[1:]], kind="submit")
    step = store.undo_last("d", "ann")
    assert step is not None and step.kind == "submit" and sorted(step.mids) == sorted(mids[1:])
    assert set(store.effective_reviews("d")[0]) == {mids[0]}


def test_a_submit_that_rewrites_reviews_is_undone_to_what_was_there(store: Store, tmp_path: Path) -> None:
    """The batched write keeps the sequential meaning: a message twice in one call ends as
    its second review, and undo puts back the review from before the call, sentiment and
    time included."""
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    store.add_label("d", "B")
    store.confirm("d", "ann", [Review(mids[0], {"A": 1}, "teach")])
    before = store.annotator_reviews("d").filter(annotator="ann")["at_ts"].to_list()
    seqs = store.confirm("d", "ann", [Review(mids[0], {"B": None}, "shuffle"), Review(mids[1], {"A": -1}),
                                      Review(mids[0], {}, "shuffle")], kind="submit")
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert store.effective_reviews("d")[0] == {mids[0]: {}, mids[1]: {"A": -1}}
    payloads = {seq: json.loads(payload) for seq, *_, payload, _ in store.events("d") if seq in seqs}
    assert payloads[seqs[0]]["before"]["labels"] == {"A": 1}
    assert payloads[seqs[2]]["before"]["labels"] == {"B": None}  # what the call itself wrote first
    step = store.undo_last("d", "ann")
    assert step is not None and step.mids == [mids[0], mids[1], mids[0]]
    assert store.effective_reviews("d") == ({mids[0]: {"A": 1}}, {mids[0]: "teach"})
    assert store.annotator_reviews("d").filter(annotator="ann")["at_ts"].to_list() == before


def test_waits_for_another_process_then_gives_up_clearly(store: Store, tmp_path: Path) -> None:
    seeded(store, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time, sys; c = duckdb.connect({str(store.path)!r}); print('held', flush=True); time.sleep(1.5)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    assert store.dataset_names() == ["d"]  # waited for the lock, then succeeded
    assert time.monotonic() - started > 0.2
    holder.wait()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(store.path)!r}); print('held', flush=True); time.sleep(5)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    impatient = Store(store.path, busy_timeout=0.3)
    with pytest.raises(StoreBusy, match="held by another process"):
        impatient.dataset_names()
    holder.kill()
    holder.wait()


def test_threads_share_the_file(store: Store, tmp_path: Path) -> None:
    """The app's workers open the file from several threads at once."""
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            for round_ in range(5):
                store.confirm("d", f"t{i}", [Review(mids[(i + round_) % len(mids)], {"A": None})])
                store.effective_reviews("d")
                store.leased_by_others("d", f"t{i}")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    reviews = store.annotator_reviews("d")
    assert reviews.height == 8 * len(mids)  # each annotator reviewed every message once


def test_an_import_writes_on_one_thread_and_leaves_the_others_theirs(store: Store, tmp_path: Path) -> None:
    """The import's connection is set to one DuckDB thread; every later one has the default."""
    with store.transaction() as con:
        default = con.execute("SELECT current_setting('threads')").fetchone()
    seen: list[object] = []
    execute = duckdb.DuckDBPyConnection.execute

    def spy(con: duckdb.DuckDBPyConnection, query: str, *args: object) -> duckdb.DuckDBPyConnection:
        if query.startswith("INSERT INTO messages"):
            seen.append(execute(con, "SELECT current_setting('threads')").fetchone())
        return execute(con, query, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb.DuckDBPyConnection, "execute", spy)
        seeded(store, tmp_path)
    assert seen == [(1,)]
    with store.transaction() as con:
        assert con.execute("SELECT current_setting('threads')").fetchone() == default


def test_messages_frame_reads_just_the_mids_asked(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    assert store.messages_frame("d", "mid", mids=[mids[3], mids[1]])["mid"].to_list() == [mids[1], mids[3]]
    assert store.messages_frame("d", "mid", mids=[]).height == 0
    assert store.messages_frame("d", "mid", mids=[max(mids) + 1]).height == 0  # not a message
    assert store.messages_frame("d", "mid, body", mids=mids)["body"].to_list() == [f"message {i}" for i in range(5)]


def test_page_messages_reads_a_page_with_its_threads(store: Store, tmp_path: Path) -> None:
    """One unit of work gives the page's rows, the rows of every message in their threads,
    and each thread's messages oldest first; another dataset's thread of the same id stays out."""
    src = write(tmp_path / "t.csv", "id,timestamp,thread_id,body\n"
                "a,2024-01-03,T1,reply\nb,2024-01-01,T1,first\nc,2024-01-02,,alone\n"
                "d,2024-01-02,T1,middle\ne,2024-01-05,T2,other thread\n")
    other = write(tmp_path / "o.csv", "id,timestamp,thread_id,body\nx,2024-01-01,T1,not ours\n")
    for path, dataset in ((src, "d"), (other, "o")):
        assert main(["import", str(path), "--dataset", dataset, "--db", str(store.path)]) == 0
    mid = dict(store.messages_frame("d", "id, mid").iter_rows())
    opened = []
    transaction = store.transaction
    store.transaction = lambda: (opened.append(1), transaction())[1]  # type: ignore[method-assign]
    frame, threads = store.page_messages("d", "mid, body", [mid["a"], mid["c"]])
    assert len(opened) == 1
    assert frame["body"].to_list() == ["reply", "first", "alone", "middle"]  # by mid
    assert threads == {"T1": [mid["b"], mid["d"], mid["a"]]}
    assert store.page_messages("d", "mid", [])[0].height == 0


def test_first_run_loads_sample_once(db_path: Path) -> None:
    from cmtui.imports import ensure_sample

    store = Store(db_path)
    assert ensure_sample(store, "ann") == "sample"
    info = store.dataset_info("sample")
    assert info.messages >= 2000 and info.reviewed == 0  # labels are not imported
    assert store.labels("sample") == []  # nor the taxonomy: a new mailbox starts in Discover
    assert ensure_sample(store, "ann") is None
    assert store.dataset_info("sample").messages == info.messages


def test_lease_refuses_messages_reviewed_meanwhile(store: Store, tmp_path: Path) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "A")
    assert store.lease("d", "alice", mids[:2]) == set(mids[:2])
    assert store.lease("d", "bob", mids[:3]) == {mids[2]}  # alice holds the first two
    store.confirm("d", "alice", [Review(mids[0], {"A": None})])  # releases alice's lease on it
    assert store.lease("d", "bob", mids[:4]) == {mids[2], mids[3]}  # reviewed: not handed out
    assert store.lease("d", "carol", [mids[4], mids[4], mids[3]]) == {mids[4]}  # asked twice: leased once
    assert store.leased_by_others("d", "alice") == {mids[2], mids[3], mids[4]}
    assert store.lease("d", "bob", [mids[4]]) == set()  # carol holds it


def test_labels_add_sets_the_order_of_the_keys_all_or_nothing(store: Store, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A team brings its taxonomy in the order it wants on keys 1-9; a bad name, or one
    differing from another only in case, adds none of them."""
    seeded(store, tmp_path)
    db = ["--db", str(store.path), "--annotator", "ann"]
    assert main(["labels", "--add", "Renewal", "Claims > Motor", "Billing", *db]) == 0
    assert "added 4 labels: Renewal, Claims, Claims > Motor, Billing" in capsys.readouterr().out
    assert store.taxonomy("d")[2] == ["Renewal", "Claims > Motor", "Billing"]  # Claims: made for its child
    capsys.readouterr()
    assert main(["labels", *db]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["key", "reviewed", "label"]
    assert [line[:3].strip() for line in listed[1:]] == ["3", "", "2", "1"]  # Billing, Claims, Motor, Renewal
    assert main(["labels", "--add", "Claims", "Complaint", *db]) == 0  # named now: the next free keys
    assert "added 1 label: Complaint; a number key for Claims" in capsys.readouterr().out
    assert store.taxonomy("d")[2] == ["Renewal", "Claims > Motor", "Billing", "Claims", "Complaint"]
    assert main(["undo", *db]) == 0  # Claims is back without a key, Complaint gone
    assert store.taxonomy("d")[2] == ["Renewal", "Claims > Motor", "Billing"] and "Claims" in store.labels("d")
    assert main(["labels", "--add", "Quote", "Bad >  > name", *db]) == 2
    assert "Bad" in capsys.readouterr().err
    assert main(["labels", "--add", "Quote", "billing", *db]) == 2
    assert "differs only in case" in capsys.readouterr().err
    assert "Quote" not in store.labels("d")
    assert main(["labels", "--add", "Billing", *db]) == 0
    assert "every one was there already" in capsys.readouterr().out
    assert main(["undo", *db]) == 0  # the whole first --add
    assert store.labels("d") == []


def test_labels_and_undo_commands(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mids = seeded(store, tmp_path)
    store.add_label("d", "Complaint")
    store.add_label("d", "Compliant")
    store.confirm("d", "ann", [Review(mids[0], {"Compliant": None})])
    db = ["--db", str(store.path), "--annotator", "ann"]
    assert main(["labels", "--merge", "Compliant", "Complaint", *db]) == 0
    assert store.labels("d") == ["Complaint"]
    assert main(["labels", "--describe", "Complaint", "Unhappy customers", *db]) == 0
    capsys.readouterr()
    assert main(["labels", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "Complaint", "reviewed_messages": 1, "description": "Unhappy customers", "key": 1}]
    assert main(["labels", "--rename", "Nope", "X", *db]) == 2
    assert "no label 'Nope'" in capsys.readouterr().err
    assert main(["labels", "--delete", "Complaint", *db]) == 2  # no terminal, no --yes
    assert main(["undo", *db]) == 0  # the description
    assert main(["undo", *db]) == 0  # the merge
    assert store.labels("d") == ["Complaint", "Compliant"]
    assert store.effective_reviews("d")[0][mids[0]] == {"Compliant": None}


def test_commands_use_and_name_the_last_dataset(store: Store, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    seeded(store, tmp_path)
    store.create_dataset("other")
    store.save_session_state("d", "ann", "shuffle", None, [])
    capsys.readouterr()
    assert main(["labels", "--db", str(store.path), "--annotator", "ann"]) == 0
    assert "dataset 'd' (the one 'ann' used last" in capsys.readouterr().err


def test_a_large_import_keeps_row_groups_of_its_own(store: Store, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An import from OWN_ROW_GROUPS_FROM messages is not merged into the table's last row
    group (which re-compresses that group); a smaller one is, so the table stays whole."""
    from cmtui.store import datasets

    def rows(start: int) -> str:
        return "".join(f"{i},2024-01-01,message {i}\n" for i in range(start, start + 40))

    def groups() -> int:
        with duckdb.connect(str(store.path), read_only=True) as con:
            return int(con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('messages')")
                       .fetchone()[0])  # type: ignore[index]

    monkeypatch.setattr(datasets, "OWN_ROW_GROUPS_FROM", 40)
    for start in (0, 40):
        main(["import", str(write(tmp_path / "m.csv", "id,timestamp,body\n" + rows(start))),
              "--dataset", "d", "--db", str(store.path)])
    assert groups() == 2
    monkeypatch.setattr(datasets, "OWN_ROW_GROUPS_FROM", 41)
    main(["import", str(write(tmp_path / "m.csv", "id,timestamp,body\n" + rows(80))),
          "--dataset", "d", "--db", str(store.path)])
    assert groups() < 3 and store.messages_frame("d").height == 120  # merged, not a third group
