"""Host callbacks: the outbox worker POSTs each event, signed, to the workspace's callback URL and
retries until the host takes it. On SQLite and PostgreSQL; the host is an ASGI app behind httpx."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outcomes import Fail, Job, Retry
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.workers.callbacks import make_deliver_handler
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.clock import ManualClock
from support.dns import FakeResolver
from support.service import Tenant, make_tenant
from support.steps import run_job

SECRET = "whsec-test-0123456789abcdef"
HOOK = "https://host.test/jira-events"


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """What a host does (the snippet of docs/callbacks.md)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


@dataclass
class Receiver:
    """A host endpoint answering scripted statuses (then 200), recording every delivery."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            status, headers = self.script.pop(0) if self.script else (200, {})
            return Response(status_code=status, headers=headers)

        return Starlette(routes=[Route("/jira-events", hook, methods=["POST"])])

    def event_ids(self) -> list[str]:
        return [headers["x-jirabridge-event-id"] for headers, _ in self.received]


async def set_callback(api: httpx.AsyncClient, tenant: Tenant, url: str | None = HOOK) -> None:
    callback: dict[str, Any] = {"url": url, "secret": SECRET} if url else {"url": None}
    answer = await api.put("/api/v1/settings", json={"callback": callback}, headers=tenant.headers("admin"))
    assert answer.status_code == 200, answer.text


def record(container: Container, tenant: Tenant, clock: ManualClock, n: int) -> str:
    """An event on the item `an-<n>` (and the issue `DQ-<n>`)."""
    with container.uow() as uow:
        event = record_event(
            uow.session,
            workspace_id=tenant.workspace_id,
            type="item.status_changed",
            source="jira",
            at=clock.now(),
            item=("anomaly", f"an-{n}"),
            issue_key=f"DQ-{n}",
            data={"from": "Active", "to": "Resolved"},
        )
        uow.commit()
        return event


async def drain(container: Container, receiver: Receiver, clock: ManualClock) -> None:
    """Run a worker until nothing is due at the clock's time."""
    handler = make_deliver_handler(container, transport=httpx.ASGITransport(app=receiver.app()), clock=clock)
    worker = Worker(
        SqlQueue(container.sessions), {"callback.deliver": handler}, clock, WorkerOptions(once=True)
    )
    await worker.run()


