"""What an `issue.remote_link` outcome means to the links of its issue, applied with no Jira at all:
the handler's outcomes are made up here, as `service/remote_link_sync.apply` receives them (SQLite
and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import AddRemoteLink
from jirabridge.domain.outcomes import Done, Fail, Job, Outcome, Retry
from jirabridge.service.tickets import remote_link_sync
from jirabridge.service.tickets.remote_link_sync import RemoteLinkPlan
from jirabridge.storage.tables import Event, Item, Link, Site
from support.service import make_tenant

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SITE = "st_1"


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = AddRemoteLink(
            SITE,
            "WEB-1",
            global_id=f"jirabridge:{workspace_id}:error:e-1",
            url="https://host.example/errors/e-1",
            title="error e-1",
            item=("error", "e-1"),
        )
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            remote_link_sync.apply(uow, self.job, outcome, T0)
            uow.commit()

    def load(self) -> RemoteLinkPlan:
        with self.container.uow() as uow:
            return remote_link_sync.load(uow, self.job)

    def links(self) -> list[tuple[str, str]]:
        with self.container.uow() as uow:
            return [(r.id, r.sync_state) for r in uow.session.scalars(select(Link).order_by(Link.id))]

    def events(self) -> list[tuple[str, str | None]]:
        with self.container.uow() as uow:
            return [(r.type, r.item_id) for r in uow.session.scalars(select(Event).order_by(Event.seq))]


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """e-1 and e-2 linked to WEB-1, e-3 to WEB-2."""
    tenant = await make_tenant(api)
    with container.uow() as uow:
        uow.session.add(
            Site(
                id=SITE,
                workspace_id=tenant.workspace_id,
                url="https://acme.atlassian.net",
                auth_type="api_token",
                status="connected",
                webhook_token="t" * 40,
                created_at=T0,
            )
        )
        uow.session.flush()
        for n, issue in enumerate(["WEB-1", "WEB-1", "WEB-2"], start=1):
            uow.session.add(
                Item(
                    workspace_id=tenant.workspace_id,
                    type="error",
                    id=f"e-{n}",
                    title=f"e-{n}",
                    status="Open",
                    attributes={},
                    created_at=T0,
                    updated_at=T0,
                )
            )
            uow.session.add(
                Link(
                    id=f"lk_{n}",
                    workspace_id=tenant.workspace_id,
                    item_type="error",
                    item_id=f"e-{n}",
                    site_id=SITE,
                    issue_key=issue,
                    sync_state="synced",
                    linked_at=T0,
                )
            )
        uow.commit()
    return World(container, tenant.workspace_id)


def test_load_reads_the_links_of_the_issue(world: World) -> None:
    assert [(link.id, link.item_id) for link in world.load().links] == [("lk_1", "e-1"), ("lk_2", "e-2")]


def test_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    world.apply(Fail("issue_not_found", "issue WEB-1 does not exist in Jira any more (404)"))

    assert world.links() == [("lk_1", "broken"), ("lk_2", "broken"), ("lk_3", "synced")]
    assert world.events() == [("link.broken", "e-1"), ("link.broken", "e-2")]


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"remote_link_id": "10000"}),
        Done({"skipped": "not_linked"}),
        Retry("rate_limited", after_s=3),
        Fail("forbidden", "no"),
        Fail("link_broken", "gone"),
    ],
)
def test_any_other_outcome_leaves_the_links_alone(world: World, outcome: Outcome) -> None:
    world.apply(outcome)

    assert world.links() == [("lk_1", "synced"), ("lk_2", "synced"), ("lk_3", "synced")]
    assert world.events() == []
