"""What an `issue.comment` outcome means, applied with no Jira at all: the handler's outcomes are made
up here, as `service/comment_sync.apply` receives them (SQLite and PostgreSQL); and what
`service/comment_sync.load` hands the handler."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import AddComment
from jirabridge.domain.outcomes import CommentPosted, Done, Fail, Job, Outcome, Retry
from jirabridge.service.tickets import comment_sync
from jirabridge.storage.tables import Event, JiraCommentRef, Link
from support.rows import (
    SITE,
    T0,
    a_comment_ref,
    a_host_comment,
    a_host_user,
    a_link,
    a_site,
    a_user_connection,
    an_item,
    store,
    stored,
)
from support.service import make_tenant

POSTED_AT = datetime(2026, 3, 1, 12, 5, 7, tzinfo=UTC)

RefRow = tuple[str, str, str | None, str, datetime | None]


def post(marker: str | None = "cm_1", author: str | None = "u-ada", text: str | None = "First") -> AddComment:
    """The post as queued: the author and the text the host comment had then."""
    return AddComment(SITE, "WEB-1", {"type": "doc"}, marker=marker, author=author, text=text)


class World:
    def __init__(self, container: Container, workspace_id: str) -> None:
        self.container, self.workspace_id = container, workspace_id

    def job(self, op: AddComment) -> Job:
        return Job("op_1", self.workspace_id, SITE, op.KIND, op, 1, "WEB-1")

    def apply(self, outcome: Outcome, op: AddComment | None = None) -> None:
        with self.container.uow() as uow:
            comment_sync.apply(uow, self.job(op or post()), outcome, T0)
            uow.commit()

    def load(self, op: AddComment) -> comment_sync.CommentPlan:
        with self.container.uow() as uow:
            return comment_sync.load(uow, self.job(op))

    def refs(self) -> list[RefRow]:
        return [
            (r.jira_comment_id, r.issue_key, r.item_comment_id, r.source, _utc(r.jira_updated_at))
            for r in stored(self.container, JiraCommentRef)
        ]

    def links(self) -> list[tuple[str, str]]:
        return [(r.id, r.sync_state) for r in stored(self.container, Link)]

    def events(self) -> list[tuple[str, str | None]]:
        return [(r.type, r.item_id) for r in stored(self.container, Event)]


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@pytest.fixture
async def world(api: httpx.AsyncClient, container: Container) -> World:
    """Item e-1 linked to WEB-1 and e-2 to WEB-2; on e-1, host comment cm_1 by u-ada (named "Ada L.",
    Jira account acc-ada on the site), queued saying "First" and edited to "Second" since."""
    tenant = await make_tenant(api)
    ws = tenant.workspace_id
    e1, e2 = an_item(ws, "e-1"), an_item(ws, "e-2")
    store(
        container,
        a_site(ws),
        e1,
        a_link(e1, id="lk_1", issue_key="WEB-1"),
        e2,
        a_link(e2, id="lk_2", issue_key="WEB-2"),
        a_host_user(ws, "u-ada", name="Ada L."),
        a_user_connection(ws, "u-ada", account_id="acc-ada"),
        a_host_comment(e1, "cm_1", author="u-ada", body="Second"),
    )
    return World(container, ws)


def test_load_hands_the_handler_the_comment_as_it_reads_now_and_who_wrote_it(world: World) -> None:
    plan = world.load(post())

    assert (plan.site_id, plan.issue_key, plan.marker) == (SITE, "WEB-1", "cm_1")
    assert [link.id for link in plan.links] == ["lk_1"]
    text = plan.text
    assert (text.author, text.name, text.plain, text.account_id) == ("u-ada", "Ada L.", "Second", "acc-ada")


def test_load_of_a_comment_gone_since_it_was_queued_hands_what_the_post_said(world: World) -> None:
    plan = world.load(post(marker="cm_gone", author="Dana", text="Seen it"))

    text = plan.text
    assert (text.author, text.name, text.plain, text.account_id) == ("Dana", "Dana", "Seen it", None)


def test_load_of_a_status_comment_names_no_author_and_marks_it_with_the_operation(world: World) -> None:
    plan = world.load(post(marker=None, author=None, text=None))

    assert plan.marker == "op_1"
    assert (plan.text.author, plan.text.plain, plan.text.by_user) == (None, None, False)


def test_a_posted_comment_is_recorded_as_jirabridges_own_copy_of_the_host_comment(world: World) -> None:
    world.apply(Done({"comment_id": "201", "as": "user"}, value=CommentPosted("201", POSTED_AT)))

    assert world.refs() == [("201", "WEB-1", "cm_1", "jirabridge", POSTED_AT)]
    assert world.links() == [("lk_1", "synced"), ("lk_2", "synced")]
    assert world.events() == []


def test_a_status_comment_is_recorded_as_jirabridges_with_no_host_comment(world: World) -> None:
    status_comment = post(marker=None, author=None, text=None)
    world.apply(
        Done({"comment_id": "202", "as": "site"}, value=CommentPosted("202", POSTED_AT)), status_comment
    )

    assert world.refs() == [("202", "WEB-1", None, "jirabridge", POSTED_AT)]


def test_a_comment_inbound_sync_saw_first_becomes_jirabridges_own(world: World) -> None:
    """The webhook of the new comment may be applied before the operation's record: one ref, ours."""
    store(world.container, a_comment_ref(world.workspace_id, "201", issue_key="WEB-1"))

    world.apply(Done({"comment_id": "201", "as": "adopted"}, value=CommentPosted("201", POSTED_AT)))

    assert world.refs() == [("201", "WEB-1", "cm_1", "jirabridge", POSTED_AT)]


def test_an_issue_jira_no_longer_has_breaks_its_links(world: World) -> None:
    world.apply(Fail("issue_not_found", "issue WEB-1 does not exist in Jira any more (404)"))

    assert world.links() == [("lk_1", "broken"), ("lk_2", "synced")]
    assert world.events() == [("link.broken", "e-1")]
    assert world.refs() == []


@pytest.mark.parametrize(
    "outcome",
    [
        Done({"skipped": "not_linked"}),
        Retry("rate_limited", after_s=3),
        Fail("forbidden", "no"),
        Fail("link_broken", "gone"),
    ],
)
def test_an_outcome_that_posted_nothing_leaves_refs_and_links_alone(world: World, outcome: Outcome) -> None:
    world.apply(outcome)

    assert world.refs() == []
    assert world.links() == [("lk_1", "synced"), ("lk_2", "synced")]
    assert world.events() == []