async def test_a_delivery_is_signed_and_retried_after_a_500(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    receiver = Receiver(script=[(500, {})])
    event_id = record(container, tenant, clock, 1)

    await drain(container, receiver, clock)
    assert receiver.event_ids() == [event_id]  # answered 500: queued again, not yet due

    clock.advance(3600)
    await drain(container, receiver, clock)
    await drain(container, receiver, clock)
    assert receiver.event_ids() == [event_id, event_id]  # delivered once more, then done

    feed = (await api.get("/api/v1/events", headers=tenant.headers("member"))).json()["events"]
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        assert verify_signature(SECRET, body, headers["x-jirabridge-signature"])
        assert not verify_signature("another-secret-entirely", body, headers["x-jirabridge-signature"])
        assert headers["x-jirabridge-timestamp"].isdigit()
        assert json.loads(body) == feed[0]  # the same JSON as the feed


async def test_callbacks_of_one_item_arrive_in_feed_order_and_honour_retry_after(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    receiver = Receiver(script=[(503, {"Retry-After": "120"})])
    first, second = record(container, tenant, clock, 1), record(container, tenant, clock, 1)

    await drain(container, receiver, clock)
    assert receiver.event_ids() == [first]  # the second event of the item waits behind the first

    clock.advance(60)
    await drain(container, receiver, clock)
    assert receiver.event_ids() == [first]  # the host asked for 120 s

    clock.advance(61)
    await drain(container, receiver, clock)
    assert receiver.event_ids() == [first, first, second]


async def test_a_rejected_delivery_is_a_sync_failure(api: httpx.AsyncClient, container: Container) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    receiver = Receiver(script=[(410, {})])
    record(container, tenant, clock, 1)

    await drain(container, receiver, clock)
    clock.advance(3600)
    await drain(container, receiver, clock)

    assert len(receiver.received) == 1  # not retried
    failures = (await api.get("/api/v1/sync/failures", headers=tenant.headers())).json()["failures"]
    assert [(f["operation"], f["reason"], f["attempts"]) for f in failures] == [
        ("callback.deliver", "callback_rejected", 1)
    ]
    retried = await api.post(f"/api/v1/sync/failures/{failures[0]['id']}/retry", headers=tenant.headers())
    assert retried.status_code == 200
    await drain(container, receiver, clock)
    assert len(receiver.received) == 2


async def test_no_callback_url_no_delivery(api: httpx.AsyncClient, container: Container) -> None:
    tenant = await make_tenant(api)
    clock = ManualClock()
    receiver = Receiver()
    record(container, tenant, clock, 1)  # no callback configured: nothing is queued

    await set_callback(api, tenant)
    record(container, tenant, clock, 2)  # queued ...
    await set_callback(api, tenant, None)  # ... then the callback is switched off
    await drain(container, receiver, clock)

    assert receiver.received == []
    with container.uow() as uow:
        assert outbox.queue_depth(uow.session) == {"pending": 0, "running": 0, "failed": 0}


async def test_unreachable_hosts_and_timeouts_are_retried(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    event_id = record(container, tenant, ManualClock(), 1)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    op = DeliverCallback(event_id, tenant.workspace_id)
    job = Job(event_id, tenant.workspace_id, None, op.KIND, op, 1, None)
    for transport, reason in ((refuse, "callback_unreachable"), (slow, "callback_timeout")):
        handler = make_deliver_handler(container, transport=httpx.MockTransport(transport))
        outcome = await run_job(container, handler, job)
        assert isinstance(outcome, Retry) and outcome.reason == reason


async def test_a_callback_url_of_an_internal_address_is_refused_when_saved(
    api: httpx.AsyncClient, container: Container, resolver: FakeResolver
) -> None:
    tenant = await make_tenant(api)
    resolver.answers["hooks.acme.example"] = ["169.254.169.254"]
    for url, says in (
        ("https://hooks.acme.example/jira", "hooks.acme.example resolves to 169.254.169.254, a link-local"),
        # (The tests' settings allow the emulator's 127.0.0.1 as a Jira host, so other addresses here.)
        ("https://127.0.0.2/jira", "127.0.0.2 is a loopback address"),
        ("https://[::ffff:10.0.0.1]/jira", "an IPv4-mapped address of 10.0.0.1, a private address"),
        ("http://2852039166/jira", "2852039166 is 169.254.169.254, a link-local address"),
        ("http://public.example/jira", "must use https"),
    ):
        answer = await api.put(
            "/api/v1/settings",
            json={"callback": {"url": url, "secret": SECRET}},
            headers=tenant.headers("admin"),
        )
        assert answer.status_code == 422, url
        assert answer.headers["content-type"] == "application/problem+json"
        [error] = answer.json()["errors"]
        assert error["field"] == "callback.url" and says in error["message"], error
        assert answer.json()["detail"].startswith("callback.url: ")
    assert (await api.get("/api/v1/settings", headers=tenant.headers())).json()["callback"]["url"] is None


async def test_a_callback_host_that_turns_internal_is_refused_at_delivery(
    api: httpx.AsyncClient, container: Container, resolver: FakeResolver
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)  # host.test is public when saved
    resolver.answers["host.test"] = ["10.0.0.8"]  # ... and private when the worker delivers
    clock = ManualClock()
    receiver = Receiver()
    record(container, tenant, clock, 1)

    await drain(container, receiver, clock)

    assert receiver.received == []
    failures = (await api.get("/api/v1/sync/failures", headers=tenant.headers())).json()["failures"]
    assert [(f["operation"], f["reason"]) for f in failures] == [("callback.deliver", "callback_refused")]
    assert "host.test resolves to 10.0.0.8, a private address" in failures[0]["detail"]


async def test_a_redirect_to_an_internal_address_is_not_followed(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    event_id = record(container, tenant, ManualClock(), 1)
    requested: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    handler = make_deliver_handler(container, transport=httpx.MockTransport(redirect))
    op = DeliverCallback(event_id, tenant.workspace_id)
    job = Job(event_id, tenant.workspace_id, None, op.KIND, op, 1, None)
    outcome = await run_job(container, handler, job)

    assert requested == [HOOK]
    assert isinstance(outcome, Fail) and outcome.reason == "callback_rejected"
    assert "307 (redirects are not followed)" in outcome.detail
