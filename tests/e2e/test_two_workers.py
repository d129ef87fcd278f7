"""Two worker processes on one database share the work and never run the same operation twice.

PostgreSQL only: a second worker on a SQLite file is refused (tests/e2e/test_sqlite_one_worker.py)."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from e2e.outbox_processes import Workers, enqueue_effects, lines, operations, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_share_the_queue_and_stop_gracefully(database_url: str, tmp_path: Path) -> None:
    ids = enqueue_effects(database_url, 80)
    runs, hold = tmp_path / "runs", tmp_path / "hold"

    with Workers(database_url, tmp_path) as launcher:
        hold.touch()
        workers = [launcher.start("--concurrency", "4") for _ in range(2)]
        # Each worker runs at most 4 at once, so 8 operations under way means both are working.
        wait_until(lambda: len(lines(runs)) == 8, "both workers to be under way", tmp_path)
        held = Counter(line.split()[0] for line in lines(runs))
        assert sorted(held.values()) == [4, 4]

        # SIGTERM in the middle of a batch: the second worker finishes what it holds, then exits cleanly.
        stopping = workers[1]
        stopping.send_signal(signal.SIGTERM)
        hold.unlink()
        assert stopping.wait(timeout=30) == 0

        wait_until(
            lambda: all(op.status == "done" for op in operations(database_url, ids).values()),
            "every operation to be done",
            tmp_path,
        )
        workers[0].send_signal(signal.SIGTERM)
        assert workers[0].wait(timeout=30) == 0

        run_counts = Counter(line.split()[1] for line in lines(runs))
        assert run_counts == dict.fromkeys(ids, 1)
        # The stopped worker finished the 4 it held and claimed nothing after the signal.
        assert Counter(line.split()[0] for line in lines(runs))[str(stopping.pid)] == 4
