"""Hostile and broken input: the importer imports correctly or refuses clearly.

Never a traceback, never a partial write. ``FUZZ_EXAMPLES`` raises the example count
(scripts/reliability.sh runs it with more).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmtui.cli import main
from cmtui.ingest import ImportFailed, _parse_csv, _read_csv_fast, read_file
from cmtui.store import Store
from tests.conftest import write

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TRIED = {"cases": 0}

cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\x00", "\"", "\"\"", "\n", "\r\n",
                     "2024-01-01T00:00:00Z", "01/13/2024", "13/01/2024", "", " ", "a/b", "Claims > Motor",
                     " > ", "\u202e", "\x1b[31m", "id", "body"]),
)


def check(path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    TRIED["cases"] += 1
    before = Store(db).query_frame("SELECT count(*) AS n FROM messages")["n"][0] if db.exists() else 0
    capsys.readouterr()
    code = main(["import", str(path), "--dataset", "fuzz", "--db", str(db)])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.strip(), "a refusal must say why"
        assert all(line.startswith(str(path)) or line.startswith("cmtui:") for line in err.strip().splitlines())
        after = Store(db).query_frame("SELECT count(*) AS n FROM messages")["n"][0] if db.exists() else 0
        assert after == before  # nothing half-written


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    check(path, tmp_path / "f.duckdb", capsys)


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "timestamp", "body", "subject", "labels", "x", "ID", ""]),
                       min_size=1, max_size=6),
       rows=st.lists(st.lists(cell, max_size=7), max_size=6),
       delimiter=st.sampled_from([",", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig", "latin-1"]))
def test_csv_shaped_text(header: list[str], rows: list[list[str]], delimiter: str, encoding: str,
                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def quote(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in '",\t\n\r') else value

    lines = [delimiter.join(quote(h) for h in header)] + [delimiter.join(quote(c) for c in row) for row in rows]
    path = tmp_path / "shaped.csv"
    try:
        path.write_bytes("\n".join(lines).encode(encoding))
    except UnicodeEncodeError:
        return
    check(path, tmp_path / "f.duckdb", capsys)


piece = st.sampled_from(["a", "b c", "é", "\"", ",", "\t", "\n", "\r\n", "\r", "", " "])
raw_field = st.lists(piece, max_size=5).map("".join)


@FUZZ
@given(header=st.lists(st.sampled_from(["id", "timestamp", "body", "x", "a\nb", "conversation_id"]),
                       min_size=1, max_size=4, unique=True).map(lambda names: names + names[:1] * (len(names) == 4)),
       rows=st.lists(st.tuples(st.lists(raw_field, max_size=5), st.booleans(), st.booleans()), max_size=6),
       delimiter=st.sampled_from([",", "\t"]), newline=st.sampled_from(["\n", "\r\n"]),
       end=st.sampled_from(["", "\n", "\n\n"]))
def test_fast_reader_agrees_with_the_csv_module(header: list[str], rows: list[tuple[list[str], bool, bool]],
                                               delimiter: str, newline: str, end: str) -> None:
    """polars' reader gives the csv module's exact header, rows and lines, or declines the
    file: quoted and bare fields, stray quotes, blank lines, short and long rows, line ends."""
    def quote(value: str, proper: bool) -> str:
        return '"' + value.replace('"', '""') + '"' if proper and any(c in value for c in '",\t\n\r') else value

    lines = [delimiter.join(quote(h, True) for h in header)]
    for cells, proper, fit in rows:  # a row fitted to the header's width, or as it came
        cells = (cells + [""] * len(header))[:len(header)] if fit else cells
        lines.append(delimiter.join(quote(cell, proper) for cell in cells))
    text = newline.join(lines) + end
    fast = _read_csv_fast(text.encode())
    TRIED["fast"] = TRIED.get("fast", 0) + (fast is not None)
    if fast is None:
        return
    got_header, table, got_lines = fast
    want_header, want_rows, want_lines = _parse_csv(Path("f.csv"), text, frozenset())
    assert (got_header, [list(row) for row in table.iter_rows()], got_lines) == (want_header, want_rows, want_lines)


def test_huge_body_imports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "word " * 2_000_000  # 10 MB
    path = write(tmp_path / "huge.csv", f'id,timestamp,body\nbig,2024-01-01,"{body}"\n')
    assert main(["import", str(path), "--dataset", "d", "--db", str(tmp_path / "h.duckdb")]) == 0
    assert len(Store(tmp_path / "h.duckdb").messages_frame("d")["body"][0]) == len(body)


def test_hundred_thousand_columns_refused(tmp_path: Path) -> None:
    header = "id,timestamp,body," + ",".join(f"c{i}" for i in range(100_000))
    path = write(tmp_path / "wide.csv", header + "\n1,2024-01-01,hi" + ",x" * 100_000 + "\n")
    with pytest.raises(ImportFailed, match="100003 columns"):
        read_file(path)


def test_nul_bytes_and_mixed_encodings(tmp_path: Path) -> None:
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"id,timestamp,body\n1,2024-01-01,a\x00b\n")
    with pytest.raises(ImportFailed, match=":2: \\(file\\): contains a NUL byte"):
        read_file(nul)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("id,timestamp,body\n1,2024-01-01,café\n".encode() + "2,2024-01-01,café\n".encode("latin-1"))
    with pytest.raises(ImportFailed, match=":3: \\(file\\): bytes not valid UTF-8"):
        read_file(mixed)


def test_truncated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "cut.csv", 'id,timestamp,body\n1,2024-01-01,"an unterminated quote\n')
    check(path, tmp_path / "t.duckdb", capsys)


def test_every_fuzz_case_reached_the_importer() -> None:
    """Runs last in this file: the fuzzers above really fed the importer (no empty strategy)."""
    fuzzers = 3
    assert TRIED["cases"] >= fuzzers * min(EXAMPLES, 20), TRIED
    assert TRIED.get("fast", 0) >= min(EXAMPLES, 20) // 4, TRIED  # the fast reader was compared, not always declined
