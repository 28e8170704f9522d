from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from cmtui.cli import main
from cmtui.ingest import ImportFailed, read_file
from cmtui.store import Store
from tests.conftest import write

GOOD = (
    "ID,Timestamp,Subject,From,To,CC,Thread_ID,Body,Priority,Region,labels\n"
    '1,2024-01-02T10:00:00Z,Hello,a@x.org,b@y.org,,T1,"Car crash, need help",3,north,Claims > Motor\n'
    '2,2024-01-02 11:30,Re: Hello,a@x.org,b@y.org,c@z.org,T1,"Second, ""quoted"" line\nwith a newline",2.5,south,\n'
    "3,2024-01-03T09:15:00+02:00,,d@x.org,,,,Refund please,1,north,Billing;Claims > Motor\n"
)


def snapshot(db: Path) -> tuple:
    if not db.exists():
        return ()
    store = Store(db)
    out = []
    for table in ("messages", "labels", "reviews", "annotations", "datasets"):
        out.append(str(store.query_frame(f"SELECT * EXCLUDE (mid) FROM {table} ORDER BY ALL"
                                         if table == "messages" else f"SELECT * FROM {table} ORDER BY ALL")))
    return tuple(out)


def test_every_column_kind(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "m.csv", GOOD)
    assert main(["import", str(src), "--dataset", "d", "--db", str(db_path), "--annotator", "ann"]) == 0
    store = Store(db_path)
    frame = store.messages_frame("d")
    assert frame["id"].to_list() == ["1", "2", "3"]
    first, second, third = frame.to_dicts()
    assert first["subject"] == "Hello" and first["sender"] == "a@x.org" and first["recipients"] == "b@y.org"
    assert first["thread_id"] == "T1" and first["cc"] is None
    assert second["body"] == 'Second, "quoted" line\nwith a newline' and second["cc"] == "c@z.org"
    assert str(second["ts"]) == "2024-01-02 11:30:00"
    assert str(third["ts"]) == "2024-01-03 07:15:00"  # +02:00 converted to UTC
    props = json.loads(first["properties"])
    # a number when every value is one; the language found at import
    assert props == {"Priority": 3.0, "Region": "north", "language": "en"}
    assert store.labels("d") == ["Billing", "Claims", "Claims > Motor"]
    effective, _ = store.effective_reviews("d")
    assert effective[frame["mid"][0]] == {"Claims > Motor": None}
    assert frame["mid"][1] not in effective  # an empty labels cell and no reviewed column: not reviewed
    assert set(effective[frame["mid"][2]]) == {"Billing", "Claims > Motor"}


def test_tab_separated_and_jsonl(tmp_path: Path, store: Store) -> None:
    tsv = write(tmp_path / "m.tsv", "id\ttimestamp\ttext\nA\t2024-01-01\thello there\n")
    parsed = read_file(tsv)
    assert parsed.frame["body"].to_list() == ["hello there"]
    jsonl = write(tmp_path / "m.jsonl",
                  '{"id": "J1", "timestamp": "2024-02-01T00:00:00Z", "message": "hi", "labels": ["A > B"]}\n'
                  '\n{"id": "J2", "timestamp": "2024-02-01T00:00:00Z", "message": "yo", "labels": []}\n')
    parsed = read_file(jsonl)
    assert parsed.frame["labels"].to_list() == [["A > B"], None]  # no label, no reviewed flag: unreviewed


@pytest.mark.parametrize("encoding,bom", [("utf-8-sig", ""), ("utf-16", ""), ("utf-32", ""), ("utf-8", "")])
def test_encodings(tmp_path: Path, encoding: str, bom: str) -> None:
    src = write(tmp_path / "m.csv", "id,timestamp,body\nx1,2024-01-01,Grüße – ça va\n", encoding)
    assert read_file(src).frame["body"].to_list() == ["Grüße – ça va"]


