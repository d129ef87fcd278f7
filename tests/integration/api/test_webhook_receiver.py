"""The Jira webhook receiver, in process on SQLite and PostgreSQL: the emulator delivers its webhooks
straight into the service's app; a Jira user changes tickets and the host sees them follow. Forged,
unsigned and expired deliveries answer 401 and change nothing; a redelivery is applied once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import func, select, text
from starlette.types import Receive, Scope, Send

from jira_emulator import create_app as create_emulator
from jira_emulator.state import Delivery
from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app
from jirabridge.storage.tables import WebhookDelivery
from jirabridge.workers.runner import Worker
from support.host import wait_until_idle
from support.service import OAUTH_CLIENT, Tenant, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"}
INBOUND = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": STATUS_MAP,
    "comment_sync": "two_way",
    "poll_interval_s": 3600,  # far away: what changes here came by webhook
}
SHOWN = "the secret jirabridge shows"
EVENTS = ["jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"]


class Forward:
    """An ASGI app handing every request to `target`, set once the service's app exists (the
    emulator is built before the service, which calls it)."""

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
        self, api: httpx.AsyncClient, tenant: Tenant, site_id: str, emulator: FastAPI, container: Container
    ) -> None:
        self.api, self.tenant, self.site_id = api, tenant, site_id
        self.emulator, self.container = emulator, container
        self.receiver: FastAPI | None = None  # the service's app the emulator delivers to

    async def call(self, method: str, path: str, body: Any = None, role: str = "admin") -> httpx.Response:
        return await self.api.request(method, path, json=body, headers=self.tenant.headers(role))

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url="http://emulator"
        ) as client:
            return await client.request(method, path, json=body)

    async def ticket(self, item_id: str) -> str:
        answer = await self.call(
            "PUT", f"/api/v1/items/error/{item_id}", {"title": item_id, "status": "Open"}
        )
        assert answer.status_code in (200, 201), answer.text
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/tickets", {})
        assert answer.status_code == 201, answer.text
        await self.settle()
        return str(answer.json()["issue_key"])

    async def status(self, item_id: str) -> str:
        return str((await self.call("GET", f"/api/v1/items/error/{item_id}")).json()["status"])

    async def events(self, kind: str) -> list[dict[str, Any]]:
        feed = (await self.call("GET", "/api/v1/events?limit=500")).json()["events"]
        return [e for e in feed if e["type"] == kind]

    async def admin_webhook(self, secret: str | None = SHOWN) -> str:
        """Set up an admin webhook as an administrator would: the URL and secret jirabridge shows
        pasted into Jira (or, to forge, another secret or none). Returns the shown secret."""
        hook = (await self.call("POST", f"/api/v1/sites/{self.site_id}/webhook-secret")).json()
        body = {"name": "jirabridge", "url": hook["url"], "events": EVENTS}
        chosen = hook["secret"] if secret == SHOWN else secret
        if chosen is not None:
            body["secret"] = chosen
        answer = await self.control("POST", "/_emulator/sites/acme/webhooks", body)
        assert answer.status_code == 201, answer.text
        return str(hook["secret"])

    async def settle(self, limit_s: float = 10) -> None:
        await wait_until_idle(self.container, limit_s, self.emulator)

    def deliveries(self) -> list[Delivery]:
        found: list[Delivery] = self.emulator.state.emulator.deliveries
        return found

    def recorded(self) -> int:
        with self.container.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)

    async def deliver(self, token: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST a delivery to the receiver the emulator delivers to."""
        assert self.receiver is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.receiver), base_url="http://jirabridge.test"
        ) as client:
            return await client.post(f"/webhooks/jira/{token}", content=body, headers=headers)

    async def metric(self, outcome: str) -> float:
        """The receiver's count of deliveries with `outcome` (the app Jira delivers to)."""
        assert self.receiver is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.receiver), base_url="http://jirabridge.test"
        ) as client:
            body = (await client.get("/metrics")).text
        line = f'jirabridge_webhook_deliveries_total{{outcome="{outcome}"}} '
        found = [float(row.removeprefix(line)) for row in body.splitlines() if row.startswith(line)]
        return found[0] if found else 0.0


