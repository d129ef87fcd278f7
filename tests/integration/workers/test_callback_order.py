"""What a host can rely on when its callback endpoint fails (docs/callbacks.md): events of one item
arrive in feed order; one item's failing delivery does not hold back another item's events longer than
the endpoint's backoff; a dead endpoint is sent one delivery per backoff, not every item's; and the
backlog shows in /readyz and /metrics. On SQLite and PostgreSQL; the host is a Starlette app we
control, reached through httpx, and the worker runs on a clock the test moves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jirabridge.bootstrap import Container
from jirabridge.storage.events import record_event
from jirabridge.workers.callbacks import make_deliver_handler
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.clock import ManualClock
from support.service import Tenant, make_tenant

HOOK = "https://host.test/jira-events"


@dataclass
class Host:
    """A callback endpoint: down altogether, or failing only on the events of some items."""

    down: bool = False
    failing_items: set[str] = field(default_factory=set)
    refusing_items: set[str] = field(default_factory=set)  # answered 410: not retried
    received: list[tuple[str, str, int]] = field(default_factory=list)  # (item id, event id, status)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            event = json.loads(await request.body())
            item = event["item"]["id"] if event["item"] else event["issue_key"]
            status = 503 if self.down or item in self.failing_items else 200
            status = 410 if item in self.refusing_items else status
            self.received.append((item, event["id"], status))
            return Response(status_code=status)

        return Starlette(routes=[Route("/jira-events", hook, methods=["POST"])])

    def delivered(self, item: str | None = None) -> list[str]:
        """Event ids the host took (2xx), in the order it took them."""
        return [e for i, e, status in self.received if status == 200 and item in (None, i)]


async def set_callback(api: httpx.AsyncClient, tenant: Tenant) -> None:
    callback = {"url": HOOK, "secret": "whsec-test-0123456789abcdef"}
    answer = await api.put("/api/v1/settings", json={"callback": callback}, headers=tenant.headers("admin"))
    assert answer.status_code == 200, answer.text


def record(
    container: Container, tenant: Tenant, clock: ManualClock, item: str | None, issue_key: str | None = None
) -> str:
    with container.uow() as uow:
        event = record_event(
            uow.session,
            workspace_id=tenant.workspace_id,
            type="item.status_changed" if item else "sync.failed",
            source="jira",
            at=clock.now(),
            item=("anomaly", item) if item else None,
            issue_key=issue_key,
            data={"to": "Resolved"},
        )
        uow.commit()
        return event


async def drain(container: Container, host: Host, clock: ManualClock, concurrency: int = 8) -> None:
    """Run a worker until nothing is due at the clock's time."""
    handler = make_deliver_handler(container, transport=httpx.ASGITransport(app=host.app()), clock=clock)
    options = WorkerOptions(once=True, concurrency=concurrency)
    await Worker(SqlQueue(container.sessions), {"callback.deliver": handler}, clock, options).run()


