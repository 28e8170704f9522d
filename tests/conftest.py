from __future__ import annotations

import os
from pathlib import Path

import pytest

from cmtui.store import Store


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real database or settings."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("CMTUI_DB", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def store(db_path: Path) -> Store:
    return Store(db_path)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``ci`` (the 10k benchmark, the scripts, the subprocess reliability
    runs) run in CI (``CI`` set) or when asked for with ``-m ci``; a plain local run skips
    them to stay quick. ``slow`` ones run only with ``-m slow`` (scripts/reliability.sh)."""
    if os.environ.get("CI") or "ci" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="runs in CI (CI=true) or with -m ci")
    for item in items:
        if "ci" in item.keywords:
            item.add_marker(skip)