@pytest.fixture
async def host(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, forward: Forward
) -> Host:
    forward.target = create_app(container)
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT, "default_project": "WEB"}, headers=tenant.headers()
    )
    assert site.status_code == 201
    made = Host(api, tenant, site.json()["id"], emulator, container)
    made.receiver = forward.target
    answer = await made.control("PUT", "/_emulator/webhooks/settings", {"retry_delays_s": [0.01] * 5})
    assert answer.status_code == 200
    answer = await made.call("PUT", f"/api/v1/sites/{made.site_id}/projects/WEB", INBOUND)
    assert answer.status_code in (200, 201), answer.text
    await made.settle()
    return made


@pytest.fixture
def alice(as_user: Any) -> httpx.AsyncClient:
    client: httpx.AsyncClient = as_user("alice@acme.test", "alice-token")
    return client


async def move(jira: httpx.AsyncClient, key: str, status: str) -> None:
    transitions = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    chosen = next(t for t in transitions if t["to"]["name"] == status)
    answer = await jira.post(
        f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}}
    )
    assert answer.status_code == 204, answer.text


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def resend(host: Host, delivery: Delivery, headers: dict[str, str]) -> httpx.Response:
    """What Jira would send again for `delivery`: its body and identifier, with `headers`."""
    token = delivery.url.rsplit("/", 1)[1]
    return await host.deliver(
        token, delivery.body.encode(), {"X-Atlassian-Webhook-Identifier": delivery.identifier, **headers}
    )


# --- admin webhooks (API-token sites) --------------------------------------------------------------


async def test_signed_delivery_applies_the_jira_change_at_once(host: Host, alice: httpx.AsyncClient) -> None:
    key = await host.ticket("e-1")
    await host.admin_webhook()
    await move(alice, key, "In Progress")
    await host.settle()
    assert await host.status("e-1") == "Acknowledged"
    [event] = await host.events("item.status_changed")
    assert event["source"] == "jira" and event["issue_key"] == key
    assert [d.last_status for d in host.deliveries()] == [200]
    assert host.recorded() == 1
    assert await host.metric("applied") == 1.0


async def test_forged_and_unsigned_deliveries_answer_401_and_change_nothing(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    await host.admin_webhook(secret="not-the-sites-secret")  # a forger's guess
    await move(alice, key, "In Progress")
    await host.settle()
    [forged] = host.deliveries()
    assert (forged.last_status, forged.attempts) == (401, 1)  # a 401 is final: Jira gives up
    assert await host.status("e-1") == "Open"
    assert await host.events("item.status_changed") == []
    assert host.recorded() == 0

    unsigned = await resend(host, forged, {})
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"] == "application/problem+json"
    assert "X-Hub-Signature" in unsigned.json()["detail"]
    malformed = await resend(host, forged, {"X-Hub-Signature": "md5=abc"})
    assert malformed.status_code == 401
    assert await host.status("e-1") == "Open" and host.recorded() == 0
    assert await host.metric("unauthorized") == 3.0

    # The identifier of a refused delivery was not taken: the genuine one is applied.
    secret = (await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")).json()["secret"]
    genuine = await resend(host, forged, {"X-Hub-Signature": sign(secret, forged.body.encode())})
    assert genuine.status_code == 200 and genuine.json() == {"status": "applied"}
    assert await host.status("e-1") == "Acknowledged"


async def test_a_redelivery_is_answered_and_applied_once(host: Host, alice: httpx.AsyncClient) -> None:
    key = await host.ticket("e-1")
    secret = await host.admin_webhook()
    await host.control("POST", "/_emulator/webhooks/faults", {"duplicate_next": 1})
    answer = await alice.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("Seen on prod")})
    assert answer.status_code == 201, answer.text
    await host.settle()
    [delivery] = host.deliveries()
    assert delivery.attempts == 2  # the same identifier, twice
    comments = (await host.call("GET", "/api/v1/items/error/e-1/comments")).json()["comments"]
    assert [c["body"] for c in comments if c.get("source") == "jira"] == ["Seen on prod"]
    assert len(await host.events("item.comment_added")) == 1
    assert (await host.metric("applied"), await host.metric("duplicate")) == (1.0, 1.0)
    again = await resend(host, delivery, {"X-Hub-Signature": sign(secret, delivery.body.encode())})
    assert again.json() == {"status": "duplicate"}
    assert host.recorded() == 1


