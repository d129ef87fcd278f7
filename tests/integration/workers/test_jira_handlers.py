"""The worker's Jira handlers for tickets against the emulator in-process, on SQLite and PostgreSQL.

Rows are set up directly (items, links, project settings), operations enqueued with the outbox, a
worker drains them (`once`), and the test looks at what a user would see: the issue in Jira, the link,
the events, the failures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import generate_latest
from sqlalchemy import event, select

from jira_emulator.state import Site as EmulatedSite
from jirabridge.bootstrap import Container, handlers
from jirabridge.domain import operations
from jirabridge.domain.outcomes import Done, Fail, IssueCreated, Job, Retry
from jirabridge.service.tickets.create_sync import CreatePlan
from jirabridge.service.tickets.items import link_json
from jirabridge.service.tickets.remote_link_sync import RemoteLinkPlan
from jirabridge.storage import outbox
from jirabridge.storage.tables import Base, Item, JiraCommentRef, Link, Operation, ProjectSettings, Site
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from jirabridge.workers.steps import Step
from support.clock import ManualClock
from support.dns import FakeResolver
from support.host import emulator_control
from support.rows import (
    TWO_WAY_STATUS,
    a_host_comment,
    a_link,
    a_pending_link,
    an_item,
    project_settings,
    store,
)
from support.service import Tenant, make_tenant
from support.steps import run_job

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
ALICE = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}
MARKER = "jb-0123456789ab"


@dataclass
class World:
    container: Container
    emulator: FastAPI
    api: httpx.AsyncClient
    tenant: Tenant
    site_id: str
    clock: ManualClock

    @property
    def acme(self) -> EmulatedSite:
        site: EmulatedSite = self.emulator.state.emulator.sites["acme"]
        return site

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        return await emulator_control(self.emulator, method, path, body)

    async def jira(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator),
            base_url=ACME,
            auth=("admin@acme.test", "admin-token"),
        ) as client:
            answer = await client.request(method, f"/rest/api/3{path}", json=body)
            assert answer.is_success, answer.text
            return answer.json() if answer.content else None

    async def drain(self) -> None:
        worker = Worker(
            SqlQueue(self.container.sessions),
            handlers(self.container),
            self.clock,
            WorkerOptions(once=True, poll_s=0.05),
            prime_site=self.container.jira_pool.prime,
            prime_user=self.container.jira_pool.prime_user,
        )
        await worker.run()

    def add(self, *rows: Base) -> None:
        store(self.container, *rows)

    def item(self, item_id: str, status: str | None, *, url: str | None = None) -> Item:
        return an_item(
            self.tenant.workspace_id,
            item_id,
            type="anomaly",
            title=f"Null rate spike {item_id}",
            status=status,
            url=url,
            at=self.clock.now(),
        )

    def link(self, link_id: str, item_id: str, issue_key: str | None, status: str | None = None) -> Link:
        """A link of item `item_id`: pending (its create to come) without an issue key."""
        item, now = self.item(item_id, None), self.clock.now()
        if issue_key is None:
            return a_pending_link(item, id=link_id, site_id=self.site_id, at=now)
        return a_link(item, id=link_id, site_id=self.site_id, issue_key=issue_key, jira_status=status, at=now)

    def settings(self, project: str = "WEB", **document: Any) -> ProjectSettings:
        settings = TWO_WAY_STATUS | document
        return project_settings(
            self.tenant.workspace_id, self.site_id, key=project, settings=settings, at=self.clock.now()
        )

    async def ticket(self, status: str) -> str:
        """Item an-1 in `status`, linked (lk_1) to a new issue in To Do; the project's settings saved."""
        key = await self.new_issue()
        self.add(self.item("an-1", status), self.settings(), self.link("lk_1", "an-1", key, "To Do"))
        return key

    async def tickets(self, count: int) -> list[str]:
        """Items an-0, an-1, ... (Open), each linked (lk_0, ...) to a new issue of its own in To Do."""
        keys = [await self.new_issue(f"Issue {n}") for n in range(count)]
        items = [self.item(f"an-{n}", "Open") for n in range(count)]
        self.add(
            *items,
            self.settings(),
            *(self.link(f"lk_{n}", f"an-{n}", key, "To Do") for n, key in enumerate(keys)),
        )
        return keys

    def enqueue(self, operation: operations.Operation) -> str:
        with self.container.uow() as uow:
            op = outbox.enqueue(
                uow.session, operation, workspace_id=self.tenant.workspace_id, now=self.clock.now()
            )
            uow.commit()
            return op

    def sync_status(self, key: str) -> str:
        return self.enqueue(operations.SyncStatus(self.site_id, key))

    def comment(self, key: str, text: str, marker: str) -> str:
        body = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
        }
        return self.enqueue(operations.AddComment(self.site_id, key, body, marker=marker))

    def operation(self, op_id: str) -> Operation:
        with self.container.uow() as uow:
            found = uow.session.scalar(select(Operation).where(Operation.id == op_id))
            assert found is not None
            return found

    def links(self) -> dict[str, Link]:
        with self.container.uow() as uow:
            return {link.id: link for link in uow.session.scalars(select(Link))}

    def set_status(self, item_id: str, status: str) -> None:
        with self.container.uow() as uow:
            item = uow.session.get(Item, (self.tenant.workspace_id, "anomaly", item_id))
            assert item is not None
            self.clock.advance(1)
            item.status = status
            item.updated_at = self.clock.now()
            uow.commit()

    async def events(self) -> list[dict[str, Any]]:
        answer = await self.api.get("/api/v1/events", headers=self.tenant.headers("member"))
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events

    async def new_issue(self, summary: str = "Existing") -> str:
        created = await self.jira(
            "POST",
            "/issue",
            {"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}},
        )
        return str(created["key"])

    async def connect_oauth(self) -> None:
        """Replace the API-token site by the same Jira site connected through OAuth (the app's consent)."""
        await self.api.delete(f"/api/v1/sites/{self.site_id}", headers=self.tenant.headers())
        started = await self.api.post(
            "/api/v1/sites", json={"url": ACME, "auth": {"type": "oauth"}}, headers=self.tenant.headers()
        )
        assert started.status_code == 202, started.text
        authorize = httpx.URL(started.json()["authorize_url"])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url="http://emulator"
        ) as client:
            consent = await client.get(
                f"{authorize.path}?{authorize.query.decode()}&login_hint=bot@acme.test"
            )
        back = httpx.URL(consent.headers["location"]).params
        done = await self.api.get("/oauth/callback", params={"code": back["code"], "state": back["state"]})
        assert done.status_code == 200, done.text
        self.site_id = done.json()["site"]["id"]

    def issue(self, key: str) -> Any:
        issue = self.acme.issue_by_ref(key)
        assert issue is not None
        return issue


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container, emulator: FastAPI) -> World:
    clock = ManualClock()
    container.clock = clock
    tenant = await make_tenant(api)
    answer = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT, "default_project": "WEB"}, headers=tenant.headers()
    )
    assert answer.status_code == 201, answer.text
    return World(container, emulator, api, tenant, answer.json()["id"], clock)


