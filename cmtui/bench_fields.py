"""``cmtui bench --fields``: finding every built-in field in a dataset's messages.

The sample generator's messages of the profile (policy and claim references, dates,
amounts, phone numbers) are imported into a new database; the figure is the time to find
every field in every message with nothing cached (``fields.find_in_dataset``, on every
core from 5,000 messages), the median of the runs, and the time again from the cache.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any


def measure(size: int, profile: str, runs: int, workdir: Path) -> dict[str, Any]:
    from .bench import write_mailbox
    from .features import cache_dir
    from .fields.fields import dataset_fields, find_in_dataset
    from .imports import import_files
    from .store import Store

    store = Store(workdir / "fields.duckdb")
    for _ in import_files(store, write_mailbox(size, profile, 17, workdir)[0], "bench", annotator="bench"):
        pass  # files of 100,000 short or 25,000 long messages: one 100k long file is over the import limit
    fields = dataset_fields(store, "bench")
    cold, warm = [], []
    for _ in range(runs):
        for old in cache_dir(store.path, "bench").glob("fields-*/block-*.parquet"):
            old.unlink()
        started = time.perf_counter()
        found = find_in_dataset(store, "bench", fields)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        find_in_dataset(store, "bench", fields)
        warm.append(time.perf_counter() - started)
    return {"messages": size, "profile": profile, "values": found.height,
            "find_s": round(statistics.median(cold), 2), "cached_s": round(statistics.median(warm), 3)}


def _line(r: dict[str, Any]) -> str:
    return (f"fields {r['messages']:>9,} {r['profile']:5}  find {r['find_s']:.2f}s ({r['values']:,} values)"
            f"  from the cache {r['cached_s']:.3f}s")


def run(sizes: list[int], profiles: list[str], runs: int, as_json: bool) -> int:
    from .bench import each_mailbox

    return each_mailbox(sizes, profiles, runs, as_json, measure, _line, "cmtui-bench-fields-")
