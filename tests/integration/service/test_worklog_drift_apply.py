"""What the worklogs a `worklog.drift` check saw mean to the entries, applied by
`service/worklog_drift.apply` with made-up outcomes and no Jira (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import CheckWorklogDrift
from jirabridge.domain.outcomes import Done, Job, Outcome, Retry, WorklogDriftEnded, WorklogsSeen
from jirabridge.domain.worklogs import State, Values
from jirabridge.service.worklogs import worklog_drift
from jirabridge.storage import schedules
from jirabridge.storage.tables import Base
from support.rows import SITE, T0, a_site, a_time_entry, store
from support.service import make_tenant

WRITTEN = Values(1800, T0, "Fix login")


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = CheckWorklogDrift(SITE)
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, None)

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            worklog_drift.apply(uow, self.job, outcome, T0 + timedelta(hours=1))
            uow.commit()

    def states(self) -> dict[str, tuple[str, Any]]:
        with self.container.uow() as uow:
            return {
                f"te-{n}": (e.state, e.drift)
                for n in range(1, 6)
                if (e := uow.time_entries.get(self.workspace_id, f"te-{n}")) is not None
            }

    def marks(self) -> tuple[int, int] | None:
        with self.container.uow() as uow:
            mark = uow.time_entries.drift_watermark(SITE)
            return None if mark is None else (mark.updated_since_ms, mark.deleted_since_ms)


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Entries te-1..te-5 on worklogs 101..105: te-1..te-3 synced at T0, te-4 pending (the host changed
    it), te-5 synced after the check read Jira."""
    tenant = await make_tenant(api)
    ws = tenant.workspace_id
    rows: list[Base] = [a_site(ws)]
    for n, state, synced_at in [
        (1, State.SYNCED, T0),
        (2, State.SYNCED, T0),
        (3, State.SYNCED, T0),
        (4, State.PENDING, T0),
        (5, State.SYNCED, T0 + timedelta(minutes=30)),
    ]:
        rows.append(
            a_time_entry(
                ws,
                f"te-{n}",
                state,
                user_id="u-alice",
                duration_s=1800,
                issue_key="WEB-1",
                worklog_issue_key="WEB-1",
                worklog_id=str(100 + n),
                written=WRITTEN.to_json(),
                version=1,
                synced_at=synced_at,
            )
        )
    store(container, *rows)
    return World(container, ws)


def seen(**extra: Any) -> WorklogsSeen:
    edited = Values(7200, T0, "Fix login")
    fields: dict[str, Any] = {
        # 101 as written (jirabridge's own write), 102 edited by a person, 103 deleted, 104 and 105
        # edited too — but 104's entry is pending and 105's was written after Jira was read.
        "updated": {"101": WRITTEN, "102": edited, "104": edited, "105": edited, "999": edited},
        "deleted": frozenset({"103"}),
        "updated_until_ms": 5000,
        "deleted_until_ms": 6000,
        "read_at": T0 + timedelta(minutes=10),
    }
    return WorklogsSeen(**(fields | extra))


def test_a_person_s_edit_or_deletion_marks_its_synced_entry_drifted_and_nothing_else(world: World) -> None:
    world.apply(Done({}, value=seen()))

    assert world.states() == {
        "te-1": ("synced", None),
        "te-2": ("drifted", {"seconds": {"written": 1800, "jira": 7200}}),
        "te-3": ("drifted", {"deleted": True}),
        "te-4": ("pending", None),
        "te-5": ("synced", None),  # what the check saw may be older than jirabridge's own write
    }
    assert world.marks() == (5000, 6000)


def test_the_watermarks_never_move_back(world: World) -> None:
    world.apply(Done({}, value=seen()))
    world.apply(Done({}, value=seen(updated={}, deleted=frozenset(), updated_until_ms=4000)))
    assert world.marks() == (5000, 6000)


def test_a_failed_check_changes_nothing(world: World) -> None:
    world.apply(Retry("jira_unavailable"))
    assert world.marks() is None
    assert {state for state, _ in world.states().values()} == {"synced", "pending"}


def test_the_check_of_a_site_no_longer_connected_ends_its_schedule(world: World) -> None:
    with world.container.uow() as uow:
        schedules.ensure(
            uow.session, CheckWorklogDrift(SITE), workspace_id=world.workspace_id, every_s=300, now=T0
        )
        uow.commit()
    world.apply(Done({"skipped": "site_disconnected"}, value=WorklogDriftEnded()))
    with world.container.uow() as uow:
        assert schedules.get(uow.session, CheckWorklogDrift(SITE).schedule_key()) is None
