"""`issue.comment`: add a comment to a Jira issue, exactly once, as its author where possible.

Who posts: when the operation names a host author who has a user connection on the site, the comment
is posted with that user's own Jira identity (so Jira shows them as its author); otherwise — no
connection, or Jira refuses their credentials or access (401, 403, or 404, which is how Jira answers
an issue the caller cannot see) — the site's connection posts it with the author's name in the text.
A status comment (`comment` mode) has no author and is always posted by the site.

The text is read when the handler runs: a host comment edited before its create ran is posted with
its latest body.

Exactly once: the comment carries a comment property `jirabridge` = `{"marker": <marker>}` (the host
comment's id, or the status comment's own). Any attempt after the first lists the issue's comments
with their properties first and adopts the one with the marker, whichever identity wrote it, so an
answer lost after Jira applied it never makes a second comment. (Comments are read directly, not
through the search index: no lag to allow for.)

Before it returns Done the handler records a `JiraCommentRef` (source `jirabridge`) for the Jira
comment: inbound sync recognises the comment as jirabridge's own (never copied back to the item), and
an edit of the host comment finds the Jira comment to update (jira_comment_edit.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from jirabridge import jira
from jirabridge.adapters.jira_pool import JiraPool, UserNotConnected
from jirabridge.domain.descriptions import text_to_adf
from jirabridge.domain.operations import AddComment as AddCommentOp
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service.comments import site_text
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import HostUser, ItemComment, JiraCommentRef, UserConnection
from jirabridge.workers import jira_common as common

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

PROPERTY_KEY = "jirabridge"
# What Jira answers when the user's own identity may not do it: the site's connection does it instead.
USER_REFUSED = (jira.Unauthorized, jira.Forbidden, jira.NotFound, jira.OAuthError)

T = TypeVar("T")


def carries(comment: jira.Comment, marker: str) -> bool:
    for prop in comment.properties or []:
        if prop.key == PROPERTY_KEY and isinstance(prop.value, dict) and prop.value.get("marker") == marker:
            return True
    return False


@dataclass(frozen=True)
class Text:
    """What a comment says and who wrote it, as read when the handler runs."""

    author: str | None  # the host user (or name) who wrote it; None for a status comment
    name: str | None  # how the site's text names the author (the host user's name, else `author`)
    plain: str | None  # the text; None: post the operation's `body` as it is (status comments)
    account_id: str | None  # the author's Jira account on the site, when they connected one

    def as_user(self) -> dict[str, Any]:
        assert self.plain is not None
        return text_to_adf(self.plain)

    def as_site(self, fallback: Any = None) -> Any:
        if self.plain is None:
            return fallback
        return text_to_adf(site_text(self.name, self.plain))

    @property
    def by_user(self) -> bool:
        """Worth trying the author's own identity."""
        return self.author is not None and self.plain is not None


def read_text(
    uow: UnitOfWork, workspace_id: str, site_id: str, comment_id: str | None, queued: AddCommentOp | None
) -> Text:
    """The host comment's current text and author, else what the queued operation says."""
    comment = uow.session.get(ItemComment, comment_id) if comment_id else None
    if comment is not None and (comment.workspace_id != workspace_id or comment.source != "host"):
        comment = None
    author = comment.author if comment is not None else (queued.author if queued else None)
    plain = comment.body if comment is not None else (queued.text if queued else None)
    if author is None:
        return Text(None, None, plain, None)
    user = uow.session.get(HostUser, (workspace_id, author))
    account_id = uow.session.scalar(
        select(UserConnection.account_id).where(
            UserConnection.workspace_id == workspace_id,
            UserConnection.site_id == site_id,
            UserConnection.user_id == author,
        )
    )
    return Text(author, (user.name if user is not None else None) or author, plain, account_id)


async def as_author(
    pool: JiraPool,
    job: Job,
    site_id: str,
    text: Text,
    as_user: Callable[[jira.JiraClient], Awaitable[T]],
    as_site: Callable[[jira.JiraClient], Awaitable[T]],
) -> tuple[T, str]:
    """Run `as_user` with the author's own client when they have one on the site and Jira lets it;
    else `as_site` with the site's client. Returns the result and `"user"` or `"site"`. Errors other
    than a refusal of the user's identity (a timeout, a 5xx, a 429) propagate: the caller retries."""
    if text.by_user:
        assert text.author is not None
        try:
            async with pool.client_as_user(site_id, text.author, workspace_id=job.workspace_id) as client:
                return await as_user(client), "user"
        except UserNotConnected:
            pass
        except USER_REFUSED as error:
            log.info(
                "jira.comment.as_site op=%s user=%s reason=%s",
                job.id,
                text.author,
                type(error).__name__,
            )
    async with pool.client(site_id, workspace_id=job.workspace_id) as client:
        return await as_site(client), "site"


def remember(
    uow: UnitOfWork,
    workspace_id: str,
    site_id: str,
    key: str,
    item_comment_id: str | None,
    found: jira.Comment,
) -> None:
    """Record the Jira comment as jirabridge's (the caller commits)."""
    ref = uow.session.get(JiraCommentRef, (site_id, found.id))
    if ref is None:
        ref = JiraCommentRef(site_id=site_id, jira_comment_id=found.id)
        uow.session.add(ref)
    ref.workspace_id = workspace_id
    ref.issue_key = key
    ref.item_comment_id = item_comment_id
    ref.source = "jirabridge"
    ref.jira_updated_at = found.updated


class AddComment:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(AddCommentOp)
        site_id, key = op.site_id, op.issue_key
        marker = op.marker or job.id
        links = await common.links_of(self.container, job.workspace_id, site_id, key)
        if not links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(links):
            return common.LINK_BROKEN
        text = await run_db(self.container, lambda uow: read_text(uow, job.workspace_id, site_id, marker, op))
        properties = {PROPERTY_KEY: {"marker": marker}}
        identity = "adopted"
        try:
            found: jira.Comment | None = None
            if job.attempts > 1:
                async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                    found = next((c for c in await client.comments.list(key) if carries(c, marker)), None)
            if found is not None:
                log.info("jira.comment.adopted op=%s issue=%s comment=%s", job.id, key, found.id)
            else:
                found, identity = await as_author(
                    self.pool,
                    job,
                    site_id,
                    text,
                    lambda client: client.comments.add(key, text.as_user(), properties=properties),
                    lambda client: client.comments.add(key, text.as_site(op.body), properties=properties),
                )
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        posted = found
        assert posted is not None

        def save(uow: UnitOfWork) -> None:
            host = uow.session.get(ItemComment, marker)
            ours = host is not None and host.workspace_id == job.workspace_id
            remember(uow, job.workspace_id, site_id, key, marker if ours else None, posted)
            uow.commit()

        await run_db(self.container, save)
        return Done({"comment_id": posted.id, "as": identity})


def make_comment_handler(container: Container) -> Handler:
    return AddComment(container)
