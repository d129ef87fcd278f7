"""Dynamic webhooks of OAuth sites, in process on SQLite and PostgreSQL: the worker registers one
webhook per site filtered to the projects with inbound sync, follows the project settings, refreshes it
before Jira's 30-day expiry, and the deliveries it brings verify (JWT) and apply."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from jira_emulator import create_app as create_emulator
from jira_emulator.state import Webhook as EmulatedWebhook
from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app
from jirabridge.storage.tables import Operation, Schedule, WebhookDelivery
from jirabridge.workers.runner import Worker
from support.host import wait_until_idle
from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
INBOUND = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
    "poll_interval_s": 3600,  # far away: what changes here came by webhook
}
OUTBOUND_ONLY = INBOUND | {"status_sync": "outbound"}
EVENTS = {
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
}


class Forward:
    """An ASGI app handing every request to `target`, set once the service's app exists."""

    def __init__(self) -> None:
        self.target: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None
        await self.target(scope, receive, send)


@pytest.fixture
def forward() -> Forward:
    return Forward()


@pytest.fixture
def emulator(forward: Forward) -> FastAPI:
    return create_emulator(webhook_transport=httpx.ASGITransport(app=forward))


class Host:
    def __init__(
        self, api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI, container: Container
    ) -> None:
        self.api, self.tenant, self.emulator, self.container = api, tenant, emulator, container
        self.site: dict[str, Any] = {}

    @property
    def site_id(self) -> str:
        return str(self.site["id"])

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.api.request(method, path, json=body, headers=self.tenant.headers())

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url="http://emulator"
        ) as client:
            return await client.request(method, path, json=body)

    async def connect_oauth(self) -> None:
        started = await self.call(
            "POST", "/api/v1/sites", {"url": ACME, "auth": {"type": "oauth"}, "default_project": "WEB"}
        )
        assert started.status_code == 202, started.text
        authorize = urlsplit(started.json()["authorize_url"])
        consent = await self.control("GET", f"{authorize.path}?{authorize.query}&login_hint=bot@acme.test")
        assert consent.status_code == 302, consent.text
        back = parse_qs(urlsplit(consent.headers["location"]).query)
        done = await self.api.get(
            "/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]}
        )
        assert done.status_code == 200, done.text
        self.site = dict(done.json()["site"])
        await self.settle()

    async def project(self, key: str, document: dict[str, Any]) -> None:
        answer = await self.call("PUT", f"/api/v1/sites/{self.site_id}/projects/{key}", document)
        assert answer.status_code in (200, 201), answer.text
        await self.settle()

    async def webhook_json(self) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/v1/sites/{self.site_id}")
        return dict(answer.json()["webhook"])

    def hooks(self) -> list[EmulatedWebhook]:
        """The dynamic webhooks registered on the emulated site."""
        site = self.emulator.state.emulator.sites["acme"]
        return [w for w in site.webhooks.values() if w.kind == "dynamic"]

    def jira_now(self) -> datetime:
        now: datetime = self.emulator.state.emulator.now()
        return now

    async def settle(self, limit_s: float = 10) -> None:
        await wait_until_idle(self.container, limit_s, self.emulator)

    def failed(self) -> list[tuple[str, str | None]]:
        with self.container.sessions() as session:
            rows = session.execute(
                select(Operation.kind, Operation.detail).where(Operation.status == "failed")
            )
            return [(kind, detail) for kind, detail in rows]


@pytest.fixture
async def host(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, forward: Forward
) -> Host:
    forward.target = create_app(container)
    made = Host(api, await make_tenant(api), emulator, container)
    answer = await made.control("PUT", "/_emulator/webhooks/settings", {"retry_delays_s": [0.01] * 5})
    assert answer.status_code == 200
    await made.connect_oauth()
    return made


def _expires(webhook: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(webhook["expires_at"]).replace("Z", "+00:00"))


