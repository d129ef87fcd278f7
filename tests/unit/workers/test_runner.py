"""The worker loop against an in-memory outbox: what runs, when, and what gets recorded."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import generate_latest

from jirabridge.domain.operations import SyncStatus, Unknown
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.storage.leases import Beat, LeaseTimes
from jirabridge.workers.metrics import WorkerMetrics
from jirabridge.workers.runner import (
    GC_YOUNG_THRESHOLD,
    Worker,
    WorkerOptions,
    calm_garbage_collector,
    site_cap,
)
from unit.workers.fakes import BatchFakeQueue, FakeQueue, FixedClock

FAST = WorkerOptions(concurrency=4, poll_s=0.01, once=True)


def worker(queue: FakeQueue, handlers: dict[str, Handler], options: WorkerOptions = FAST) -> Worker:
    return Worker(queue, handlers, FixedClock(), options, WorkerMetrics(), worker_id="w1")


async def done(job: Job) -> Outcome:
    assert isinstance(job.operation, Unknown)
    return Done({"seen": dict(job.operation.payload)})


async def test_runs_due_operations_and_records_their_outcomes() -> None:
    queue = FakeQueue()
    ok = queue.add("jira.comment", text="hi")
    refused = queue.add("jira.transition")

    async def transition(job: Job) -> Outcome:
        return Fail("transition_not_allowed", "No transition from 'Done' to 'Open'")

    await worker(queue, {"jira.comment": done, "jira.transition": transition}).run()

    assert queue.row(ok).outcomes == [Done({"seen": {"text": "hi"}})]
    assert queue.row(refused).status == "failed"


async def test_an_unknown_kind_fails_for_good() -> None:
    queue = FakeQueue()
    op_id = queue.add("from.the.future")
    await worker(queue, {}).run()
    [outcome] = queue.row(op_id).outcomes
    assert isinstance(outcome, Fail) and outcome.reason == "unknown_kind"


async def test_an_operation_whose_payload_cannot_be_read_fails_for_good_without_retrying() -> None:
    queue = FakeQueue()
    op_id = queue.add("issue.sync_status")  # no site, no issue key: not a SyncStatus

    async def sync(job: Job) -> Outcome:
        job.operation_as(SyncStatus)
        return Done()

    await worker(queue, {"issue.sync_status": sync}).run()
    [outcome] = queue.row(op_id).outcomes
    assert isinstance(outcome, Fail) and outcome.reason == "invalid_operation"


async def test_a_handler_that_raises_is_retried_and_its_message_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FakeQueue()
    op_id = queue.add("jira.comment")

    async def leaky(job: Job) -> Outcome:
        raise RuntimeError("token=s3cr3t-value")

    with caplog.at_level(logging.INFO, logger="jirabridge.worker"):
        await worker(queue, {"jira.comment": leaky}).run()

    assert queue.row(op_id).outcomes == [Retry("handler_error", "RuntimeError")]
    assert f"outbox.job.error op={op_id} kind=jira.comment error=RuntimeError" in caplog.text
    assert "s3cr3t" not in caplog.text


async def test_a_handler_that_hangs_is_retried() -> None:
    queue = FakeQueue()
    op_id = queue.add("slow")

    async def hang(job: Job) -> Outcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    options = WorkerOptions(poll_s=0.01, once=True, job_timeout_s=0.05)
    await worker(queue, {"slow": hang}, options).run()
    [outcome] = queue.row(op_id).outcomes
    assert isinstance(outcome, Retry) and outcome.reason == "timeout"


async def test_runs_at_most_concurrency_operations_at_once() -> None:
    queue = FakeQueue()
    ids = [queue.add("work") for _ in range(10)]
    active = 0
    most = 0

    async def work(job: Job) -> Outcome:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.01)
        active -= 1
        return Done()

    await worker(queue, {"work": work}, WorkerOptions(concurrency=3, poll_s=0.01, once=True)).run()
    assert most == 3
    assert {queue.row(i).status for i in ids} == {"done"}


async def test_once_drains_operations_that_become_due_behind_others_on_the_same_issue() -> None:
    queue = FakeQueue()
    order: list[str] = []
    ids = [queue.add("step", key="WEB-1") for _ in range(3)]

    async def step(job: Job) -> Outcome:
        order.append(job.id)
        return Done()

    await worker(queue, {"step": step}).run()
    assert order == ids


async def test_once_leaves_work_that_is_not_due_yet() -> None:
    queue = FakeQueue()
    op_id = queue.add("limited")

    async def limited(job: Job) -> Outcome:
        return Retry("rate_limited", after_s=30)

    await worker(queue, {"limited": limited}).run()
    assert queue.row(op_id).status == "pending"
    assert len(queue.row(op_id).outcomes) == 1


async def test_stop_lets_running_operations_finish_and_claims_nothing_more() -> None:
    queue = FakeQueue()
    first = [queue.add("held") for _ in range(2)]
    started = asyncio.Event()
    release = asyncio.Event()

    async def held(job: Job) -> Outcome:
        started.set()
        await release.wait()
        return Done()

    running = worker(queue, {"held": held}, WorkerOptions(concurrency=2, poll_s=0.01))
    task = asyncio.create_task(running.run())
    await started.wait()
    later = queue.add("held")
    running.stop()
    claims = queue.claims
    release.set()
    await task

    assert [queue.row(i).status for i in first] == ["done", "done"]
    assert queue.row(later).status == "pending"
    assert queue.claims == claims


async def test_an_outcome_is_not_recorded_over_a_lease_taken_by_another_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FakeQueue()
    op_id = queue.add("work")
    queue.lose_leases = True
    metrics = WorkerMetrics()
    with caplog.at_level(logging.INFO, logger="jirabridge.worker"):
        await Worker(queue, {"work": done}, FixedClock(), FAST, metrics, worker_id="w1").run()
    assert queue.row(op_id).outcomes == []
    assert f"outbox.job.lost_lease op={op_id}" in caplog.text
    text = generate_latest(metrics.registry).decode()
    assert 'jirabridge_worker_operations_total{kind="work",outcome="lost_lease"} 1.0' in text


async def test_metrics_count_operations_by_kind_and_outcome() -> None:
    queue = FakeQueue()
    queue.add("jira.comment")
    queue.add("jira.comment")
    queue.add("jira.worklog")

    async def busy(job: Job) -> Outcome:
        return Retry("rate_limited", after_s=30)

    metrics = WorkerMetrics()
    handlers: dict[str, Handler] = {"jira.comment": done, "jira.worklog": busy}
    await Worker(queue, handlers, FixedClock(), FAST, metrics, worker_id="w1").run()

    text = generate_latest(metrics.registry).decode()
    assert 'jirabridge_worker_operations_total{kind="jira.comment",outcome="done"} 2.0' in text
    assert 'jirabridge_worker_operations_total{kind="jira.worklog",outcome="retry"} 1.0' in text
    assert 'jirabridge_worker_retries_total{kind="jira.worklog",reason="rate_limited"} 1.0' in text
    assert "jirabridge_worker_running_jobs 0.0" in text


class ClaimRacingQueue(FakeQueue):
    """A claim that answers from a moment when the issue's first operation was still running, while
    that operation finishes during the claim: the race a real database produces under load."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded = threading.Event()

    def claim(self, **kwargs: Any) -> list[Job]:
        jobs = super().claim(**kwargs)
        if not jobs and any(r.status == "running" for r in self.rows):
            self.recorded.wait(timeout=5)  # the running job is recorded meanwhile,
            time.sleep(0.2)  # and the worker has forgotten it before this stale answer arrives
        return jobs

    def record(
        self, job: Job, outcome: Outcome, now: datetime, *, worker_id: str, apply: Any = None
    ) -> str | None:
        status = super().record(job, outcome, now, worker_id=worker_id, apply=apply)
        self.recorded.set()
        return status


