"""A host's whole integration through `jirabridge.client`, against the real service and the emulator in
process (on SQLite and PostgreSQL), with a worker running and the host's callback receiver checking
every delivery with `verify_callback`. Everything is asserted as the host or a Jira user sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jirabridge import bootstrap
from jirabridge import client as jb
from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app
from jirabridge.jira import adf
from jirabridge.workers.callbacks import make_deliver_handler
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.host import ACME, wait_until_idle
from support.service import PUBLIC_URL, SERVICE_TOKEN

BASE = "http://jirabridge.test"
SECRET = "host-callback-secret-0123456789"
HOOK = "https://host.test/jira-events"
BOT = jb.ApiTokenAuth(email="bot@acme.test", api_token="bot-token")
ALICE = jb.ApiTokenAuth(email="alice@acme.test", api_token="alice-token")
T = TypeVar("T")


@dataclass
class Receiver:
    """The host's callback endpoint: it takes a delivery only when `verify_callback` does."""

    events: list[jb.Event] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            try:
                event = jb.verify_callback(await request.body(), request.headers, SECRET)
            except jb.InvalidCallback as error:
                self.refused.append(str(error))
                return Response(status_code=401)
            if event.id not in {seen.id for seen in self.events}:  # at least once: deduplicate
                self.events.append(event)
            return Response(status_code=200)

        return Starlette(routes=[Route("/jira-events", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def running_worker(container: Container, receiver: Receiver) -> AsyncIterator[Worker]:
    """Every handler of the service, the callbacks delivered to the in-process receiver."""
    handlers = bootstrap.handlers(container)
    handlers["callback.deliver"] = make_deliver_handler(
        container, transport=httpx.ASGITransport(app=receiver.app())
    )
    worker = Worker(SqlQueue(container.sessions), handlers, container.clock, WorkerOptions(poll_s=0.05))
    task = asyncio.create_task(worker.run())
    yield worker
    worker.stop()
    await task


def connect(container: Container, token: str) -> jb.AsyncClient:
    return jb.AsyncClient(BASE, token, transport=httpx.ASGITransport(app=create_app(container)))


def unknown_fields(answer: object, where: str = "") -> list[str]:
    """Fields of an answer that the client's model does not declare (kept in `model_extra`)."""
    if isinstance(answer, list):
        return [f for n, a in enumerate(answer) for f in unknown_fields(a, f"{where}[{n}]")]
    if not isinstance(answer, BaseModel):
        return []
    found = [f"{where}.{name}" for name in answer.model_extra or {}]
    return found + [
        f
        for name in type(answer).model_fields
        for f in unknown_fields(getattr(answer, name), f"{where}.{name}")
    ]


async def until(check: Callable[[], Awaitable[T | None]], limit_s: float = 15) -> T:
    """What `check` answers once it answers something (a host polling for a ticket does the same)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while asyncio.get_running_loop().time() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_a_host_integrates_with_the_client_alone(
    container: Container, emulator: FastAPI, receiver: Receiver, running_worker: Worker
) -> None:
    jira = emulator.state.emulator.sites["acme"]

    # The operator: a workspace and its key, with the service token.
    async with connect(container, SERVICE_TOKEN) as service:
        workspace = await service.create_workspace("Acme")
        issued = await service.create_api_key(workspace.id, role="admin", name="host backend")
        assert issued.key is not None and issued.key.startswith("jb_")
        assert [k.id for k in await service.list_api_keys(workspace.id)] == [issued.id]

    async with connect(container, issued.key) as host:
        # Set-up: the site, the callback, the project's settings, a person's Jira account.
        site = await host.connect_site(ACME, BOT, default_project="WEB")
        assert (site.status, site.default) == ("connected", True)
        assert [s.id for s in await host.list_sites()] == [site.id]
        await host.put_settings({"callback": {"url": HOOK, "secret": SECRET}})
        assert (await host.get_settings())["callback"] == {"url": HOOK, "secret_set": True}
        status_map = {"Open": "To Do", "Acknowledged": "In Progress"}
        await host.put_project_settings(
            site.id,
            "WEB",
            {"default_issue_type": "Bug", "status_map": status_map, "comment_sync": "two_way"},
        )
        assert (await host.get_project_settings(site.id, "WEB"))["status_map"] == status_map
        await host.upsert_user("u-alice", email="alice@acme.test", name="Alice")
        alice = await host.connect_user("u-alice", ALICE)
        assert (alice.status, alice.site) == ("connected", site.id)

        # An item and its ticket, followed until Jira has it.
        item = await host.put_item(
            "error", "e-1", title="TypeError in checkout", status="Open", attributes={"service": "web-store"}
        )
        assert (item.title, item.links) == ("TypeError in checkout", [])
        created = await host.create_ticket("error", "e-1", summary="TypeError in checkout")

        async def ticket() -> str | None:
            links = (await host.get_item("error", "e-1")).links
            return links[0].issue_key if links and links[0].sync_state == "synced" else None

        key = created.issue_key if created.sync_state == "synced" else await until(ticket)
        assert key is not None and key.startswith("WEB-")
        issue = jira.issue_by_ref(key)
        assert issue is not None and issue.status == "To Do"

        # Another item linked to an issue that already exists, then unlinked.
        await host.put_item("error", "e-2", title="Second")
        linked = await host.link_issue("error", "e-2", f"{ACME}/browse/{key}")
        assert (linked.issue_key, linked.created_by_jirabridge) == (key, False)
        await host.unlink_issue("error", "e-2", key)
        assert (await host.get_item("error", "e-2")).links == []

        # A comment, by Alice, and a status change: Jira follows.
        comment = await host.add_comment("error", "e-1", "Fixed in 4.2", author="u-alice")
        assert [c.id for c in await host.list_comments("error", "e-1")] == [comment.id]
        await host.put_item("error", "e-1", title="TypeError in checkout", status="Acknowledged")
        await wait_until_idle(container, 15, emulator)
        assert [adf.to_text(c.body) for c in issue.comments] == ["Fixed in 4.2"]
        assert (
            issue.comments[0].author == emulator.state.emulator.account_by_email("alice@acme.test").account_id
        )
        assert issue.status == "In Progress"

        # A time entry becomes Alice's worklog on the issue.
        started = datetime(2024, 1, 15, 9, tzinfo=UTC)
        entry = await host.put_time_entry(
            "te-1", user="u-alice", started_at=started, duration_s=1800, description=f"Fix {key}"
        )
        assert (entry.issue_key, entry.worklog.state) == (key, "pending")
        await wait_until_idle(container, 15, emulator)
        entry = await host.get_time_entry("te-1")
        assert (entry.worklog.state, entry.worklog.issue_key, entry.worklog.seconds) == ("synced", key, 1800)
        assert [w.time_spent_seconds for w in issue.worklogs] == [1800]

        # Routing rules and what they would do with a new error.
        rule = jb.Rule(
            name="Web store",
            query="service:web-store",
            destination=jb.Destination(project="WEB", issue_type="Bug"),
        )
        saved = await host.put_rules([rule])
        assert [r["name"] for r in saved["rules"]] == ["Web store"]
        preview = await host.preview_rules("error", title="Timeout", attributes={"service": "web-store"})
        assert preview.rule is not None and preview.rule["name"] == "Web store"
        assert preview.would_create is not None and preview.would_create["project"] == "WEB"
        assert (await host.preview_rules("error", title="Other", attributes={"service": "x"})).rule is None

        # A page for a person of the host.
        session = await host.create_ui_session(
            "u-alice", "member", jb.ItemScope(item_type="error", item_id="e-1")
        )
        assert session.url.startswith(f"{PUBLIC_URL}/ui/start/") and session.expires_at > datetime.now(UTC)

        # The feed, page by page, is every event in order; a page of one follows `next` to the end.
        pages = [page async for page in host.iter_event_pages(limit=2)]
        feed = [event for page in pages for event in page.events]
        assert len(pages) > 2 and all(len(page.events) <= 2 for page in pages)
        assert [e.id for e in feed] == [e.id async for e in host.iter_events(limit=1)]
        assert {"link.created", "link.removed", "worklog.synced"} <= {e.type for e in feed}
        assert [e.id async for e in host.iter_events(pages[-1].next)] == []

        # Every event reached the host's callback, signed: verified, in feed order.
        await until(lambda: asyncio.sleep(0, result=True if len(receiver.events) >= len(feed) else None))
        assert [e.id for e in receiver.events] == [e.id for e in feed]
        assert receiver.refused == []

        # The client's models declare every field the service answered (none left in `model_extra`).
        answers = [workspace, issued, site, alice, item, created, linked, comment, entry, preview, session]
        answers += [await host.get_item("error", "e-1"), await host.list_comments("error", "e-1"), pages]
        answers += [await host.get_user_connections("u-alice"), await host.upsert_user("u-alice")]
        assert unknown_fields(answers) == []

        # The service's errors, typed, with the problem's fields.
        with pytest.raises(jb.NotFound) as missing:
            await host.get_item("error", "nope")
        assert missing.value.status == 404 and missing.value.request_id
        with pytest.raises(jb.ValidationError) as invalid:
            await host.put_item("error", "e-3", title="")
        assert [e["field"] for e in invalid.value.errors] == ["title"]
        with pytest.raises(jb.NotFound):
            await host.get_item("error", "e-3")  # invalid input wrote nothing

    async with connect(container, "jb_not-a-key") as stranger:
        with pytest.raises(jb.Unauthorized):
            await stranger.list_sites()