def create_op(
    world: World, link_id: str, *, summary: str = "Null rate spike", marker: str = MARKER, **extra: Any
) -> operations.CreateIssue:
    bug = world.acme.projects["WEB"].issue_type("Bug")
    assert bug is not None
    fields = {
        "project": {"key": "WEB"},
        "issuetype": {"id": bug.id},
        "summary": summary,
        "labels": ["anomalies", marker],
    } | extra
    return operations.CreateIssue(
        link_id=link_id,
        site_id=world.site_id,
        fields=fields,
        marker=marker,
        remote_link=operations.RemoteLinkTarget(
            "https://host.example/anomalies/42", "anomaly an-42: Null rate spike"
        ),
    )


def enqueue_create(world: World, link_id: str, **extra: Any) -> str:
    return world.enqueue(create_op(world, link_id, **extra))


def marked(world: World, marker: str = MARKER) -> list[Any]:
    return [i for i in world.acme.issues.values() if marker in i.labels]


async def count_calls(world: World) -> None:
    """From now on the emulator logs every REST call (a latency rule of 0 ms records its hits)."""
    await world.control("POST", "/faults", {"rules": [{"kind": "latency", "path": "^/rest/"}]})


async def posts(world: World) -> list[str]:
    hits = (await world.control("GET", "/faults"))["hits"]
    return [h["path"] for h in hits if h["method"] == "POST"]


def three_pending_tickets(world: World, **extra_of_second: Any) -> dict[str, str]:
    """Three items with a pending link each, their creates queued at once: {marker: operation id}."""
    world.add(world.settings(), *(world.item(f"an-{n}", None) for n in range(3)))
    world.add(*(world.link(f"lk_{n}", f"an-{n}", None) for n in range(3)))
    queued = {}
    for n in range(3):
        marker = f"jb-00000000000{n}"
        extra = extra_of_second if n == 1 else {}
        create = create_op(world, f"lk_{n}", summary=f"spike {n}", marker=marker, **extra)
        queued[marker] = world.enqueue(create)
    return queued


# -- issue.create ---------------------------------------------------------------------------------


