"""The outbox on a real SQLite file and a real PostgreSQL: what a worker and an operator observe."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain import operations as ops
from jirabridge.domain.outcomes import Done, Fail, Job, Retry
from jirabridge.errors import Conflict, NotFound
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Event, Operation, Workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE_S = 30.0
SITE = "st_1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        for ws in ("ws_a", "ws_b"):
            session.add(Workspace(id=ws, name=ws, settings={}, created_at=T0))
        session.commit()
    yield factory
    engine.dispose()


def add(
    sessions: sessionmaker[Session],
    key: str,
    *,
    callback: bool = False,
    workspace: str = "ws_a",
    item: tuple[str, str] | None = None,
) -> str:
    """An operation on issue `key` (a status sync, or with `callback` the delivery of an event)."""
    op: ops.Operation = (
        ops.DeliverCallback("ev_1", workspace, item=item, issue_key=key)
        if callback
        else ops.SyncStatus(SITE, key, item=item)
    )
    with sessions() as session:
        operation = outbox.enqueue(session, op, workspace_id=workspace, now=T0)
        session.commit()
        return operation


def claim(
    sessions: sessionmaker[Session], seconds: float = 0, worker: str = "w1", limit: int = 10
) -> list[Job]:
    return outbox.claim(sessions, worker_id=worker, now=at(seconds), limit=limit, lease_s=LEASE_S)


def status(sessions: sessionmaker[Session], op_id: str) -> Operation:
    with sessions() as session:
        found = session.scalar(select(Operation).where(Operation.id == op_id))
        assert found is not None
        return found


def test_an_operation_exists_only_if_its_transaction_commits(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        outbox.enqueue(session, ops.SyncStatus(SITE, "WEB-1"), workspace_id="ws_a", now=T0)
        session.rollback()
    assert claim(sessions) == []

    op_id = add(sessions, "WEB-1")
    [job] = claim(sessions)
    assert (job.id, job.kind, job.operation, job.issue_key, job.attempts) == (
        op_id,
        "issue.sync_status",
        ops.SyncStatus(SITE, "WEB-1"),
        "WEB-1",
        1,
    )


def test_operations_on_one_issue_run_in_order_while_other_issues_proceed(
    sessions: sessionmaker[Session],
) -> None:
    first = add(sessions, "WEB-1")
    second = add(sessions, "WEB-1")
    other = add(sessions, "WEB-2")

    jobs = claim(sessions)
    assert [j.id for j in jobs] == [first, other]
    assert claim(sessions, worker="w2") == []  # the second waits for the first, even for another worker
    assert outbox.record(sessions, jobs[1], Done(), at(1), worker_id="w1") == "done"

    # A retry keeps its place: the second still waits while the first waits for its next attempt.
    assert outbox.record(sessions, jobs[0], Retry("rate_limited", after_s=60), at(1), worker_id="w1")
    assert claim(sessions, 2) == []

    [again] = claim(sessions, 61)
    assert again.id == first
    assert outbox.record(sessions, again, Done({"comment_id": "10001"}), at(62), worker_id="w1") == "done"
    assert [j.id for j in claim(sessions, 62)] == [second]
    assert status(sessions, first).result == {"comment_id": "10001"}


def test_a_failed_operation_no_longer_holds_back_the_next_one(sessions: sessionmaker[Session]) -> None:
    first = add(sessions, "WEB-1")
    second = add(sessions, "WEB-1")
    [job] = claim(sessions)
    outbox.record(sessions, job, Fail("issue_deleted", "WEB-1 is gone"), at(1), worker_id="w1")
    assert [j.id for j in claim(sessions, 1)] == [second]
    assert status(sessions, first).status == "failed"


def test_a_killed_workers_operation_is_claimed_again_when_its_lease_expires(
    sessions: sessionmaker[Session],
) -> None:
    op_id = add(sessions, "WEB-1")
    [lost] = claim(sessions, 0, worker="killed")
    assert claim(sessions, LEASE_S - 1, worker="w2") == []

    [job] = claim(sessions, LEASE_S + 1, worker="w2")
    assert job.id == op_id and job.attempts == 2

    # The first worker comes back late: its outcome must not overwrite the new attempt.
    assert outbox.record(sessions, lost, Fail("oops"), at(LEASE_S + 2), worker_id="killed") is None
    assert status(sessions, op_id).status == "running"
    assert outbox.record(sessions, job, Done(), at(LEASE_S + 3), worker_id="w2") == "done"


def test_a_running_worker_keeps_its_lease_by_extending_it(sessions: sessionmaker[Session]) -> None:
    op_id = add(sessions, "WEB-1")
    claim(sessions, 0, worker="w1")
    held = outbox.extend_leases(sessions, worker_id="w1", op_ids=[op_id], now=at(20), lease_s=LEASE_S)
    assert held == {op_id}
    assert claim(sessions, LEASE_S + 1, worker="w2") == []
    assert (
        outbox.extend_leases(sessions, worker_id="w2", op_ids=[op_id], now=at(21), lease_s=LEASE_S) == set()
    )


def test_extending_leases_does_not_wait_for_an_operation_being_recorded(
    sessions: sessionmaker[Session],
) -> None:
    # A worker's heartbeat extends the leases of its running operations while its recorder writes the
    # outcomes of some that just finished. Waiting for those rows deadlocked the two (each locking
    # the rows in its own order): the heartbeat failed, and a few failures let the worker's site
    # leases run out. It skips a row being recorded, and still counts it as the worker's.
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time: no row locks to wait for")
    recording, running = add(sessions, "WEB-1"), add(sessions, "WEB-2")
    claim(sessions, 0, worker="w1")
    with sessions() as recorder, recorder.begin():
        recorder.execute(select(Operation.id).where(Operation.id == recording).with_for_update())
        extended: list[set[str]] = []
        heartbeat = threading.Thread(
            target=lambda: extended.append(
                outbox.extend_leases(
                    sessions, worker_id="w1", op_ids=[recording, running], now=at(20), lease_s=LEASE_S
                )
            )
        )
        heartbeat.start()
        heartbeat.join(timeout=30)
        assert extended == [{recording, running}]  # done while the record still holds its row
    assert status(sessions, running).leased_until == at(20 + LEASE_S)


def test_retry_honours_retry_after_and_otherwise_backs_off(sessions: sessionmaker[Session]) -> None:
    told = add(sessions, "WEB-1")
    backed_off = add(sessions, "WEB-2")
    jobs = {j.id: j for j in claim(sessions)}
    outbox.record(sessions, jobs[told], Retry("rate_limited", after_s=120), at(0), worker_id="w1")
    outbox.record(sessions, jobs[backed_off], Retry("server_error"), at(0), worker_id="w1")

    assert told not in [j.id for j in claim(sessions, 119)]
    assert told in [j.id for j in claim(sessions, 121)]
    waited = status(sessions, backed_off)
    assert waited.reason == "server_error"
    # First retry: full jitter within the first step of the backoff (1 s).
    assert T0 <= waited.run_after.replace(tzinfo=UTC) <= at(1)


def test_a_paused_site_gives_its_attempt_back_and_holds_its_other_work_until_the_pause_ends(
    sessions: sessionmaker[Session],
) -> None:
    # A site out of quota for an hour: the job that found the pause made no call, so the attempt
    # does not count, and the site's other pending work waits as long instead of being claimed only
    # to find the same pause. Another site's work is not held back.
    paused = add(sessions, "WEB-1")
    same_site = add(sessions, "WEB-2")
    with sessions() as session:
        other_site = outbox.enqueue(session, ops.SyncStatus("st_2", "OPS-1"), workspace_id="ws_a", now=T0)
        session.commit()
    [job] = outbox.claim(sessions, worker_id="w1", now=at(0), limit=1, lease_s=LEASE_S)
    assert job.id == paused
    pause = Retry("site_paused", "the site is paused", after_s=3600, counted=False, whole_site=True)
    outbox.record(sessions, job, pause, at(0), worker_id="w1", max_attempts=1)

    after = status(sessions, paused)
    assert (after.status, after.reason, after.attempts) == ("pending", "site_paused", 0)
    held = status(sessions, same_site)
    assert (held.status, held.reason, held.attempts) == ("pending", "site_paused", 0)
    [running] = claim(sessions, 1)
    assert running.id == other_site
    outbox.record(sessions, running, Done(), at(2), worker_id="w1")
    assert claim(sessions, 3599) == []
    assert sorted(j.id for j in claim(sessions, 3601)) == sorted([paused, same_site])


def test_too_many_attempts_fail_for_good_and_a_retry_by_hand_puts_it_back(
    sessions: sessionmaker[Session],
) -> None:
    op_id = add(sessions, "WEB-1", item=("anomaly", "an-1"))
    for attempt in range(1, 4):
        [job] = outbox.claim(
            sessions, worker_id="w1", now=at(attempt * 10), limit=1, lease_s=LEASE_S, max_attempts=3
        )
        outbox.record(
            sessions,
            job,
            Retry("server_error", "HTTP 503", after_s=0),
            at(attempt * 10),
            worker_id="w1",
            max_attempts=3,
        )

    with sessions() as session:
        [failure] = outbox.list_failures(session, "ws_a")
        assert (failure.id, failure.reason, failure.attempts) == (op_id, "max_attempts", 3)
        assert "server_error: HTTP 503" in (failure.detail or "")
        assert outbox.list_failures(session, "ws_b") == []
        # The host learns it from the feed: no handler saw the last attempt run out.
        [event] = session.scalars(select(Event).where(Event.type == "sync.failed")).all()
        assert (event.workspace_id, event.data["reason"], event.data["operation_id"]) == (
            "ws_a",
            "max_attempts",
            op_id,
        )
        assert (event.item_type, event.item_id, event.issue_key) == ("anomaly", "an-1", "WEB-1")
    assert claim(sessions, 100) == []

    with sessions() as session:
        with pytest.raises(NotFound):
            outbox.retry_failure(session, "ws_b", op_id, at(100))
        outbox.retry_failure(session, "ws_a", op_id, at(100))
        session.commit()
    [job] = claim(sessions, 100)
    assert job.id == op_id and job.attempts == 1
    outbox.record(sessions, job, Done(), at(101), worker_id="w1")
    with sessions() as session:
        assert outbox.list_failures(session, "ws_a") == []
        with pytest.raises(Conflict):
            outbox.retry_failure(session, "ws_a", op_id, at(102))


def test_an_operation_that_keeps_killing_its_worker_fails_for_good(sessions: sessionmaker[Session]) -> None:
    op_id = add(sessions, "WEB-1", item=("anomaly", "an-1"))
    for attempt in range(3):
        start = attempt * (LEASE_S + 1)
        assert outbox.claim(sessions, worker_id="w", now=at(start), limit=1, lease_s=LEASE_S, max_attempts=3)
    assert (
        outbox.claim(sessions, worker_id="w", now=at(4 * LEASE_S), limit=1, lease_s=LEASE_S, max_attempts=3)
        == []
    )
    failed = status(sessions, op_id)
    assert (failed.status, failed.reason) == ("failed", "max_attempts")
    with sessions() as session:  # on the feed too, naming the item and the issue
        [event] = session.scalars(select(Event).where(Event.type == "sync.failed")).all()
        assert (event.data["operation_id"], event.item_id, event.issue_key) == (op_id, "an-1", "WEB-1")


def test_failures_page_with_a_cursor(sessions: sessionmaker[Session]) -> None:
    ids = [add(sessions, f"WEB-{n}") for n in range(3)]
    for job in claim(sessions):
        outbox.record(sessions, job, Fail("forbidden"), at(1), worker_id="w1")
    with sessions() as session:
        page = outbox.list_failures(session, "ws_a", limit=2)
        rest = outbox.list_failures(session, "ws_a", after=page[-1].seq, limit=2)
    assert [f.id for f in page + rest] == ids


def test_queue_depth_counts_outstanding_and_failed_work(sessions: sessionmaker[Session]) -> None:
    for n in range(3):
        add(sessions, f"WEB-{n}")
    jobs = claim(sessions, limit=2)
    outbox.record(sessions, jobs[0], Fail("forbidden"), at(1), worker_id="w1")
    with sessions() as session:
        assert outbox.queue_depth(session) == {"pending": 1, "running": 1, "failed": 1}


def test_operations_done_long_ago_are_pruned_and_everything_else_stays(
    sessions: sessionmaker[Session],
) -> None:
    old_done, old_failed, outstanding, recent_done = (add(sessions, f"WEB-{n}") for n in range(4))
    first = {job.id: job for job in claim(sessions, limit=2)}
    outbox.record(sessions, first[old_done], Done(), at(1), worker_id="w1")
    outbox.record(sessions, first[old_failed], Fail("forbidden"), at(1), worker_id="w1")
    week_later = at(1) + outbox.DONE_KEPT
    [late] = [
        job
        for job in claim(sessions, seconds=week_later.timestamp() - T0.timestamp())
        if job.id == recent_done
    ]
    outbox.record(sessions, late, Done(), week_later, worker_id="w1")

    pruned = outbox.prune_done(sessions, now=week_later + timedelta(seconds=1))

    assert pruned == 1
    with sessions() as session:
        left = set(session.scalars(select(Operation.id)))
    assert left == {old_failed, outstanding, recent_done}  # failures stay for the failures API


def test_concurrent_claimers_never_get_the_same_operation(sessions: sessionmaker[Session]) -> None:
    ids = [add(sessions, f"K-{n % 40}") for n in range(160)]
    claimed: Counter[str] = Counter()
    lock = threading.Lock()

    def work(worker: str) -> None:
        idle = 0
        while idle < 3:
            jobs = outbox.claim(sessions, worker_id=worker, now=at(0), limit=5, lease_s=LEASE_S)
            idle = 0 if jobs else idle + 1
            for job in jobs:
                with lock:
                    claimed[job.id] += 1
                assert outbox.record(sessions, job, Done(), at(0), worker_id=worker) == "done"

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)
    assert set(claimed.values()) == {1}


def test_a_failing_callback_endpoints_backoff_doubles_up_to_five_minutes_or_follows_retry_after(
    sessions: sessionmaker[Session],
) -> None:
    from jirabridge.storage import callbacks

    op_id = add(sessions, "WEB-1", callback=True)

    def failed(session: Session, seconds: float, retry_after_s: float | None) -> float:
        now = at(seconds)
        return callbacks.endpoint_failed(
            session, workspace_id="ws_a", op_id=op_id, reason="r", now=now, retry_after_s=retry_after_s
        )

    waits = []
    for n in range(11):
        with sessions() as session:
            waits.append(failed(session, n, None))
            session.commit()
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    with sessions() as session:
        told = failed(session, 20, 42)
        session.commit()
        assert told == 42
        assert callbacks.hold_until(session, "ws_a", at(20)) == at(20 + 2 * 42)
        callbacks.endpoint_answered(session, workspace_id="ws_a", now=at(21))
        session.commit()
        assert callbacks.hold_until(session, "ws_a", at(21)) is None


def test_two_deliveries_of_a_healthy_endpoint_failing_at_once_both_count(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    """Each delivery's failure is applied in the transaction that records it: the second to add the
    endpoint's row waits for the first's commit and counts on it, instead of failing to apply."""
    from jirabridge.storage import callbacks

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: two transactions never add the row at once")
    first_op = add(sessions, "WEB-1", callback=True, item=("anomaly", "an-1"))
    second_op = add(sessions, "WEB-2", callback=True, item=("anomaly", "an-2"))
    waits: list[float] = []

    def fail(session: Session, op_id: str) -> None:
        waits.append(
            callbacks.endpoint_failed(
                session, workspace_id="ws_a", op_id=op_id, reason="r", now=at(0), retry_after_s=None
            )
        )
        session.commit()

    with sessions() as first:
        callbacks.endpoint_failed(
            first, workspace_id="ws_a", op_id=first_op, reason="r", now=at(0), retry_after_s=None
        )
        first.flush()  # its row is added, not committed
        with sessions() as second:
            other = threading.Thread(target=fail, args=(second, second_op))
            other.start()
            other.join(timeout=0.5)
            assert other.is_alive()  # waiting for the first transaction
            first.commit()
            other.join()
    assert waits == [2.0]  # the endpoint's second failure in a row
