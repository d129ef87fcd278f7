"""What an `issue.create` outcome means to its link, its item and the outbox, applied with no Jira at
all: the handler's outcomes are made up here, as `service/create_sync.apply` receives them; and what
`load` reads for the handler (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import CreateIssue, RemoteLinkTarget
from jirabridge.domain.outcomes import Done, Fail, IssueCreated, Job, Outcome, Retry
from jirabridge.service.tickets import create_sync
from jirabridge.storage import outbox
from jirabridge.storage.tables import Event, Link, Operation
from support.rows import (
    SITE,
    T0,
    TWO_WAY_STATUS,
    a_pending_link,
    a_site,
    an_item,
    project_settings,
    store,
    stored,
)
from support.service import make_tenant

# The handler could not make the web link back to the item in its own attempt: apply queues it.
TO_DO = IssueCreated("WEB-7", "10007", "To Do", "new")
BACKLINKED = replace(TO_DO, backlinked=True)


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        self.job = self.job_of(self.create_op())

    def create_op(self, *, url: str | None = "https://host.example/errors/e-1", **fields: Any) -> CreateIssue:
        return CreateIssue(
            link_id="lk_1",
            site_id=SITE,
            fields={"project": {"key": "WEB"}, "issuetype": {"id": "10001"}, "summary": "Boom"} | fields,
            marker="jb-0123456789ab",
            remote_link=RemoteLinkTarget(url, "error e-1: Boom") if url else None,
        )

    def job_of(self, op: CreateIssue, attempts: int = 1) -> Job:
        return Job("op_1", self.workspace_id, SITE, op.KIND, op, attempts, None)

    def apply(self, outcome: Outcome, job: Job | None = None) -> None:
        with self.container.uow() as uow:
            create_sync.apply(uow, job or self.job, outcome, T0)
            uow.commit()

    def load(self, job: Job) -> create_sync.CreatePlan:
        with self.container.uow() as uow:
            return create_sync.load(uow, job)

    def link(self) -> Link:
        with self.container.uow() as uow:
            link = uow.links.get("lk_1")
            assert link is not None
            return link

    def item_status(self) -> str | None:
        with self.container.uow() as uow:
            item = uow.items.get(self.workspace_id, "error", "e-1")
            assert item is not None
            return item.status

    def events(self) -> list[tuple[str, str | None, dict[str, object]]]:
        return [(r.type, r.item_id, dict(r.data or {})) for r in stored(self.container, Event)]

    def queued(self) -> list[tuple[str, dict[str, Any]]]:
        with self.container.uow() as uow:
            rows = uow.session.scalars(
                select(Operation).where(Operation.kind != "callback.deliver").order_by(Operation.seq)
            )
            return [(r.kind, dict(r.payload or {})) for r in rows]

    def set_item_status(self, status: str) -> None:
        with self.container.uow() as uow:
            item = uow.items.get(self.workspace_id, "error", "e-1")
            assert item is not None
            item.status = status
            uow.commit()

    def settings(self, **document: Any) -> None:
        store(self.container, project_settings(self.workspace_id, settings=TWO_WAY_STATUS | document))


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Item e-1 (Open) with a pending link lk_1 on the site; no project settings."""
    tenant = await make_tenant(api)
    item = an_item(tenant.workspace_id, "e-1", title="Boom")
    # The site's URL as an admin may type it: the issue's URL is made without a double slash.
    site = a_site(tenant.workspace_id, url="https://acme.atlassian.net/")
    store(container, site, item, a_pending_link(item, id="lk_1"))
    return World(container, tenant.workspace_id)


def test_an_issue_made_with_its_web_link_is_the_links_and_queues_nothing(world: World) -> None:
    world.apply(Done({"issue_key": "WEB-7", "issue_id": "10007"}, value=BACKLINKED))

    assert (world.link().issue_key, world.link().sync_state) == ("WEB-7", "synced")
    assert [kind for kind, _, _ in world.events()] == ["ticket.created"]
    assert world.queued() == []


def test_the_issue_made_is_the_links_with_its_event_and_the_remote_link_queued(world: World) -> None:
    world.apply(Done({"issue_key": "WEB-7", "issue_id": "10007"}, value=TO_DO))

    link = world.link()
    assert (link.issue_key, link.issue_id, link.issue_type_id) == ("WEB-7", "10007", "10001")
    assert (link.jira_status, link.jira_status_category, link.sync_state, link.last_error) == (
        "To Do",
        "new",
        "synced",
        None,
    )
    assert link.jira_assignee is None
    assert world.events() == [
        (
            "ticket.created",
            "e-1",
            {"issue_key": "WEB-7", "issue_url": "https://acme.atlassian.net/browse/WEB-7"},
        )
    ]
    [(kind, payload)] = world.queued()
    assert kind == "issue.remote_link"
    assert (payload["issue_key"], payload["url"], payload["title"]) == (
        "WEB-7",
        "https://host.example/errors/e-1",
        "error e-1: Boom",
    )
    assert payload["global_id"] == f"jirabridge:{world.workspace_id}:error:e-1"