async def test_create_makes_one_marked_issue_links_it_and_points_back(world: World) -> None:
    world.add(world.item("an-42", "Active", url="https://host.example/anomalies/42"), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    op = enqueue_create(world, "lk_1")

    await world.drain()

    [issue] = marked(world)
    assert world.operation(op).status == "done"
    link = world.links()["lk_1"]
    assert (link.issue_key, link.issue_id, link.sync_state) == (issue.key, issue.id, "synced")
    # The item was already Active: the follow-up status sync moved the new issue to In Progress.
    with world.container.uow() as uow:
        ops = [(o.kind, o.status, o.reason, o.detail) for o in uow.session.scalars(select(Operation))]
    assert issue.status == "In Progress", ops
    assert (link.jira_status, link.jira_status_category) == ("In Progress", "indeterminate")
    [remote] = issue.remote_links
    assert remote.global_id == f"jirabridge:{world.tenant.workspace_id}:anomaly:an-42"
    assert remote.object["url"] == "https://host.example/anomalies/42"
    created = [e for e in await world.events() if e["type"] == "ticket.created"]
    assert [(e["item"], e["issue_key"], e["data"]) for e in created] == [
        (
            {"type": "anomaly", "id": "an-42"},
            issue.key,
            {"issue_key": issue.key, "issue_url": f"{ACME}/browse/{issue.key}"},
        )
    ]


async def test_a_tickets_web_link_back_to_its_item_costs_no_operation_of_its_own(world: World) -> None:
    world.add(world.item("an-42", None), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    await world.drain()  # what connecting the site queued
    enqueue_create(world, "lk_1")

    queue = await counted_drain(world)

    [issue] = marked(world)
    assert [remote.object["url"] for remote in issue.remote_links] == ["https://host.example/anomalies/42"]
    # Made in the create's own attempt: one operation claimed and recorded for the whole ticket.
    assert (queue.claimed, queue.recorded) == (["issue.create"], ["issue.create"])


async def test_a_web_link_jira_refuses_in_the_creates_attempt_is_queued_and_made_later(world: World) -> None:
    world.add(world.item("an-42", None), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    # Refused in the create's attempt and in the first attempt of the operation queued for it.
    refuse = {"kind": "error", "status": 503, "method": "POST", "path": "/remotelink$", "count": 2}
    await world.control("POST", "/faults", {"rules": [refuse]})
    op = enqueue_create(world, "lk_1")

    await world.drain()

    [issue] = marked(world)
    assert world.operation(op).status == "done"  # the ticket is made: only its web link waits
    assert world.links()["lk_1"].issue_key == issue.key and issue.remote_links == []
    with world.container.uow() as uow:
        [backlink] = uow.session.scalars(select(Operation).where(Operation.kind == "issue.remote_link"))
    assert (backlink.status, backlink.reason) == ("pending", "jira_unavailable")

    world.clock.advance(60)
    await world.drain()

    assert [remote.object["url"] for remote in issue.remote_links] == ["https://host.example/anomalies/42"]
    assert world.operation(backlink.id).status == "done"


async def test_a_create_whose_answer_was_lost_makes_exactly_one_issue(world: World) -> None:
    world.add(world.item("an-42", None), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    await world.control("POST", "/sites/acme/index-lag", {"seconds": 2})
    await world.control(
        "POST",
        "/faults",
        {
            "rules": [
                {
                    "kind": "lost_answer",
                    "method": "POST",
                    "path": "/rest/api/3/issue$",
                    "count": 1,
                    "hang_s": 0.05,
                }
            ]
        },
    )
    op = enqueue_create(world, "lk_1")

    await world.drain()  # applied in Jira, answer lost: retried later
    assert len(marked(world)) == 1 and world.operation(op).status == "pending"

    world.clock.advance(5)
    await world.drain()  # not searchable yet (index lag): waits instead of creating again
    assert world.operation(op).reason == "create_unconfirmed"
    assert len(marked(world)) == 1 and world.links()["lk_1"].issue_key is None

    world.clock.advance(30)
    await world.control("POST", "/clock", {"advance_s": 3})
    await world.drain()  # now found by its marker label and adopted

    [issue] = marked(world)
    assert world.operation(op).status == "done"
    link = world.links()["lk_1"]
    assert (link.issue_key, link.sync_state, link.jira_status) == (issue.key, "synced", "To Do")
    assert [e["type"] for e in await world.events()].count("ticket.created") == 1


async def test_a_create_jira_refuses_fails_with_its_field_errors(world: World) -> None:
    world.add(world.item("an-42", None), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    op = enqueue_create(world, "lk_1", priority={"name": "Apocalyptic"})

    await world.drain()

    failed = world.operation(op)
    assert (failed.status, failed.reason) == ("failed", "bad_request")
    assert "priority" in (failed.detail or "")
    link = world.links()["lk_1"]
    assert link.sync_state == "failed" and "bad_request" in (link.last_error or "")
    assert marked(world) == []


# -- issue.create in bulk -------------------------------------------------------------------------


async def test_creates_due_together_go_to_jira_in_one_bulk_call(world: World) -> None:
    ops = three_pending_tickets(world)
    await count_calls(world)

    await world.drain()

    created = [path for path in await posts(world) if not path.endswith("/remotelink")]
    assert created == ["/rest/api/3/issue/bulk"]
    links = world.links()
    for n, (marker, op) in enumerate(ops.items()):
        [issue] = marked(world, marker)
        assert issue.summary == f"spike {n}"  # each operation got its own issue, not a neighbour's
        assert world.operation(op).status == "done"
        assert (links[f"lk_{n}"].issue_key, links[f"lk_{n}"].sync_state) == (issue.key, "synced")
        assert len(issue.remote_links) == 1
    assert [e["type"] for e in await world.events()].count("ticket.created") == 3


async def test_a_create_refused_within_a_bulk_call_fails_alone_with_its_field_errors(world: World) -> None:
    ops = three_pending_tickets(world, priority={"name": "Apocalyptic"})

    await world.drain()

    refused = world.operation(ops["jb-000000000001"])
    assert (refused.status, refused.reason) == ("failed", "bad_request")
    assert "priority" in (refused.detail or "")
    links = world.links()
    assert links["lk_1"].sync_state == "failed" and marked(world, "jb-000000000001") == []
    for n in (0, 2):
        [issue] = marked(world, f"jb-00000000000{n}")
        assert links[f"lk_{n}"].issue_key == issue.key and issue.summary == f"spike {n}"


async def test_a_bulk_create_whose_answer_was_lost_makes_exactly_one_issue_each(world: World) -> None:
    ops = three_pending_tickets(world)
    lost = {"kind": "lost_answer", "method": "POST", "path": "/issue/bulk$", "count": 1, "hang_s": 0.05}
    await world.control("POST", "/faults", {"rules": [lost]})

    await world.drain()  # all three applied in Jira, the answer lost: each retried on its own
    assert all(world.operation(op).status == "pending" for op in ops.values())
    world.clock.advance(40)
    await world.control("POST", "/clock", {"advance_s": 3})  # Jira's search index has caught up
    await world.drain()

    links = world.links()
    for n, (marker, op) in enumerate(ops.items()):
        [issue] = marked(world, marker)
        assert world.operation(op).status == "done" and links[f"lk_{n}"].issue_key == issue.key
    assert [e["type"] for e in await world.events()].count("ticket.created") == 3


# -- the create and remote-link handlers alone, with a made-up context --------------------------


def step_of(world: World, kind: str) -> Step[Any]:
    step = handlers(world.container)[kind]
    assert isinstance(step, Step)
    return step


def create_job(world: World, attempts: int) -> Job:
    op = create_op(world, "lk_gone")  # no link or operation row: the handler reads only its plan
    return Job("op_made_up", world.tenant.workspace_id, world.site_id, op.KIND, op, attempts, None)


async def test_a_retry_finding_no_marked_issue_within_the_grace_waits_and_creates_nothing(
    world: World,
) -> None:
    await count_calls(world)
    sent = world.clock.now() - timedelta(seconds=5)  # the default grace is 30 s
    plan = CreatePlan(linked=True, issue_key=None, create_sent_at=sent)

    outcome = await step_of(world, "issue.create").run(create_job(world, attempts=2), plan)

    assert isinstance(outcome, Retry) and outcome.reason == "create_unconfirmed"
    assert outcome.after_s == pytest.approx(25)
    assert await posts(world) == ["/rest/api/3/search/jql"]  # looked, did not create
    assert marked(world) == []


async def test_a_retry_adopts_the_issue_an_earlier_attempt_made(world: World) -> None:
    made = await world.jira(
        "POST",
        "/issue",
        {
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"name": "Bug"},
                "summary": "x",
                "labels": [MARKER],
            }
        },
    )
    await count_calls(world)
    plan = CreatePlan(linked=True, issue_key=None, create_sent_at=None, item=("anomaly", "an-42"))

    outcome = await step_of(world, "issue.create").run(create_job(world, attempts=2), plan)

    assert isinstance(outcome, Done)
    assert outcome.value == IssueCreated(made["key"], made["id"], "To Do", "new", backlinked=True)
    # Found by its marker, not made again; the adopted issue gets its web link back to the item.
    assert await posts(world) == ["/rest/api/3/search/jql", f"/rest/api/3/issue/{made['key']}/remotelink"]
    assert len(marked(world)) == 1


@pytest.mark.parametrize(
    ("plan", "result"),
    [
        (CreatePlan(linked=False, issue_key=None, create_sent_at=None), {"skipped": "link_removed"}),
        (CreatePlan(linked=True, issue_key="WEB-9", create_sent_at=None), {"issue_key": "WEB-9"}),
    ],
)
async def test_a_create_whose_link_is_gone_or_done_calls_nothing(
    world: World, plan: CreatePlan, result: dict[str, str]
) -> None:
    await count_calls(world)

    outcome = await step_of(world, "issue.create").run(create_job(world, attempts=1), plan)

    assert outcome == Done(result)
    assert (await world.control("GET", "/faults"))["hits"] == []


async def test_a_remote_link_to_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    key = await world.ticket("Open")
    await world.jira("DELETE", f"/issue/{key}")
    backlink = operations.AddRemoteLink(
        world.site_id,
        key,
        global_id=operations.remote_link_global_id(world.tenant.workspace_id, "anomaly", "an-1"),
        url="https://host.example/anomalies/1",
        title="anomaly an-1",
        item=("anomaly", "an-1"),
    )
    op = world.enqueue(backlink)

    await world.drain()

    assert (world.operation(op).status, world.operation(op).reason) == ("failed", "issue_not_found")
    assert world.links()["lk_1"].sync_state == "broken"
    assert [e["item"]["id"] for e in await world.events() if e["type"] == "link.broken"] == ["an-1"]


async def test_a_remote_link_for_an_issue_without_links_calls_nothing(world: World) -> None:
    await count_calls(world)
    op = operations.AddRemoteLink(world.site_id, "WEB-1", global_id="g", url="https://h/1", title="t")
    job = Job("op_made_up", world.tenant.workspace_id, world.site_id, op.KIND, op, 1, "WEB-1")

    outcome = await step_of(world, "issue.remote_link").run(job, RemoteLinkPlan(links=[]))

    assert outcome == Done({"skipped": "not_linked"})
    assert (await world.control("GET", "/faults"))["hits"] == []


# -- issue.sync_status ----------------------------------------------------------------------------


async def test_an_issue_already_in_the_target_status_gets_no_call(world: World) -> None:
    key = await world.ticket("Open")
    before = len(world.issue(key).changelog)

    op = world.sync_status(key)
    await world.drain()

    assert world.operation(op).status == "done"
    assert world.operation(op).result == {"skipped": "already_in_status", "status": "To Do"}
    assert len(world.issue(key).changelog) == before


async def test_no_allowed_transition_fails_visibly_and_leaves_jira_alone(world: World) -> None:
    key = await world.ticket("Resolved")  # To Do; Done is reachable only through In Progress
    before = len(world.issue(key).changelog)

    op = world.sync_status(key)
    await world.drain()

    failed = world.operation(op)
    assert (failed.status, failed.reason) == ("failed", "transition_not_allowed")
    assert failed.detail == "No transition from 'To Do' to 'Done'"
    assert world.issue(key).status == "To Do" and len(world.issue(key).changelog) == before
    [event] = [e for e in await world.events() if e["type"] == "sync.failed"]
    assert event["issue_key"] == key and event["item"] == {"type": "anomaly", "id": "an-1"}
    assert event["data"]["reason"] == "transition_not_allowed"
    assert event["data"]["detail"] == "No transition from 'To Do' to 'Done'"
    failures = (await world.api.get("/api/v1/sync/failures", headers=world.tenant.headers())).json()
    assert [f["reason"] for f in failures["failures"]] == ["transition_not_allowed"]


async def test_a_mapped_status_change_moves_the_issue(world: World) -> None:
    key = await world.ticket("Active")

    op = world.sync_status(key)
    await world.drain()

    assert world.operation(op).result == {"from": "To Do", "to": "In Progress"}
    assert world.issue(key).status == "In Progress"
    assert world.links()["lk_1"].jira_status == "In Progress"


@dataclass
class CountedQueue:
    """The SQL queue, telling the transactions its claims and records open from any other: each call
    runs on one thread, and the engine's `begin` event fires on the thread that opens a transaction."""

    queue: SqlQueue
    claimed: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # transactions opened by anything else
    _calls: threading.local = field(default_factory=threading.local)

    def began(self, connection: Any) -> None:
        if not getattr(self._calls, "queue", False):
            self.outside.append(threading.current_thread().name)

    def _counted(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        self._calls.queue = True
        try:
            return call(*args, **kwargs)
        finally:
            self._calls.queue = False

    def claim(self, **kwargs: Any) -> list[Job]:
        jobs: list[Job] = self._counted(self.queue.claim, **kwargs)
        self.claimed += [job.kind for job in jobs]
        return jobs

    def record(self, job: Job, *args: Any, **kwargs: Any) -> str | None:
        self.recorded.append(job.kind)
        status: str | None = self._counted(self.queue.record, job, *args, **kwargs)
        return status

    def extend(self, **kwargs: Any) -> set[str]:
        held: set[str] = self._counted(self.queue.extend, **kwargs)
        return held

    def prune(self, **kwargs: Any) -> int:
        pruned: int = self._counted(self.queue.prune, **kwargs)
        return pruned


async def counted_drain(world: World) -> CountedQueue:
    """Drain as `jirabridge worker` does (the site and the user read with the claim), telling the
    transactions of its claims and records from any other."""
    queue = CountedQueue(SqlQueue(world.container.sessions))
    worker = Worker(
        queue,
        handlers(world.container),
        world.clock,
        WorkerOptions(once=True, poll_s=0.05),
        prime_site=world.container.jira_pool.prime,
        prime_user=world.container.jira_pool.prime_user,
    )
    event.listen(world.container.engine, "begin", queue.began)
    try:
        await worker.run()
    finally:
        event.remove(world.container.engine, "begin", queue.began)
    return queue


async def test_a_status_sync_costs_its_claim_and_its_record_and_no_other_transaction(world: World) -> None:
    key = await world.ticket("Active")
    await world.drain()  # what connecting the site queued
    world.container.jira_pool.forget(world.site_id)  # nothing read before this claim
    op = world.sync_status(key)

    queue = await counted_drain(world)

    assert world.issue(key).status == "In Progress"
    assert world.operation(op).status == "done"
    assert (queue.claimed, queue.recorded) == (["issue.sync_status"], ["issue.sync_status"])
    # The links and the site were read in the claim, the outcome applied in the record: the handler
    # and its Jira client opened no transaction of their own.
    assert queue.outside == []


async def test_a_comment_posted_as_its_author_costs_its_claim_and_its_record_and_no_other_transaction(
    world: World,
) -> None:
    key = await world.ticket("Active")
    headers = world.tenant.headers()
    answer = await world.api.put("/api/v1/users/u-alice", json={"name": "Alice"}, headers=headers)
    assert answer.status_code == 200, answer.text
    answer = await world.api.post("/api/v1/users/u-alice/jira", json={"auth": ALICE}, headers=headers)
    assert answer.status_code == 201, answer.text
    await world.drain()  # what connecting the site and the user queued
    world.container.jira_pool.forget(world.site_id)  # nothing read before this claim
    body = {"type": "doc", "version": 1, "content": []}
    op = world.enqueue(
        operations.AddComment(world.site_id, key, body, author="u-alice", text="Looking into it")
    )

    queue = await counted_drain(world)

    assert (world.operation(op).status, world.operation(op).result) == (
        "done",
        {"comment_id": ANY, "as": "user"},
    )
    [comment] = world.issue(key).comments
    alice = world.emulator.state.emulator.account_by_email("alice@acme.test")
    assert comment.author == alice.account_id  # Jira shows Alice as its author
    assert (queue.claimed, queue.recorded) == (["issue.comment"], ["issue.comment"])
    # Alice's connection was read with the claim, as the site was: posting as her opened no
    # transaction of its own.
    assert queue.outside == []


async def test_a_site_disconnected_after_its_work_ran_fails_its_next_operation_without_a_call(
    world: World,
) -> None:
    key = await world.ticket("Active")
    world.sync_status(key)
    await world.drain()  # the worker has read the site, connected, and called it
    assert world.issue(key).status == "In Progress"
    answer = await world.api.delete(f"/api/v1/sites/{world.site_id}", headers=world.tenant.headers())
    assert answer.status_code == 204, answer.text
    await world.control("POST", "/faults", {"rules": [{"kind": "error", "status": 500}]})

    world.set_status("an-1", "Resolved")
    op = world.sync_status(key)
    await world.drain()

    assert (world.operation(op).status, world.operation(op).reason) == ("failed", "site_disconnected")
    assert (await world.control("GET", "/faults"))["hits"] == []
    assert world.issue(key).status == "In Progress"


async def test_a_grouped_ticket_is_done_only_when_every_item_is(world: World) -> None:
    key = await world.new_issue()
    await world.jira("POST", f"/issue/{key}/transitions", {"transition": {"id": "11"}})  # In Progress
    world.add(world.item("an-1", "Resolved"), world.item("an-2", "Active"), world.settings())
    world.add(world.link("lk_1", "an-1", key, "In Progress"), world.link("lk_2", "an-2", key, "In Progress"))

    world.sync_status(key)
    await world.drain()
    assert world.issue(key).status == "In Progress"  # an-2 is still open

    world.set_status("an-2", "Resolved")
    world.sync_status(key)
    await world.drain()
    assert world.issue(key).status == "Done"
    assert {link.jira_status for link in world.links().values()} == {"Done"}

    world.set_status("an-1", "Open")  # leaves done: the ticket follows it, an-2 keeps its status
    world.sync_status(key)
    await world.drain()
    assert world.issue(key).status == "To Do"
    assert {link.jira_status for link in world.links().values()} == {"To Do"}


async def test_a_rate_limited_call_is_retried_after_what_jira_asked(world: World) -> None:
    key = await world.ticket("Active")
    await world.control(
        "POST",
        "/faults",
        {
            "rules": [
                {
                    "kind": "error",
                    "status": 429,
                    "retry_after_s": 120,
                    "method": "GET",
                    "path": f"/issue/{key}",
                    "count": 1,
                }
            ]
        },
    )

    op = world.sync_status(key)
    await world.drain()

    waiting = world.operation(op)
    assert (waiting.status, waiting.reason) == ("pending", "rate_limited")
    run_after = waiting.run_after if waiting.run_after.tzinfo else waiting.run_after.replace(tzinfo=UTC)
    assert run_after == world.clock.now() + timedelta(seconds=120)
    assert world.issue(key).status == "To Do"


async def test_a_site_paused_for_long_gives_its_work_back_to_the_queue_instead_of_holding_the_worker(
    world: World,
) -> None:
    # Jira says the site is overloaded for ten minutes (503 + Retry-After: a site-wide pause). The
    # next job for the site makes no call and does not sleep ten minutes in one of the worker's
    # slots: it goes back to the queue until the pause ends, and the attempt does not count.
    first, second = await world.new_issue("first"), await world.new_issue("second")
    world.add(world.item("an-1", "Active"), world.item("an-2", "Active"), world.settings())
    world.add(world.link("lk_1", "an-1", first, "To Do"), world.link("lk_2", "an-2", second, "To Do"))
    overloaded = {"kind": "error", "status": 503, "retry_after_s": 600, "path": f"/issue/{first}", "count": 1}
    await world.control("POST", "/faults", {"rules": [overloaded]})
    told = world.sync_status(first)
    await world.drain()
    assert (world.operation(told).status, world.operation(told).reason) == ("pending", "jira_unavailable")
    await count_calls(world)

    held = world.sync_status(second)
    await asyncio.wait_for(world.drain(), timeout=60)

    waiting = world.operation(held)
    assert (waiting.status, waiting.reason, waiting.attempts) == ("pending", "site_paused", 0)
    run_after = waiting.run_after if waiting.run_after.tzinfo else waiting.run_after.replace(tzinfo=UTC)
    assert timedelta(seconds=590) <= run_after - world.clock.now() <= timedelta(seconds=600)
    calls = [hit for hit in (await world.control("GET", "/faults"))["hits"] if hit["kind"] == "latency"]
    assert calls == []  # no call reached Jira
    assert world.issue(second).status == "To Do"


async def test_an_oauth_site_that_spends_its_hourly_points_waits_for_the_hour_without_a_429(
    world: World,
) -> None:
    # The app's hourly points quota on the site is small. The worker reads what is left from Jira's
    # `Beta-RateLimit` answers and spreads the points over the rest of the hour instead of spending
    # them at the site's rate and running into a 429: a call whose turn is far off goes back to the
    # queue until then (attempts not counted, no worker slot held). Nothing is refused or duplicated.
    await world.connect_oauth()
    keys = await world.tickets(3)
    # The hour's first seconds on the emulator's clock (its quota hours follow the clock hour).
    await world.control("POST", "/clock", {"advance_s": 3602 - time.time() % 3600})
    quota = {"oauth_quota": {"tenant_points_per_hour": 400}}
    await world.control("POST", "/rate-limits", {"sites": {"acme": quota}})

    ops = [world.comment(keys[n % 3], f"Checked {n}", f"cm_{n}") for n in range(20)]
    await world.drain()

    rows = [world.operation(op) for op in ops]
    done = [row for row in rows if row.status == "done"]
    waiting = [row for row in rows if row.status == "pending"]
    assert waiting and len(done) + len(waiting) == 20  # none failed, none burnt an attempt
    assert {(row.reason, row.attempts) for row in waiting} == {("site_paused", 0)}
    for row in waiting:
        run_after = row.run_after if row.run_after.tzinfo else row.run_after.replace(tzinfo=UTC)
        assert timedelta(0) < run_after - world.clock.now() <= timedelta(hours=1, seconds=5)
    assert sum(len(world.issue(key).comments) for key in keys) == len(done)
    assert (await world.control("GET", "/rate-limits"))["rejections"] == {}


# -- issue.comment --------------------------------------------------------------------------------


async def test_a_comment_whose_answer_was_lost_is_added_once(world: World) -> None:
    key = await world.ticket("Open")
    item = world.item("an-1", "Open")
    world.add(a_host_comment(item, "cm_1", author="u-7", body="Looking into it", at=world.clock.now()))
    await world.control(
        "POST",
        "/faults",
        {
            "rules": [
                {
                    "kind": "lost_answer",
                    "method": "POST",
                    "path": "/rest/api/3/issue/[^/]+/comment$",
                    "count": 1,
                    "hang_s": 0.05,
                }
            ]
        },
    )

    op = world.comment(key, "Looking into it", "cm_1")
    await world.drain()
    assert world.operation(op).status == "pending" and len(world.issue(key).comments) == 1
    world.clock.advance(5)
    await world.drain()

    [comment] = world.issue(key).comments
    assert world.operation(op).status == "done"
    assert comment.properties["jirabridge"] == {"marker": "cm_1"}
    with world.container.uow() as uow:
        ref = uow.session.get(JiraCommentRef, (world.site_id, comment.id))
        assert ref is not None and (ref.item_comment_id, ref.issue_key, ref.source) == (
            "cm_1",
            key,
            "jirabridge",
        )


# -- a deleted issue, a disconnected site ---------------------------------------------------------


async def test_a_deleted_issue_breaks_its_links_and_later_work_fails_without_a_call(world: World) -> None:
    key = await world.new_issue()
    world.add(world.item("an-1", "Active"), world.item("an-2", "Active"), world.settings())
    world.add(world.link("lk_1", "an-1", key, "To Do"), world.link("lk_2", "an-2", key, "To Do"))
    await world.jira("DELETE", f"/issue/{key}")

    op = world.sync_status(key)
    await world.drain()

    failed = world.operation(op)
    assert (failed.status, failed.reason) == ("failed", "issue_not_found")
    links = world.links()
    assert {(link.sync_state, link.jira_status) for link in links.values()} == {("broken", None)}
    broken = [e for e in await world.events() if e["type"] == "link.broken"]
    assert sorted(e["item"]["id"] for e in broken) == ["an-1", "an-2"]
    shown = [link_json(link, ACME) for link in links.values()]  # as the items API renders them
    assert {(s["sync_state"], s["jira_status"]) for s in shown} == {("broken", "unknown")}

    # Any call to Jira now would answer 500 and count a hit: there must be none.
    await world.control("POST", "/faults", {"rules": [{"kind": "error", "status": 500}]})
    later = [world.comment(key, "Still there?", "cm_2"), world.sync_status(key)]
    await world.drain()

    for op_id in later:
        assert (world.operation(op_id).status, world.operation(op_id).reason) == ("failed", "link_broken")
    assert (await world.control("GET", "/faults"))["hits"] == []


async def test_a_disconnected_site_fails_without_a_call(world: World) -> None:
    key = await world.ticket("Active")
    answer = await world.api.delete(f"/api/v1/sites/{world.site_id}", headers=world.tenant.headers())
    assert answer.status_code == 204, answer.text
    await world.control("POST", "/faults", {"rules": [{"kind": "error", "status": 500}]})

    built = handlers(world.container)
    op = operations.SyncStatus(world.site_id, key)
    job = Job("op_x", world.tenant.workspace_id, world.site_id, op.KIND, op, 1, key)
    outcome = await run_job(world.container, built["issue.sync_status"], job)

    assert isinstance(outcome, Fail) and outcome.reason == "site_disconnected"
    assert (await world.control("GET", "/faults"))["hits"] == []


async def test_a_create_jira_refused_with_503_is_sent_again_without_waiting(world: World) -> None:
    world.add(world.item("an-42", None), world.settings())
    world.add(world.link("lk_1", "an-42", None))
    await world.control("POST", "/sites/acme/index-lag", {"seconds": 2})
    await world.control(
        "POST",
        "/faults",
        {
            "rules": [
                {"kind": "error", "status": 503, "method": "POST", "path": "/rest/api/3/issue$", "count": 1}
            ]
        },
    )
    op = enqueue_create(world, "lk_1")

    await world.drain()
    assert (world.operation(op).status, world.operation(op).reason) == ("pending", "jira_unavailable")
    world.clock.advance(5)
    await world.drain()  # nothing was applied: created at once, no wait for the search index

    [issue] = marked(world)
    assert world.operation(op).status == "done" and world.links()["lk_1"].issue_key == issue.key


# -- OAuth sites ----------------------------------------------------------------------------------


async def test_an_oauth_site_refreshes_once_for_concurrent_jobs_and_stores_the_new_tokens(
    world: World,
) -> None:
    await world.connect_oauth()
    keys = await world.tickets(3)
    await world.control("POST", "/oauth/expire-access-tokens", {})

    ops = [world.comment(key, "Checked", f"cm_{n}") for n, key in enumerate(keys)]  # run concurrently
    await world.drain()
    await world.control("POST", "/oauth/expire-access-tokens", {})
    ops.append(world.comment(keys[0], "Checked again", "cm_9"))  # with the stored, rotated tokens
    await world.drain()

    assert [world.operation(op).status for op in ops] == ["done"] * 4
    assert [len(world.issue(key).comments) for key in keys] == [2, 1, 1]


async def test_no_request_leaves_for_a_host_that_is_not_allowed(world: World) -> None:
    key = await world.ticket("Active")
    with world.container.uow() as uow:
        site = uow.session.get(Site, world.site_id)
        assert site is not None
        site.url = "https://jira.evil.example"  # a tampered row must not send the credentials there
        uow.commit()

    op = world.sync_status(key)
    await world.drain()

    assert (world.operation(op).status, world.operation(op).reason) == ("failed", "host_not_allowed")
    assert world.issue(key).status == "To Do"


async def test_every_jira_answer_is_counted_by_status(world: World) -> None:
    from jirabridge.workers.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    world.container.jira_pool.on_status.append(
        lambda status: metrics.jira_calls.labels(status=str(status)).inc()
    )
    world.add(world.item("an-1", None), world.settings())
    world.add(world.link("lk_1", "an-1", None))
    enqueue_create(world, "lk_1")
    await world.drain()
    assert metrics.jira_calls.labels(status="201")._value.get() >= 1  # the create (and its remote link)
    assert 'jirabridge_worker_jira_calls_total{status="201"}' in generate_latest(metrics.registry).decode()


async def test_a_site_whose_name_turns_internal_is_refused_when_the_worker_connects(
    world: World, resolver: FakeResolver
) -> None:
    world.add(world.settings(), world.item("an-1", None))
    world.add(world.link("lk_1", "an-1", None))
    await count_calls(world)
    resolver.answers["acme.atlassian.net"] = ["169.254.169.254"]  # DNS rebinding after the connect
    op = enqueue_create(world, "lk_1")

    await world.drain()

    failed = world.operation(op)
    assert (failed.status, failed.reason) == ("failed", "host_not_allowed")
    assert "acme.atlassian.net resolves to 169.254.169.254, a link-local address" in (failed.detail or "")
    assert (await world.control("GET", "/faults"))["hits"] == []  # nothing reached Jira


async def test_two_workspaces_connecting_one_jira_site_share_its_pacer(world: World) -> None:
    # The site leases give every connection of an address to one worker (storage/leases.py): that
    # worker paces them as one site, by the same key (`site_address`).
    other = await make_tenant(world.api, "Beta")
    answer = await world.api.post(
        "/api/v1/sites",
        json={"url": ACME + "/", "auth": BOT, "default_project": "WEB"},
        headers=other.headers(),
    )
    assert answer.status_code == 201, answer.text
    pool = world.container.jira_pool
    async with pool.client(world.site_id) as first, pool.client(answer.json()["id"]) as second:
        assert first.pacer is not None and first.pacer is second.pacer
    assert pool.pacer(ACME) is pool.pacer(ACME.upper() + "/")


async def test_a_site_handed_over_to_this_worker_waits_one_window_before_its_first_call(world: World) -> None:
    # Another worker called the site until it let it go; Jira still counts those calls for a second.
    # The first call here waits a pacing window, so the two workers together stay within the limit.
    pool = world.container.jira_pool
    await world.drain()  # what connecting the site queued
    pacer = pool.pacer(ACME)
    waited = pacer.stats.waited_s
    pool.handed_over([world.site_id])
    async with pool.client(world.site_id) as jira:
        await jira.myself()
    assert pacer.stats.waited_s - waited > pacer.window_s / 2
    # Only the first calls after the hand-over: once the window has passed, a call goes at once.
    await asyncio.sleep(pacer.window_s)
    waited = pacer.stats.waited_s
    async with pool.client(world.site_id) as jira:
        await jira.myself()
    assert pacer.stats.waited_s == waited
