"""Running one job through its handler outside the worker, as the runner would: a step's `load` in
a unit of work, its `run`, then its `apply` in another (the runner does the same inside the claim's
and the record's transactions)."""

from __future__ import annotations

from dataclasses import replace

from jirabridge.bootstrap import Container
from jirabridge.domain.outcomes import Handler, Job, Outcome
from jirabridge.workers.steps import Step


async def run_job(container: Container, handler: Handler, job: Job) -> Outcome:
    if not isinstance(handler, Step):
        return await handler(job)
    with container.uow() as uow:
        job = replace(job, context=handler.load(uow, job))
    outcome = await handler(job)
    with container.uow() as uow:
        handler.apply(uow, job, outcome, container.clock.now())
        uow.commit()
    return outcome
