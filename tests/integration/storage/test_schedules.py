"""Periodic work through the outbox, on SQLite and PostgreSQL: what a worker sees claim after claim."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Fail, Job
from jirabridge.storage import outbox, schedules
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        session.add(Workspace(id="ws_a", name="a", settings={}, created_at=T0))
        session.add(Workspace(id="ws_b", name="b", settings={}, created_at=T0))
        session.commit()
    yield factory
    engine.dispose()


def ensure(
    sessions: sessionmaker[Session], key: str, every_s: float, seconds: float = 0, ws: str = "ws_a"
) -> None:
    with sessions() as session:
        # A kind of the test's own: the schedule's key is given, not the operation's.
        op = Unknown("poll", {"key": key})
        schedules.ensure(session, op, key=key, workspace_id=ws, every_s=every_s, now=at(seconds))
        session.commit()


def payload(job: Job) -> Mapping[str, Any]:
    assert isinstance(job.operation, Unknown)
    return job.operation.payload


def claim(sessions: sessionmaker[Session], seconds: float) -> list[Job]:
    return outbox.claim(sessions, worker_id="w1", now=at(seconds), limit=10, lease_s=30)


def finish(sessions: sessionmaker[Session], jobs: list[Job], seconds: float) -> None:
    for job in jobs:
        outbox.record(sessions, job, Done(), at(seconds), worker_id="w1")


def test_a_new_schedule_runs_at_once_then_every_interval(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "poll:WEB", every_s=60)
    first = claim(sessions, 0)
    assert [(j.kind, payload(j)) for j in first] == [("poll", {"key": "poll:WEB"})]
    finish(sessions, first, 1)
    assert claim(sessions, 30) == []  # not due yet
    second = claim(sessions, 61)
    assert len(second) == 1 and second[0].id != first[0].id


def test_a_round_still_running_is_not_stacked_up(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "poll:WEB", every_s=10)
    running = claim(sessions, 0)
    assert len(running) == 1
    # Due twice more while the first round still runs: nothing new is enqueued.
    assert claim(sessions, 11) == [] and claim(sessions, 22) == []
    finish(sessions, running, 23)
    assert len(claim(sessions, 33)) == 1


def test_a_round_asked_for_while_one_runs_follows_it(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "webhooks:st_1", every_s=3600)
    running = claim(sessions, 0)
    assert len(running) == 1
    with sessions() as session:  # settings changed while the round runs with the old ones
        schedules.run_now(session, workspace_id="ws_a", key_prefix="webhooks:", now=at(1))
        session.commit()
    assert claim(sessions, 1) == []  # not stacked up beside it
    finish(sessions, running, 1.5)
    assert len(claim(sessions, 1.5)) == 1  # as soon as it ended, not an hour later


def test_a_failed_round_does_not_stop_the_schedule(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "poll:WEB", every_s=10)
    [job] = claim(sessions, 0)
    outbox.record(sessions, job, Fail("forbidden", "no permission"), at(1), worker_id="w1")
    assert len(claim(sessions, 11)) == 1


def test_run_now_makes_a_workspaces_schedules_due(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "poll:a:WEB", every_s=300)
    ensure(sessions, "poll:b:OPS", every_s=300, ws="ws_b")
    finish(sessions, claim(sessions, 0), 1)
    with sessions() as session:
        keys = schedules.run_now(session, workspace_id="ws_a", key_prefix="poll:", now=at(5))
        session.commit()
    assert keys == ["poll:a:WEB"]
    assert [payload(j)["key"] for j in claim(sessions, 5)] == ["poll:a:WEB"]


def test_removed_and_shortened_schedules(sessions: sessionmaker[Session]) -> None:
    ensure(sessions, "poll:WEB", every_s=300)
    ensure(sessions, "drift:ws_a", every_s=300)
    finish(sessions, claim(sessions, 0), 1)
    with sessions() as session:
        schedules.remove(session, "drift:ws_a")
        session.commit()
    ensure(sessions, "poll:WEB", every_s=30, seconds=10)  # shortened: counts from the last round
    assert [payload(j)["key"] for j in claim(sessions, 31)] == ["poll:WEB"]
