"""Where the worker's claims and records run: on SQLite on the event loop's own thread when the
database can be had at once, on a thread when another process holds the write lock (the loop goes
on meanwhile); on PostgreSQL always on a thread (workers/runner.py `_in_db`, service/core/db.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from jirabridge.clock import SystemClock
from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Job, Outcome
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Operation, Workspace
from jirabridge.workers.runner import Finished, SqlQueue, Worker, WorkerOptions

ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass(frozen=True)
class WatchedQueue(SqlQueue):
    """The SQL queue, noting the thread each claim and record ran on."""

    threads: list[int] = field(default_factory=list)

    def claim(self, **kwargs: Any) -> list[Job]:
        self.threads.append(threading.get_ident())
        return super().claim(**kwargs)

    def record(self, *args: Any, **kwargs: Any) -> str | None:
        self.threads.append(threading.get_ident())
        return super().record(*args, **kwargs)

    def record_many(self, finished: Sequence[Finished], *, worker_id: str) -> list[outbox.Recorded]:
        self.threads.append(threading.get_ident())
        return super().record_many(finished, worker_id=worker_id)


class Setup:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        with self.sessions() as session:
            session.add(Workspace(id="ws_a", name="ws_a", settings={}, created_at=datetime.now(UTC)))
            session.commit()
        self.queue = WatchedQueue(self.sessions)

    def enqueue(self, count: int) -> None:
        with self.sessions() as session:
            for n in range(count):
                outbox.enqueue(
                    session, Unknown("test.db", {"n": n}), workspace_id="ws_a", now=datetime.now(UTC)
                )
            session.commit()

    def statuses(self) -> list[str]:
        with self.sessions() as session:
            return [op.status for op in session.query(Operation).all()]

    async def drain(self) -> None:
        async def handler(job: Job) -> Outcome:
            await asyncio.sleep(0)
            return Done()

        worker = Worker(
            self.queue, {"test.db": handler}, SystemClock(), WorkerOptions(once=True, poll_s=0.05)
        )
        await worker.run()


@pytest.fixture
def setup(database_url: str) -> Iterator[Setup]:
    made = Setup(database_url)
    yield made
    made.engine.dispose()


@ONLY_SQLITE
async def test_on_sqlite_the_worker_claims_and_records_on_its_loops_thread(setup: Setup) -> None:
    setup.enqueue(5)

    await setup.drain()

    assert setup.statuses() == ["done"] * 5
    assert setup.queue.threads and set(setup.queue.threads) == {threading.get_ident()}


@ONLY_SQLITE
async def test_on_sqlite_a_claim_that_would_wait_for_another_process_waits_on_a_thread(
    setup: Setup, database_url: str
) -> None:
    setup.enqueue(3)
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        drained = asyncio.create_task(setup.drain())
        started = time.monotonic()
        await asyncio.sleep(0.5)
        assert time.monotonic() - started < 1.5  # the loop went on while the claim waited
        assert not drained.done()
        other.execute("COMMIT")
        await asyncio.wait_for(drained, 30)
    finally:
        other.close()

    assert setup.statuses() == ["done"] * 3
    # The claim that found the lock taken went on on a thread (after its try on the loop's raised).
    assert any(thread != threading.get_ident() for thread in setup.queue.threads)


@ONLY_POSTGRES
async def test_on_postgresql_the_worker_claims_and_records_on_threads(setup: Setup) -> None:
    setup.enqueue(3)

    await setup.drain()

    assert setup.statuses() == ["done"] * 3
    assert setup.queue.threads and threading.get_ident() not in setup.queue.threads
