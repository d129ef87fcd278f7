"""A step's reading and writing ride on the outbox's own transactions (workers/steps.py): what it
reads is read in the claim that leases the job, and what it writes commits with the job's outcome,
or not at all. On a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain import operations as ops
from jirabridge.domain.outcomes import Done, Job, Retry
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Event, Operation, Workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        session.add(Workspace(id="ws_a", name="ws_a", settings={}, created_at=T0))
        session.commit()
    yield factory
    engine.dispose()


def add(sessions: sessionmaker[Session], key: str) -> str:
    with sessions() as session:
        op = outbox.enqueue(session, ops.SyncStatus("st_1", key), workspace_id="ws_a", now=T0)
        session.commit()
        return op


def event(session: Session, kind: str) -> None:
    session.add(Event(id=f"ev_{kind}", workspace_id="ws_a", type=kind, source="jirabridge", at=T0, data={}))


def events(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Event.type).order_by(Event.type)))


def test_what_prepare_reads_reaches_the_job_and_one_that_raises_spoils_only_its_own(
    sessions: sessionmaker[Session],
) -> None:
    good, bad = add(sessions, "WEB-1"), add(sessions, "WEB-2")

    def prepare(session: Session, job: Job) -> Job:
        if job.issue_key == "WEB-2":
            # A failing statement: on PostgreSQL it aborts the transaction unless a savepoint holds it.
            session.execute(text("SELECT no_such_column FROM operations"))
        status = session.scalar(select(Operation.status).where(Operation.id == job.id))
        return replace(job, context=("seen in the claim", status))

    jobs = outbox.claim(sessions, worker_id="w1", now=T0, limit=10, lease_s=30, prepare=prepare)

    by_id = {job.id: job for job in jobs}
    # The claim's own transaction: the job is already leased when its step reads.
    assert by_id[good].context == ("seen in the claim", "running")
    assert isinstance(by_id[bad].context, outbox.PrepareFailed)
    with sessions() as session:
        assert set(session.scalars(select(Operation.status))) == {"running"}


def test_apply_commits_with_the_outcome_and_not_at_all_without_the_lease(
    sessions: sessionmaker[Session],
) -> None:
    add(sessions, "WEB-1")
    [job] = outbox.claim(sessions, worker_id="w1", now=T0, limit=1, lease_s=30)
    later = T0 + timedelta(seconds=31)
    [taken_over] = outbox.claim(sessions, worker_id="w2", now=later, limit=1, lease_s=30)

    lost = outbox.record(
        sessions, job, Done(), later, worker_id="w1", apply=lambda session: event(session, "from.w1")
    )
    assert lost is None
    assert events(sessions) == []  # the worker that lost the lease wrote nothing

    done = outbox.record(
        sessions, taken_over, Done(), later, worker_id="w2", apply=lambda session: event(session, "from.w2")
    )
    assert done == outbox.DONE
    assert events(sessions) == ["from.w2"]


def test_an_apply_that_raises_leaves_the_operation_running_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    op_id = add(sessions, "WEB-1")
    [job] = outbox.claim(sessions, worker_id="w1", now=T0, limit=1, lease_s=30)

    def apply(session: Session) -> None:
        event(session, "half.written")
        raise RuntimeError("a bug in a step's apply")

    with pytest.raises(RuntimeError):
        outbox.record(sessions, job, Done(), T0, worker_id="w1", apply=apply)

    assert events(sessions) == []
    with sessions() as session:
        row = session.scalar(select(Operation).where(Operation.id == op_id))
        assert row is not None and (row.status, row.lease_owner) == ("running", "w1")


def test_outcomes_recorded_together_keep_each_apply_atomic_with_its_own_operation(
    sessions: sessionmaker[Session],
) -> None:
    ids = [add(sessions, f"WEB-{n}") for n in (1, 2, 3)]
    jobs = {job.id: job for job in outbox.claim(sessions, worker_id="w1", now=T0, limit=10, lease_s=60)}
    ids.append(add(sessions, "WEB-4"))
    jobs |= {job.id: job for job in outbox.claim(sessions, worker_id="w1", now=T0, limit=10, lease_s=30)}
    later = T0 + timedelta(seconds=31)
    [taken_over] = outbox.claim(  # WEB-4's lease ran out and another worker took it
        sessions, worker_id="w2", now=later, limit=1, lease_s=30
    )
    assert taken_over.id == ids[3]

    def broken(session: Session) -> None:
        event(session, "half.written")
        # A failing statement: on PostgreSQL it aborts the transaction unless a savepoint holds it.
        session.execute(text("SELECT no_such_column FROM operations"))

    recorded = outbox.record_many(
        sessions,
        [
            outbox.Finished(jobs[ids[0]], Done(), later, lambda session: event(session, "web1.applied")),
            outbox.Finished(jobs[ids[1]], Done(), later, broken),
            outbox.Finished(jobs[ids[2]], Done(), later),
            outbox.Finished(jobs[ids[3]], Done(), later, lambda session: event(session, "web4.from.w1")),
        ],
        worker_id="w1",
    )

    assert [r.status for r in recorded] == [outbox.DONE, outbox.PENDING, outbox.DONE, None]
    error = recorded[1].apply_error  # SQLite and PostgreSQL name the bad column differently
    assert error in ("OperationalError", "ProgrammingError")
    assert recorded[1].outcome == Retry("apply_error", error)
    # Only the broken apply's writes rolled back, and the lost lease wrote nothing.
    assert events(sessions) == ["web1.applied"]
    with sessions() as session:
        rows = {row.id: row for row in session.scalars(select(Operation))}
    assert [rows[i].status for i in ids] == ["done", "pending", "done", "running"]
    assert rows[ids[1]].reason == "apply_error"
    assert rows[ids[3]].lease_owner == "w2"


def test_events_of_outcomes_recorded_together_each_get_their_callback_after_a_rolled_back_one(
    sessions: sessionmaker[Session],
) -> None:
    """A batch locks a workspace once for all its events; a savepoint rolled back gives up what it
    locked and read, so the events after it still find the workspace's callback and queue theirs."""
    with sessions() as session:
        workspace = session.get(Workspace, "ws_a")
        assert workspace is not None
        workspace.settings = {"callback": {"url": "https://host.example/jira-events"}}
        session.commit()
    ids = [add(sessions, f"WEB-{n}") for n in (1, 2, 3)]
    jobs = {job.id: job for job in outbox.claim(sessions, worker_id="w1", now=T0, limit=10, lease_s=30)}

    def announce(name: str, *, then_fail: bool = False) -> outbox.Apply:
        def apply(session: Session) -> None:
            record_event(session, workspace_id="ws_a", type=name, source="jirabridge", at=T0)
            if then_fail:
                raise RuntimeError("a bug after the event")

        return apply

    outbox.record_many(
        sessions,
        [
            outbox.Finished(jobs[ids[1]], Done(), T0, announce("second", then_fail=True)),
            outbox.Finished(jobs[ids[0]], Done(), T0, announce("first")),
            outbox.Finished(jobs[ids[2]], Done(), T0, announce("third")),
        ],
        worker_id="w1",
    )

    assert events(sessions) == ["first", "third"]
    with sessions() as session:
        deliveries = session.scalars(select(Operation).where(Operation.kind == "callback.deliver")).all()
        event_ids = set(session.scalars(select(Event.id)))
    assert {d.payload["event_id"] for d in deliveries} == event_ids
