"""Worklogs: authored by the caller, estimate adjustments, the 60-second minimum and the change feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integration.jira.jira_client_support import MakeClient, post_control, task
from jirabridge.jira import BadRequest, JiraClient, adf

STARTED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


async def remaining(client: JiraClient, key: str) -> int | None:
    value = (await client.issues.get(key, fields=["timetracking"])).fields.get("timetracking", {})
    seconds = value.get("remainingEstimateSeconds")
    return int(seconds) if seconds is not None else None


async def test_a_worklog_is_authored_by_the_connected_user(
    client: JiraClient, make_client: MakeClient
) -> None:
    key = (await client.issues.create(task())).key
    async with make_client("alice@acme.test", "alice-token") as alice:
        worklog = await alice.worklogs.add(
            key,
            started=STARTED,
            time_spent_seconds=3600,
            comment="Investigated the spike",
            properties={"jirabridge": {"entry": "te-1"}},
            adjust_estimate="new",
            new_estimate="3h",
        )
    assert worklog.author is not None and worklog.author.email_address == "alice@acme.test"
    assert worklog.started == STARTED and worklog.time_spent_seconds == 3600
    assert adf.to_text(worklog.comment) == "Investigated the spike"
    assert (await client.properties.worklog(key, worklog.id).get("jirabridge")).value == {"entry": "te-1"}
    assert await remaining(client, key) == 3 * 3600


async def test_update_and_delete_with_estimate_modes(client: JiraClient) -> None:
    key = (await client.issues.create(task())).key
    first = await client.worklogs.add(
        key, started=STARTED, time_spent_seconds=3600, adjust_estimate="new", new_estimate="4h"
    )
    assert await remaining(client, key) == 4 * 3600
    second = await client.worklogs.add(key, started=STARTED, time_spent_seconds=1800, adjust_estimate="leave")
    assert await remaining(client, key) == 4 * 3600
    updated = await client.worklogs.update(key, first.id, time_spent_seconds=7200, comment="longer")
    assert updated.time_spent_seconds == 7200 and await remaining(client, key) == 3 * 3600  # auto
    assert [w.id for w in await client.worklogs.list(key)] == [first.id, second.id]
    assert adf.to_text((await client.worklogs.get(key, first.id)).comment) == "longer"
    await client.worklogs.delete(key, second.id, adjust_estimate="manual", increase_by="30m")
    assert await remaining(client, key) == 3 * 3600 + 1800
    await client.worklogs.delete(key, first.id, adjust_estimate="new", new_estimate="1h")
    assert await client.worklogs.list(key) == [] and await remaining(client, key) == 3600


async def test_under_a_minute_is_refused(client: JiraClient) -> None:
    key = (await client.issues.create(task())).key
    with pytest.raises(BadRequest) as caught:
        await client.worklogs.add(key, started=STARTED, time_spent_seconds=59)
    assert "timeLogged" in caught.value.field_errors


async def test_the_change_feeds_see_updates_and_deletions(
    client: JiraClient, control: httpx.AsyncClient
) -> None:
    key = (await client.issues.create(task())).key
    since = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp() * 1000)
    kept = await client.worklogs.add(key, started=STARTED, time_spent_seconds=600)
    gone = await client.worklogs.add(key, started=STARTED, time_spent_seconds=900)
    await client.worklogs.delete(key, gone.id)
    await post_control(control, "/_emulator/clock", {"advance_s": 61})  # the feeds hide the last minute
    updated = [c async for c in client.worklogs.updated_since(since)]
    assert int(kept.id) in {c.worklog_id for c in updated}
    deleted = [c async for c in client.worklogs.deleted_since(since)]
    assert [c.worklog_id for c in deleted] == [int(gone.id)]
    fetched = await client.worklogs.by_ids([c.worklog_id for c in updated], with_properties=True)
    assert [w.id for w in fetched] == [kept.id]
