"""Running one job through its handler outside the worker, as the runner would: a step's `load` in
a unit of work (with the job's site read for the Jira pool, as the claim does), its `run`, then its
`apply` in another (the runner does the same inside the claim's and the record's transactions)."""

from __future__ import annotations

from dataclasses import replace

from jirabridge.bootstrap import Container
from jirabridge.domain.outcomes import Handler, Job, Outcome
from jirabridge.workers.steps import Step


async def run_job(container: Container, handler: Handler, job: Job) -> Outcome:
    with container.uow() as uow:
        if job.site_id is not None:  # the claim reads the job's site for its Jira client
            container.jira_pool.prime(uow, job.site_id)
        if isinstance(handler, Step):
            job = replace(job, context=handler.load(uow, job))
    if not isinstance(handler, Step):
        return await handler(job)
    outcome = await handler(job)
    with container.uow() as uow:
        handler.apply(uow, job, outcome, container.clock.now())
        uow.commit()
    return outcome
