"""One pool of worker processes per cmtui process, for work that splits over messages
(languages at import, general fields), kept for the next call."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.connection import Connection

T = TypeVar("T")
R = TypeVar("R")

_pool: ProcessPoolExecutor | None = None


def cores() -> int:
    return os.cpu_count() or 1


def shared_pool() -> ProcessPoolExecutor:
    """The pool (one worker per core), started on first use."""
    global _pool, _alive
    if _pool is None:  # multiprocessing is imported here: no cost to start-up or small jobs
        import atexit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import util

        # forkserver: never fork a process whose thread pools (polars, DuckDB) are running
        context = multiprocessing.get_context("forkserver")
        _start_helpers()  # before the pool: its queues' locks start the resource tracker
        watched, _alive = context.Pipe(duplex=False)  # only this process holds the sending end
        _pool = ProcessPoolExecutor(max_workers=cores(), mp_context=context,
                                    initializer=_exit_with_parent, initargs=(watched,))
        atexit.register(_pool.shutdown, cancel_futures=True)
        # A multiprocessing child (a benchmark's worker) never runs atexit, and joins its
        # own children before it ends: without this its end waited for the workers, which
        # waited for its end.
        util.Finalize(_pool, _pool.shutdown, kwargs={"cancel_futures": True}, exitpriority=100)  # before its queues close
    return _pool


def _start_helpers() -> None:
    """Start multiprocessing's resource tracker and forkserver now, with a stderr they can
    inherit. While a Textual app runs, ``sys.stderr`` is its capture, whose ``fileno()`` is
    -1: started from there, by the pool's first lock or job, they failed ("bad value(s) in fds_to_keep")
    and with them the app's first validation that found general fields."""
    import contextlib
    from multiprocessing import forkserver, resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    with contextlib.ExitStack() as stack:
        if not usable:
            stack.enter_context(contextlib.redirect_stderr(stack.enter_context(open(os.devnull, "w"))))
        resource_tracker.ensure_running()
        forkserver.ensure_running()


_alive: Connection | None = None


def _exit_with_parent(watched: Connection) -> None:
    """In each worker: exit as soon as the cmtui process is gone. A worker outlives a
    killed parent otherwise, blocked for good on a full result pipe, and keeps the
    forkserver, and the terminal's or caller's pipes, open with it."""
    import contextlib
    import threading

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            watched.recv()  # nothing is ever sent: returns only at end of file
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="cmtui-parent-watch").start()


def in_order(fn: Callable[[T], R], items: Iterable[T], ahead: int = 2) -> Iterator[R]:
    """``fn`` of each item on the shared pool, results in order, with at most ``ahead``
    items a core handed out at a time: the items are made as they are needed (read from
    the store, split from a mailbox), never all held at once as ``Executor.map`` would."""
    pool = shared_pool()
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > ahead * cores():
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