def test_update_by_id(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "a.csv", "id,timestamp,body\n1,2024-01-01,old text\n2,2024-01-01,keep\n")
    assert main(["import", str(src), "--dataset", "d", "--db", str(db_path)]) == 0
    src2 = write(tmp_path / "b.csv", "id,timestamp,body\n1,2024-01-05,new text\n3,2024-01-01,added\n")
    assert main(["import", str(src2), "--dataset", "d", "--db", str(db_path)]) == 0
    frame = Store(db_path).messages_frame("d")
    assert dict(zip(frame["id"], frame["body"], strict=True)) == {"1": "new text", "2": "keep", "3": "added"}
    assert frame.height == 3


BAD_CASES = {
    "duplicate": ("id,timestamp,body\n1,2024-01-01,a\n1,2024-01-02,b\n", ":3: id: duplicate id '1' (first on line 2)"),
    "missing": ("id,body\n1,a\n", ":1: timestamp: required column is missing"),
    "empty_body": ("id,timestamp,body\n1,2024-01-01,\"  \"\n", ":2: body: message text is empty"),
    "timestamp": ("id,timestamp,body\n1,yesterday,a\n", ":2: timestamp: cannot read 'yesterday'"),
    "ragged": ("id,timestamp,body\n1,2024-01-01,a,extra\n", ":2: column 4: row has 4 fields, header has 3"),
    "mixed_dates": ("id,timestamp,body\n1,13/01/2024,a\n2,01/13/2024,b\n", ":3: timestamp: file mixes day-first and month-first"),
    "bad_id": ("id,timestamp,body\na/b,2024-01-01,a\n", ":2: id: id a/b must be ASCII"),
    "bad_label": ("id,timestamp,body,labels\n1,2024-01-01,a, > x\n", ":2: labels:"),
    "label_case": ("id,timestamp,body,labels\n1,2024-01-01,a,Claims > Motor\n2,2024-01-02,b,claims > motor\n",
                   ":3: labels: label 'claims' differs only in case from 'Claims' (line 2)"),
    "taxonomy_case": ("id,timestamp,body,labels\n1,2024-01-01,a,Billing\n2,2024-01-02,b,EXISTING\n",
                      ":3: labels: label 'EXISTING' differs only in case from 'Existing' (in the taxonomy)"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_refused_and_nothing_written(case: str, tmp_path: Path, db_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.csv", "id,timestamp,body,labels\nok1,2024-01-01,fine,Existing\n")
    assert main(["import", str(good), "--dataset", "d", "--db", str(db_path)]) == 0
    before = snapshot(db_path)
    text, expected = BAD_CASES[case]
    bad = write(tmp_path / "bad.csv", text)
    capsys.readouterr()
    assert main(["import", str(bad), "--dataset", "d", "--db", str(db_path)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}{expected}" in err, err
    assert "Traceback" not in err
    assert snapshot(db_path) == before


def test_reviewed_only_when_the_file_says_so(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "m.csv", "id,timestamp,body,labels,reviewed,count\n"
                "1,2024-01-01,a,,true,12\n2,2024-01-01,b,,false,3\n3,2024-01-01,c,A,false,\n"
                "4,2024-01-01,d,A,true,-4\n")
    assert main(["import", str(src), "--dataset", "d", "--db", str(db_path)]) == 0
    store = Store(db_path)
    frame = store.messages_frame("d")
    mid = dict(zip(frame["id"], frame["mid"], strict=True))
    effective = store.effective_reviews("d")[0]
    assert effective == {mid["1"]: {}, mid["4"]: {"A": None}}  # reviewed with no label, and with one
    assert json.loads(frame["properties"][0]) == {"count": 12, "language": None}  # "a": no language
    out = tmp_path / "out.csv"
    assert main(["export", "--db", str(db_path), "--out", str(out)]) == 0
    exported = pl.read_csv(out, infer_schema=False)
    assert exported["count"].to_list()[0] == "12"  # not 12.0


def test_undecodable_bytes(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_bytes(b"id,timestamp,body\n1,2024-01-01,ok\n2,2024-01-01,caf\xe9\n")
    with pytest.raises(ImportFailed) as info:
        read_file(src)
    assert info.value.lines[0].startswith(f"{src}:3: (file): bytes not valid UTF-8")


@pytest.mark.parametrize(("data", "line"), [
    (b"id,timestamp,body,sh\xe9\n1,2024-01-01,ok,x\n", 1),  # in the header
    (b"id,timestamp,body,shop\n1,2024-01-01,ok,x\n2,2024-01-01,ok,caf\xe9\n", 3),  # in a property
    (b'id,timestamp,body\n1,2024-01-01,"two\nlines"\n2,2024-01-01,"one\n\xff"\n', 5),  # inside a quoted field
    (b"\xef\xbb\xbfid,timestamp,body\n1,2024-01-01,\xc0\x80\n", 2),  # an overlong NUL, after a BOM
])
def test_undecodable_bytes_anywhere_are_told_by_line(tmp_path: Path, data: bytes, line: int) -> None:
    src = tmp_path / "bad.csv"
    src.write_bytes(data)
    with pytest.raises(ImportFailed) as info:
        read_file(src)
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"{src}:{line}: (file): bytes not valid UTF-8 at byte ")


def test_many_errors_are_capped(tmp_path: Path) -> None:
    rows = "".join(f"{i},nope,x\n" for i in range(50))
    with pytest.raises(ImportFailed) as info:
        read_file(write(tmp_path / "m.csv", "id,timestamp,body\n" + rows))
    assert len(info.value.lines) == 21
    assert info.value.lines[-1].endswith("and 30 more errors")


def test_oversized_file_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cmtui.ingest as ingest

    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 10)
    with pytest.raises(ImportFailed) as info:
        read_file(write(tmp_path / "m.csv", "id,timestamp,body\n1,2024-01-01,a\n"))
    assert "split it" in info.value.lines[0]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_round_trip(suffix: str, tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "m.csv", GOOD.replace("Refund please", "=HYPERLINK(\"x\")"))
    assert main(["import", str(src), "--dataset", "d", "--db", str(db_path), "--annotator", "ann"]) == 0
    out = tmp_path / f"out{suffix}"
    assert main(["export", "--db", str(db_path), "--out", str(out)]) == 0
    if suffix == ".csv":
        assert "'=HYPERLINK" in out.read_text()  # escaped for spreadsheets
    if suffix == ".parquet":  # parquet is not an import format: convert through JSONL
        jsonl = tmp_path / "via.jsonl"
        pl.read_parquet(out).write_ndjson(jsonl)
        out = jsonl
    db2 = tmp_path / "second.duckdb"
    assert main(["import", str(out), "--dataset", "d", "--db", str(db2)]) == 0
    a, b = Store(db_path), Store(db2)
    assert a.messages_frame("d").drop("mid", "updated").equals(b.messages_frame("d").drop("mid", "updated"))
    assert a.labels("d") == b.labels("d")
    ea, eb = a.effective_reviews("d")[0], b.effective_reviews("d")[0]
    ids_a = dict(zip(a.messages_frame("d")["mid"], a.messages_frame("d")["id"], strict=True))
    ids_b = dict(zip(b.messages_frame("d")["mid"], b.messages_frame("d")["id"], strict=True))
    assert {ids_a[k]: v for k, v in ea.items()} == {ids_b[k]: v for k, v in eb.items()}
    assert set(b.annotator_reviews("d")["annotator"]) == {"ann"}


@pytest.mark.parametrize("command", [
    ["import", "{tmp}", "--dataset", "d"], ["simulate", "{tmp}"], ["simulate", "{tmp}/missing.csv"],
    ["simulate", "{bad}"], ["datasets", "--db", "{tmp}"], ["datasets", "--db", "/proc/no/such.duckdb"],
    ["export", "--out", "/proc/x.csv", "--db", "{db}"], ["export", "--out", "{tmp}/no/x.csv", "--db", "{db}"],
])
def test_bad_input_gives_one_clear_line_and_exit_2(command: list[str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.csv", "id,timestamp,body,labels\n1,yesterday,x,A\n")
    db = tmp_path / "m.duckdb"
    assert main(["import", str(write(tmp_path / "ok.csv", "id,timestamp,body\n1,2024-01-01,x\n")),
                 "--dataset", "d", "--db", str(db)]) == 0
    capsys.readouterr()
    args = [a.format(tmp=tmp_path, bad=bad, db=db) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip() and len(err.strip().splitlines()) == 1, err
    if "bad.csv" in " ".join(args):
        assert f"{bad}:2: timestamp: cannot read 'yesterday'" in err


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fast_reader_reads_what_the_csv_module_reads(newline: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of quoted multi-line bodies is read by polars, to the same frame and the same
    line numbers (in a fault too) as the csv module's reading."""
    from cmtui import ingest

    text = GOOD.replace("\n", newline) + f'4,2024-01-04,,,,,,"""Quoted"" first,{newline}a,b",,,\n'
    path = write(tmp_path / "good.csv", text)
    assert ingest._read_csv_fast(path.read_bytes()) is not None
    fast = read_file(path)
    bad = write(tmp_path / "bad.csv", text + "5,yesterday,,,,,,body,,,\n")
    with pytest.raises(ImportFailed) as fast_fault:
        read_file(bad)
    monkeypatch.setattr(ingest, "_read_csv_fast", lambda data: None)
    slow = read_file(path)
    assert fast.frame.equals(slow.frame) and fast.lines == slow.lines == [2, 3, 5, 6]
    with pytest.raises(ImportFailed) as slow_fault:
        read_file(bad)
    assert fast_fault.value.lines == slow_fault.value.lines
    assert fast_fault.value.lines[0].startswith(f"{bad}:8: timestamp")


def test_files_of_one_command_each_go_in_whole_in_turn(tmp_path: Path, db_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Files are read ahead of their turn, yet one that is refused leaves the files before
    it imported (and summarised) and nothing of itself or of the files after it."""
    first = write(tmp_path / "first.csv", GOOD)
    bad = write(tmp_path / "bad.csv", "id,timestamp,body\n9,yesterday,hello\n")
    last = write(tmp_path / "last.csv", "id,timestamp,body\n10,2024-01-01,hello\n")
    code = main(["import", str(first), str(bad), str(last), "--dataset", "d", "--db", str(db_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out.startswith(f"{first}: 3 added") and out.count("\n") == 1
    assert err.startswith(f"{bad}:2: timestamp")
    assert sorted(Store(db_path).messages_frame("d")["id"].to_list()) == ["1", "2", "3"]
    assert main(["import", str(last), str(first), "--dataset", "d", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{first}: 0 added, 0 updated, 3 unchanged")


def test_a_message_imported_again_as_it_was_keeps_its_update_time(tmp_path: Path, db_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """What is computed from a message (features, fields) is keyed by its update time:
    importing an export again that holds it unchanged leaves that time alone."""
    first = write(tmp_path / "first.csv", GOOD)
    assert main(["import", str(first), "--dataset", "d", "--db", str(db_path)]) == 0
    before = dict(Store(db_path).messages_frame("d", "id, updated").iter_rows())
    changed = write(tmp_path / "changed.csv", GOOD.replace("Refund please", "Refund please today"))
    assert main(["import", str(changed), "--dataset", "d", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{changed}: 0 added, 1 updated, 2 unchanged")
    after = dict(Store(db_path).messages_frame("d", "id, updated").iter_rows())
    assert [i for i in before if before[i] != after[i]] == ["3"]
    assert Store(db_path).messages_frame("d", "id, body").filter(pl.col("id") == "3")["body"][0] == "Refund please today"