def test_the_assignee_the_issue_was_created_with_is_the_links_so_its_report_is_no_change(
    world: World,
) -> None:
    job = world.job_of(world.create_op(url=None, assignee={"accountId": "acc-ada"}))

    world.apply(Done(value=TO_DO), job)

    assert world.link().jira_assignee == "acc-ada"
    assert world.queued() == []  # no URL on the item: no remote link


def test_an_item_whose_status_maps_elsewhere_queues_the_new_issues_status_sync(world: World) -> None:
    world.settings()
    world.set_item_status("Active")  # maps to In Progress; the issue starts in To Do

    world.apply(Done(value=TO_DO))

    assert [kind for kind, _ in world.queued()] == ["issue.remote_link", "issue.sync_status"]


@pytest.mark.parametrize(
    ("document", "item_status"),
    [
        ({}, "Open"),  # Open maps to To Do, where the issue already is
        ({"status_sync": "inbound"}, "Active"),  # the project does not push statuses
        ({"status_sync": "off"}, "Active"),
    ],
)
def test_no_status_sync_is_queued_when_none_would_move_the_issue(
    world: World, document: dict[str, str], item_status: str
) -> None:
    world.settings(**document)
    world.set_item_status(item_status)

    world.apply(Done(value=TO_DO))

    assert [kind for kind, _ in world.queued()] == ["issue.remote_link"]


def test_the_projects_on_create_status_moves_the_item_with_the_issue(world: World) -> None:
    world.settings(on_create_status="Active", on_create_status_from=["Open"])

    world.apply(Done(value=TO_DO))

    assert world.item_status() == "Active"
    assert [kind for kind, _, _ in world.events()] == ["ticket.created", "item.status_changed"]
    # The item is Active now, which maps to In Progress: the new issue follows.
    assert [kind for kind, _ in world.queued()] == ["issue.remote_link", "issue.sync_status"]


def test_a_failure_for_good_shows_on_the_pending_link(world: World) -> None:
    world.apply(Fail("bad_request", "Jira answered 400: priority: Specify a valid priority"))

    link = world.link()
    assert (link.sync_state, link.last_error, link.issue_key) == (
        "failed",
        "bad_request: Jira answered 400: priority: Specify a valid priority",
        None,
    )
    assert world.events() == [] and world.queued() == []  # the outbox records the sync.failed event


def test_a_failure_leaves_a_link_that_has_its_issue_alone(world: World) -> None:
    world.apply(Done(value=TO_DO))

    world.apply(Fail("forbidden", "no"))

    assert (world.link().sync_state, world.link().issue_key) == ("synced", "WEB-7")


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"skipped": "link_removed"}),
        Done({"issue_key": "WEB-7"}),  # an earlier attempt finished: nothing more to record
        Retry("create_unconfirmed", after_s=25),
        Retry("jira_unavailable"),
    ],
)
def test_an_outcome_without_a_new_issue_or_a_failure_writes_nothing(world: World, outcome: Outcome) -> None:
    world.apply(outcome)

    link = world.link()
    assert (link.sync_state, link.issue_key, link.last_error) == ("pending", None, None)
    assert world.events() == [] and world.queued() == []


def test_a_link_removed_while_the_create_ran_gets_no_issue_and_no_event(world: World) -> None:
    with world.container.uow() as uow:
        link = uow.links.get("lk_1")
        assert link is not None
        uow.links.remove(link)
        uow.commit()

    world.apply(Done(value=TO_DO))

    assert world.events() == [] and world.queued() == []


def test_load_reads_the_link_and_on_a_retry_when_the_create_was_last_sent(world: World) -> None:
    with world.container.uow() as uow:
        op_id = outbox.enqueue(uow.session, world.create_op(), workspace_id=world.workspace_id, now=T0)
        uow.commit()
    first = replace(world.job, id=op_id)
    retry = replace(first, attempts=2)
    sent = T0 + timedelta(seconds=3)
    with world.container.uow() as uow:
        create_sync.note_sent(uow, [op_id], sent)

    item = ("error", "e-1")  # what the issue's web link points back to
    assert world.load(first) == create_sync.CreatePlan(
        linked=True, issue_key=None, create_sent_at=None, item=item
    )
    assert world.load(retry) == create_sync.CreatePlan(
        linked=True, issue_key=None, create_sent_at=sent, item=item
    )
    with world.container.uow() as uow:
        create_sync.note_sent(uow, [op_id], None)  # Jira said that create was not applied
    assert world.load(retry).create_sent_at is None

    world.apply(Done(value=TO_DO), retry)
    assert world.load(retry).issue_key == "WEB-7"  # a later attempt finds it done


def test_load_sees_a_link_of_another_workspace_as_removed(world: World) -> None:
    other = replace(world.job, workspace_id="ws_other")

    assert world.load(other) == create_sync.CreatePlan(linked=False, issue_key=None, create_sent_at=None)
    world.apply(Done(value=TO_DO), other)  # and the issue is not recorded on it
    assert world.link().issue_key is None
