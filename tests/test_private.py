"""Private by default (issue 19): file modes whatever the umask, refusals, shared
databases, who acted, and hostile names."""

from __future__ import annotations

import grp
import hashlib
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmtui.cli import main
from cmtui.config import data_dir
from cmtui.private import current_user
from cmtui.store import Store
from tests.conftest import write

MAIL = ("id,timestamp,subject,body,labels\n"
        + "".join(f"m{i},2024-01-{1 + i % 28:02d}T10:00:00Z,s{i},{'car crash' if i % 2 else 'refund please'} "
                  f"number {i},{'Claims' if i % 2 else 'Billing'}\n" for i in range(40)))


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    out = {}
    for path in [root, *sorted(root.rglob("*"))]:
        out[str(path.relative_to(root.parent))] = stat.S_IMODE(path.stat().st_mode)
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("umask", [0o022, 0o002], indirect=True)
def test_everything_created_is_private_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    src = write(tmp_path / "mail.csv", MAIL)
    assert main(["import", str(src), "--dataset", "d"]) == 0
    assert main(["stats"]) == 0  # a retrain: features and predictions are cached
    out = tmp_path / "out" / "export.csv"
    out.parent.mkdir()
    assert main(["export", "--out", str(out)]) == 0
    found = modes(data_dir())
    assert any(name.endswith(".cache") for name in found) and any(name.endswith(".npz") for name in found)
    for name, mode in found.items():
        wanted = 0o700 if (data_dir().parent / name).is_dir() else 0o600
        assert mode == wanted, (name, oct(mode))
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # a file the user named follows the umask
    # a database at a path the user names: private too, its folder as the umask says
    custom = tmp_path / "team" / "x.duckdb"
    assert main(["import", str(src), "--dataset", "d", "--db", str(custom)]) == 0
    assert stat.S_IMODE(custom.parent.stat().st_mode) == 0o777 & ~umask
    for name, mode in modes(custom.parent).items():
        if name != "team":
            wanted = 0o700 if (tmp_path / name).is_dir() else 0o600
            assert mode == wanted, (name, oct(mode))


def test_a_database_others_may_write_is_refused_and_left_alone(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    src = write(tmp_path / "mail.csv", MAIL)
    assert main(["import", str(src), "--dataset", "d", "--db", str(db)]) == 0
    os.chmod(db, 0o666)
    before = digest(db)
    capsys.readouterr()
    assert main(["import", str(src), "--dataset", "d", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"{db}: other users may write it (mode 0666)" in err and len(err.strip().splitlines()) == 1
    assert digest(db) == before
    config = tmp_path / "xdg-config" / "cmtui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[keys]\nsubmit = "ctrl+s"\n')
    os.chmod(config, 0o646)
    from cmtui.config import load_settings
    from cmtui.private import InsecureFile

    with pytest.raises(InsecureFile, match="other users may write"):
        load_settings(config)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_cache_owned_by_another_user_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    src = write(tmp_path / "mail.csv", MAIL)
    assert main(["import", str(src), "--dataset", "d", "--db", str(db)]) == 0
    assert main(["stats", "--db", str(db)]) == 0
    cached = next(db.with_name(db.name + ".cache").rglob("*.npz"))
    os.chown(cached, 65534, 65534)
    before = digest(db)
    capsys.readouterr()
    assert main(["stats", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"{cached}: owned by" in err and "not by you" in err
    assert digest(db) == before


@pytest.fixture
def group() -> Iterator[str]:
    if os.getuid() != 0:
        yield grp.getgrgid(os.getgid()).gr_name
        return
    name = f"cmtui{uuid.uuid4().hex[:8]}"
    subprocess.run(["groupadd", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["groupdel", name], check=False)


def test_a_shared_database_keeps_its_group_and_can_be_made_private(tmp_path: Path, group: str) -> None:
    folder = tmp_path / "team"
    db = folder / "m.duckdb"
    src = write(tmp_path / "mail.csv", MAIL)
    assert main(["import", str(src), "--dataset", "d", "--db", str(db)]) == 0
    assert main(["db", "share", str(db), "--group", group]) == 0
    assert main(["stats", "--db", str(db)]) == 0  # new cache files after sharing
    gid = grp.getgrnam(group).gr_gid
    for path in [folder, *folder.rglob("*")]:
        info = path.stat()
        assert info.st_gid == gid, path
        wanted = 0o2770 if path.is_dir() else 0o660
        assert stat.S_IMODE(info.st_mode) == wanted, (path, oct(info.st_mode))
    assert main(["db", "check", str(db)]) == 0
    assert main(["db", "private", str(db)]) == 0
    for path in [folder, *folder.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert main(["db", "share", str(db)]) == 2  # --group is needed


def test_events_record_the_account_that_acted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    src = write(tmp_path / "mail.csv", MAIL)
    assert main(["import", str(src), "--dataset", "d", "--db", str(db), "--annotator", "someone-else"]) == 0
    store = Store(db)
    events = store.events("d")
    assert events and all(row[7] == current_user() for row in events)
    capsys.readouterr()
    assert main(["stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"someone-else (OS user {current_user()})" in out


HOSTILE = ["O'Brien \"quoted\"", "x; DROP TABLE messages; --", "../../etc", "a/b/c", "é" * 200, "%_\\"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_data(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    label = name.replace(";", ",")[:150].strip() or "x"
    quoted = label.replace('"', '""')
    src = write(tmp_path / "mail.csv", "id,timestamp,body,labels\n"
                + "".join(f'm{i},2024-01-01,"body {i}","{quoted}"\n' for i in range(12)))
    assert main(["import", str(src), "--dataset", name, "--source", name, "--db", str(db)]) == 0
    assert main(["stats", "--dataset", name, "--db", str(db)]) == 0
    out = tmp_path / "o.jsonl"
    assert main(["export", "--dataset", name, "--db", str(db), "--out", str(out)]) == 0
    store = Store(db)
    assert store.dataset_names() == [name] and store.labels(name)[-1] == label
    assert store.messages_frame(name).height == 12
    assert store.query_frame("SELECT count(*) AS n FROM messages")["n"][0] == 12  # nothing dropped
    created = {p.name for p in tmp_path.iterdir()}
    assert created <= {"m.duckdb", "m.duckdb.lock", "m.duckdb.cache", "m.duckdb.wal", "mail.csv", "o.jsonl"}
    assert not (tmp_path.parent / "etc").exists()


@pytest.mark.parametrize("name", ["nul\x00name", "two\nlines", "x" * 201, "   "])
def test_unprintable_dataset_names_are_refused(name: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.duckdb"
    src = write(tmp_path / "mail.csv", MAIL)
    capsys.readouterr()
    assert main(["import", str(src), "--dataset", name, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "dataset name" in err and "Traceback" not in err
    assert not db.exists() or Store(db).dataset_names() == []
