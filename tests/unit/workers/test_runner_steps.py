"""The worker runs a step in its three parts: `load` with the claim, `run` alone, `apply` with the
record of the outcome (workers/steps.py) — here against the in-memory outbox, no database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Fail, Job, Outcome, Retry
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.outbox import PrepareFailed
from jirabridge.workers.metrics import WorkerMetrics
from jirabridge.workers.runner import Worker, WorkerOptions
from jirabridge.workers.steps import Step
from unit.workers.fakes import FakeQueue, FixedClock

FAST = WorkerOptions(concurrency=4, poll_s=0.01, once=True)


class Journal:
    """A stand-in for the unit of work the outbox hands a step: it records what the step did."""

    def __init__(self) -> None:
        self.lines: list[str] = []


def step(journal: Journal, *, apply_raises: bool = False) -> Step[str]:
    def load(uow: UnitOfWork, job: Job) -> str:
        assert uow is journal  # type: ignore[comparison-overlap]
        journal.lines.append(f"load {job.operation.payload['issue']}")
        return f"plan for {job.operation.payload['issue']}"

    async def run(job: Job, plan: str) -> Outcome:
        journal.lines.append(f"run with {plan}")
        return Done({"issue": job.operation.payload["issue"]}, value=plan.upper())

    def apply(uow: Any, job: Job, outcome: Outcome, now: datetime) -> None:
        assert isinstance(outcome, Done)
        journal.lines.append(f"apply {outcome.value}")
        if apply_raises:
            raise ValueError("a bug in apply")

    return Step(load=load, run=run, apply=apply)


def worker(queue: FakeQueue, journal: Journal, **options: bool) -> Worker:
    queue.uow = journal
    return Worker(queue, {"k": step(journal, **options)}, FixedClock(), FAST, WorkerMetrics(), worker_id="w1")


async def test_a_step_reads_with_the_claim_runs_alone_and_applies_with_the_record() -> None:
    queue, journal = FakeQueue(), Journal()
    op_id = queue.add("k", key="WEB-1", issue="WEB-1")

    await worker(queue, journal).run()

    assert journal.lines == ["load WEB-1", "run with plan for WEB-1", "apply PLAN FOR WEB-1"]
    assert queue.row(op_id).status == "done"


async def test_an_apply_that_raises_is_recorded_as_a_retry_without_its_writes() -> None:
    queue, journal = FakeQueue(), Journal()
    op_id = queue.add("k", key="WEB-1", issue="WEB-1")
    queue_worker = worker(queue, journal, apply_raises=True)

    await queue_worker.run()

    [outcome] = queue.row(op_id).outcomes
    assert outcome == Retry("apply_error", "ValueError")
    assert queue.row(op_id).status == "pending"


async def test_a_job_whose_load_failed_is_retried_without_running() -> None:
    journal = Journal()
    retried = await step(journal)(
        Job("op_1", "ws", None, "k", Unknown("k", {}), 1, None, context=PrepareFailed("KeyError"))
    )
    assert isinstance(retried, Retry) and retried.reason == "handler_error"
    assert journal.lines == []


async def test_a_job_whose_payload_cannot_be_read_fails_for_good_without_load_run_or_apply() -> None:
    # A row of a step's kind whose payload lacks what the kind needs: retrying cannot help, so it
    # fails at once with `invalid_operation` (not after every attempt as a `handler_error`).
    queue, journal = FakeQueue(), Journal()
    op_id = queue.add("k", key="WEB-1", issue="WEB-1")
    queue.row(op_id).error = "the payload has no issue"

    await worker(queue, journal).run()

    assert journal.lines == []
    [outcome] = queue.row(op_id).outcomes
    assert outcome == Fail("invalid_operation", "the payload has no issue")
    assert queue.row(op_id).status == "failed"
