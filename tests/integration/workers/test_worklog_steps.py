"""`worklog.sync` as a step: the marker of a create is on the entry before Jira is called (it commits
with the claim), so a worker that dies after Jira made the worklog — before it recorded anything —
leaves the next worker to find that worklog and adopt it, never to make a second."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session

from integration.api.test_time_entries import Timesheet
from jirabridge.bootstrap import Container, handlers
from jirabridge.domain.operations import SyncWorklog
from jirabridge.domain.outcomes import Done, Job, WorklogWritten
from jirabridge.service.core.unit_of_work import JoinedUnitOfWork
from jirabridge.storage import outbox
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from jirabridge.workers.steps import Step
from support.host import connect_host


async def test_a_worker_that_dies_after_jira_made_the_worklog_leaves_exactly_one(
    api: httpx.AsyncClient, emulator: FastAPI, container: Container
) -> None:
    host = await connect_host(api, emulator, container, Timesheet)  # no worker runs yet
    key = await host.issue()
    await host.connect("u-alice")
    await host.entry("te-1", description=key)
    step = handlers(container)[SyncWorklog.KIND]
    assert isinstance(step, Step)

    def prepare(session: Session, job: Job) -> Job:
        if job.kind != SyncWorklog.KIND:
            return job
        return replace(job, context=step.load(JoinedUnitOfWork(session), job))

    # The first worker claims it (the plan reserves the create's marker with the claim), makes the
    # worklog in Jira, and dies before it records the outcome: nothing of its answer is stored.
    jobs = outbox.claim(
        container.sessions,
        worker_id="w-dead",
        now=container.clock.now(),
        limit=20,
        lease_s=0.2,
        prepare=prepare,
    )
    [job] = [j for j in jobs if j.kind == SyncWorklog.KIND]
    first = await step(job)
    assert isinstance(first, Done) and isinstance(first.value, WorklogWritten)
    assert len(host.worklogs(key)) == 1
    await asyncio.sleep(0.3)  # its lease runs out

    # Another worker takes the operation over.
    survivor = Worker(
        SqlQueue(container.sessions), handlers(container), container.clock, WorkerOptions(poll_s=0.05)
    )
    task = asyncio.create_task(survivor.run())
    try:
        await host.settle(limit_s=30)
    finally:
        survivor.stop()
        await task

    [worklog] = host.worklogs(key)
    assert worklog.id == first.value.worklog_id
    shown: dict[str, Any] = await host.worklog("te-1")
    assert (shown["state"], shown["worklog_id"]) == ("synced", worklog.id)
    assert [e["data"]["action"] for e in await host.events("worklog.synced")] == ["adopted"]
    assert host.remaining(key) == 4 * 3600 - 1800  # the time was logged once
