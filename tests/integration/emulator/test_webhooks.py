"""Webhooks as a receiver sees them: admin webhooks (HMAC secret) and an OAuth app's dynamic webhooks
(JWT), payload shapes, retries, filters, expiry and scripted delivery faults."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from jwt.warnings import InsecureKeyLengthWarning

from jira_emulator import create_app
from jira_emulator.state import AccessToken, EmulatorState
from jira_emulator.webhooks import drain

ACME = "https://acme.atlassian.net"
CLIENT_ID, CLIENT_SECRET = "jirabridge-dev", "jirabridge-dev-secret-for-local-tests-only"
START_PROGRESS = "11"  # the default workflow's "Start progress" transition


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    """A tiny webhook endpoint: records every request, answers the scripted statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def hook(path: str, request: Request) -> Response:
            self.requests.append(Received(path, dict(request.headers), await request.body()))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return app


@dataclass
class Rig:
    app: FastAPI
    receiver: Receiver
    jira: httpx.AsyncClient  # Ada, admin of acme, with Basic auth

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    async def settle(self) -> list[Received]:
        await drain(self.app)
        return self.receiver.requests

    def oauth(self, email: str = "admin@acme.test", scopes: tuple[str, ...] = ()) -> httpx.AsyncClient:
        """A client of the jirabridge-dev OAuth app for `email`, through the gateway path."""
        account = self.state.account_by_email(email)
        assert account is not None
        token = f"token-{email}-{len(self.state.access_tokens)}"
        self.state.access_tokens[token] = AccessToken(
            token,
            CLIENT_ID,
            account.account_id,
            list(scopes or ("read:jira-work", "manage:jira-webhook", "offline_access")),
            expires_at=self.state.now() + timedelta(days=400),
        )
        cloud_id = self.state.sites["acme"].cloud_id
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=f"https://api.atlassian.com/ex/jira/{cloud_id}",
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver()
    app = create_app(webhook_transport=httpx.ASGITransport(app=receiver.app()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ACME, auth=("admin@acme.test", "admin-token")
    ) as jira:
        answer = await jira.put("/_emulator/webhooks/settings", json={"retry_delays_s": [0.01] * 5})
        assert answer.status_code == 200
        yield Rig(app, receiver, jira)
        await drain(app)


async def admin_hook(rig: Rig, **body: Any) -> dict[str, Any]:
    payload = {"name": "test", "url": "https://receiver.test/hook", "events": ["jira:issue_updated"], **body}
    answer = await rig.jira.post("/rest/webhooks/1.0/webhook", json=payload)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def new_issue(rig: Rig, project: str = "WEB", summary: str = "Checkout fails", **fields: Any) -> str:
    body = {
        "fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary, **fields}
    }
    answer = await rig.jira.post("/rest/api/3/issue", json=body)
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


async def start_progress(rig: Rig, key: str) -> None:
    answer = await rig.jira.post(
        f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": START_PROGRESS}}
    )
    assert answer.status_code == 204, answer.text


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- admin webhooks ------------------------------------------------------------------------------


async def test_admin_webhook_body_is_signed_with_its_secret(rig: Rig) -> None:
    await admin_hook(rig, events=["jira:issue_created"], secret="s3cret")
    await new_issue(rig)
    [delivery] = await rig.settle()
    assert delivery.headers["x-hub-signature"] == hub_signature("s3cret", delivery.body)
    assert delivery.headers["x-hub-signature"] != hub_signature("another", delivery.body)
    assert delivery.json()["webhookEvent"] == "jira:issue_created"


async def test_only_site_admins_manage_admin_webhooks(rig: Rig) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rig.app), base_url=ACME, auth=("alice@acme.test", "alice-token")
    ) as alice:
        answer = await alice.post("/rest/webhooks/1.0/webhook", json={"url": "https://x.test", "events": []})
    assert answer.status_code == 403
    created = await admin_hook(rig, filters={"issue-related-events-section": "project = WEB"})
    listed = (await rig.jira.get("/rest/webhooks/1.0/webhook")).json()
    assert [w["self"] for w in listed] == [created["self"]]
    assert listed[0]["filters"] == {"issue-related-events-section": "project = WEB"}
    deleted = await rig.jira.delete(created["self"].removeprefix(ACME))
    assert deleted.status_code == 204
    assert (await rig.jira.get("/rest/webhooks/1.0/webhook")).json() == []


