"""jirabridge's own writes never come back as Jira changes, whatever order Jira's reports arrive in: the
worker against the emulator in process, on SQLite and PostgreSQL.

The race: the host moves an item on; before jirabridge's transition (or assignment) reaches Jira, some
other write touches the issue (jirabridge's own remote link, say) and Jira reports the issue as it was
then — in its old status, with its old assignee. That report is queued behind the outbound operation
(inbound sync waits for outbound work on the issue) and applied after it. It is older than
jirabridge's write, so it must change nothing: no status or assignee flipped back, no event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from jirabridge.bootstrap import Container, handlers
from jirabridge.domain import inbound as domain
from jirabridge.domain.outcomes import Handler
from jirabridge.service.inbound import inbound
from jirabridge.storage.tables import Operation, Site
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.host import emulator_control
from support.rows import a_link, an_item, store
from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
    "assignee_sync": "two_way",
}


class World:
    def __init__(
        self, api: httpx.AsyncClient, container: Container, emulator: FastAPI, tenant: Tenant, site_id: str
    ) -> None:
        self.api, self.container, self.emulator = api, container, emulator
        self.tenant, self.site_id = tenant, site_id
        # One set of handlers for every drain, as in a running worker: what a handler remembers
        # (the transitions of a workflow) carries from one operation to the next.
        self.handlers: dict[str, Handler] = handlers(container)

    async def drain(self) -> None:
        options = WorkerOptions(once=True, poll_s=0.05)
        await Worker(SqlQueue(self.container.sessions), self.handlers, self.container.clock, options).run()

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        answer = await self.api.request(method, path, json=body, headers=self.tenant.headers())
        assert answer.status_code < 300, answer.text
        return answer

    async def jira(self, method: str, path: str, body: Any = None) -> Any:
        """As the site's own account (the bot): what jirabridge itself writes looks like this."""
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator),
            base_url=ACME,
            auth=("bot@acme.test", "bot-token"),
        ) as client:
            answer = await client.request(method, f"/rest/api/3{path}", json=body)
            assert answer.is_success, answer.text
            return answer.json() if answer.content else None

    async def ticket(self, item_id: str) -> str:
        """Item `item_id` (Open, unassigned) linked to a new issue in To Do, as a ticket create leaves it."""
        created = await self.jira(
            "POST",
            "/issue",
            {"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": item_id}},
        )
        key = str(created["key"])
        task = self.emulator.state.emulator.sites["acme"].projects["WEB"].issue_type("Task")
        now = datetime.now(UTC)
        item = an_item(self.tenant.workspace_id, item_id, at=now)
        link = a_link(
            item,
            id=f"lk_{item_id}",
            site_id=self.site_id,
            issue_key=key,
            issue_type_id=task.id,
            created_by_jirabridge=True,
            at=now,
        )
        store(self.container, item, link)
        return key

    async def host_changes(self, item_id: str, **fields: Any) -> None:
        """The host's PUT of the item: it queues the Jira work the change implies."""
        await self.call(
            "PUT", f"/api/v1/items/error/{item_id}", {"title": item_id, "status": "Open"} | fields
        )

    async def touched_by_jirabridge(self, key: str) -> domain.IssueSnapshot:
        """jirabridge's remote link on the issue, and Jira's report of the issue as that write left it."""
        await self.jira(
            "POST",
            f"/issue/{key}/remotelink",
            {"globalId": f"jirabridge:{key}", "object": {"url": "https://host.example/1", "title": key}},
        )
        issue = await self.jira("GET", f"/issue/{key}?fields=status,assignee,updated")
        fields = issue["fields"]
        assignee = fields.get("assignee")
        bot = self.emulator.state.emulator.account_by_email("bot@acme.test")
        return domain.IssueSnapshot(
            key=key,
            id=issue["id"],
            updated=datetime.fromisoformat(fields["updated"]),
            status=fields["status"]["name"],
            status_category=fields["status"]["statusCategory"]["key"],
            has_assignee=True,
            assignee=domain.JiraUser(assignee["accountId"]) if assignee else None,
            actor=domain.JiraUser(bot.account_id, bot.display_name),
        )

    def receive(self, change: domain.Change) -> bool:
        """Hand `change` in as the webhook receiver does; True when it was deferred."""
        with self.container.uow() as uow:
            site = uow.session.get(Site, self.site_id)
            assert site is not None
            received = inbound.receive(uow, self.container.clock.now(), site, change, source="webhook")
            uow.commit()
            return received.deferred

    async def item(self, item_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/v1/items/error/{item_id}")).json())

    async def events(self, kind: str) -> list[dict[str, Any]]:
        feed = (await self.call("GET", "/api/v1/events?limit=500")).json()["events"]
        return [e for e in feed if e["type"] == kind]

    def jira_issue(self, key: str) -> Any:
        return self.emulator.state.emulator.sites["acme"].issue_by_ref(key)

    def operations(self, kind: str) -> list[Operation]:
        with self.container.uow() as uow:
            return list(uow.session.scalars(select(Operation).where(Operation.kind == kind)))

    async def rest_calls(self) -> Callable[[], Awaitable[list[tuple[str, str]]]]:
        """Start counting the REST calls the emulator answers; the result reads them."""
        await emulator_control(
            self.emulator, "POST", "/faults", {"rules": [{"kind": "latency", "path": "^/rest/"}]}
        )

        async def read() -> list[tuple[str, str]]:
            hits = (await emulator_control(self.emulator, "GET", "/faults"))["hits"]
            return [(h["method"], h["path"]) for h in hits]

        return read


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container, emulator: FastAPI) -> World:
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT, "default_project": "WEB"}, headers=tenant.headers()
    )
    assert site.status_code == 201, site.text
    made = World(api, container, emulator, tenant, site.json()["id"])
    await made.call("PUT", f"/api/v1/sites/{made.site_id}/projects/WEB", SETTINGS)
    await made.drain()  # what saving the settings queued (webhooks, a first poll)
    return made


