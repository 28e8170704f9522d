"""Paths, the annotator's name and the user's settings file."""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


def data_dir() -> Path:
    """The XDG data directory of cmtui (``~/.local/share/cmtui``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cmtui"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cmtui" / "config.toml"


def default_db_path() -> Path:
    """``$CMTUI_DB`` if set, else ``cmtui.duckdb`` in the XDG data dir."""
    env = os.environ.get("CMTUI_DB")
    if env:
        return Path(env)
    return data_dir() / "cmtui.duckdb"


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): fall back to a stable name
        return os.environ.get("USER") or "annotator"


@dataclass
class Settings:
    """What ``~/.config/cmtui/config.toml`` may set.

    ```toml
    [keys]            # binding id = keys, as in Textual's keymap
    submit = "ctrl+s"
    ```
    """

    keymap: dict[str, str] = field(default_factory=dict)


def load_settings(path: Path | None = None) -> Settings:
    from .private import check_file

    path = path or config_path()
    if not path.exists():
        return Settings()
    check_file(path)  # a settings file others can change could rebind keys: refused
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"{path}: cannot read settings: {exc}") from exc
    keys = raw.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise SystemExit(f"{path}: [keys] must map binding ids to key strings")
    return Settings(keymap={str(k): v for k, v in keys.items()})
