"""`jirabridge worker`'s runner with site leases on a real database: it runs only the operations of
the sites it owns (and those of no site), and a stop hands its sites over at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Job, Outcome
from jirabridge.domain.site_urls import site_address
from jirabridge.storage import leases, outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.leases import LeaseTimes, SqlLeases, WorkerInfo
from jirabridge.storage.tables import Operation, SiteLease, WorkerProcess
from jirabridge.workers.metrics import WorkerMetrics
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.rows import a_site, a_workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = LeaseTimes(heartbeat_s=0.02, dead_after_s=10, lease_ttl_s=10)


def target(site_id: str, workers: list[str]) -> str | None:
    """The worker a site of the fixture (st_N at https://sN.atlassian.net) belongs with."""
    return leases.target_of(site_address(f"https://s{site_id.removeprefix('st_')}.atlassian.net"), workers)


class Clock:
    def now(self) -> datetime:
        return T0


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        session.add(a_workspace("ws_a", at=T0))
        session.flush()
        for n in range(8):
            session.add(
                a_site("ws_a", f"st_{n}", url=f"https://s{n}.atlassian.net", at=T0, webhook_token=f"tok-{n}")
            )
        session.commit()
    yield factory
    engine.dispose()


def add(sessions: sessionmaker[Session], site: str | None, key: str) -> str:
    with sessions() as session:
        op = Unknown("step", {}, ordering=key, site_id=site)
        operation = outbox.enqueue(session, op, workspace_id="ws_a", now=T0)
        session.commit()
        return operation


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {op.id: op.status for op in session.scalars(select(Operation))}


def make_worker(sessions: sessionmaker[Session], handler: object, *, once: bool) -> Worker:
    options = WorkerOptions(concurrency=4, poll_s=0.01, once=once)
    return Worker(
        SqlQueue(sessions),
        {"step": handler},  # type: ignore[dict-item]
        Clock(),
        options,
        WorkerMetrics(),
        worker_id="me",
        leases=SqlLeases(sessions, FAST),
    )


async def test_a_worker_runs_only_its_own_sites_operations_and_those_of_no_site(
    sessions: sessionmaker[Session],
) -> None:
    # Another live worker: the sites whose target it is stay its own.
    other = WorkerInfo(id="other", pid=2, version="t", started_at=T0, hostname="elsewhere")
    leases.heartbeat(sessions, me=other, now=T0, times=FAST)
    theirs = sorted(s for s in (f"st_{n}" for n in range(8)) if target(s, ["me", "other"]) == "other")
    mine = sorted(s for s in (f"st_{n}" for n in range(8)) if target(s, ["me", "other"]) == "me")
    assert theirs and mine
    leases.heartbeat(sessions, me=other, now=T0, times=FAST)  # still holds every site
    with sessions() as session:  # it has handed over the sites whose target is me
        session.execute(SiteLease.__table__.delete().where(SiteLease.site_id.in_(mine)))
        session.commit()
    ops_mine = [add(sessions, site, f"M-{site}") for site in mine]
    ops_theirs = [add(sessions, site, f"T-{site}") for site in theirs]
    op_none = add(sessions, None, "CB-1")
    ran: list[str] = []

    async def step(job: Job) -> Outcome:
        ran.append(job.id)
        return Done()

    await make_worker(sessions, step, once=True).run()

    assert sorted(ran) == sorted([*ops_mine, op_none])
    assert {statuses(sessions)[op] for op in ops_theirs} == {"pending"}
    # Having stopped, it left: its row and leases are gone, the other's stay.
    with sessions() as session:
        assert session.scalars(select(WorkerProcess.id)).all() == ["other"]
        assert set(session.scalars(select(SiteLease.worker_id))) == {"other"}


async def test_the_sites_a_worker_takes_are_handed_to_its_jira_pool_before_their_operations_run(
    sessions: sessionmaker[Session],
) -> None:
    # Another worker held every site, and let go of those now owed to this one: their first calls
    # must wait for the other's last ones to leave Jira's window (JiraPool.handed_over).
    other = WorkerInfo(id="other", pid=2, version="t", started_at=T0, hostname="elsewhere")
    leases.heartbeat(sessions, me=other, now=T0, times=FAST)
    leases.heartbeat(sessions, me=WorkerInfo(id="me", pid=1, version="t", started_at=T0), now=T0, times=FAST)
    leases.heartbeat(sessions, me=other, now=T0, times=FAST)  # it lets go of the sites owed to me
    ops = {site: add(sessions, site, f"K-{site}") for site in (f"st_{n}" for n in range(8))}
    handed: list[frozenset[str]] = []
    ran_after_hand_over: dict[str, bool] = {}

    async def step(job: Job) -> Outcome:
        assert job.site_id is not None
        ran_after_hand_over[job.site_id] = any(job.site_id in sites for sites in handed)
        return Done()

    worker = make_worker(sessions, step, once=True)
    worker.sites_acquired = handed.append
    await worker.run()

    mine = {s for s in ops if target(s, ["me", "other"]) == "me"}
    assert mine and set(ran_after_hand_over) == mine
    assert all(ran_after_hand_over.values())
    assert handed == [frozenset(mine)]  # once, when it took them; not at every heartbeat


async def test_a_stopped_worker_finishes_its_operations_then_releases_its_sites(
    sessions: sessionmaker[Session],
) -> None:
    busy = add(sessions, "st_0", "B-1")
    behind = add(sessions, "st_0", "B-1")  # due, but waits for the one before it on its issue
    started, release = asyncio.Event(), asyncio.Event()

    async def step(job: Job) -> Outcome:
        started.set()
        await release.wait()
        return Done()

    worker = make_worker(sessions, step, once=False)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 30)

    # Its metrics: the sites it owns, and the backlog of each of them.
    def metrics() -> str:
        return generate_latest(worker.metrics.registry).decode()

    async with asyncio.timeout(30):
        while 'jirabridge_worker_site_queue_depth{site="st_0"} 1.0' not in metrics():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert "jirabridge_worker_sites_owned 8.0" in metrics()
    assert 'jirabridge_worker_site_queue_depth{site="st_7"} 0.0' in metrics()
    assert "jirabridge_worker_site_leases_acquired_total 8.0" in metrics()

    worker.stop()  # what SIGTERM does

    def stopping_row() -> tuple[bool, set[str]]:
        with sessions() as session:
            row = session.get(WorkerProcess, "me")
            held = set(session.scalars(select(SiteLease.site_id).where(SiteLease.worker_id == "me")))
            return (row is not None and row.stopping, held)

    # While its operation runs, it says it is stopping and keeps only the site of that operation.
    async with asyncio.timeout(30):
        while stopping_row() != (True, {"st_0"}):  # noqa: ASYNC110 - the worker writes it in the database
            await asyncio.sleep(0.02)
    release.set()
    await asyncio.wait_for(running, 30)

    # It finished what it ran and claimed nothing after the stop: the next owner runs the rest.
    assert (statuses(sessions)[busy], statuses(sessions)[behind]) == ("done", "pending")
    assert "jirabridge_worker_sites_owned 0.0" in metrics()
    assert "jirabridge_worker_site_queue_depth{" not in metrics()
    assert "jirabridge_worker_site_leases_released_total 8.0" in metrics()
    with sessions() as session:
        assert session.scalars(select(SiteLease)).all() == []
        assert session.scalars(select(WorkerProcess)).all() == []
