"""The admin webhook of an API-token site, in process on SQLite and PostgreSQL: registered by the worker
when the site's account is a Jira administrator (and removed when the site is disconnected); otherwise
the site, its connection test, /readyz and /metrics say it is not registered and what to do."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from jira_emulator import create_app as create_emulator
from jira_emulator.state import Webhook as EmulatedWebhook
from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app
from jirabridge.storage.tables import Site
from jirabridge.workers.runner import Worker
from support.host import emulator_control, wait_until_idle
from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
ADMIN = {"type": "api_token", "email": "admin@acme.test", "api_token": "admin-token"}
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}  # not a Jira admin
INBOUND = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
    "poll_interval_s": 3600,  # far away: what changes here came by webhook
}
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

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
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
        self.site_id = ""

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.api.request(method, path, json=body, headers=self.tenant.headers())

    async def connect(self, auth: dict[str, str]) -> dict[str, Any]:
        answer = await self.call(
            "POST", "/api/v1/sites", {"url": ACME, "auth": auth, "default_project": "WEB"}
        )
        assert answer.status_code == 201, answer.text
        self.site_id = answer.json()["id"]
        return dict(answer.json())

    async def project(self, key: str, document: dict[str, Any]) -> None:
        answer = await self.call("PUT", f"/api/v1/sites/{self.site_id}/projects/{key}", document)
        assert answer.status_code in (200, 201), answer.text
        await self.settle()

    async def webhook_json(self) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/v1/sites/{self.site_id}")
        return dict(answer.json()["webhook"])

    def hooks(self) -> list[EmulatedWebhook]:
        site = self.emulator.state.emulator.sites["acme"]
        return [w for w in site.webhooks.values() if w.kind == "admin"]

    async def settle(self) -> None:
        await wait_until_idle(self.container, 10, self.emulator)


@pytest.fixture
async def host(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, forward: Forward
) -> Host:
    forward.target = create_app(container)
    await emulator_control(emulator, "PUT", "/webhooks/settings", {"retry_delays_s": [0.01] * 5})
    return Host(api, await make_tenant(api), emulator, container)


async def test_an_admin_accounts_site_registers_its_webhook_and_deliveries_apply(
    host: Host, as_user: Any
) -> None:
    site = await host.connect(ADMIN)
    assert site["webhook"]["status"] == "pending"
    await host.settle()
    assert (await host.webhook_json())["status"] == "not_needed"  # no project takes Jira's changes yet
    assert host.hooks() == []

    await host.project("WEB", INBOUND)
    shown = await host.webhook_json()
    assert shown["status"] == "registered" and shown["action"] is None
    [hook] = host.hooks()
    assert (hook.url, hook.jql_filter, set(hook.events)) == (shown["url"], 'project in ("WEB")', EVENTS)
    assert hook.secret  # deliveries are signed with the site's secret
    check = await host.call("POST", f"/api/v1/sites/{host.site_id}/test", {})
    assert {"check": "webhook", "ok": True, "code": None}.items() <= check.json()["checks"][-1].items()

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
    assert (await host.call("GET", "/api/v1/items/error/e-1")).json()["status"] == "Acknowledged"
    deliveries = host.emulator.state.emulator.deliveries
    assert deliveries and all(d.last_status == 200 for d in deliveries)

    # A webhook deleted by hand in Jira comes back on the next run.
    host.emulator.state.emulator.sites["acme"].webhooks.clear()
    await host.project("WEB", INBOUND)
    assert len(host.hooks()) == 1

    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    await host.settle()
    assert host.hooks() == []  # the webhook it registered is gone from Jira
    with host.container.sessions() as session:
        assert session.scalar(select(Site.credentials).where(Site.id == host.site_id)) is None


async def test_a_rotated_secret_reaches_the_registered_webhook(host: Host) -> None:
    await host.connect(ADMIN)
    await host.project("WEB", INBOUND)
    [hook] = host.hooks()
    before = hook.secret
    rotated = await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")
    assert rotated.status_code == 200
    await host.settle()
    [hook] = host.hooks()
    assert hook.secret == rotated.json()["secret"] != before


async def test_a_non_admin_accounts_site_says_its_webhook_is_not_registered_and_what_to_do(
    host: Host, api: httpx.AsyncClient
) -> None:
    await host.connect(BOT)
    await host.project("WEB", INBOUND)
    assert host.hooks() == []

    shown = await host.webhook_json()
    assert shown["status"] == "not_registered"
    assert "may not manage webhooks" in shown["reason"]
    assert shown["url"] in shown["action"]
    assert f"POST /api/v1/sites/{host.site_id}/webhook-secret" in shown["action"]
    assert 'project in ("WEB")' in shown["action"]

    tested = (await host.call("POST", f"/api/v1/sites/{host.site_id}/test", {})).json()
    assert tested["ok"] is False
    [failed] = [c for c in tested["checks"] if not c["ok"]]
    assert (failed["check"], failed["code"]) == ("webhook", "webhook_not_registered")
    assert shown["url"] in failed["message"]

    ready = await api.get("/readyz")
    assert ready.status_code == 200  # the service works; a person must act in Jira
    assert ready.json()["checks"]["webhooks"].startswith("not_registered: 1 connected site")
    metrics = (await api.get("/metrics")).text
    assert 'jirabridge_site_webhooks{status="not_registered"} 1.0' in metrics

    # Nothing for a person to do once the site is gone.
    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    assert (await api.get("/readyz")).json()["checks"]["webhooks"] == "ok"


async def test_a_webhook_jira_would_not_let_go_is_named_in_the_failures(host: Host) -> None:
    await host.connect(ADMIN)
    await host.project("WEB", INBOUND)
    url = (await host.webhook_json())["url"]
    rule = {"kind": "error", "status": 503, "method": "DELETE", "path": "^/rest/webhooks/1.0/webhook/"}
    await emulator_control(host.emulator, "POST", "/faults", {"rules": [rule | {"retry_after_s": 0}]})

    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    await host.settle()
    [failure] = (await host.call("GET", "/api/v1/sync/failures")).json()["failures"]
    assert (failure["operation"], failure["reason"], failure["attempts"]) == (
        "webhooks.admin_remove",
        "webhook_not_removed",
        3,
    )
    assert url in failure["detail"] and "by hand" in failure["detail"]
    assert len(host.hooks()) == 1  # still in Jira, as the failure says
    with host.container.sessions() as session:
        assert session.scalar(select(Site.credentials).where(Site.id == host.site_id)) is None


async def test_a_webhook_an_administrator_set_up_by_hand_counts_once_it_delivers(
    host: Host, as_user: Any
) -> None:
    await host.connect(BOT)
    await host.project("WEB", INBOUND)
    assert (await host.webhook_json())["status"] == "not_registered"

    # A Jira administrator follows the action: the URL and a secret from jirabridge, pasted into Jira.
    hook = (await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")).json()
    await host.settle()
    await emulator_control(
        host.emulator,
        "POST",
        "/sites/acme/webhooks",
        {
            "name": "jirabridge",
            "url": hook["url"],
            "secret": hook["secret"],
            "events": sorted(EVENTS),
            "filters": {"issue-related-events-section": 'project in ("WEB")'},
        },
    )
    alice: httpx.AsyncClient = as_user("alice@acme.test", "alice-token")
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "By hand"}
    assert (await alice.post("/rest/api/3/issue", json={"fields": fields})).status_code == 201
    await host.settle()
    assert (await host.webhook_json()) | {"url": None} == {
        "url": None,
        "mode": "admin",
        "expires_at": None,
        "status": "registered",
        "reason": None,
        "action": None,
    }

    await host.project("WEB", INBOUND)  # the worker looks again, and is refused again (403)
    assert (await host.webhook_json())["status"] == "registered"
