"""The `inbound.poll` and `inbound.catch_up` handlers alone, against the emulator, with a made-up
context and no database: what they read from Jira and the changes they hand to
`service/inbound_sync` (which applies them, tests/integration/service/test_inbound_sync_apply.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.domain.inbound import project_sync
from jirabridge.domain.operations import CatchUpStatuses, PollProject
from jirabridge.domain.outcomes import Done, IssuesCaughtUp, Job, Outcome, ProjectPolled
from jirabridge.jira import BasicTokenAuth, JiraClient, adf
from jirabridge.service.inbound.inbound_sync import CatchUpPlan, PollPlan
from jirabridge.workers.inbound_catch_up import CatchUp
from jirabridge.workers.inbound_poll import Poll

ACME = "https://acme.atlassian.net"
SITE = "st_1"
BOT = ("bot@acme.test", "bot-token")
NOW = datetime.now(UTC).replace(microsecond=0)


class FixedClock:
    def now(self) -> datetime:
        return NOW


class FakeClients:
    """The site's client: the bot's, on the emulator."""

    def __init__(self, emulator: FastAPI) -> None:
        self.emulator = emulator
        self.opened = 0

    @contextlib.asynccontextmanager
    async def client(self, site_id: str, *, workspace_id: str | None = None) -> AsyncIterator[JiraClient]:
        self.opened += 1
        transport = httpx.ASGITransport(app=self.emulator)
        async with JiraClient(ACME, BasicTokenAuth(*BOT), transport=transport) as client:
            yield client


@pytest.fixture
def clients(emulator: FastAPI) -> FakeClients:
    return FakeClients(emulator)


async def new_issues(clients: FakeClients, count: int) -> list[str]:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Changed"}
    async with clients.client(SITE) as client:
        return [(await client.issues.create(fields)).key for _ in range(count)]


async def poll(clients: FakeClients, settings: dict[str, str], *, page_size: int = 100) -> Outcome:
    op = PollProject(SITE, "WEB")
    job = Job("op_1", "ws_1", SITE, op.KIND, op, 1, None)
    plan = PollPlan(SITE, "WEB", NOW - timedelta(minutes=5), project_sync(settings))
    return await Poll(FixedClock(), clients, page_size=page_size)(job, plan)


def polled(outcome: Outcome) -> ProjectPolled:
    assert isinstance(outcome, Done) and isinstance(outcome.value, ProjectPolled), outcome
    return outcome.value


async def test_a_poll_returns_every_changed_issue_oldest_first_across_pages(clients: FakeClients) -> None:
    keys = await new_issues(clients, 5)

    outcome = await poll(clients, {"status_sync": "two_way"}, page_size=2)

    found = polled(outcome)
    assert [c.key for c in found.changes if c.key in keys] == keys
    assert all(c.status == "To Do" and c.status_category == "new" for c in found.changes)
    assert all(c.comments is None for c in found.changes)  # comment sync is off: not asked for
    assert found.until == NOW  # the poll's start becomes the watermark
    assert isinstance(outcome, Done) and outcome.result is not None and outcome.result["pages"] >= 3


async def test_a_poll_with_comment_sync_reads_each_issues_comments(clients: FakeClients) -> None:
    [key] = await new_issues(clients, 1)
    async with clients.client(SITE) as client:
        await client.comments.add(key, adf.doc(adf.paragraph("seen in prod")))

    found = polled(await poll(clients, {"comment_sync": "inbound"}))

    [change] = [c for c in found.changes if c.key == key]
    assert change.comments is not None and [c.body for c in change.comments] == ["seen in prod"]


async def test_a_project_that_takes_nothing_from_jira_is_not_searched(clients: FakeClients) -> None:
    outcome = await poll(clients, {"status_sync": "outbound"})
    assert outcome == Done({"skipped": "inbound_off"})
    assert clients.opened == 0


async def test_a_catch_up_reads_only_the_parts_asked_of_the_issues_jira_still_has(
    clients: FakeClients,
) -> None:
    keys = await new_issues(clients, 2)
    op = CatchUpStatuses(SITE, "WEB", parts=("assignee",))
    job = Job("op_1", "ws_1", SITE, op.KIND, op, 1, None)

    outcome = await CatchUp(clients)(job, CatchUpPlan(SITE, "WEB", ("assignee",), (*keys, "WEB-999")))

    assert isinstance(outcome, Done) and isinstance(outcome.value, IssuesCaughtUp), outcome
    changes = outcome.value.changes
    assert sorted(c.key for c in changes) == sorted(keys)  # WEB-999 does not exist: left out
    assert all(c.has_assignee and c.status is None for c in changes)
    assert outcome.result == {"linked": 3, "found": 2, "parts": ["assignee"]}
