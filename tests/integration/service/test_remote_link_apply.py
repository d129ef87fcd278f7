"""What an `issue.remote_link` outcome means to the links of its issue, applied with no Jira at all:
the handler's outcomes are made up here, as `service/remote_link_sync.apply` receives them (SQLite
and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import AddRemoteLink
from jirabridge.domain.outcomes import Done, Fail, Job, Outcome, Retry
from jirabridge.service.tickets import remote_link_sync
from jirabridge.service.tickets.remote_link_sync import RemoteLinkPlan
from jirabridge.storage.tables import Base, Event, Link
from support.rows import SITE, T0, a_link, a_site, an_item, store, stored
from support.service import make_tenant


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
        return [(r.id, r.sync_state) for r in stored(self.container, Link)]

    def events(self) -> list[tuple[str, str | None]]:
        return [(r.type, r.item_id) for r in stored(self.container, Event)]


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """e-1 and e-2 linked to WEB-1, e-3 to WEB-2."""
    tenant = await make_tenant(api)
    rows: list[Base] = [a_site(tenant.workspace_id)]
    for n, issue in enumerate(["WEB-1", "WEB-1", "WEB-2"], start=1):
        item = an_item(tenant.workspace_id, f"e-{n}")
        rows += [item, a_link(item, id=f"lk_{n}", issue_key=issue)]
    store(container, *rows)
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
