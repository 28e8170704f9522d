"""``cmtui bench --mail``: importing mail from an mbox, end to end.

The sample generator's messages of the profile are written as an mbox the way a server
keeps mail (``sample.write_mbox``: multipart/alternative with HTML copies, every tenth
mail HTML only, quoted-printable and base64 bodies, encoded-word subjects, threads,
attachments) and imported into a new database with ``cmtui import``'s code. Figures
(medians of the runs): mails per second for the whole import (reading, parsing, HTML to
text, language, validation, writing), and for reading and parsing alone
(``sources.mail.read_mail``).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

from .sample import generate, write_mbox


def measure(size: int, profile: str, runs: int, workdir: Path) -> dict[str, Any]:
    from .imports import import_file
    from .sources.mail import read_mail
    from .store import Store

    box = workdir / f"{profile}.mbox"
    write_mbox(box, generate(size, seed=13, profile=profile))
    parse, whole = [], []
    for run in range(runs):
        started = time.perf_counter()
        mails = read_mail(box, "mbox")
        parse.append(time.perf_counter() - started)
        assert len(mails.rows) == size and not mails.bad
        store = Store(workdir / f"mail-{run}.duckdb")
        started = time.perf_counter()
        import_file(store, box, "bench", annotator="bench")
        whole.append(time.perf_counter() - started)
        store.path.unlink()
    return {"messages": size, "profile": profile, "mbox_mb": round(box.stat().st_size / 2**20, 1),
            "import_per_s": round(size / statistics.median(whole)),
            "parse_per_s": round(size / statistics.median(parse)),
            "python": platform.python_version()}  # the standard library's email parser differs by version


def _line(r: dict[str, Any]) -> str:
    return (f"mbox {r['messages']:>9,} {r['profile']:5} ({r['mbox_mb']} MB)  import {r['import_per_s']:>6,}/s"
            f"  of which reading and parsing alone {r['parse_per_s']:,}/s  (Python {r['python']})")


def run(sizes: list[int], profiles: list[str], runs: int, as_json: bool) -> int:
    from .bench import each_mailbox

    return each_mailbox(sizes, profiles, runs, as_json, measure, _line, "cmtui-bench-mail-")
