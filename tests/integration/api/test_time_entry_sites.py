"""A time entry that names no site goes to the connected site its key's project is on, through the HTTP
API with two emulator sites (acme, the default, and globex), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.storage import schedules
from jirabridge.workers.runner import Worker
from support.host import BOT, Host, connect_host

GLOBEX = "https://globex.atlassian.net"
ADA = ("admin@acme.test", "admin-token")  # a member of both sites
START = "2024-01-15T09:00:00Z"


class TwoSites(Host):
    globex = ""

    async def entry(self, entry_id: str, status: int = 201, **fields: Any) -> dict[str, Any]:
        body = {"user": "u-ada", "started_at": START, "duration_s": 1800} | fields
        answer = await self.call("PUT", f"/api/v1/time-entries/{entry_id}", body)
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    async def get(self, entry_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/v1/time-entries/{entry_id}")).json())

    async def ops_issue(self) -> str:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url=GLOBEX, auth=ADA
        ) as jira:
            fields = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Rotate keys"}
            created = await jira.post("/rest/api/3/issue", json={"fields": fields})
            assert created.status_code == 201, created.text
            return str(created.json()["key"])


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> TwoSites:
    made = await connect_host(api, emulator, container, TwoSites)  # acme: the default site
    answer = await made.call("POST", "/api/v1/sites", {"url": GLOBEX, "auth": BOT})
    assert answer.status_code == 201, answer.text
    made.globex = answer.json()["id"]
    # Ada has a Jira connection on globex only.
    auth = {"type": "api_token", "email": ADA[0], "api_token": ADA[1]}
    answer = await made.call("POST", "/api/v1/users/u-ada/jira", {"site": made.globex, "auth": auth})
    assert answer.status_code == 201, answer.text
    await made.settle()  # the worker lists both sites' projects
    return made


async def test_an_entry_without_site_goes_where_its_keys_project_is(host: TwoSites) -> None:
    key = await host.ops_issue()
    entry = await host.entry("te-1", description=f"Rotated the keys {key}")
    assert entry["site"] == host.globex
    await host.settle()
    worklog = (await host.get("te-1"))["worklog"]
    assert (worklog["state"], worklog["issue_key"]) == ("synced", key)
    [logged] = host.emulator.state.emulator.sites["globex"].issue_by_ref(key).worklogs
    assert logged.time_spent_seconds == 1800


async def test_a_key_no_site_has_fails_naming_the_key_the_site_tried_and_site(host: TwoSites) -> None:
    entry = await host.entry("te-2", issue_key="ZZZ-9")
    assert entry["site"] == host.site_id  # the default, for want of a better one
    await host.settle()
    worklog = (await host.get("te-2"))["worklog"]
    assert worklog["state"] == "failed"  # not "waiting for the user to connect" on a site without ZZZ
    reason = worklog["reason"]
    assert reason.startswith(f"project_not_on_site: ZZZ-9 was tried on site {host.site_id}")
    assert "no connected site has project ZZZ" in reason and "`site`" in reason

    # Named a key on globex (and nothing of it in Jira yet), the entry moves there.
    key = await host.ops_issue()
    moved = await host.entry("te-2", status=200, issue_key=key)
    assert moved["site"] == host.globex
    await host.settle()
    assert (await host.get("te-2"))["worklog"]["state"] == "synced"


async def test_an_entry_sent_to_a_site_without_its_project_says_where_it_is(host: TwoSites) -> None:
    key = await host.ops_issue()
    entry = await host.entry("te-3", issue_key=key, site=host.site_id)
    assert entry["site"] == host.site_id
    await host.settle()
    worklog = (await host.get("te-3"))["worklog"]
    assert worklog["state"] == "failed"
    assert f"{key} was tried on site {host.site_id}" in worklog["reason"]
    assert f"project OPS is on {host.globex} ({GLOBEX})" in worklog["reason"]

    fixed = await host.entry("te-3", status=200, issue_key=key, site=host.globex)
    assert fixed["site"] == host.globex
    await host.settle()
    assert (await host.get("te-3"))["worklog"]["state"] == "synced"


async def test_entries_failed_for_a_missing_project_sync_once_a_listing_finds_it(host: TwoSites) -> None:
    await host.entry("te-4", issue_key="ZZZ-1", site=host.globex)
    await host.settle()
    assert (await host.get("te-4"))["worklog"]["state"] == "failed"

    # A Jira admin creates project ZZZ on globex, with its first issue; the next listing sees it.
    globex = host.emulator.state.emulator.sites["globex"]
    globex.projects["ZZZ"] = dataclasses.replace(globex.projects["OPS"], id="19999", key="ZZZ", next_number=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.emulator), base_url=GLOBEX, auth=ADA
    ) as jira:
        fields = {"project": {"key": "ZZZ"}, "issuetype": {"name": "Task"}, "summary": "New"}
        assert (await jira.post("/rest/api/3/issue", json={"fields": fields})).json()["key"] == "ZZZ-1"
    with host.container.sessions() as session:
        schedules.run_now(
            session, workspace_id=host.tenant.workspace_id, key_prefix="projects:", now=datetime.now(UTC)
        )
        session.commit()
    await host.settle()
    assert (await host.get("te-4"))["worklog"]["state"] == "synced"
