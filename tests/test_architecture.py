"""The house rules, read from the code's imports (ast), not from substrings.

- Nothing outside ``cmtui/tui/`` imports textual.
- ``cmtui/tui/`` imports, of cmtui's core, only the facades and plain data: the
  Session (``session``), the database as a whole (``workspace``), training-mode names
  (``queues``), label display (``taxonomy``), text safety (``textsafe``) and settings
  (``config``). Never the store, the importer, the model or the command line.
- No core module imports the command line or the TUI (the drivers, ``cli`` and
  ``bench``, may).
- Only the ``store`` package runs SQL statements.
- The array core (metrics, model, queues, features, taxonomy) takes arrays, not the store.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "cmtui"
TUI_MAY_IMPORT = {"session", "workspace", "queues", "taxonomy", "textsafe", "config"}


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                found.add(module)
                if node.module is None:  # from . import x
                    found |= {f"{module}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module or "")
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_textual_only_in_tui() -> None:
    for path in modules(ROOT):
        if "tui" in path.relative_to(ROOT).parts:
            continue
        bad = {m for m in imports_of(path) if m.split(".")[0] == "textual"}
        assert not bad, f"{path} imports {bad}"


def test_tui_talks_only_to_the_facades() -> None:
    for path in modules(ROOT / "tui"):
        core = {m.split(".")[1] for m in imports_of(path) if m.startswith("cmtui.") and not m.startswith("cmtui.tui")}
        assert core <= TUI_MAY_IMPORT, f"{path} imports {core - TUI_MAY_IMPORT}"


def test_core_never_imports_the_cli_or_the_tui() -> None:
    for path in modules(ROOT):
        parts = path.relative_to(ROOT).parts
        # the drivers: the command line (cli.py, cli_use.py for the commands that use a
        # model, cli_sources.py for sources and datasets, cli_fields.py for general fields), and the benchmark
        # that times the app's first paint
        if parts[0] == "tui" or path.name in ("cli.py", "cli_use.py", "cli_sources.py", "cli_fields.py", "__main__.py",
                                              "bench.py"):
            continue
        bad = {m for m in imports_of(path) if m.startswith(("cmtui.cli", "cmtui.tui"))}
        assert not bad, f"{path} imports {bad}"


def test_only_the_store_runs_sql() -> None:
    for path in modules(ROOT):
        if path.relative_to(ROOT).parts[0] == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("execute", "executemany", "sql"):
                raise AssertionError(f"{path}:{node.lineno} runs SQL ({node.func.attr})")
        assert "duckdb" not in {m.split(".")[0] for m in imports_of(path)}, path


def test_the_array_core_takes_arrays_not_the_store() -> None:
    for name in ("metrics", "model", "queues", "features", "taxonomy"):
        found = imports_of(ROOT / f"{name}.py")
        assert not {m for m in found if m.startswith("cmtui.store")}, f"{name} imports the store"


def test_the_rules_can_fail(tmp_path: Path) -> None:
    """The import reader sees relative imports, so the tests above can fail."""
    sample = ROOT / "tui" / "app.py"
    assert "cmtui.session" in imports_of(sample) and "textual.app" in imports_of(sample)


def long_parts(path: Path) -> list[str]:
    """Functions over 60 lines (Textual ``compose`` methods aside) and classes over 300."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        length = (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") else 0
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and length > 60 and node.name != "compose":
            found.append(f"{path.name}:{node.lineno} function {node.name} has {length} lines")
        elif isinstance(node, ast.ClassDef) and length > 300:
            found.append(f"{path.name}:{node.lineno} class {node.name} has {length} lines")
    return found


def test_functions_and_classes_stay_small(tmp_path: Path) -> None:
    assert [part for path in modules(ROOT) for part in long_parts(path)] == []
    big = tmp_path / "big.py"
    big.write_text("def f() -> None:\n" + "    x = 1\n" * 61)
    assert long_parts(big)  # the check can fail
