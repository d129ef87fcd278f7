"""The `issue.comment` handler alone, against the emulator, with a made-up context and no database:
what it posts in Jira, as whom, and the outcome it hands `service/comment_sync.apply`. Its clients
come from a fake of the pool's interface (`JiraClients`) that knows the emulator's accounts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator.state import Issue as EmulatedIssue
from jirabridge.adapters.jira_pool import UserNotConnected
from jirabridge.domain.operations import AddComment as AddCommentOp
from jirabridge.domain.outcomes import CommentPosted, Done, Fail, Job, Retry
from jirabridge.jira import BasicTokenAuth, JiraClient, adf
from jirabridge.service.tickets.comment_sync import CommentPlan
from jirabridge.service.tickets.comments import CommentText
from jirabridge.service.tickets.issue_links import LinkRef
from jirabridge.workers.jira_comment import AddComment

ACME = "https://acme.atlassian.net"
SITE = "st_1"
BOT = ("bot@acme.test", "bot-token")
ALICE = ("alice@acme.test", "alice-token")
LINKED = [LinkRef("lk_1", "error", "e-1", "synced")]
ADA_SAID = CommentText("u-ada", "Ada L.", "Looking into it", None)


class FakeClients:
    """The site's client is the bot's; a host user's own client is theirs when `users` names them."""

    def __init__(self, emulator: FastAPI, users: dict[str, tuple[str, str]] | None = None) -> None:
        self.emulator = emulator
        self.users = users or {}

    def _client(self, login: tuple[str, str]) -> JiraClient:
        return JiraClient(ACME, BasicTokenAuth(*login), transport=httpx.ASGITransport(app=self.emulator))

    @contextlib.asynccontextmanager
    async def client(self, site_id: str, *, workspace_id: str | None = None) -> AsyncIterator[JiraClient]:
        async with self._client(BOT) as client:
            yield client

    @contextlib.asynccontextmanager
    async def client_as_user(
        self, site_id: str, user_id: str, *, workspace_id: str | None = None
    ) -> AsyncIterator[JiraClient]:
        if user_id not in self.users:
            raise UserNotConnected(site_id, user_id)
        async with self._client(self.users[user_id]) as client:
            yield client


class Desk:
    def __init__(self, emulator: FastAPI) -> None:
        self.emulator = emulator

    async def new_issue(self) -> str:
        async with JiraClient(
            ACME, BasicTokenAuth(*BOT), transport=httpx.ASGITransport(app=self.emulator)
        ) as client:
            fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Existing"}
            return (await client.issues.create(fields)).key

    def issue(self, key: str) -> EmulatedIssue:
        issue = self.emulator.state.emulator.sites["acme"].issue_by_ref(key)
        assert issue is not None
        return issue

    def account(self, email: str) -> str:
        return str(self.emulator.state.emulator.account_by_email(email).account_id)

    async def run(
        self,
        key: str,
        text: CommentText = ADA_SAID,
        *,
        users: dict[str, tuple[str, str]] | None = None,
        attempts: int = 1,
        links: list[LinkRef] = LINKED,
        body: dict[str, Any] | None = None,
    ) -> Done | Fail | Retry:
        op = AddCommentOp(SITE, key, body or adf.doc(adf.paragraph("queued")), marker="cm_1")
        job = Job("op_1", "ws_1", SITE, op.KIND, op, attempts, key)
        plan = CommentPlan(SITE, key, "cm_1", links, text)
        return await AddComment(FakeClients(self.emulator, users))(job, plan)


@pytest.fixture
def desk(emulator: FastAPI) -> Desk:
    return Desk(emulator)


def posted(outcome: Done | Fail | Retry) -> CommentPosted:
    assert isinstance(outcome, Done) and isinstance(outcome.value, CommentPosted), outcome
    return outcome.value


async def test_a_connected_author_posts_their_own_words_as_themselves(desk: Desk) -> None:
    key = await desk.new_issue()

    outcome = await desk.run(key, users={"u-ada": ALICE})

    [comment] = desk.issue(key).comments
    assert (
        comment.author == desk.account("alice@acme.test") and adf.to_text(comment.body) == "Looking into it"
    )
    assert comment.properties["jirabridge"] == {"marker": "cm_1"}
    assert posted(outcome).jira_comment_id == comment.id
    assert isinstance(outcome, Done) and outcome.result == {"comment_id": comment.id, "as": "user"}


async def test_an_author_without_a_connection_is_named_by_the_site(desk: Desk) -> None:
    key = await desk.new_issue()

    outcome = await desk.run(key)

    [comment] = desk.issue(key).comments
    assert (
        comment.author == desk.account("bot@acme.test")
        and adf.to_text(comment.body) == "Ada L.: Looking into it"
    )
    assert posted(outcome).jira_comment_id == comment.id


async def test_a_status_comment_posts_the_queued_body_as_the_site(desk: Desk) -> None:
    key = await desk.new_issue()

    await desk.run(key, CommentText(None, None, None, None), body=adf.doc(adf.paragraph("Status: Fixed")))

    [comment] = desk.issue(key).comments
    assert comment.author == desk.account("bot@acme.test") and adf.to_text(comment.body) == "Status: Fixed"


async def test_a_retry_adopts_the_comment_an_earlier_attempt_posted(desk: Desk) -> None:
    key = await desk.new_issue()
    first = posted(await desk.run(key, users={"u-ada": ALICE}))

    again = posted(await desk.run(key, users={"u-ada": ALICE}, attempts=2))

    assert again.jira_comment_id == first.jira_comment_id
    assert len(desk.issue(key).comments) == 1


async def test_an_issue_with_no_live_link_is_not_called(desk: Desk) -> None:
    key = await desk.new_issue()

    unlinked = await desk.run(key, links=[])
    broken = await desk.run(key, links=[LinkRef("lk_1", "error", "e-1", "broken")])

    assert isinstance(unlinked, Done) and unlinked.result == {"skipped": "not_linked"}
    assert isinstance(broken, Fail) and broken.reason == "link_broken"
    assert desk.issue(key).comments == []


async def test_an_issue_jira_no_longer_has_is_an_issue_not_found_failure(desk: Desk) -> None:
    outcome = await desk.run("WEB-999")

    assert isinstance(outcome, Fail) and outcome.reason == "issue_not_found"
