"""`issue.comment`: add a comment to a Jira issue, exactly once, as its author where possible.

Who posts: when the operation names a host author who has a user connection on the site, the comment
is posted with that user's own Jira identity (so Jira shows them as its author); otherwise — no
connection, or Jira refuses their credentials or access (401, 403, or 404, which is how Jira answers
an issue the caller cannot see) — the site's connection posts it with the author's name in the text.
A status comment (`comment` mode) has no author and is always posted by the site.

The text is read when the operation is claimed: a host comment edited before its create ran is
posted with its latest body (an edit after that is queued behind the create, and updates the comment).

Exactly once: the comment carries a comment property `jirabridge` = `{"marker": <marker>}` (the host
comment's id, or the status comment's own). Any attempt after the first lists the issue's comments
with their properties first and adopts the one with the marker, whichever identity wrote it, so an
answer lost after Jira applied it never makes a second comment. (Comments are read directly, not
through the search index: no lag to allow for.)

A step (`workers/steps.py`): `service/tickets/comment_sync.py` loads the links and the comment's text and
author (`CommentPlan`) in the claim's transaction, this handler posts in Jira and touches no storage,
and returns the Jira comment (`CommentPosted`); `service/comment_sync.apply` records it as a
`JiraCommentRef` (source `jirabridge`) with the operation's record: inbound sync recognises the
comment as jirabridge's own (never copied back to the item), and an edit of the host comment finds
the Jira comment to update (jira_comment_edit.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar

from jirabridge import jira
from jirabridge.adapters.jira_pool import UserNotConnected
from jirabridge.domain.operations import AddComment as AddCommentOp
from jirabridge.domain.outcomes import CommentPosted, Done, Job, Outcome
from jirabridge.service.tickets import comment_sync
from jirabridge.service.tickets.comment_sync import CommentPlan
from jirabridge.service.tickets.comments import CommentText
from jirabridge.service.tickets.issue_links import issue_not_found
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

PROPERTY_KEY = "jirabridge"
# What Jira answers when the user's own identity may not do it: the site's connection does it instead.
USER_REFUSED = (jira.Unauthorized, jira.Forbidden, jira.NotFound, jira.OAuthError)

T = TypeVar("T")


class JiraClients(Protocol):
    """What the comment handlers need of the worker's `JiraPool`: the site's client, and a client
    as a host user's own Jira identity (`UserNotConnected` when they have none on the site)."""

    def client(
        self, site_id: str, *, workspace_id: str | None = None
    ) -> AbstractAsyncContextManager[jira.JiraClient]: ...

    def client_as_user(
        self, site_id: str, user_id: str, *, workspace_id: str | None = None
    ) -> AbstractAsyncContextManager[jira.JiraClient]: ...


def carries(comment: jira.Comment, marker: str) -> bool:
    for prop in comment.properties or []:
        if prop.key == PROPERTY_KEY and isinstance(prop.value, dict) and prop.value.get("marker") == marker:
            return True
    return False


async def as_author(
    pool: JiraClients,
    job: Job,
    site_id: str,
    text: CommentText,
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


class AddComment:
    def __init__(self, pool: JiraClients) -> None:
        self.pool = pool

    async def __call__(self, job: Job, plan: CommentPlan) -> Outcome:
        site_id, key, marker, text = plan.site_id, plan.issue_key, plan.marker, plan.text
        if (unlinked := common.unless_linked(plan.links)) is not None:
            return unlinked
        fallback = job.operation_as(AddCommentOp).body  # what the site posts when there is no text
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
                    lambda client: client.comments.add(key, text.as_site(fallback), properties=properties),
                )
        except jira.NotFound:
            return issue_not_found(key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        assert found is not None
        return Done({"comment_id": found.id, "as": identity}, value=CommentPosted(found.id, found.updated))


def author_of(site_id: str, text: CommentText) -> tuple[str, str] | None:
    """The host user whose identity `as_author` tries first (`Step.acts_as`), if any."""
    return (site_id, text.author) if text.by_user and text.author is not None else None


def make_comment_handler(container: Container, pool: JiraPool) -> Step[CommentPlan]:
    return Step(
        load=comment_sync.load,
        run=AddComment(pool),
        apply=comment_sync.apply,
        acts_as=lambda plan: author_of(plan.site_id, plan.text),
    )
