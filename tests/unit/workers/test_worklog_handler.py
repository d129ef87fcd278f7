"""The `worklog.sync` handler on its own: a made-up plan, a stand-in for the Jira pool, no database.
What it returns is what `service/worklog_sync.apply` records (tests/integration/service/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from jirabridge import jira
from jirabridge.adapters.jira_pool import UserNotConnected
from jirabridge.domain.operations import SyncWorklog as SyncWorklogOp
from jirabridge.domain.outcomes import Done, Job, Retry, WorklogNotWritten, WorklogUnchanged
from jirabridge.domain.worklogs import WAITING_REASON, State, Step, Values
from jirabridge.service.worklogs.worklog_sync import WorklogPlan
from jirabridge.workers.jira_worklogs import SyncWorklog

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CREATE = WorklogPlan(
    "te-1", "st_1", "WEB-1", user_id="u-alice", version=3, step=Step.CREATE, marker="wl_1",
    values=Values(1800, T0, "Fix login"),
)  # fmt: skip


class RefusingPool:
    """The Jira pool, as far as the handler uses it: every client it would hand out raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    @asynccontextmanager
    async def client_as_user(
        self, site_id: str, user_id: str, *, workspace_id: str | None = None
    ) -> AsyncIterator[Any]:
        raise self.error
        yield  # pragma: no cover


def job(attempts: int, max_attempts: int = 10) -> Job:
    op = SyncWorklogOp("te-1", "WEB-1", "st_1", item=("time_entry", "te-1"))
    return Job("op_1", "ws_1", "st_1", op.KIND, op, attempts, "WEB-1", max_attempts=max_attempts)


async def run(error: Exception, attempts: int = 1, plan: WorklogPlan = CREATE) -> Any:
    return await SyncWorklog(RefusingPool(error))(job(attempts, max_attempts=3), plan)  # type: ignore[arg-type]


async def test_a_paused_site_on_the_last_attempt_does_not_fail_the_entry_and_frees_the_unsent_create() -> (
    None
):
    outcome = await run(jira.SitePaused(30, site_wide=True), attempts=3)

    assert isinstance(outcome, Retry) and (outcome.reason, outcome.counted) == ("site_paused", False)
    # No call was made: the operation waits for the site, the entry keeps its state, and the create
    # this attempt reserved is forgotten (the next attempt reserves its own, without looking first).
    assert outcome.value == WorklogNotWritten(None, None, 3, unsent_marker="wl_1")


async def test_a_counted_retry_on_the_last_attempt_fails_the_entry_and_keeps_a_create_that_may_exist() -> (
    None
):
    request = httpx.Request("POST", "https://acme.atlassian.net/rest/api/3/issue/WEB-1/worklog")
    timeout = jira.JiraTimeout("Jira did not answer in time", request=request, maybe_applied=True)

    earlier = await run(timeout, attempts=2)
    assert isinstance(earlier, Retry) and earlier.value == WorklogNotWritten(None, None, 3)

    last = await run(timeout, attempts=3)
    assert isinstance(last, Retry) and last.reason == "jira_timeout"
    assert isinstance(last.value, WorklogNotWritten)
    assert (last.value.state, last.value.unsent_marker) == (State.FAILED, None)
    assert last.value.reason is not None and last.value.reason.startswith("jira_timeout")


async def test_a_user_without_a_connection_waits_and_frees_the_unsent_create() -> None:
    outcome = await run(UserNotConnected("st_1", "u-alice"))

    assert isinstance(outcome, Done)
    assert outcome.value == WorklogNotWritten(State.WAITING_FOR_USER_MAPPING, WAITING_REASON, 3, "wl_1")


@pytest.mark.parametrize(("skip", "settles"), [("drifted", True), ("entry_gone", False)])
async def test_a_plan_with_nothing_to_do_makes_no_call(skip: str, settles: bool) -> None:
    plan = WorklogPlan("te-1", "st_1", "WEB-1", skip=skip, settle=settles)
    outcome = await run(AssertionError("no client is asked for"), plan=plan)

    assert outcome == Done({"skipped": skip}, value=WorklogUnchanged() if settles else None)
