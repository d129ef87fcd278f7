"""What an `issue.comment_update` outcome means, applied with no Jira at all: the handler's outcomes
are made up here, as `service/comment_edit.apply` receives them (SQLite and PostgreSQL); and what
`service/comment_edit.load` hands the handler."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import UpdateComment
from jirabridge.domain.outcomes import CommentsEdited, Done, Fail, Job, Outcome, Retry
from jirabridge.service.tickets import comment_edit
from jirabridge.storage.tables import Event, JiraCommentRef, Link
from support.rows import SITE, T0, a_comment_ref, a_host_comment, a_link, a_site, an_item, store, stored
from support.service import make_tenant

EDITED_AT = datetime(2026, 3, 1, 12, 5, 7, tzinfo=UTC)


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id
        op = UpdateComment(SITE, "WEB-1", "cm_1", item=("error", "e-1"))
        self.job = Job("op_1", workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def apply(self, outcome: Outcome) -> None:
        with self.container.uow() as uow:
            comment_edit.apply(uow, self.job, outcome, T0)
            uow.commit()

    def load(self) -> comment_edit.CommentEditPlan:
        with self.container.uow() as uow:
            return comment_edit.load(uow, self.job)

    def refs(self) -> dict[str, datetime | None]:
        return {r.jira_comment_id: _utc(r.jira_updated_at) for r in stored(self.container, JiraCommentRef)}

    def links(self) -> list[tuple[str, str, str | None]]:
        return [(r.id, r.sync_state, r.last_error) for r in stored(self.container, Link)]

    def events(self) -> list[tuple[str, str | None]]:
        return [(r.type, r.item_id) for r in stored(self.container, Event)]


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Item e-1 linked to WEB-1 and e-2 to WEB-2; e-1's host comment cm_1 became Jira comments 101
    and 102 on WEB-1; 103 on WEB-1 came from Jira."""
    tenant = await make_tenant(api)
    ws = tenant.workspace_id
    e1, e2 = an_item(ws, "e-1"), an_item(ws, "e-2")
    ours = {"issue_key": "WEB-1", "item_comment_id": "cm_1", "source": "jirabridge"}
    store(
        container,
        a_site(ws),
        e1,
        a_link(e1, id="lk_1", issue_key="WEB-1"),
        e2,
        a_link(e2, id="lk_2", issue_key="WEB-2"),
        a_host_comment(e1, "cm_1", author="Dana", body="Second"),
        a_comment_ref(ws, "101", **ours),
        a_comment_ref(ws, "102", **ours),
        a_comment_ref(ws, "103", issue_key="WEB-1"),
    )
    return World(container, ws)


def test_load_hands_the_handler_the_comment_as_it_reads_now_and_the_jira_comments_it_became(
    world: World,
) -> None:
    plan = world.load()

    assert (plan.site_id, plan.issue_key, plan.text.plain, plan.text.author, plan.text.name) == (
        SITE,
        "WEB-1",
        "Second",
        "Dana",
        "Dana",
    )
    assert plan.text.account_id is None  # Dana has no Jira account connected on the site
    assert plan.jira_comment_ids == ["101", "102"]  # 103 came from Jira: never edited
    assert [link.id for link in plan.links] == ["lk_1"]


def test_an_edit_records_the_updated_jira_answered_on_the_ref_of_each_comment_it_edited(
    world: World,
) -> None:
    edited = CommentsEdited((("101", EDITED_AT),))
    world.apply(Done({"edited": {"101": "site"}, "unchanged": ["102"]}, value=edited))

    assert world.refs() == {"101": EDITED_AT, "102": T0, "103": T0}
    assert world.links() == [("lk_1", "synced", None), ("lk_2", "synced", None)]
    assert world.events() == []


def test_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    world.apply(Fail("issue_not_found", "issue WEB-1 does not exist in Jira any more (404)"))

    assert [(link[0], link[1]) for link in world.links()] == [("lk_1", "broken"), ("lk_2", "synced")]
    assert world.events() == [("link.broken", "e-1")]
    assert world.refs() == {"101": T0, "102": T0, "103": T0}


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"skipped": "not_posted"}),
        Retry("rate_limited", after_s=3),
        Fail("jira_comment_not_found", "gone"),
        Fail("forbidden", "no"),
    ],
)
def test_an_outcome_that_edited_nothing_leaves_refs_and_links_alone(world: World, outcome: Outcome) -> None:
    before = (world.refs(), world.links())
    world.apply(outcome)
    assert (world.refs(), world.links()) == before
    assert world.events() == []