async def test_one_items_failing_delivery_does_not_hold_back_another_items(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    host = Host(failing_items={"an-1"})  # the host fails on an-1's events only (a poisoned event)
    a1, b1 = record(container, tenant, clock, "an-1"), record(container, tenant, clock, "an-2")
    a2, b2 = record(container, tenant, clock, "an-1"), record(container, tenant, clock, "an-2")

    await drain(container, host, clock)
    assert b1 in host.delivered("an-2")
    clock.advance(1)  # the endpoint's first backoff
    await drain(container, host, clock)
    assert host.delivered("an-2") == [b1, b2]  # not behind an-1's failing event
    assert host.delivered("an-1") == []
    assert a2 not in [e for _, e, _ in host.received]  # an-1's second event waits behind its first

    host.failing_items.clear()
    clock.advance(60)
    await drain(container, host, clock)
    assert host.delivered("an-1") == [a1, a2]  # in feed order once the host takes them


async def test_a_dead_endpoint_gets_one_delivery_per_backoff_and_the_rest_go_when_it_answers(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    host = Host(down=True)
    first, *others = [record(container, tenant, clock, f"an-{n}") for n in range(1, 5)]

    await drain(container, host, clock, concurrency=1)
    assert [e for _, e, _ in host.received] == [first]  # the other items' deliveries were held back
    held_later = record(container, tenant, clock, "an-9")  # recorded while the endpoint backs off
    await drain(container, host, clock, concurrency=1)
    assert len(host.received) == 1

    readyz = (await api.get("/readyz")).json()
    assert readyz["status"] == "ready"
    assert readyz["checks"]["callbacks"].startswith("backing_off: 1 workspace callback endpoint(s)")
    shown = readyz["callbacks"]
    assert (shown["waiting"], shown["retrying"], shown["held"], shown["endpoints_failing"]) == (5, 1, 4, 1)
    assert shown["oldest_s"] >= 0
    lines = (await api.get("/metrics")).text.splitlines()
    assert 'jirabridge_callback_backlog{state="held"} 4.0' in lines
    assert 'jirabridge_callback_backlog{state="retrying"} 1.0' in lines
    assert 'jirabridge_callback_backlog{state="queued"} 0.0' in lines
    assert "jirabridge_callback_endpoints_failing 1.0" in lines

    clock.advance(1)  # one backoff: one more delivery, still failing
    await drain(container, host, clock, concurrency=1)
    assert len(host.received) == 2 and all(status == 503 for _, _, status in host.received)
    clock.advance(1)  # the backoff doubled: 2 s now
    await drain(container, host, clock, concurrency=1)
    assert len(host.received) == 2
    clock.advance(1)
    await drain(container, host, clock, concurrency=1)
    assert len(host.received) == 3

    host.down = False
    clock.advance(4)  # and 4 s after that
    await drain(container, host, clock, concurrency=1)
    # The first delivery the host answers releases the held ones: all delivered, none given up.
    assert sorted(host.delivered()) == sorted([first, *others, held_later])
    readyz = (await api.get("/readyz")).json()
    assert readyz["checks"]["callbacks"] == "ok"
    assert readyz["callbacks"] == {
        "waiting": 0,
        "retrying": 0,
        "held": 0,
        "oldest_s": 0,
        "endpoints_failing": 0,
    }
    failures = (await api.get("/api/v1/sync/failures", headers=tenant.headers())).json()["failures"]
    assert failures == []


async def test_a_delivery_given_up_names_the_events_item(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    host = Host(down=True)
    record(container, tenant, clock, "an-1", "DQ-1")
    for _ in range(10):  # the default 10 attempts
        await drain(container, host, clock)
        clock.advance(600)
    [failure] = (await api.get("/api/v1/sync/failures", headers=tenant.headers())).json()["failures"]
    assert (failure["operation"], failure["reason"]) == ("callback.deliver", "max_attempts")
    assert (failure["item"], failure["issue_key"]) == ({"type": "anomaly", "id": "an-1"}, "DQ-1")
    readyz = (await api.get("/readyz")).json()  # nothing waits for the endpoint any more
    assert (readyz["checks"]["callbacks"], readyz["callbacks"]["waiting"]) == ("ok", 0)


async def test_events_without_an_item_are_ordered_by_their_issue(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    host = Host(failing_items={"DQ-1"})
    first, second = (record(container, tenant, clock, None, "DQ-1") for _ in range(2))
    other = record(container, tenant, clock, None, "DQ-2")

    await drain(container, host, clock)
    clock.advance(2)
    await drain(container, host, clock)
    assert host.delivered("DQ-2") == [other]
    assert second not in [e for _, e, _ in host.received]  # behind the first of its issue

    host.failing_items.clear()
    clock.advance(60)
    await drain(container, host, clock)
    assert host.delivered("DQ-1") == [first, second]


async def test_a_refusal_is_an_answer_the_backoff_ends_on(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    await set_callback(api, tenant)
    clock = ManualClock()
    host = Host(down=True)
    first, second, third = [record(container, tenant, clock, f"an-{n}") for n in range(1, 4)]
    await drain(container, host, clock, concurrency=1)
    assert [e for _, e, _ in host.received] == [first]

    host.down, host.refusing_items = False, {"an-1"}
    clock.advance(1)
    await drain(container, host, clock, concurrency=1)
    assert host.received[1] == ("an-1", first, 410)
    assert host.delivered() == [second, third]  # released by the refusal, not after a second backoff
    [failure] = (await api.get("/api/v1/sync/failures", headers=tenant.headers())).json()["failures"]
    assert failure["reason"] == "callback_rejected"