async def test_the_webhook_follows_the_projects_with_inbound_sync(host: Host) -> None:
    assert host.hooks() == []  # no project takes Jira's changes yet
    shown = await host.webhook_json()
    assert shown["mode"] == "dynamic" and shown["expires_at"] is None

    await host.project("WEB", INBOUND)
    [hook] = host.hooks()
    assert (hook.jql_filter, set(hook.events), hook.url) == ('project in ("WEB")', EVENTS, shown["url"])
    shown = await host.webhook_json()
    assert abs(_expires(shown) - (host.jira_now() + timedelta(days=30))) < timedelta(minutes=1)

    await host.project("DQ", INBOUND)
    [hook] = host.hooks()  # replaced, not added
    assert hook.jql_filter == 'project in ("DQ", "WEB")'

    await host.project("DQ", OUTBOUND_ONLY)  # DQ no longer takes Jira's changes
    [hook] = host.hooks()
    assert hook.jql_filter == 'project in ("WEB")'

    deleted = await host.call("DELETE", f"/api/v1/sites/{host.site_id}/projects/WEB")
    assert deleted.status_code == 204
    await host.settle()
    assert host.hooks() == []
    assert (await host.webhook_json())["expires_at"] is None
    assert host.failed() == []

    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    with host.container.sessions() as session:
        keys = session.scalars(select(Schedule.key)).all()
    assert not [k for k in keys if k.startswith("webhooks:")]


async def test_a_webhook_close_to_expiry_is_refreshed(host: Host) -> None:
    await host.project("WEB", INBOUND)
    [hook] = host.hooks()
    first_id = hook.id
    hook.expires_at = host.jira_now() + timedelta(days=5)  # Jira would drop it in 5 days
    await host.project("WEB", INBOUND)  # any settings save runs the sync now (else: twice a day)
    [hook] = host.hooks()
    assert hook.id == first_id  # refreshed, not replaced
    assert hook.expires_at is not None
    assert hook.expires_at - host.jira_now() > timedelta(days=29)
    shown = await host.webhook_json()
    assert abs(_expires(shown) - hook.expires_at) < timedelta(seconds=1)

    later = hook.expires_at = host.jira_now() + timedelta(days=20)  # far enough: left alone
    await host.project("WEB", INBOUND)
    assert [h.expires_at for h in host.hooks()] == [later]


async def test_a_webhook_deleted_by_hand_in_jira_comes_back(host: Host) -> None:
    await host.project("WEB", INBOUND)
    site = host.emulator.state.emulator.sites["acme"]
    site.webhooks.clear()
    await host.project("WEB", INBOUND)
    [hook] = host.hooks()
    assert hook.jql_filter == 'project in ("WEB")'


async def test_dynamic_deliveries_verify_and_apply(host: Host, as_user: Any) -> None:
    await host.project("WEB", INBOUND)
    answer = await host.call("PUT", "/api/v1/items/error/e-1", {"title": "e-1", "status": "Open"})
    assert answer.status_code in (200, 201), answer.text
    answer = await host.call("POST", "/api/v1/items/error/e-1/tickets", {})
    assert answer.status_code == 201, answer.text
    key = answer.json()["issue_key"]
    await host.settle()

    alice: httpx.AsyncClient = as_user("alice@acme.test", "alice-token")
    transitions = (await alice.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    start = next(t for t in transitions if t["to"]["name"] == "In Progress")
    moved = await alice.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": start["id"]}})
    assert moved.status_code == 204, moved.text
    await host.settle()

    item = (await host.call("GET", "/api/v1/items/error/e-1")).json()
    assert item["status"] == "Acknowledged"
    deliveries = [d for d in host.emulator.state.emulator.deliveries if d.client_id]
    assert deliveries and all(d.last_status == 200 for d in deliveries)
    with host.container.sessions() as session:
        taken = session.scalars(select(WebhookDelivery.identifier)).all()
    assert {d.identifier for d in deliveries} == set(taken)
