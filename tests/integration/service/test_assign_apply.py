"""What an `issue.assign` outcome means to the links and the feed, applied with no Jira at all: the
handler's outcomes are made up here, as `service/assign_sync.apply` receives them (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import AssignIssue
from jirabridge.domain.outcomes import Done, Fail, IssueAssigneeSeen, Job, Outcome, Retry
from jirabridge.service.tickets import assign_sync
from jirabridge.storage.tables import Base, Event, Link
from support.rows import SITE, T0, a_link, a_site, an_item, store, stored
from support.service import make_tenant

LinkRow = tuple[str, str, str | None, datetime | None, str | None]


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = AssignIssue(SITE, "WEB-1", item=("error", "e-1"))
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            assign_sync.apply(uow, self.job, outcome, T0)
            uow.commit()

    def links(self) -> list[LinkRow]:
        return [
            (
                r.id,
                r.sync_state,
                r.jira_assignee,
                r.jira_assignee_at.replace(tzinfo=UTC) if r.jira_assignee_at else None,
                r.last_error,
            )
            for r in stored(self.container, Link)
        ]

    def events(self) -> list[tuple[str, str | None, dict[str, object]]]:
        return [(r.type, r.item_id, dict(r.data or {})) for r in stored(self.container, Event)]


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Three items on WEB-1 (e-1 queued the assignment; e-3's link is broken), and a fourth on WEB-2;
    every link last saw Jira's assignee `acc-old` at T0."""
    tenant = await make_tenant(api)
    rows: list[Base] = [a_site(tenant.workspace_id)]
    links = [("WEB-1", "synced"), ("WEB-1", "synced"), ("WEB-1", "broken"), ("WEB-2", "synced")]
    for n, (issue, state) in enumerate(links):
        item = an_item(tenant.workspace_id, f"e-{n + 1}")
        assigned = {"jira_assignee": "acc-old", "jira_assignee_at": T0}
        rows += [item, a_link(item, id=f"lk_{n + 1}", issue_key=issue, state=state, **assigned)]
    store(container, *rows)
    return World(container, tenant.workspace_id)


def test_an_assignment_gives_every_live_link_of_the_issue_the_account_and_its_time(world: World) -> None:
    later = T0 + timedelta(minutes=5)
    world.apply(Done({"from": "acc-old", "to": "acc-ada"}, value=IssueAssigneeSeen("acc-ada", later)))

    assert world.links() == [
        ("lk_1", "synced", "acc-ada", later, None),
        ("lk_2", "synced", "acc-ada", later, None),
        ("lk_3", "broken", "acc-old", T0, None),  # broken: left as it was
        ("lk_4", "synced", "acc-old", T0, None),  # another issue: untouched
    ]
    assert world.events() == []


def test_an_unassignment_clears_the_account_and_an_older_time_does_not_move_the_mark_back(
    world: World,
) -> None:
    world.apply(Done({"from": "acc-old", "to": None}, value=IssueAssigneeSeen(None, T0 - timedelta(hours=1))))

    assert [link[:4] for link in world.links()[:2]] == [
        ("lk_1", "synced", None, T0),
        ("lk_2", "synced", None, T0),
    ]


def test_a_named_failure_is_one_sync_failed_event_on_the_item_that_queued_it(world: World) -> None:
    before = world.links()
    world.apply(Fail("user_not_mapped", "no account", announced=True, data={"user": "u-ada", "site": SITE}))

    assert world.links() == before  # the links do not show an assignment failure
    assert [(kind, item, data) for kind, item, data in world.events()] == [
        (
            "sync.failed",
            "e-1",
            {
                "operation": "issue.assign",
                "operation_id": "op_1",
                "reason": "user_not_mapped",
                "detail": "no account",
                "user": "u-ada",
                "site": SITE,
            },
        )
    ]


def test_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    world.apply(Fail("issue_not_found", "issue WEB-1 does not exist in Jira any more (404)"))

    assert [(link[0], link[1]) for link in world.links()] == [
        ("lk_1", "broken"),
        ("lk_2", "broken"),
        ("lk_3", "broken"),
        ("lk_4", "synced"),
    ]
    assert [(kind, item) for kind, item, _ in world.events()] == [
        ("link.broken", "e-1"),
        ("link.broken", "e-2"),
    ]


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"skipped": "assignee_sync_off"}),
        Retry("rate_limited", after_s=3),
        Fail("forbidden", "no"),
        Fail("link_broken", "gone"),
    ],
)
def test_an_outcome_that_says_nothing_about_the_issue_leaves_the_links_alone(
    world: World, outcome: Outcome
) -> None:
    before = world.links()
    world.apply(outcome)
    assert world.links() == before
    assert world.events() == []
