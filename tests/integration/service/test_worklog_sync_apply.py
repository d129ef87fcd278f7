"""`worklog.sync` without Jira: what `service/worklog_sync.load` writes with the claim, and what each
outcome means to the entry, applied by `service/worklog_sync.apply` with made-up outcomes (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import SyncWorklog
from jirabridge.domain.outcomes import (
    Done,
    Fail,
    Job,
    Outcome,
    Retry,
    WorklogDeleted,
    WorklogDrifted,
    WorklogNotWritten,
    WorklogUnchanged,
    WorklogWritten,
)
from jirabridge.domain.worklogs import State, Step, Values
from jirabridge.service.worklogs import worklog_sync
from jirabridge.service.worklogs.worklog_sync import WorklogPlan
from jirabridge.storage.tables import Event, Operation
from jirabridge.storage.workspace_locks import workspace_locks_kept
from support.rows import SITE, T0, a_site, a_time_entry, a_user_connection, store
from support.service import make_tenant

VALUES = Values(1800, T0, "Fix login WEB-1")


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = SyncWorklog("te-1", "WEB-1", SITE, item=("time_entry", "te-1"))
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def load(self) -> WorklogPlan:
        with self.container.uow() as uow:
            plan = worklog_sync.load(uow, self.job)
            uow.commit()  # with the claim
        return plan

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            worklog_sync.apply(uow, self.job, outcome, T0 + timedelta(minutes=1))
            uow.commit()

    def change(self, **fields: Any) -> None:
        with self.container.uow() as uow:
            entry = uow.time_entries.get(self.workspace_id, "te-1")
            assert entry is not None
            for name, value in fields.items():
                setattr(entry, name, value)
            uow.commit()

    def entry(self) -> dict[str, Any]:
        with self.container.uow() as uow:
            e = uow.time_entries.get(self.workspace_id, "te-1")
            assert e is not None
            return {
                "state": e.state,
                "reason": e.reason,
                "worklog_issue_key": e.worklog_issue_key,
                "worklog_id": e.worklog_id,
                "create_marker": e.create_marker,
                "written": Values.from_json(e.written),
                "sending": Values.from_json(e.sending),
                "drift": e.drift,
            }

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.container.uow() as uow:
            rows = uow.session.scalars(select(Event).where(Event.type.like("worklog.%")).order_by(Event.seq))
            return [(r.type, dict(r.data or {})) for r in rows]

    def queued(self) -> list[tuple[str, str | None]]:
        with self.container.uow() as uow:
            rows = uow.session.scalars(select(Operation).where(Operation.kind == SyncWorklog.KIND))
            return [(r.kind, r.issue_key) for r in rows]


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Entry te-1 of u-alice (connected on the site), 30 minutes on WEB-1, pending: no worklog yet."""
    tenant = await make_tenant(api)
    ws = tenant.workspace_id
    store(
        container,
        a_site(ws),
        a_user_connection(ws, "u-alice", account_id="acc-alice", credentials="sealed"),
        a_time_entry(
            ws,
            "te-1",
            State.PENDING,
            user_id="u-alice",
            duration_s=1800,
            description="Fix login WEB-1",
            issue_key="WEB-1",
            version=1,
        ),
    )
    return World(container, ws)


def test_a_create_reserves_its_marker_and_values_with_the_claim_so_a_later_attempt_looks_first(
    world: World,
) -> None:
    plan = world.load()

    assert (plan.step, plan.values) == (Step.CREATE, VALUES)
    assert plan.marker is not None and plan.marker.startswith("wl")
    # On the entry before Jira is called: the issue, the marker, what is being sent.
    assert world.entry() | {"state": None} == {
        "state": None,
        "reason": None,
        "worklog_issue_key": "WEB-1",
        "worklog_id": None,
        "create_marker": plan.marker,
        "written": None,
        "sending": VALUES,
        "drift": None,
    }
    # The worker died after the call: the next attempt looks for that marker before anything else.
    again = world.load()
    assert (again.unconfirmed, again.marker, again.sending) == (plan.marker, None, VALUES)


def test_a_created_worklog_is_recorded_with_what_it_holds_and_the_entry_is_synced(world: World) -> None:
    world.load()
    world.apply(Done({"step": "create"}, value=WorklogWritten("created", "10001", VALUES)))

    shown = world.entry()
    assert (shown["state"], shown["worklog_issue_key"], shown["worklog_id"]) == ("synced", "WEB-1", "10001")
    assert (shown["written"], shown["sending"], shown["create_marker"]) == (VALUES, None, None)
    assert [(kind, data.get("action"), data.get("to")) for kind, data in world.events()] == [
        ("worklog.synced", "created", None),
        ("worklog.state_changed", None, "synced"),
    ]
    assert world.queued() == []  # nothing more to do


def test_a_lost_create_not_found_in_jira_is_forgotten_and_queued_again(world: World) -> None:
    world.load()
    world.apply(Done({"skipped": "create_not_found"}, value=WorklogUnchanged(create_not_found=True)))

    shown = world.entry()
    assert (shown["worklog_issue_key"], shown["create_marker"], shown["sending"]) == (None, None, None)
    assert world.queued() == [(SyncWorklog.KIND, "WEB-1")]


