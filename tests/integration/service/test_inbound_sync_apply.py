"""What the outcomes of `inbound.poll`, `inbound.catch_up` and `inbound.apply` mean to the items,
the feed and the poll's watermark, applied with no Jira at all: the handlers' outcomes are made up
here, as `service/inbound_sync` receives them (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from jirabridge.bootstrap import Container
from jirabridge.domain import inbound as domain
from jirabridge.domain.operations import ApplyInbound, CatchUpStatuses, PollProject, SyncStatus
from jirabridge.domain.outcomes import (
    Done,
    Fail,
    IssuesCaughtUp,
    Job,
    Outcome,
    ProjectPolled,
    Retry,
)
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import inbound_sync
from jirabridge.storage import outbox
from jirabridge.storage.tables import Base, Event, Item, Operation, ProjectSettings
from support.rows import SITE, T0, a_link, a_site, an_item, project_settings, store, stored
from support.service import make_tenant

Apply = Callable[[UnitOfWork, Job, Outcome, datetime], None]

SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def moved(key: str, status: str, category: str, minutes: float) -> domain.IssueSnapshot:
    return domain.IssueSnapshot(
        key=key, id=None, updated=at(minutes), status=status, status_category=category
    )


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id

    def job(self, op: PollProject | CatchUpStatuses | ApplyInbound) -> Job:
        return Job("op_1", self.workspace_id, SITE, op.KIND, op, 1, None)

    def poll(self, outcome: Outcome) -> None:
        self._apply(inbound_sync.apply_poll, self.job(PollProject(SITE, "WEB")), outcome)

    def catch_up(self, outcome: Outcome) -> None:
        self._apply(inbound_sync.apply_catch_up, self.job(CatchUpStatuses(SITE, "WEB")), outcome)

    def deferred(self, change: domain.Change, outcome: Outcome) -> None:
        self._apply(inbound_sync.apply_deferred, self.job(ApplyInbound(SITE, "webhook", change)), outcome)

    def _apply(self, apply: Apply, job: Job, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            apply(uow, job, outcome, at(60))
            uow.commit()

    def statuses(self) -> dict[str, str | None]:
        return {i.id: i.status for i in stored(self.container, Item)}

    def watermark(self) -> datetime | None:
        with self.container.uow() as uow:
            row = uow.session.get(ProjectSettings, (self.workspace_id, SITE, "WEB"))
            assert row is not None and row.polled_until is not None
            return row.polled_until.replace(tzinfo=UTC)

    def events(self) -> list[tuple[str, str | None, object]]:
        return [(r.type, r.item_id, (r.data or {}).get("to")) for r in stored(self.container, Event)]

    def queued(self, kind: str) -> list[Operation]:
        with self.container.uow() as uow:
            return list(uow.session.scalars(select(Operation).where(Operation.kind == kind)))


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Items e-1 on WEB-1 and e-2 on WEB-2, both Open (Jira: To Do), in project WEB, status syncing
    both ways; the poll's watermark at T0."""
    tenant = await make_tenant(api)
    ws = tenant.workspace_id
    rows: list[Base] = [a_site(ws), project_settings(ws, settings=SETTINGS, polled_until=T0)]
    for n in (1, 2):
        item = an_item(ws, f"e-{n}")
        rows += [item, a_link(item, id=f"lk_{n}", issue_key=f"WEB-{n}")]
    store(container, *rows)
    return World(container, ws)


def test_a_poll_applies_every_change_it_found_and_moves_the_watermark_to_its_start(world: World) -> None:
    changes = (moved("WEB-1", "In Progress", "indeterminate", 1), moved("WEB-2", "Done", "done", 2))
    world.poll(Done({"pages": 1, "issues": 2}, value=ProjectPolled(changes, until=at(5))))

    assert world.statuses() == {"e-1": "Acknowledged", "e-2": "Fixed"}
    assert world.events() == [
        ("item.status_changed", "e-1", "Acknowledged"),
        ("item.status_changed", "e-2", "Fixed"),
    ]
    assert world.watermark() == at(5)


def test_a_poll_older_than_the_watermark_does_not_move_it_back(world: World) -> None:
    world.poll(Done(value=ProjectPolled((), until=at(5))))
    world.poll(Done(value=ProjectPolled((), until=at(3))))  # a slow poll recorded after a later one
    assert world.watermark() == at(5)


