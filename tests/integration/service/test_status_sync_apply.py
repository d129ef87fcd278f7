"""What an `issue.sync_status` outcome means to the links, applied with no Jira at all: the handler's
outcomes are made up here, as `service/status_sync.apply` receives them (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import SyncStatus
from jirabridge.domain.outcomes import Done, Fail, IssueStatusSeen, Job, Outcome, Retry
from jirabridge.service.tickets import status_sync
from jirabridge.storage.tables import Base, Event, Link
from support.rows import SITE, T0, a_link, a_site, an_item, store, stored
from support.service import make_tenant


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = SyncStatus(SITE, "WEB-1")
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            status_sync.apply(uow, self.job, outcome, T0)
            uow.commit()

    def links(self) -> list[tuple[str, str, str | None, str | None, str | None]]:
        rows = stored(self.container, Link)
        return [(r.id, r.sync_state, r.jira_status, r.jira_status_category, r.last_error) for r in rows]

    def events(self) -> list[tuple[str, str | None, dict[str, object]]]:
        return [(r.type, r.item_id, dict(r.data or {})) for r in stored(self.container, Event)]


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Two items grouped on WEB-1 (one link failed earlier), and a third on another issue."""
    tenant = await make_tenant(api)
    rows: list[Base] = [a_site(tenant.workspace_id)]
    for n, (issue, state) in enumerate([("WEB-1", "synced"), ("WEB-1", "failed"), ("WEB-2", "synced")]):
        item = an_item(tenant.workspace_id, f"e-{n + 1}")
        earlier = "earlier" if state == "failed" else None
        rows += [item, a_link(item, id=f"lk_{n + 1}", issue_key=issue, state=state, last_error=earlier)]
    store(container, *rows)
    return World(container, tenant.workspace_id)


def test_a_move_gives_every_link_of_the_issue_its_new_status_and_clears_a_failure(world: World) -> None:
    world.apply(Done({"to": "Done"}, value=IssueStatusSeen("Done", "done", "10001")))

    assert world.links() == [
        ("lk_1", "synced", "Done", "done", None),
        ("lk_2", "synced", "Done", "done", None),
        ("lk_3", "synced", "To Do", "new", None),  # another issue: untouched
    ]
    assert world.events() == []


def test_a_named_failure_shows_on_every_link_and_once_on_each_item(world: World) -> None:
    world.apply(
        Fail("transition_not_allowed", "No transition", announced=True, data={"from": "To Do", "to": "Done"})
    )

    assert [(link[0], link[1], link[4]) for link in world.links()] == [
        ("lk_1", "failed", "transition_not_allowed: No transition"),
        ("lk_2", "failed", "transition_not_allowed: No transition"),
        ("lk_3", "synced", None),
    ]
    assert [(kind, item, data["reason"], data["to"]) for kind, item, data in world.events()] == [
        ("sync.failed", "e-1", "transition_not_allowed", "Done"),
        ("sync.failed", "e-2", "transition_not_allowed", "Done"),
    ]


def test_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    world.apply(Fail("issue_not_found", "issue WEB-1 does not exist in Jira any more (404)"))

    assert [(link[0], link[1], link[2]) for link in world.links()] == [
        ("lk_1", "broken", None),
        ("lk_2", "broken", None),
        ("lk_3", "synced", "To Do"),
    ]
    assert [(kind, item) for kind, item, _ in world.events()] == [
        ("link.broken", "e-1"),
        ("link.broken", "e-2"),
    ]


@pytest.mark.parametrize(
    "outcome",
    [Done({"skipped": "status_sync_off"}), Retry("rate_limited", after_s=3), Fail("forbidden", "no")],
)
def test_an_outcome_that_says_nothing_about_the_issue_leaves_the_links_alone(
    world: World, outcome: Outcome
) -> None:
    before = world.links()
    world.apply(outcome)
    assert world.links() == before
    assert world.events() == []