async def test_once_does_not_stop_on_a_claim_that_raced_a_finishing_job() -> None:
    queue = ClaimRacingQueue()
    first = queue.add("step", key="WEB-1")
    second = queue.add("step", key="WEB-1")
    release = asyncio.Event()

    async def step(job: Job) -> Outcome:
        if job.id == first:
            await release.wait()
        return Done()

    running = asyncio.create_task(worker(queue, {"step": step}).run())
    await asyncio.sleep(0.05)  # the first job runs; the next claim is blocked behind it
    release.set()
    await asyncio.wait_for(running, timeout=10)
    assert [queue.row(first).status, queue.row(second).status] == ["done", "done"]


async def test_a_running_worker_prunes_finished_operations_now_and_then() -> None:
    queue = FakeQueue()
    running = worker(queue, {}, WorkerOptions(poll_s=0.01, prune_every_s=0.02))
    task = asyncio.create_task(running.run())
    await asyncio.sleep(0.15)
    running.stop()
    await task

    assert queue.prunes >= 2


def test_the_worker_process_runs_with_a_calm_garbage_collector() -> None:
    # What exists when the worker starts is frozen out of full collections, and collections run after
    # many more new objects: a full one held the loop for 70-100 ms every few seconds before.
    before = gc.get_threshold()
    try:
        calm_garbage_collector()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class SlowLeases:
    """Site leases whose second heartbeat is still in its transaction when the worker stops."""

    times = LeaseTimes(heartbeat_s=0.01, dead_after_s=1, lease_ttl_s=1)

    def __init__(self) -> None:
        self.events: list[str] = []
        self.in_second = threading.Event()
        self.finish_second = threading.Event()

    def beat(self, **_: object) -> Beat:
        self.events.append("beat")
        if self.events.count("beat") == 2:
            self.in_second.set()
            self.finish_second.wait(timeout=10)
            self.events.append("second beat committed")
        empty: frozenset[str] = frozenset()
        return Beat(empty, empty, empty, empty, 1, empty)

    def leave(self, worker_id: str) -> None:
        self.events.append("leave")

    def backlogs(self, sites: object, now: object) -> dict[str, object]:
        return {}


