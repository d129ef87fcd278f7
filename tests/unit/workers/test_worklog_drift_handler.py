"""The `worklog.drift` handler on its own: a made-up plan, a stand-in for the site's client (its
worklog change feeds and `/worklog/list`), no database. What it returns is what
`service/worklog_drift.apply` compares with the entries (tests/integration/service/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from jirabridge import jira
from jirabridge.domain.operations import CheckWorklogDrift
from jirabridge.domain.outcomes import Done, Job, WorklogDriftEnded, WorklogsSeen
from jirabridge.domain.worklogs import Values
from jirabridge.service.worklogs.worklog_drift import DriftPlan
from jirabridge.workers.jira_worklog_drift import CheckDrift
from unit.workers.fakes import FixedClock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def page(ids: Sequence[int], since: int, until: int, *, last: bool) -> jira.WorklogChanges:
    return jira.WorklogChanges.model_validate(
        {
            "values": [{"worklogId": i, "updatedTime": until} for i in ids],
            "since": since,
            "until": until,
            "lastPage": last,
        }
    )


class Worklogs:
    """The site's worklog feeds: updated 101 and 102 (in two pages) and 103; deleted 103."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def updated_page(self, since: int) -> jira.WorklogChanges:
        self.calls.append(("updated", since))
        if since < 2000:
            return page([101, 102], since, 2000, last=False)
        return page([103], since, 3000, last=True)

    async def deleted_page(self, since: int) -> jira.WorklogChanges:
        self.calls.append(("deleted", since))
        return page([103], since, 2500, last=True)

    async def by_ids(self, ids: Sequence[int]) -> list[jira.Worklog]:
        self.calls.append(("list", list(ids)))
        return [  # 102 is gone by now: Jira no longer returns it
            jira.Worklog.model_validate(
                {
                    "id": "101",
                    "issueId": "1",
                    "started": T0.isoformat(),
                    "timeSpentSeconds": 7200,
                    "comment": "x",
                }
            )
        ]


class Client:
    def __init__(self) -> None:
        self.worklogs = Worklogs()


class Pool:
    """The Jira pool, as far as the handler uses it."""

    def __init__(self) -> None:
        self.handed: list[Client] = []

    @asynccontextmanager
    async def client(self, site_id: str, *, workspace_id: str | None = None) -> AsyncIterator[Client]:
        self.handed.append(Client())
        yield self.handed[-1]


def job() -> Job:
    op = CheckWorklogDrift("st_1")
    return Job("op_1", "ws_1", "st_1", op.KIND, op, 1, None)


async def test_the_worklogs_the_feeds_list_are_read_once_and_the_deleted_ones_not_at_all() -> None:
    pool = Pool()
    outcome = await CheckDrift(pool, FixedClock(T0))(job(), DriftPlan("st_1", True, 1000, 1500))  # type: ignore[arg-type]

    assert pool.handed[0].worklogs.calls == [
        ("updated", 1000),
        ("updated", 2000),
        ("deleted", 1500),
        ("list", [101, 102]),
    ]
    assert isinstance(outcome, Done)
    assert outcome.value == WorklogsSeen(
        updated={"101": Values(7200, T0, "x"), "102": None},
        deleted=frozenset({"103"}),
        updated_until_ms=3000,
        deleted_until_ms=2500,
        read_at=T0,
    )


async def test_a_site_s_first_check_reads_from_ten_minutes_before_it_started() -> None:
    pool = Pool()
    await CheckDrift(pool, FixedClock(T0 + timedelta(days=1)))(job(), DriftPlan("st_1", True))  # type: ignore[arg-type]

    start = T0_MS + 24 * 3600 * 1000 - 10 * 60 * 1000
    assert pool.handed[0].worklogs.calls[0] == ("updated", start)
    assert ("deleted", start) in pool.handed[0].worklogs.calls


async def test_a_site_no_longer_connected_ends_its_check_without_a_call() -> None:
    pool = Pool()
    outcome = await CheckDrift(pool, FixedClock(T0))(job(), DriftPlan("st_1", connected=False))  # type: ignore[arg-type]

    assert outcome == Done({"skipped": "site_disconnected"}, value=WorklogDriftEnded())
    assert pool.handed == []
