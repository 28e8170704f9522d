"""One pool of worker processes per cmtui process, for work that splits over messages
(languages at import, general fields), kept for the next call."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None


def cores() -> int:
    return os.cpu_count() or 1


def shared_pool() -> ProcessPoolExecutor:
    """The pool (one worker per core), started on first use."""
    global _pool
    if _pool is None:  # multiprocessing is imported here: no cost to start-up or small jobs
        import atexit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # forkserver: never fork a process whose thread pools (polars, DuckDB) are running
        _pool = ProcessPoolExecutor(max_workers=cores(), mp_context=multiprocessing.get_context("forkserver"))
        atexit.register(_pool.shutdown, cancel_futures=True)
    return _pool
