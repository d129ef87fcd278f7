"""What a `callback.deliver` outcome means to the workspace's endpoint and its other deliveries,
applied with no host at all: the handler's outcomes are made up here, as
`service/callback_delivery.apply` receives them after the attempt's record (SQLite and PostgreSQL);
and what `service/callback_delivery.loader` hands the handler."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outcomes import CallbackAnswered, Done, Fail, Job, Outcome, Retry
from jirabridge.service.workspaces import callback_delivery
from jirabridge.service.workspaces.callback_delivery import Target
from jirabridge.storage import callbacks, outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Operation
from support.service import Tenant, make_tenant

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOOK = "https://host.test/jira-events"
SECRET = "whsec-test-0123456789abcdef"


def _row(session: Session, op_id: str) -> Operation:
    return session.scalars(select(Operation).where(Operation.id == op_id)).one()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class World:
    """Deliveries of three items' events: `an-1`'s is the one that runs; `an-2`'s is the oldest of
    another item (the probe), `an-3`'s comes after it."""

    def __init__(self, container: Container, tenant: Tenant) -> None:
        self.container, self.tenant = container, tenant
        self.ops: dict[str, str] = {}
        with container.uow() as uow:
            for n in (1, 2, 3):
                op = DeliverCallback(f"ev_{n}", tenant.workspace_id, item=("anomaly", f"an-{n}"))
                self.ops[f"an-{n}"] = outbox.enqueue(
                    uow.session, op, workspace_id=tenant.workspace_id, now=T0
                )
            uow.commit()
        op = DeliverCallback("ev_1", tenant.workspace_id, item=("anomaly", "an-1"))
        self.job = Job(self.ops["an-1"], tenant.workspace_id, None, op.KIND, op, 1, None)

    def recorded(self, outcome: Outcome, own_wait_s: float, *, failing: bool = False) -> None:
        """The attempt recorded (a retry due after its own backoff), then its outcome applied."""
        with self.container.uow() as uow:
            row = _row(uow.session, self.ops["an-1"])
            row.status = outbox.PENDING if isinstance(outcome, Retry) else outbox.DONE
            row.run_after = T0 + timedelta(seconds=own_wait_s)
            target = Target(HOOK, SECRET, b"{}", endpoint_failing=failing)
            callback_delivery.apply(uow, replace(self.job, context=target), outcome, T0)
            uow.commit()

    def due(self) -> dict[str, float]:
        """Seconds after T0 each delivery is due."""
        with self.container.uow() as uow:
            found = {}
            for item, op_id in self.ops.items():
                row = _row(uow.session, op_id)
                found[item] = (_utc(row.run_after) - T0).total_seconds()
            return found

    def failing(self) -> bool:
        with self.container.uow() as uow:
            return callbacks.is_failing(uow.session, self.tenant.workspace_id)


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    return World(container, await make_tenant(api))


def test_a_retry_backs_the_endpoint_off_holding_the_others_but_the_probe(world: World) -> None:
    world.recorded(Retry("callback_http_503"), own_wait_s=0.5)

    # The endpoint's first failure: 1 s. The delivery waits no less; the probe after one backoff, the
    # rest after two.
    assert world.due() == {"an-1": 1.0, "an-2": 1.0, "an-3": 2.0}
    assert world.failing()


def test_each_failure_in_a_row_doubles_the_endpoints_backoff(world: World) -> None:
    for _ in range(5):
        world.recorded(Retry("callback_http_503"), own_wait_s=2.0)

    assert world.due() == {"an-1": 16.0, "an-2": 16.0, "an-3": 32.0}


def test_the_delivery_keeps_its_own_backoff_when_longer_and_retry_after_sets_the_endpoints(
    world: World,
) -> None:
    world.recorded(Retry("callback_http_429", after_s=42.0), own_wait_s=300.0)

    assert world.due() == {"an-1": 300.0, "an-2": 42.0, "an-3": 84.0}


@pytest.mark.parametrize(
    "answer",
    [
        Done({"status": 200}, value=CallbackAnswered(200)),
        Fail(callback_delivery.CALLBACK_REJECTED, "the host answered 410"),
    ],
)
def test_an_answer_ends_the_backoff_and_the_held_deliveries_are_due_at_once(
    world: World, answer: Outcome
) -> None:
    world.recorded(Retry("callback_http_503"), own_wait_s=0.5)

    world.recorded(answer, own_wait_s=0.0, failing=True)

    assert not world.failing()
    assert {item: due for item, due in world.due().items() if item != "an-1"} == {"an-2": 0.0, "an-3": 0.0}


@pytest.mark.parametrize(
    "outcome", [Fail("callback_refused", "callback.url: a private address"), Done({"skipped": "no_callback"})]
)
def test_a_delivery_never_sent_is_no_answer(world: World, outcome: Outcome) -> None:
    world.recorded(Retry("callback_http_503"), own_wait_s=0.5)

    world.recorded(outcome, own_wait_s=0.0, failing=True)

    assert world.failing()
    assert world.due()["an-3"] == 2.0


async def test_the_load_reads_the_callback_the_body_and_the_endpoints_state(
    world: World, api: httpx.AsyncClient, container: Container
) -> None:
    tenant = world.tenant
    with container.uow() as uow:
        event = record_event(
            uow.session,
            workspace_id=tenant.workspace_id,
            type="item.status_changed",
            source="jira",
            at=T0,
            item=("anomaly", "an-9"),
            issue_key="DQ-9",
            data={"to": "Resolved"},
        )
        uow.commit()
        event_id = event
    op = DeliverCallback(event_id, tenant.workspace_id, item=("anomaly", "an-9"))
    job = Job("op_9", tenant.workspace_id, None, op.KIND, op, 1, None)
    load = callback_delivery.loader(container.secrets)

    def loaded() -> Target | None:
        with container.uow() as uow:
            return load(uow, job)

    assert loaded() is None  # no callback URL
    callback = {"url": HOOK, "secret": SECRET}
    answer = await api.put("/api/v1/settings", json={"callback": callback}, headers=tenant.headers("admin"))
    assert answer.status_code == 200, answer.text
    feed = (await api.get("/api/v1/events", headers=tenant.headers())).json()["events"]
    [shown] = [e for e in feed if e["id"] == event_id]

    target = loaded()
    assert target == Target(HOOK, SECRET, callback_delivery.body_of(shown), endpoint_failing=False)
    world.recorded(Retry("callback_http_503"), own_wait_s=0.5)
    assert (target := loaded()) is not None and target.endpoint_failing
    other = Job("op_9", "ws_other", None, op.KIND, op, 1, None)
    with container.uow() as uow:
        assert load(uow, other) is None  # another workspace's event