def test_a_polled_change_on_an_issue_with_outbound_work_waits_behind_it(world: World) -> None:
    with world.container.uow() as uow:
        outbox.enqueue(uow.session, SyncStatus(SITE, "WEB-1"), workspace_id=world.workspace_id, now=T0)
        uow.commit()
    changes = (moved("WEB-1", "In Progress", "indeterminate", 1), moved("WEB-2", "Done", "done", 2))
    world.poll(Done(value=ProjectPolled(changes, until=at(5))))

    assert world.statuses() == {"e-1": "Open", "e-2": "Fixed"}  # e-1: after the transition has run
    [queued] = world.queued("inbound.apply")
    assert queued.ordering_key == f"issue:{SITE}:WEB-1"
    assert world.watermark() == at(5)  # the queued change is the outbox's now: nothing is missed


def test_a_polled_change_waits_behind_the_work_an_earlier_change_of_the_same_poll_queued(
    world: World,
) -> None:
    # e-1 is linked to WEB-2 as well: when it takes WEB-1's status, WEB-2 is queued to follow, and
    # WEB-2's own change, later in the same poll, waits behind that as a change from a webhook would.
    store(world.container, a_link(an_item(world.workspace_id, "e-1"), id="lk_3", issue_key="WEB-2"))
    changes = (moved("WEB-1", "In Progress", "indeterminate", 1), moved("WEB-2", "Done", "done", 2))
    world.poll(Done(value=ProjectPolled(changes, until=at(5))))

    assert world.statuses() == {"e-1": "Acknowledged", "e-2": "Open"}
    assert [op.ordering_key for op in world.queued("issue.sync_status")] == [f"issue:{SITE}:WEB-2"]
    assert [op.ordering_key for op in world.queued("inbound.apply")] == [f"issue:{SITE}:WEB-2"]


@pytest.mark.parametrize(
    "outcome",
    [
        Retry("rate_limited", after_s=3),
        Fail("forbidden", "no"),
        Done({"skipped": "inbound_off"}),
    ],
)
def test_a_poll_that_found_nothing_leaves_items_and_watermark_alone(world: World, outcome: Outcome) -> None:
    world.poll(outcome)
    assert world.statuses() == {"e-1": "Open", "e-2": "Open"}
    assert world.watermark() == T0
    assert world.events() == []


def test_a_catch_up_moves_items_not_in_step_with_the_status_the_links_already_show(world: World) -> None:
    # The links already know Jira's To Do (it arrived while status sync was off), the items do not
    # show it: a catch-up applies it even though it is not news to the links.
    with world.container.uow() as uow:
        item = uow.session.get(Item, (world.workspace_id, "error", "e-1"))
        assert item is not None
        item.status = "Fixed"
        uow.commit()
    changes = (moved("WEB-1", "To Do", "new", 1), moved("WEB-2", "To Do", "new", 1))
    world.catch_up(Done({"linked": 2, "found": 2}, value=IssuesCaughtUp(changes)))

    assert world.statuses() == {"e-1": "Open", "e-2": "Open"}
    assert world.events() == [("item.status_changed", "e-1", "Open")]


def test_a_failed_catch_up_changes_nothing(world: World) -> None:
    world.catch_up(Retry("server_error", "503"))
    assert world.events() == []


def test_a_deferred_change_is_applied_with_its_record_and_not_on_a_retry(world: World) -> None:
    change = moved("WEB-2", "Done", "done", 1)
    world.deferred(change, Retry("handler_error", "x"))
    assert world.statuses()["e-2"] == "Open"
    world.deferred(change, Done({"applied": True}))
    assert world.statuses()["e-2"] == "Fixed"
    assert world.events() == [("item.status_changed", "e-2", "Fixed")]


def test_changes_on_a_site_of_another_workspace_are_not_applied(world: World) -> None:
    op = ApplyInbound(SITE, "poll", moved("WEB-1", "Done", "done", 1))
    job = Job("op_1", "ws_other", SITE, op.KIND, op, 1, None)
    with world.container.uow() as uow:
        assert inbound_sync.load_deferred(uow, job) is False
        inbound_sync.apply_deferred(uow, job, Done(), at(60))
        uow.commit()
    assert world.statuses() == {"e-1": "Open", "e-2": "Open"}


def test_the_poll_reads_its_watermark_and_the_catch_up_only_the_parts_still_switched_on(
    world: World,
) -> None:
    with world.container.uow() as uow:
        poll = inbound_sync.load_poll(uow, world.job(PollProject(SITE, "WEB")))
        catch_up = inbound_sync.load_catch_up(
            uow, world.job(CatchUpStatuses(SITE, "WEB", parts=("status", "assignee")))
        )
        gone = inbound_sync.load_poll(uow, world.job(PollProject(SITE, "DQ")))
    assert poll.since == T0 and poll.sync is not None and poll.sync.status_inbound
    assert (catch_up.parts, catch_up.keys) == (("status",), ("WEB-1", "WEB-2"))  # assignee sync is off
    assert gone.since is None
