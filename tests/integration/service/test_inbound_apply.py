"""Applying Jira's changes in order, on SQLite and PostgreSQL: unordered deliveries, overlapping polls,
outbound work in flight, and a host change newer than Jira's. Changes are given as the values the
webhook receiver and the poller produce, so every source is covered by the same rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from jirabridge.bootstrap import Container
from jirabridge.domain import inbound as domain
from jirabridge.domain.operations import ApplyInbound, SyncStatus, from_row
from jirabridge.service.inbound import inbound
from jirabridge.storage import outbox
from jirabridge.storage.tables import Event, Item, Link, Operation, Site
from support.rows import a_link, an_item, store
from support.service import make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
}
T0 = datetime.now(UTC).replace(microsecond=0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class World:
    def __init__(self, container: Container, site_id: str, workspace_id: str) -> None:
        self.container, self.site_id, self.workspace_id = container, site_id, workspace_id

    def receive(self, change: domain.Change, now: datetime | None = None) -> bool:
        with self.container.uow() as uow:
            site = uow.session.get(Site, self.site_id)
            assert site is not None
            received = inbound.receive(uow, now or at(100), site, change, source="webhook")
            uow.commit()
            return not received.deferred

    def item(self, item_id: str) -> Item:
        with self.container.uow() as uow:
            item = uow.session.get(Item, (self.workspace_id, "error", item_id))
            assert item is not None
            uow.session.expunge(item)
            return item

    def link(self, item_id: str) -> Link:
        with self.container.uow() as uow:
            link = uow.session.scalar(select(Link).where(Link.item_id == item_id))
            assert link is not None
            uow.session.expunge(link)
            return link

    def events(self, kind: str) -> list[Event]:
        with self.container.uow() as uow:
            return list(uow.session.scalars(select(Event).where(Event.type == kind).order_by(Event.seq)))


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """A connected site and a project with two-way sync of status, assignee and comments."""
    tenant = await make_tenant(api)
    site = (await api.post("/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers())).json()
    answer = await api.put(
        f"/api/v1/sites/{site['id']}/projects/WEB", json=SETTINGS, headers=tenant.headers()
    )
    assert answer.status_code in (200, 201), answer.text
    return World(container, site["id"], tenant.workspace_id)


@pytest.fixture
async def linked(world: World, jira: httpx.AsyncClient) -> World:
    """Item e-1 (status Open) linked to a new issue WEB-1 (status To Do)."""
    made = await jira.post(
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "s"}},
    )
    assert made.status_code == 201
    item = an_item(world.workspace_id, "e-1", at=at(0))
    store(world.container, item, a_link(item, id="lk_1", site_id=world.site_id, issue_key="WEB-1", at=at(0)))
    return world


def moved(status: str, category: str, seconds: float) -> domain.IssueSnapshot:
    return domain.IssueSnapshot(
        key="WEB-1", id=None, updated=at(seconds), status=status, status_category=category
    )


def test_an_older_change_arriving_late_is_ignored(linked: World) -> None:
    assert linked.receive(moved("Done", "done", 20))
    assert linked.receive(moved("In Progress", "indeterminate", 10))  # older: delivered late
    assert linked.item("e-1").status == "Fixed"
    assert linked.link("e-1").jira_status == "Done"
    assert [e.data["to"] for e in linked.events("item.status_changed")] == ["Fixed"]


def test_the_same_change_twice_is_applied_once(linked: World) -> None:
    linked.receive(moved("In Progress", "indeterminate", 10))
    linked.receive(moved("In Progress", "indeterminate", 10))
    assert len(linked.events("item.status_changed")) == 1


def test_a_host_change_newer_than_jiras_wins(linked: World) -> None:
    with linked.container.uow() as uow:
        item = uow.session.get(Item, (linked.workspace_id, "error", "e-1"))
        assert item is not None
        item.status, item.status_changed_at = "Fixed", at(30)
        uow.commit()
    linked.receive(moved("In Progress", "indeterminate", 20))
    assert linked.item("e-1").status == "Fixed"
    assert linked.link("e-1").jira_status == "In Progress"  # what Jira shows is still recorded
    assert linked.events("item.status_changed") == []


def test_a_change_waits_behind_outbound_work_on_its_issue(linked: World) -> None:
    with linked.container.uow() as uow:
        outbox.enqueue(
            uow.session, SyncStatus(linked.site_id, "WEB-1"), workspace_id=linked.workspace_id, now=at(5)
        )
        uow.commit()
    assert not linked.receive(moved("In Progress", "indeterminate", 10))
    assert linked.item("e-1").status == "Open"  # not yet: queued behind the outbound operation
    with linked.container.uow() as uow:
        queued = list(
            uow.session.scalars(
                select(Operation).where(Operation.kind == "inbound.apply").order_by(Operation.seq)
            )
        )
    assert len(queued) == 1 and queued[0].ordering_key == f"issue:{linked.site_id}:WEB-1"
    deferred = from_row(queued[0].kind, queued[0].payload)
    assert isinstance(deferred, ApplyInbound)
    assert deferred.change == moved("In Progress", "indeterminate", 10)


def test_a_deleted_issue_breaks_its_links(linked: World) -> None:
    linked.receive(domain.IssueDeleted(key="WEB-1", id=None))
    link = linked.link("e-1")
    assert link.sync_state == "broken" and "deleted" in (link.last_error or "")
    assert [e.data["reason"] for e in linked.events("link.broken")] == ["issue_deleted"]


def test_a_jira_comment_on_an_unlinked_issue_changes_nothing(world: World) -> None:
    comment = domain.CommentSnapshot(id="1", body="hi", author=None, created=at(1), updated=at(1))
    assert world.receive(domain.CommentChanged(issue_key="WEB-9", issue_id=None, comment=comment))
    assert world.events("item.comment_added") == []


def test_comments_older_than_the_link_are_history(linked: World) -> None:
    old = domain.CommentSnapshot(id="7", body="before", author=None, created=at(-600), updated=at(-600))
    new = domain.CommentSnapshot(
        id="8", body="after", author=domain.JiraUser("acc-1", "Alice"), created=at(5), updated=at(5)
    )
    for comment in (old, new):
        linked.receive(domain.CommentChanged(issue_key="WEB-1", issue_id=None, comment=comment))
    assert [e.data["body"] for e in linked.events("item.comment_added")] == ["after"]
    assert linked.events("item.comment_added")[0].data["jira_user"] == {
        "account_id": "acc-1",
        "display_name": "Alice",
    }