async def test_status_change_payload_has_v2_fields_and_changelog_with_field_ids(rig: Rig) -> None:
    description = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Pay button is grey"}]}],
    }
    key = await new_issue(rig, description=description)
    await admin_hook(rig)
    await start_progress(rig, key)
    [delivery] = await rig.settle()
    payload = delivery.json()
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue_event_type_name"] == "issue_generic"
    assert isinstance(payload["timestamp"], int)
    assert payload["user"]["displayName"] == "Ada Admin"
    assert payload["issue"]["key"] == key
    assert payload["issue"]["self"].startswith(f"{ACME}/rest/api/2/issue/")
    assert payload["issue"]["fields"]["description"] == "Pay button is grey"  # v2: a string, not ADF
    assert payload["issue"]["fields"]["status"]["name"] == "In Progress"
    status_items = [i for i in payload["changelog"]["items"] if i["fieldId"] == "status"]
    assert status_items and status_items[0]["fromString"] == "To Do"
    assert status_items[0]["toString"] == "In Progress"
    assert payload["changelog"]["id"]


async def test_comment_event_carries_the_comment_and_a_slim_issue(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig, events=["comment_created"])
    body = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
    }
    answer = await rig.jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": body})
    assert answer.status_code == 201
    [delivery] = await rig.settle()
    payload = delivery.json()
    assert payload["webhookEvent"] == "comment_created"
    assert payload["comment"]["body"] == "Hi"
    assert payload["issue"]["key"] == key
    assert payload["issue"]["fields"]["summary"] == "Checkout fails"
    assert "description" not in payload["issue"]["fields"]


async def test_worklog_events_reach_admin_webhooks(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig, events=["worklog_created"])
    answer = await rig.jira.post(f"/rest/api/3/issue/{key}/worklog", json={"timeSpentSeconds": 3600})
    assert answer.status_code == 201, answer.text
    [delivery] = await rig.settle()
    assert delivery.json()["worklog"]["timeSpentSeconds"] == 3600