async def test_the_same_delivery_twice_at_once_is_applied_once(host: Host, alice: httpx.AsyncClient) -> None:
    key = await host.ticket("e-1")
    secret = await host.admin_webhook()
    await host.control("POST", "/_emulator/webhooks/faults", {"drop_next": 1})  # kept, not sent
    await move(alice, key, "In Progress")
    await host.settle()
    [delivery] = host.deliveries()
    signed = {"X-Hub-Signature": sign(secret, delivery.body.encode())}
    answers = await asyncio.gather(*(resend(host, delivery, signed) for _ in range(2)))
    assert sorted(a.json()["status"] for a in answers) == ["applied", "duplicate"]
    assert await host.status("e-1") == "Acknowledged"
    assert len(await host.events("item.status_changed")) == 1


async def test_unknown_site_token_answers_404_and_writes_nothing(host: Host) -> None:
    body = b'{"webhookEvent": "jira:issue_updated"}'
    answer = await host.deliver("not-a-site", body, {"X-Hub-Signature": sign("x", body)})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    # A disconnected site receives nothing either, even correctly signed.
    shown = (await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")).json()
    token = shown["url"].rsplit("/", 1)[1]
    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    gone = await host.deliver(token, body, {"X-Hub-Signature": sign(shown["secret"], body)})
    assert gone.status_code == 404
    assert host.recorded() == 0
    assert await host.metric("unknown_site") == 2.0


async def test_unused_events_are_answered_and_old_identifiers_pruned(
    host: Host, container: Container
) -> None:
    secret = (await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")).json()
    token = secret["url"].rsplit("/", 1)[1]
    old = datetime.now(UTC) - timedelta(days=8)
    with container.sessions() as session:
        session.add(WebhookDelivery(site_id=host.site_id, identifier="old-one", received_at=old))
        session.commit()
    body = json.dumps({"webhookEvent": "worklog_created", "worklog": {"id": "1"}}).encode()
    answer = await host.deliver(
        token,
        body,
        {"X-Hub-Signature": sign(secret["secret"], body), "X-Atlassian-Webhook-Identifier": "new"},
    )
    assert answer.status_code == 200 and answer.json() == {"status": "ignored"}
    with container.sessions() as session:
        assert session.scalars(select(WebhookDelivery.identifier)).all() == ["new"]
    bad = await host.deliver(token, b"[1]", {"X-Hub-Signature": sign(secret["secret"], b"[1]")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body"


async def test_an_empty_delivery_answers_422_and_writes_nothing(host: Host) -> None:
    shown = (await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret")).json()
    token = shown["url"].rsplit("/", 1)[1]
    for empty in (b"", b"  \n"):
        answer = await host.deliver(
            token,
            empty,
            {"X-Hub-Signature": sign(shown["secret"], empty), "X-Atlassian-Webhook-Identifier": "e"},
        )
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"] == [{"field": "body", "message": "empty: a delivery is a JSON object"}]
    assert host.recorded() == 0
    assert await host.metric("invalid") == 2.0


# --- status changes while inbound status sync is off -----------------------------------------------
# The project polls comments every hour (its first poll ran when it was set up), so a change reaches
# jirabridge by webhook, by a reconcile, or — switching status sync back on — by the catch-up alone.


async def status_sync(host: Host, mode: str) -> None:
    answer = await host.call(
        "PUT", f"/api/v1/sites/{host.site_id}/projects/WEB", INBOUND | {"status_sync": mode}
    )
    assert answer.status_code == 200, answer.text
    await host.settle()


def jira_status(host: Host, key: str) -> str:
    return str(host.emulator.state.emulator.sites["acme"].issue_by_ref(key).status)


async def assert_caught_up(host: Host, key: str) -> None:
    assert await host.status("e-1") == "Open"  # not applied while off
    await status_sync(host, "two_way")
    assert await host.status("e-1") == "Acknowledged"
    [event] = await host.events("item.status_changed")
    assert (event["source"], event["issue_key"]) == ("jira", key)
    assert event["data"]["from"] == "Open" and event["data"]["to"] == "Acknowledged"
    assert event["data"]["jira_status"] == "In Progress"
    assert jira_status(host, key) == "In Progress"  # nothing moved Jira back


async def test_a_status_change_delivered_while_inbound_is_off_is_skipped_then_caught_up(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    secret = await host.admin_webhook()
    await status_sync(host, "outbound")
    await host.control("POST", "/_emulator/webhooks/faults", {"drop_next": 1})  # kept, sent below
    await move(alice, key, "In Progress")
    await host.settle()
    [delivery] = host.deliveries()
    answer = await resend(host, delivery, {"X-Hub-Signature": sign(secret, delivery.body.encode())})
    assert answer.json() == {"status": "skipped", "reason": "status sync inbound off"}
    assert (await host.metric("skipped"), await host.metric("applied")) == (1.0, 0.0)
    link = (await host.call("GET", "/api/v1/items/error/e-1")).json()["links"][0]
    assert link["jira_status"] == "In Progress"  # known, for outbound moves
    await assert_caught_up(host, key)


async def test_a_status_change_polled_while_inbound_is_off_is_caught_up(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    await status_sync(host, "off")
    await move(alice, key, "In Progress")
    reconcile = await host.call("POST", "/api/v1/sync/reconcile", {"site": host.site_id, "project": "WEB"})
    assert reconcile.status_code == 202  # comments are polled: the poll sees the status too
    await host.settle()
    link = (await host.call("GET", "/api/v1/items/error/e-1")).json()["links"][0]
    assert link["jira_status"] == "In Progress"
    await assert_caught_up(host, key)


async def test_a_status_change_never_reported_is_caught_up_from_jira(
    host: Host, alice: httpx.AsyncClient
) -> None:
    # No webhook is set up and the next poll is an hour away: only reading Jira finds the change.
    key = await host.ticket("e-1")
    await status_sync(host, "outbound")
    await move(alice, key, "In Progress")
    await host.settle()
    link = (await host.call("GET", "/api/v1/items/error/e-1")).json()["links"][0]
    assert link["jira_status"] == "To Do"
    await assert_caught_up(host, key)


async def test_switching_status_sync_on_leaves_items_that_are_in_step_alone(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    await status_sync(host, "outbound")
    # The host moved on after Jira's change: its change wins, and was pushed out already.
    await move(alice, key, "In Progress")
    answer = await host.call("PUT", "/api/v1/items/error/e-2", {"title": "e-2", "status": "Fixed"})
    assert answer.status_code == 201
    await host.call("PUT", "/api/v1/items/error/e-1", {"title": "e-1", "status": "Fixed"})
    await host.settle()
    assert jira_status(host, key) == "Done"
    await status_sync(host, "two_way")
    assert await host.status("e-1") == "Fixed"
    assert await host.events("item.status_changed") == []


# --- assignee changes while inbound assignee sync is off (INBOUND leaves it off) ----------------------


async def assignee_sync(host: Host, mode: str) -> None:
    answer = await host.call(
        "PUT", f"/api/v1/sites/{host.site_id}/projects/WEB", INBOUND | {"assignee_sync": mode}
    )
    assert answer.status_code == 200, answer.text
    await host.settle()


async def alice_takes(host: Host, alice: httpx.AsyncClient, key: str) -> str:
    """Alice, connected to the host user u-alice, assigns the issue to herself in Jira."""
    connected = await host.call(
        "POST",
        "/api/v1/users/u-alice/jira",
        {"auth": {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}},
    )
    assert connected.status_code == 201, connected.text
    account = str(connected.json()["account_id"])
    answer = await alice.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": account})
    assert answer.status_code == 204, answer.text
    return account


async def assert_assignee_caught_up(host: Host, key: str, account: str) -> None:
    assert (await host.call("GET", "/api/v1/items/error/e-1")).json()["assignee"] is None  # not while off
    await assignee_sync(host, "two_way")
    assert (await host.call("GET", "/api/v1/items/error/e-1")).json()["assignee"] == "u-alice"
    [event] = await host.events("item.assignee_changed")
    assert (event["source"], event["issue_key"]) == ("jira", key)
    assert event["data"]["from"] is None and event["data"]["to"] == "u-alice"
    assert event["data"]["jira_user"]["account_id"] == account
    assert await host.events("item.status_changed") == []  # only the part switched on is caught up


async def test_an_assignee_change_delivered_while_inbound_is_off_is_skipped_then_caught_up(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    secret = await host.admin_webhook()
    await assignee_sync(host, "outbound")
    await host.control("POST", "/_emulator/webhooks/faults", {"drop_next": 1})  # kept, sent below
    account = await alice_takes(host, alice, key)
    await host.settle()
    [delivery] = host.deliveries()
    answer = await resend(host, delivery, {"X-Hub-Signature": sign(secret, delivery.body.encode())})
    assert answer.json() == {"status": "skipped", "reason": "assignee sync inbound off"}
    await assert_assignee_caught_up(host, key, account)


async def test_an_assignee_change_never_reported_is_caught_up_from_jira(
    host: Host, alice: httpx.AsyncClient
) -> None:
    # No webhook is set up and the next poll is an hour away: only reading Jira finds the change.
    key = await host.ticket("e-1")
    account = await alice_takes(host, alice, key)
    await host.settle()
    await assert_assignee_caught_up(host, key, account)


async def test_a_comment_delivered_while_comment_sync_is_off_is_skipped(
    host: Host, alice: httpx.AsyncClient
) -> None:
    key = await host.ticket("e-1")
    secret = await host.admin_webhook()
    answer = await host.call(
        "PUT", f"/api/v1/sites/{host.site_id}/projects/WEB", INBOUND | {"comment_sync": "outbound"}
    )
    assert answer.status_code == 200, answer.text
    await host.settle()
    await host.control("POST", "/_emulator/webhooks/faults", {"drop_next": 1})
    posted = await alice.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("Seen on prod")})
    assert posted.status_code == 201, posted.text
    await host.settle()
    [delivery] = host.deliveries()
    answer = await resend(host, delivery, {"X-Hub-Signature": sign(secret, delivery.body.encode())})
    assert answer.json() == {"status": "skipped", "reason": "comment sync inbound off"}
    assert (await host.call("GET", "/api/v1/items/error/e-1/comments")).json()["comments"] == []


# --- the admin webhook secret ----------------------------------------------------------------------


def _raw_database_text(container: Container) -> str:
    chunks = []
    with container.engine.connect() as connection:
        for table in ("sites", "events", "operations", "webhook_deliveries", "schedules"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


async def test_the_secret_is_shown_once_to_managers_and_never_again(
    host: Host, alice: httpx.AsyncClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await host.ticket("e-1")
    refused = await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret", role="member")
    assert refused.status_code == 403
    first = await host.call("POST", f"/api/v1/sites/{host.site_id}/webhook-secret", role="manager")
    shown = first.json()
    site = (await host.call("GET", f"/api/v1/sites/{host.site_id}")).json()
    assert shown["url"] == site["webhook"]["url"] and site["webhook"]["mode"] == "admin"
    assert site["webhook"]["expires_at"] is None
    secret = await host.admin_webhook()  # rotates: the first secret is void now
    hook = next(iter(host.emulator.state.emulator.sites["acme"].webhooks.values()))
    hook.secret = shown["secret"]
    await move(alice, key, "In Progress")
    await host.settle()
    assert host.deliveries()[-1].last_status == 401  # the rotated-out secret verifies nothing
    hook.secret = secret
    await move(alice, key, "Done")
    await host.settle()
    assert await host.status("e-1") == "Fixed"

    answers = [
        await host.call("GET", f"/api/v1/sites/{host.site_id}"),
        await host.call("GET", "/api/v1/sites"),
        await host.call("GET", "/api/v1/events?limit=500"),
        await host.call("PATCH", f"/api/v1/sites/{host.site_id}", {"default_project": "WEB"}),
        await host.call("GET", "/api/v1/items/error/e-1"),
        await host.api.get("/metrics"),
    ]
    stored = _raw_database_text(container)
    for value in (secret, shown["secret"]):
        assert all(value not in a.text for a in answers)
        assert value not in stored
        assert value not in caplog.text
    assert caplog.text  # the deliveries were logged, without it


# --- JWT of dynamic webhooks (OAuth sites) ---------------------------------------------------------


async def _oauth_site(host: Host) -> dict[str, Any]:
    started = await host.call(
        "POST", "/api/v1/sites", {"url": "https://globex.atlassian.net", "auth": {"type": "oauth"}}
    )
    assert started.status_code == 202, started.text
    authorize = urlsplit(started.json()["authorize_url"])
    consent = await host.control("GET", f"{authorize.path}?{authorize.query}&login_hint=admin@acme.test")
    assert consent.status_code == 302, consent.text
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    done = await host.api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert done.status_code == 200, done.text
    return dict(done.json()["site"])


def app_token(
    cloud_id: str, *, secret: str = OAUTH_CLIENT[1], aud: str = OAUTH_CLIENT[0], age_s: int = 0
) -> str:
    now = int(time.time()) - age_s
    claims = {"iss": f"jira:{cloud_id}", "sub": "someone", "aud": aud, "iat": now, "exp": now + 180}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


async def test_dynamic_deliveries_need_a_valid_unexpired_token_of_the_app_for_this_site(
    host: Host, container: Container
) -> None:
    site = await _oauth_site(host)
    with container.sessions() as session:
        cloud_id = session.scalar(text("SELECT cloud_id FROM sites WHERE id = :id"), {"id": site["id"]})
    assert cloud_id
    token = site["webhook"]["url"].rsplit("/", 1)[1]
    body = json.dumps({"webhookEvent": "jira:issue_deleted", "issue": {"id": "1", "key": "OPS-1"}}).encode()

    async def deliver(bearer: str, identifier: str) -> httpx.Response:
        return await host.deliver(
            token, body, {"Authorization": f"Bearer {bearer}", "X-Atlassian-Webhook-Identifier": identifier}
        )

    refused = {
        "expired": app_token(cloud_id, age_s=3600),
        "wrong secret": app_token(cloud_id, secret="a-guess-at-the-client-secret-of-the-app"),
        "wrong audience": app_token(cloud_id, aud="another-app"),
        "another site": app_token("another-cloud-id"),
        "garbage": "not.a.jwt",
    }
    for why, bearer in refused.items():
        answer = await deliver(bearer, f"id-{why}")
        assert answer.status_code == 401, why
    assert host.recorded() == 0
    accepted = await deliver(app_token(cloud_id), "id-ok")
    assert accepted.status_code == 200, accepted.text
    assert host.recorded() == 1
