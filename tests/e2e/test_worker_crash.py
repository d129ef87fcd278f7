"""A worker killed with SIGKILL in the middle of a batch loses nothing and does nothing twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from e2e.outbox_processes import Workers, enqueue_effects, lines, operations, wait_until

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("jirabridge")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_each_effect_once(
    database_url: str, tmp_path: Path
) -> None:
    ids = enqueue_effects(database_url, 12)
    effects, runs, hold = tmp_path / "effects", tmp_path / "runs", tmp_path / "hold"

    with Workers(database_url, tmp_path) as workers:
        # The first worker takes a batch of 4, applies their effects, and is killed before finishing.
        hold.touch()
        first = workers.start("--concurrency", "4", "--lease-s", "1")
        wait_until(lambda: len(lines(effects)) == 4, "the first batch to be under way", tmp_path)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed = set(lines(effects))
        states = Counter(op.status for op in operations(database_url, ids).values())
        assert states == {"running": 4, "pending": 8}

        # A new worker takes over the killed one's operations once their lease runs out, and the rest.
        hold.unlink()
        port = free_port()
        second = workers.start("--lease-s", "1", "--metrics-port", str(port))
        wait_until(
            lambda: all(op.status == "done" for op in operations(database_url, ids).values()),
            "every operation to be done",
            tmp_path,
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0

    assert 'jirabridge_worker_operations_total{kind="e2e.effect",outcome="done"} 12.0' in metrics
    assert sorted(lines(effects)) == sorted(ids)  # every effect, each exactly once
    run_counts = Counter(line.split()[1] for line in lines(runs))
    assert run_counts == {op_id: 2 if op_id in killed else 1 for op_id in ids}  # the killed ones ran again
    attempts = {op.id: op.attempts for op in operations(database_url, ids).values()}
    assert attempts == {op_id: 2 if op_id in killed else 1 for op_id in ids}


def test_migrate_then_a_once_worker_drains_the_queue_and_exits(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "JIRABRIDGE_DATABASE_URL": database_url}
    migrated = subprocess.run([str(CLI), "migrate"], env=env, capture_output=True, timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    ids = enqueue_effects(database_url, 5)

    with Workers(database_url, tmp_path) as workers:
        assert workers.start("--once").wait(timeout=60) == 0

    assert {op.status for op in operations(database_url, ids).values()} == {"done"}
    assert sorted(lines(tmp_path / "effects")) == sorted(ids)