async def test_failed_delivery_is_retried_with_the_same_identifier(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    rig.receiver.statuses = [500, 429]
    await start_progress(rig, key)
    first, second, third = await rig.settle()
    identifiers = {r.headers["x-atlassian-webhook-identifier"] for r in (first, second, third)}
    assert len(identifiers) == 1
    assert "x-atlassian-webhook-retry" not in first.headers
    assert [second.headers["x-atlassian-webhook-retry"], third.headers["x-atlassian-webhook-retry"]] == [
        "1",
        "2",
    ]
    assert first.body == third.body
    listed = (await rig.jira.get("/_emulator/webhooks/deliveries")).json()["deliveries"]
    assert [(d["status"], d["attempts"]) for d in listed] == [("delivered", 3)]


async def test_delivery_gives_up_after_five_retries_and_never_retries_a_400(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    rig.receiver.statuses = [503] * 10
    await start_progress(rig, key)
    assert len(await rig.settle()) == 6
    rig.receiver.requests.clear()
    rig.receiver.statuses = [400]
    answer = await rig.jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Renamed"}})
    assert answer.status_code == 204
    assert len(await rig.settle()) == 1
    statuses = [
        d["status"] for d in (await rig.jira.get("/_emulator/webhooks/deliveries")).json()["deliveries"]
    ]
    assert statuses == ["failed", "failed"]


async def test_jql_filter_limits_deliveries_to_matching_issues(rig: Rig) -> None:
    web, sec = await new_issue(rig, "WEB"), await new_issue(rig, "DQ")
    await admin_hook(rig, filters={"issue-related-events-section": "project = DQ"})
    await start_progress(rig, web)
    await start_progress(rig, sec)
    [delivery] = await rig.settle()
    assert delivery.json()["issue"]["key"] == sec
    bad = await rig.jira.post(
        "/rest/webhooks/1.0/webhook",
        json={
            "url": "https://r.test",
            "events": [],
            "filters": {"issue-related-events-section": "project = NOPE"},
        },
    )
    assert bad.status_code == 400


# --- dynamic webhooks (OAuth 2.0 apps) ----------------------------------------------------------


async def register(app_client: httpx.AsyncClient, *webhooks: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await app_client.post(
        "/rest/api/3/webhook", json={"url": "https://receiver.test/app", "webhooks": list(webhooks)}
    )
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["webhookRegistrationResult"]
    return results


async def test_dynamic_webhooks_are_for_oauth_apps_only(rig: Rig) -> None:
    basic = await rig.jira.post("/rest/api/3/webhook", json={"url": "https://r.test", "webhooks": []})
    assert basic.status_code == 403
    async with rig.oauth(scopes=("read:jira-work",)) as unscoped:
        answer = await unscoped.get("/rest/api/3/webhook")
    assert answer.status_code == 401


def decode(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the default seed's secret is short
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], audience=CLIENT_ID)
    return claims


async def test_dynamic_delivery_carries_a_jwt_signed_with_the_client_secret(rig: Rig) -> None:
    key = await new_issue(rig)
    async with rig.oauth() as app_client:
        [result] = await register(
            app_client, {"events": ["jira:issue_updated"], "jqlFilter": "project = WEB"}
        )
    await start_progress(rig, key)
    [delivery] = await rig.settle()
    scheme, _, token = delivery.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = decode(token, CLIENT_SECRET)
    ada = rig.state.account_by_email("admin@acme.test")
    assert ada is not None and claims["sub"] == ada.account_id
    assert claims["exp"] > time.time()
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, "not-the-client-secret")
    assert delivery.json()["matchedWebhookIds"] == [result["createdWebhookId"]]
    assert "x-hub-signature" not in delivery.headers


async def test_dynamic_registration_refuses_unsupported_jql_and_events(rig: Rig) -> None:
    async with rig.oauth() as app_client:
        ok, unsupported, bad_operator = await register(
            app_client,
            {"events": ["jira:issue_created"], "jqlFilter": "project IN (WEB, DQ) AND status != Done"},
            {"events": ["jira:issue_created"], "jqlFilter": "labels = urgent"},
            {"events": ["jira:issue_created"], "jqlFilter": "issuekey ~ WEB"},
        )
        worklogs = await app_client.post(
            "/rest/api/3/webhook",
            json={
                "url": "https://r.test",
                "webhooks": [{"events": ["worklog_created"], "jqlFilter": "project = WEB"}],
            },
        )
        listed = (await app_client.get("/rest/api/3/webhook")).json()
    assert "createdWebhookId" in ok
    assert unsupported == {"errors": ["The clause labels is unsupported"]}
    assert "errors" in bad_operator
    assert worklogs.status_code == 400
    assert [w["id"] for w in listed["values"]] == [ok["createdWebhookId"]]


async def test_dynamic_webhooks_are_capped_per_app_and_user(rig: Rig) -> None:
    details = {"events": ["jira:issue_created"], "jqlFilter": "project = WEB"}
    async with rig.oauth() as app_client:
        results = await register(app_client, *([details] * 6))
    assert ["createdWebhookId" in r for r in results] == [True] * 5 + [False]


async def test_field_ids_filter_only_sends_updates_of_those_fields(rig: Rig) -> None:
    key = await new_issue(rig)
    async with rig.oauth() as app_client:
        await register(
            app_client,
            {"events": ["jira:issue_updated"], "jqlFilter": "project = WEB", "fieldIdsFilter": ["summary"]},
        )
    await start_progress(rig, key)
    await rig.jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Renamed"}})
    [delivery] = await rig.settle()
    assert [i["fieldId"] for i in delivery.json()["changelog"]["items"]] == ["summary"]


async def test_dynamic_webhook_expires_after_30_days_unless_refreshed(rig: Rig) -> None:
    key = await new_issue(rig)
    async with rig.oauth() as app_client:
        [result] = await register(
            app_client, {"events": ["jira:issue_updated"], "jqlFilter": "project = WEB"}
        )
        webhook_id = result["createdWebhookId"]
        listed = (await app_client.get("/rest/api/3/webhook")).json()["values"][0]
        expected = (rig.state.now() + timedelta(days=30)).timestamp() * 1000
        assert abs(listed["expirationDate"] - expected) < 5000
        await rig.jira.post("/_emulator/clock", json={"advance_s": 31 * 86400})
        await start_progress(rig, key)
        assert await rig.settle() == []
        refreshed = await app_client.put("/rest/api/3/webhook/refresh", json={"webhookIds": [webhook_id]})
        assert refreshed.status_code == 200
        assert refreshed.json()["expirationDate"] > rig.state.now().timestamp() * 1000
    await rig.jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Renamed"}})
    assert len(await rig.settle()) == 1


async def test_failed_dynamic_deliveries_are_listed_for_the_app(rig: Rig) -> None:
    key = await new_issue(rig)
    rig.receiver.statuses = [500] * 6
    async with rig.oauth() as app_client:
        await register(app_client, {"events": ["jira:issue_updated"], "jqlFilter": "project = WEB"})
        await start_progress(rig, key)
        await rig.settle()
        failed = (await app_client.get("/rest/api/3/webhook/failed")).json()
    [entry] = failed["values"]
    assert entry["url"] == "https://receiver.test/app"
    assert json.loads(entry["body"])["issue"]["key"] == key


# --- faults and reset -------------------------------------------------------------------------


async def test_dropped_delivery_is_never_sent(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    await rig.jira.post("/_emulator/webhooks/faults", json={"drop_next": 1})
    await start_progress(rig, key)
    await rig.jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Renamed"}})
    [delivery] = await rig.settle()
    assert [i["fieldId"] for i in delivery.json()["changelog"]["items"]] == ["summary"]
    statuses = [
        d["status"] for d in (await rig.jira.get("/_emulator/webhooks/deliveries")).json()["deliveries"]
    ]
    assert statuses == ["dropped", "delivered"]


async def test_duplicated_delivery_arrives_twice_with_one_identifier(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    await rig.jira.post("/_emulator/webhooks/faults", json={"duplicate_next": 1})
    await start_progress(rig, key)
    first, second = await rig.settle()
    assert first.headers["x-atlassian-webhook-identifier"] == second.headers["x-atlassian-webhook-identifier"]
    assert first.body == second.body


async def test_reordered_deliveries_arrive_newest_first(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    await rig.jira.post("/_emulator/webhooks/faults", json={"reorder_next": 2})
    await start_progress(rig, key)
    await rig.jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Renamed"}})
    first, second = await rig.settle()
    assert first.json()["changelog"]["items"][0]["fieldId"] == "summary"
    assert second.json()["issue"]["fields"]["summary"] == "Checkout fails"  # the older state of the issue


async def test_reset_stops_pending_retries(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    await rig.jira.put("/_emulator/webhooks/settings", json={"retry_delays_s": [0.2] * 5})
    rig.receiver.statuses = [500] * 6
    await start_progress(rig, key)
    await asyncio.sleep(0.05)
    assert (await rig.jira.post("/_emulator/reset")).status_code == 200
    assert len(await rig.settle()) == 1


# --- real HTTP over loopback ----------------------------------------------------------------------


@pytest.fixture
def loopback_receiver() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()
    config = uvicorn.Config(
        receiver.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", receiver
    server.should_exit = True
    thread.join(timeout=10)


async def test_delivery_over_real_http(loopback_receiver: tuple[str, Receiver]) -> None:
    base, receiver = loopback_receiver
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ACME) as control:
        answer = await control.post(
            "/_emulator/sites/acme/webhooks",
            json={"url": f"{base}/jira", "events": ["jira:issue_created"], "secret": "loop"},
        )
        assert answer.status_code == 201
        created = await control.post(
            "/rest/api/3/issue",
            auth=("bob@acme.test", "bob-token"),
            json={
                "fields": {
                    "project": {"key": "WEB"},
                    "issuetype": {"name": "Bug"},
                    "summary": "Over the wire",
                }
            },
        )
        assert created.status_code == 201
        waited = await control.post("/_emulator/webhooks/wait")
        assert waited.json()["in_flight"] == 0
    [delivery] = receiver.requests
    assert delivery.path == "jira"
    assert delivery.headers["x-hub-signature"] == hub_signature("loop", delivery.body)
    assert delivery.json()["issue"]["fields"]["summary"] == "Over the wire"


async def test_delay_fault_holds_deliveries_back(rig: Rig) -> None:
    key = await new_issue(rig)
    await admin_hook(rig)
    await rig.jira.post("/_emulator/webhooks/faults", json={"delay_s": 0.3})
    await start_progress(rig, key)
    await asyncio.sleep(0.1)
    assert rig.receiver.requests == []
    assert len(await rig.settle()) == 1