@pytest.mark.parametrize("transition", ["read first", "remembered"])
async def test_a_report_older_than_jirabridges_transition_changes_nothing(
    world: World, transition: str
) -> None:
    if transition == "remembered":
        # Another ticket of the workflow moved first: the transition from To Do is known, and the
        # status sync posts it without reading the issue.
        other = await world.ticket("e-0")
        await world.host_changes("e-0", status="Acknowledged")
        await world.drain()
        assert world.jira_issue(other).status == "In Progress"
    key = await world.ticket("e-1")
    await world.host_changes("e-1", status="Acknowledged")  # queues issue.sync_status
    stale = await world.touched_by_jirabridge(key)  # To Do, reported after the host's change
    calls = await world.rest_calls()

    assert world.receive(stale)  # deferred: the transition is still to run
    await world.drain()  # the transition, then the report

    assert world.jira_issue(key).status == "In Progress"
    assert (await world.item("e-1"))["status"] == "Acknowledged"
    assert await world.events("item.status_changed") == []
    assert (await world.item("e-1"))["links"][0]["jira_status"] == "In Progress"
    posts = [path for method, path in await calls() if method == "POST"]
    gets = [path for method, path in await calls() if method == "GET"]
    assert posts == [f"/rest/api/3/issue/{key}/transitions"]
    assert len(gets) == (0 if transition == "remembered" else 1)  # no call added to notice the race


async def test_a_report_older_than_jirabridges_assignment_changes_nothing(world: World) -> None:
    await world.call("PUT", "/api/v1/users/u-alice", {"email": "alice@acme.test"})
    key = await world.ticket("e-1")
    await world.host_changes("e-1", assignee="u-alice")  # queues issue.assign
    stale = await world.touched_by_jirabridge(key)  # unassigned, reported after the host's change
    alice = world.emulator.state.emulator.account_by_email("alice@acme.test").account_id

    assert world.receive(stale)
    await world.drain()

    assert world.jira_issue(key).assignee == alice
    assert (await world.item("e-1"))["assignee"] == "u-alice"
    assert await world.events("item.assignee_changed") == []


async def test_a_jira_change_made_after_jirabridges_transition_is_applied(world: World) -> None:
    key = await world.ticket("e-1")
    await world.host_changes("e-1", status="Acknowledged")
    await world.drain()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.emulator),
        base_url=ACME,
        auth=("alice@acme.test", "alice-token"),
    ) as alice:
        transitions = (await alice.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
        done = next(t for t in transitions if t["to"]["name"] == "Done")
        moved = await alice.post(
            f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": done["id"]}}
        )
        assert moved.status_code == 204
        issue = (await alice.get(f"/rest/api/3/issue/{key}?fields=status,updated")).json()
    report = domain.IssueSnapshot(
        key=key,
        id=issue["id"],
        updated=datetime.fromisoformat(issue["fields"]["updated"]),
        status="Done",
        status_category="done",
    )

    assert not world.receive(report)

    assert (await world.item("e-1"))["status"] == "Fixed"
    assert [e["data"]["to"] for e in await world.events("item.status_changed")] == ["Fixed"]
