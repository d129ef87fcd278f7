"""`issue.comment_update`: a host comment was edited; update the Jira comment it became on one issue.

The Jira comments are the `JiraCommentRef` rows of the host comment on that issue (recorded by
`issue.comment` before it finished; this operation runs after it, same ordering key). None yet —
the create failed, or was never queued — means there is nothing to edit: a create run later reads
the latest body itself.

Same identity rule as the create (jira_comment.py): the Jira comment is read first, and when its
author is the host author's own Jira account it is edited as that user with the plain text; else (or
when Jira refuses the user's identity) the site's connection edits it, naming the author in the text.
A Jira comment that already says the text is left alone (a create that read the new body, or a
repeated run).

A step (`workers/steps.py`): `service/tickets/comment_edit.py` loads the links, the comment and its refs in
the claim's transaction, this handler edits in Jira and touches no storage, and
`service/comment_edit.apply` records each edit's `updated` on its ref (`CommentsEdited`) with the
operation's record, so the `comment_updated` webhook of this edit is recognised as jirabridge's own.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.domain.outcomes import CommentsEdited, Done, Fail, Job, Outcome
from jirabridge.service.tickets import comment_edit
from jirabridge.service.tickets.comment_edit import CommentEditPlan
from jirabridge.service.tickets.comments import CommentText
from jirabridge.workers import jira_common as common
from jirabridge.workers.jira_comment import as_author, author_of
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


def _says(body: Any, wanted: Any) -> bool:
    return jira.adf.to_text(body).strip() == jira.adf.to_text(wanted).strip()


class UpdateComment:
    def __init__(self, container: Container, pool: JiraPool) -> None:
        self.container = container
        self.pool = pool

    async def __call__(self, job: Job, plan: CommentEditPlan) -> Outcome:
        site_id, key = plan.site_id, plan.issue_key
        if (unlinked := common.unless_linked(plan.links)) is not None:
            return unlinked
        text = plan.text
        if text.plain is None:
            return Done({"skipped": "comment_gone"})
        if not plan.jira_comment_ids:
            return Done({"skipped": "not_posted"})
        edited: dict[str, datetime] = {}
        identities: dict[str, str] = {}
        try:
            for jira_id in plan.jira_comment_ids:
                outcome = await self._edit(job, site_id, key, jira_id, text)
                if outcome is None:
                    continue
                edited[jira_id], identities[jira_id] = outcome
        except jira.NotFound as error:
            return Fail("jira_comment_not_found", common.describe(error))
        except common.CALL_ERRORS as error:
            return common.classify(error)
        return Done(
            {"edited": identities, "unchanged": [c for c in plan.jira_comment_ids if c not in edited]},
            value=CommentsEdited(tuple(edited.items())),
        )

    async def _edit(
        self, job: Job, site_id: str, key: str, jira_id: str, text: CommentText
    ) -> tuple[datetime, str] | None:
        """Edit one Jira comment; None when it already says the text."""
        async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
            current = await client.comments.get(key, jira_id)
        author = current.author.account_id if current.author is not None else None
        by_user = text.account_id is not None and author == text.account_id
        if _says(current.body, text.as_user() if by_user else text.as_site()):
            log.info("jira.comment.edit.skipped op=%s issue=%s comment=%s", job.id, key, jira_id)
            return None
        # The site's comment stays the site's: the author's identity only edits their own.
        who = text if by_user else CommentText(None, text.name, text.plain, None)
        done, identity = await as_author(
            self.pool,
            job,
            site_id,
            who,
            lambda client: client.comments.edit(key, jira_id, text.as_user()),
            lambda client: client.comments.edit(key, jira_id, text.as_site()),
        )
        log.info("jira.comment.edited op=%s issue=%s comment=%s as=%s", job.id, key, jira_id, identity)
        return done.updated, identity


def make_comment_update_handler(container: Container, pool: JiraPool) -> Step[CommentEditPlan]:
    return Step(
        load=comment_edit.load,
        run=UpdateComment(container, pool),
        apply=comment_edit.apply,
        acts_as=lambda plan: author_of(plan.site_id, plan.text) if plan.text.account_id else None,
    )
