"""An idle worker on PostgreSQL claims new work as soon as it is queued, not at its next poll: the
transaction that queues it notifies the workers, naming the sites of that work (migrations 0010 and 0011,
storage/outbox_nudges.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text

from jirabridge.clock import SystemClock
from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Job, Outcome
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.outbox_nudges import Announced, PgOutboxNudges, announced, outbox_nudges_for
from jirabridge.storage.pg_listen import conninfo_for
from jirabridge.storage.tables import Operation, Workspace
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.rows import a_site, a_workspace

ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
NEVER_S = 3600.0  # the worker's poll: a test that passes was woken by a nudge


async def _until(condition: Callable[[], bool], limit_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_worker(database_url: str, ran: list[str]) -> AsyncIterator[Callable[[str], str]]:
    """A worker with nudges and no useful poll, and a function that queues an operation for it."""
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with sessions() as session:
        session.add(Workspace(id="ws_a", name="ws_a", settings={}, created_at=datetime.now(UTC)))
        session.commit()

    async def handler(job: Job) -> Outcome:
        ran.append(str(job.operation.payload["n"]))
        return Done()

    worker = Worker(
        SqlQueue(sessions),
        {"test.nudged": handler},
        SystemClock(),
        WorkerOptions(poll_s=NEVER_S),
        nudges=PgOutboxNudges.for_url(database_url),
    )

    def enqueue(n: str) -> str:
        with sessions() as session:
            op = outbox.enqueue(
                session, Unknown("test.nudged", {"n": n}), workspace_id="ws_a", now=datetime.now(UTC)
            )
            session.commit()
            return op

    def listening() -> bool:
        with engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'jirabridge-worker-nudges' AND datname = current_database()"
                )
            ).scalar_one()
        return bool(found)

    task = asyncio.create_task(worker.run())
    try:
        await _until(listening)
        await asyncio.sleep(0.2)  # connected; its LISTEN follows at once
        yield enqueue
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
        engine.dispose()


@ONLY_POSTGRES
async def test_an_idle_worker_runs_new_work_at_once_instead_of_at_its_next_poll(database_url: str) -> None:
    ran: list[str] = []
    async with running_worker(database_url, ran) as enqueue:
        enqueue("first")
        await _until(lambda: ran == ["first"])
        enqueue("second")  # the worker is idle again, its next poll an hour away
        await _until(lambda: ran == ["first", "second"])


@ONLY_POSTGRES
async def test_queued_work_sends_one_notification_per_transaction(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with sessions() as session:
        session.add(Workspace(id="ws_a", name="ws_a", settings={}, created_at=datetime.now(UTC)))
        session.commit()
    with psycopg.connect(conninfo_for(database_url), autocommit=True) as listener:
        listener.execute("LISTEN jirabridge_outbox")
        with sessions() as session:
            for n in range(3):
                op = Unknown("test.nudged", {"n": n})
                outbox.enqueue(session, op, workspace_id="ws_a", now=datetime.now(UTC))
            session.commit()
        notices = list(listener.notifies(timeout=2, stop_after=5))
    with sessions() as session:
        assert session.query(Operation).count() == 3
    engine.dispose()
    # Operations of no site: "-" (migration 0011 names the sites of what was queued).
    assert [(n.channel, n.payload) for n in notices] == [("jirabridge_outbox", "-")]


@ONLY_POSTGRES
async def test_a_notification_names_the_sites_of_the_work_queued(database_url: str) -> None:
    # A worker draining one site's backlog claims at once for a site it is not serving: it learns
    # which sites have new work from the notification itself, with no query.
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with sessions() as session:
        session.add(a_workspace("ws_a", at=now))
        session.flush()
        for n in (1, 2):
            session.add(
                a_site("ws_a", f"st_{n}", url=f"https://s{n}.atlassian.net", at=now, webhook_token=f"tok-{n}")
            )
        session.commit()
    heard: list[Announced] = []
    nudges = PgOutboxNudges.for_url(database_url)
    listening = asyncio.create_task(nudges.listen(heard.append))
    try:
        await _until(lambda: heard == [None])  # connected: what was queued meanwhile is not known
        with sessions() as session:
            for site in ("st_1", "st_2", "st_1", None):
                op = Unknown("test.nudged", {}, site_id=site)
                outbox.enqueue(session, op, workspace_id="ws_a", now=now)
                session.flush()  # one statement each
            session.commit()
        await _until(lambda: len(heard) > 1)
        await asyncio.sleep(0.2)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        engine.dispose()
    assert set().union(*heard[1:]) == {"st_1", "st_2", None}


def test_a_notification_without_sites_names_none() -> None:
    assert announced("") is None  # sites not known (too many for one notification)
    assert announced("st_1,-") == frozenset({"st_1", None})


def test_nudges_are_for_postgresql_and_can_be_turned_off() -> None:
    assert outbox_nudges_for("sqlite:///jirabridge.db") is None
    assert outbox_nudges_for("postgresql+psycopg://jb@db/jirabridge", "none") is None
    assert isinstance(outbox_nudges_for("postgresql+psycopg://jb@db/jirabridge"), PgOutboxNudges)
