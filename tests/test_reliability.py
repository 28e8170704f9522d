"""Crash safety and concurrent annotators, with real processes.

The quick versions run in the suite; ``scripts/reliability.sh`` runs the long ones
(``-m slow``: 60 kills, two annotators submitting 50 pages each).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmtui.cli import main
from cmtui.ingest import read_file
from cmtui.sample import generate, write_csv
from cmtui.store import Store

WORKER = Path(__file__).with_name("reliability_worker.py")
ROOT = Path(__file__).resolve().parent.parent


def mailbox(tmp_path: Path, n: int = 1200) -> tuple[Store, Path, dict[str, list[str]]]:
    gold_path = tmp_path / "gold.csv"
    write_csv(gold_path, generate(n, seed=5))
    db = tmp_path / "shared.duckdb"
    assert main(["import", str(gold_path), "--dataset", "mail", "--db", str(db), "--no-labels"]) == 0
    store = Store(db)
    frame = read_file(gold_path).frame
    gold = {i: sorted(labels or []) for i, labels in zip(frame["id"].to_list(), frame["labels"].to_list(), strict=True)}
    for name in sorted({n for labels in gold.values() for n in labels}):
        store.add_label("mail", name)
    return store, gold_path, gold


def start(store: Store, annotator: str, pages: int, gold_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), str(store.path), annotator, str(pages), str(gold_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def confirmed_lines(output: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("confirmed ")]


def check_survived(store: Store, annotator: str, confirmed: set[int], gold: dict[str, list[str]]) -> None:
    everyone = store.annotator_reviews("mail")
    reviews = everyone.filter(everyone["annotator"] == annotator)
    assert reviews["mid"].n_unique() == reviews.height, "a message was reviewed twice by one annotator"
    stored = {mid: sorted(labels or []) for mid, labels in zip(reviews["mid"].to_list(), reviews["labels"].to_list(), strict=True)}
    messages = store.messages_frame("mail", "mid, id")
    ids = dict(zip(messages["mid"], messages["id"], strict=True))
    missing = confirmed - set(stored)
    assert not missing, f"confirmed but lost: {sorted(missing)[:5]}"
    for mid in confirmed:
        assert stored[mid] == gold[ids[mid]], mid


def kill_runs(tmp_path: Path, kills: int) -> int:
    store, gold_path, gold = mailbox(tmp_path)
    rng = random.Random(7)
    survived: set[int] = set()
    killed = 0
    for _ in range(kills):
        worker = start(store, "crash", 100, gold_path)
        time.sleep(rng.uniform(0.3, 4.0))  # anywhere: confirming, submitting, retraining
        worker.send_signal(signal.SIGKILL)
        out, err = worker.communicate()
        assert "Traceback" not in err, err
        killed += worker.returncode == -signal.SIGKILL
        survived |= set(confirmed_lines(out))
        check_survived(store, "crash", survived, gold)  # the database opens and nothing is lost
        pages = [line for line in out.splitlines() if line.startswith("page ")]
        if pages:  # the next start resumes on the mode and page it had
            resumed = store.session_state("mail", "crash")
            assert resumed is not None and resumed.mode == pages[-1].split()[1]
    return killed


@pytest.mark.ci
def test_kill_during_work_loses_nothing(tmp_path: Path) -> None:
    assert kill_runs(tmp_path, kills=4) >= 1


@pytest.mark.slow
def test_kill_sixty_times(tmp_path: Path) -> None:
    killed = kill_runs(tmp_path, kills=60)
    print(f"kills survived: {killed}")
    assert killed >= 50


def import_kills(tmp_path: Path, kills: int) -> None:
    big = tmp_path / "big.csv"
    write_csv(big, generate(150_000, seed=9, profile="short"))
    db = tmp_path / "imp.duckdb"
    store = Store(db)
    store.create_dataset("imp")
    rng = random.Random(3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-m", "cmtui", "import", str(big), "--dataset", "imp",
                                 "--db", str(db), "--no-labels"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.5, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        count = store.query_frame("SELECT count(*) AS n FROM messages")["n"][0]
        assert count in (0, 150_000), count  # all or nothing
        if count:
            break


@pytest.mark.ci
def test_killed_import_leaves_source_unchanged(tmp_path: Path) -> None:
    import_kills(tmp_path, kills=2)


@pytest.mark.slow
def test_killed_import_many_times(tmp_path: Path) -> None:
    import_kills(tmp_path, kills=8)


def concurrent(tmp_path: Path, pages: int) -> int:
    store, gold_path, gold = mailbox(tmp_path, n=2400 if pages > 10 else 600)
    workers = {name: start(store, name, pages, gold_path) for name in ("alice", "bob")}
    confirmed: dict[str, set[int]] = {}
    submitted = 0
    for name, worker in workers.items():
        out, err = worker.communicate(timeout=1800)
        assert worker.returncode == 0, err[-2000:]
        confirmed[name] = set(confirmed_lines(out))
        assert out.count("submitted ") == pages
        submitted += pages
    for name in workers:
        check_survived(store, name, confirmed[name], gold)
    # leases: the two annotators were never handed the same unreviewed message
    assert not confirmed["alice"] & confirmed["bob"]
    reviews = store.annotator_reviews("mail")
    assert reviews.height == len(confirmed["alice"]) + len(confirmed["bob"])  # each exactly once
    return submitted


@pytest.mark.ci
def test_two_annotators_at_once(tmp_path: Path) -> None:
    concurrent(tmp_path, pages=4)


@pytest.mark.slow
def test_two_annotators_fifty_pages_each(tmp_path: Path) -> None:
    print(f"concurrent pages submitted: {concurrent(tmp_path, pages=50)}")


POOL_PARENT = """
import os, time
from cmtui.pool import shared_pool
pool = shared_pool()
pids = {pool.submit(os.getpid).result() for _ in range(4)}
for _ in range(4):
    pool.submit(time.sleep, 120)