async def test_a_stopping_worker_leaves_only_after_its_last_heartbeat_committed() -> None:
    leases = SlowLeases()
    options = WorkerOptions(concurrency=2, poll_s=30)  # idle: the loop waits, it does not claim
    runner = Worker(FakeQueue(), {}, FixedClock(), options, WorkerMetrics(), worker_id="w1", leases=leases)  # type: ignore[arg-type]
    running = asyncio.create_task(runner.run())
    await asyncio.to_thread(leases.in_second.wait, 10)

    runner.stop()
    await asyncio.sleep(0.1)  # the run ends meanwhile and wants to leave
    leases.finish_second.set()
    await asyncio.wait_for(running, 10)

    # Leaving deletes the worker's row and leases: a heartbeat committed after it would bring them back.
    assert leases.events[-2:] == ["second beat committed", "leave"]


async def test_outcomes_that_finish_together_are_recorded_together() -> None:
    queue = BatchFakeQueue()
    ids = [queue.add("jira.comment", text=str(n)) for n in range(4)]

    await worker(queue, {"jira.comment": done}).run()

    assert queue.batches == [4]  # one transaction for the four, not four
    assert [queue.row(i).status for i in ids] == ["done"] * 4


def staggered(step_s: float) -> Handler:
    """A handler whose n-th operation (its `text`) finishes n * `step_s` after it starts."""

    async def handler(job: Job) -> Outcome:
        assert isinstance(job.operation, Unknown)
        await asyncio.sleep(int(job.operation.payload["text"]) * step_s)
        return Done(None)

    return handler