@pytest.mark.parametrize("outcome_kind", [Fail, Retry])
def test_a_create_jira_surely_did_not_apply_is_forgotten(
    world: World, outcome_kind: type[Fail | Retry]
) -> None:
    plan = world.load()
    unwritten = WorklogNotWritten(None, None, plan.version, unsent_marker=plan.marker)
    world.apply(outcome_kind("rate_limited", value=unwritten))

    shown = world.entry()
    assert (shown["worklog_issue_key"], shown["create_marker"], shown["sending"]) == (None, None, None)


def test_a_create_whose_answer_may_be_lost_keeps_its_marker_for_the_next_attempt(world: World) -> None:
    plan = world.load()
    world.apply(Retry("jira_timeout", value=WorklogNotWritten(None, None, plan.version)))

    assert world.entry()["create_marker"] == plan.marker


def test_a_refusal_fails_the_entry_unless_the_host_changed_it_meanwhile(world: World) -> None:
    plan = world.load()
    refused = WorklogNotWritten(State.FAILED, "forbidden: no", plan.version, unsent_marker=plan.marker)
    world.change(version=plan.version + 1)  # the host pushed the entry again while Jira answered
    world.apply(Fail("forbidden", "no", value=refused))
    assert world.entry()["state"] == "pending"  # the work its push queued decides

    world.change(version=plan.version)
    world.apply(Fail("forbidden", "no", value=refused))
    assert (world.entry()["state"], world.entry()["reason"]) == ("failed", "forbidden: no")


def test_an_edit_by_a_person_is_reported_and_what_was_about_to_be_sent_is_dropped(world: World) -> None:
    world.change(
        worklog_issue_key="WEB-1",
        worklog_id="10001",
        written=VALUES.to_json(),
        state="synced",
        duration_s=3600,
    )
    plan = world.load()
    assert plan.step is Step.UPDATE and world.entry()["sending"] is not None
    changes = {"seconds": {"written": 1800, "jira": 7200}}
    world.apply(Done({"state": "drifted"}, value=WorklogDrifted("10001", changes)))

    shown = world.entry()
    assert (shown["state"], shown["drift"], shown["sending"], shown["written"]) == (
        "drifted",
        changes,
        None,
        VALUES,
    )


def test_a_deleted_entry_whose_worklog_was_deleted_says_so(world: World) -> None:
    world.change(
        worklog_issue_key="WEB-1",
        worklog_id="10001",
        written=VALUES.to_json(),
        deleted_at=T0,
        delete_worklog=True,
    )
    world.apply(Done({"step": "delete"}, value=WorklogDeleted("10001", moved=False, already_gone=True)))

    shown = world.entry()
    assert (shown["state"], shown["worklog_id"], shown["worklog_issue_key"]) == ("deleted", None, None)
    assert shown["reason"] == "worklog 10001 on WEB-1 was already gone from Jira (404)"
    assert ("worklog.deleted", "entry_deleted", True) in [
        (kind, data.get("why"), data.get("already_gone")) for kind, data in world.events()
    ]


def statements_of(world: World, outcome: Outcome) -> list[str]:
    """The statements `apply` issues for `outcome`, in a transaction like the record's (the workspace
    locked and read once for its events: storage/workspace_locks.py)."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0])

    event.listen(world.container.engine, "before_cursor_execute", count)
    try:
        with world.container.uow() as uow, workspace_locks_kept(uow.session):
            worklog_sync.apply(uow, world.job, outcome, T0 + timedelta(minutes=1))
            uow.commit()
    finally:
        event.remove(world.container.engine, "before_cursor_execute", count)
    return [kind for kind in seen if kind not in ("BEGIN", "COMMIT")]


def test_a_created_worklog_is_recorded_in_one_update_of_the_entry(world: World) -> None:
    world.load()

    done = statements_of(world, Done({"step": "create"}, value=WorklogWritten("created", "10001", VALUES)))

    assert world.entry()["state"] == "synced"
    assert [kind for kind, _ in world.events()] == ["worklog.synced", "worklog.state_changed"]
    # The entry; the workspace's lock and settings; the site and the user's connection the state
    # is evaluated with; the events; one UPDATE of the entry (not flushed before each read).
    assert done.count("SELECT") == 4
    assert done.count("UPDATE") == 1
    assert len(done) <= 7


def test_a_worklog_moved_off_its_issue_reads_the_workspace_once(world: World) -> None:
    world.change(worklog_issue_key="WEB-1", worklog_id="10001", written=VALUES.to_json(), issue_key="WEB-2")

    moved = WorklogDeleted("10001", moved=True, already_gone=False)
    done = statements_of(world, Done({"step": "delete"}, value=moved))

    assert world.entry()["worklog_id"] is None
    assert ("worklog.deleted", "moved") in [(kind, data.get("why")) for kind, data in world.events()]
    assert world.queued() == [("worklog.sync", "WEB-2")]  # the create on the new issue
    # The workspace's settings as its lock read them (not read again for the evaluation).
    # The entry, the workspace, the site, its projects, the user's connection, a sync waiting.
    assert done.count("SELECT") == 6
    assert done.count("UPDATE") == 1
