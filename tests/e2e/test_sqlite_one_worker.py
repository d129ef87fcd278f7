"""SQLite takes one `jirabridge worker` at a time; a worker that was killed never blocks the next."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from e2e.outbox_processes import Workers, enqueue_effects, lines, operations, wait_until
from jirabridge.storage.db import make_engine
from jirabridge.storage.migrate import upgrade

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_second_worker_on_one_sqlite_file_is_refused_and_a_killed_one_blocks_nothing(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'jb.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()

    with Workers(database_url, tmp_path) as workers:
        port = free_port()
        first = workers.start("--metrics-port", str(port))
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/metrics"), "the first worker to be up", tmp_path)

        second = workers.start("--once")
        assert second.wait(timeout=60) == 2
        refusal = (tmp_path / "worker-1.log").read_text()
        assert "another `jirabridge worker` is running on the SQLite database jb.db" in refusal
        assert "use PostgreSQL" in refusal
        assert "Traceback" not in refusal
        assert first.poll() is None  # the running worker carries on

        # SIGKILL leaves no chance to clean up: the next worker starts all the same and does the work.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert (tmp_path / "jb.db.worker-lock").exists()  # left behind, and no obstacle
        ids = enqueue_effects(database_url, 3)
        assert workers.start("--once").wait(timeout=60) == 0
    done = operations(database_url, ids).values()
    assert {op.status for op in done} == {"done"}
    assert {op.result["loop"] for op in done if op.result} == {"uvloop"}  # libuv's loop, not asyncio's
    assert sorted(lines(tmp_path / "effects")) == sorted(ids)


def test_workers_on_in_memory_sqlite_take_no_lock(tmp_path: Path) -> None:
    from jirabridge.storage.worker_lock import lock_path, single_sqlite_worker

    assert lock_path("sqlite://") is None
    assert lock_path("sqlite:///:memory:") is None
    assert lock_path("postgresql+psycopg://u@localhost/jb") is None
    with single_sqlite_worker("sqlite://"), single_sqlite_worker("sqlite://"):
        pass