@pytest.mark.parametrize("wait_s", [0.0, 0.5])
async def test_a_busy_worker_records_outcomes_finishing_soon_after_each_other_together(wait_s: float) -> None:
    queue = BatchFakeQueue()
    ids = [queue.add("jira.comment", text=str(n)) for n in range(8)]
    options = WorkerOptions(concurrency=8, poll_s=0.01, once=True, record_wait_s=wait_s)

    await worker(queue, {"jira.comment": staggered(0.02)}, options).run()

    assert [queue.row(i).status for i in ids] == ["done"] * 8
    if wait_s:  # the first outcome waited while seven others ran: one transaction for all eight
        assert queue.batches == [8]
    else:  # each written as soon as the recorder was free
        assert queue.batches != [8]


async def test_a_worker_with_little_running_records_an_outcome_without_waiting() -> None:
    queue = BatchFakeQueue()
    op_id = queue.add("jira.comment", text="0")
    options = WorkerOptions(concurrency=8, poll_s=0.01, once=True, record_wait_s=30)

    await asyncio.wait_for(worker(queue, {"jira.comment": done}, options).run(), 5)

    assert queue.row(op_id).status == "done"


async def test_a_batch_that_cannot_be_written_is_recorded_one_by_one() -> None:
    queue = BatchFakeQueue()
    queue.fail_batches = True
    ids = [queue.add("jira.comment", text=str(n)) for n in range(3)]

    await worker(queue, {"jira.comment": done}).run()

    assert queue.batches == [3]
    assert [queue.row(i).outcomes for i in ids] == [[Done({"seen": {"text": str(n)}})] for n in range(3)]


class FakeNudges:
    """Notifications of new work, sent by the test (`storage/outbox_nudges.py` on PostgreSQL)."""

    def __init__(self) -> None:
        self.wake: Any = None
        self.listening = asyncio.Event()

    async def listen(self, wake: Any) -> None:
        self.wake = wake
        self.listening.set()
        await asyncio.Event().wait()  # until cancelled


async def test_new_work_of_a_site_not_served_here_is_claimed_before_a_batch_of_slots_is_free() -> None:
    # Seven of eight slots hold a busy site's backlog; the worker claims again only once two are free
    # (a quarter), so a quiet site's change would wait for the backlog's calls. Announced by its
    # notification, it is claimed into the one free slot at once; work announced for the busy site
    # waits for the batch.
    queue = FakeQueue()
    release = asyncio.Event()
    ran: list[str] = []

    async def busy(job: Job) -> Outcome:
        await release.wait()
        return Done()

    async def quiet(job: Job) -> Outcome:
        ran.append(job.id)
        return Done()

    for n in range(7):
        queue.add("busy", site_id="st_busy", n=n)
    nudges = FakeNudges()
    options = WorkerOptions(concurrency=8, poll_s=3600)  # no poll: only a nudge or a finished job wakes it
    runner = Worker(
        queue, {"busy": busy, "quiet": quiet}, FixedClock(), options, WorkerMetrics(), nudges=nudges
    )
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(nudges.listening.wait(), 10)
        async with asyncio.timeout(10):
            while sum(r.status == "running" for r in queue.rows) < 7:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        claims = queue.claims

        nudges.wake(frozenset({"st_busy"}))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert queue.claims == claims  # the busy site's: with the next batch

        quiet_op = queue.add("quiet", site_id="st_quiet")
        nudges.wake(frozenset({"st_quiet"}))
        async with asyncio.timeout(10):
            while ran != [quiet_op]:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert all(r.status == "running" for r in queue.rows if r.kind == "busy")
    finally:
        release.set()
        runner.stop()
        await asyncio.wait_for(running, 10)


def test_a_sites_cap_is_about_a_second_of_its_pacing_and_never_below_four() -> None:
    assert [site_cap(rate) for rate in (0.5, 2, 5, 20, 50)] == [4, 4, 5, 20, 50]
