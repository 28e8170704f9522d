"""ruff and mypy are part of the suite, so CI keeps the code clean."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("tool", [["ruff", "check", "."], ["mypy", "cmtui"]])
def test_tool_is_clean(tool: list[str]) -> None:
    # both come with the test extra: missing is a failure, not a skip
    assert importlib.util.find_spec(tool[0]) is not None, f"{tool[0]} is not installed: pip install -e '.[test]'"
    result = subprocess.run([sys.executable, "-m", *tool], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