print(*sorted(pids), flush=True)
time.sleep(120)
"""


def test_pool_workers_exit_with_a_killed_parent() -> None:
    """A killed cmtui (an import stopped by SIGKILL) takes its worker processes with it,
    so they do not hold its pipes, and its caller, open."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", POOL_PARENT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    workers = [int(pid) for pid in proc.stdout.readline().split()]
    assert workers
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # returns once every holder of its pipes, the workers too, is gone


POOL_IN_A_CHILD = """
import multiprocessing, os
from cmtui.pool import shared_pool

def work():  # as a benchmark script's worker: uses the pool, then returns
    assert shared_pool().submit(os.getpid).result() != os.getpid()

if __name__ == "__main__":
    child = multiprocessing.get_context("fork").Process(target=work)
    child.start()
    child.join(60)
    print("exited" if child.exitcode == 0 else f"stuck: {child.exitcode}", flush=True)
    if child.exitcode is None:
        child.kill()
"""


def test_a_multiprocessing_child_that_used_the_pool_exits() -> None:
    """Such a child never runs atexit, and multiprocessing joins its children before it
    ends: the pool's workers must go first (label_efficiency.py hung at the end of its
    runs while they waited for it to end)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", POOL_IN_A_CHILD], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.strip() == "exited", out.stderr


POOL_IN_AN_APP = """
import asyncio
from textual.app import App
from cmtui.pool import in_order

class Pooled(App[None]):
    found = None

    def on_mount(self) -> None:  # the app's stderr is now Textual's capture, as in cmtui
        self.run_worker(self.work, thread=True)

    def work(self) -> None:
        try:
            self.found = list(in_order(abs, [-1, -2, -3]))
        except Exception as exc:
            self.found = repr(exc)

async def main() -> None:
    app = Pooled()
    async with app.run_test() as pilot:
        while app.found is None:
            await pilot.pause(0.05)
    print(app.found, flush=True)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_the_pool_starts_inside_a_textual_app() -> None:
    """The app's first job on the pool (general fields of 5,000+ messages, found at
    validation) started multiprocessing's helpers with Textual's stderr, whose fileno is
    -1: "bad value(s) in fds_to_keep", and every validation of such a dataset failed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", POOL_IN_AN_APP], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.strip() == "[1, 2, 3]", out.stdout + out.stderr
