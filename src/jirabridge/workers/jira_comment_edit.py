"""`issue.comment_update`: a host comment was edited; update the Jira comment it became on one issue.

The Jira comments are the `JiraCommentRef` rows of the host comment on that issue (recorded by
`issue.comment` before it finished; this operation runs after it, same ordering key). None yet —
the create failed, or was never queued — means there is nothing to edit: a create run later reads
the latest body itself.

Same identity rule as the create (jira_comment.py): the Jira comment is read first, and when its
author is the host author's own Jira account it is edited as that user with the plain text; else (or
when Jira refuses the user's identity) the site's connection edits it, naming the author in the text.
A Jira comment that already says the text is left alone (a create that read the new body, or a
repeated run). The ref's `jira_updated_at` is recorded before Done, so the `comment_updated` webhook
of this edit is recognised as jirabridge's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.domain.operations import UpdateComment as UpdateCommentOp
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.workers import jira_common as common
from jirabridge.workers.jira_comment import Text, as_author, read_text

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


@dataclass(frozen=True)
class _Plan:
    links: list[common.LinkRef]
    text: Text
    jira_comment_ids: list[str]


def _plan(uow: UnitOfWork, job: Job, site_id: str, key: str, comment_id: str) -> _Plan:
    refs = uow.jira_comment_refs.posted_on_issue(job.workspace_id, site_id, key, comment_id)
    return _Plan(
        links=common.refs(common.issue_links(uow, job.workspace_id, site_id, key)),
        text=read_text(uow, job.workspace_id, site_id, comment_id, None),
        jira_comment_ids=list(refs),
    )


def _says(body: Any, wanted: Any) -> bool:
    return jira.adf.to_text(body).strip() == jira.adf.to_text(wanted).strip()


class UpdateComment:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(UpdateCommentOp)
        site_id, key, comment_id = op.site_id, op.issue_key, op.item_comment_id
        plan = await run_db(self.container, lambda uow: _plan(uow, job, site_id, key, comment_id))
        if not plan.links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(plan.links):
            return common.LINK_BROKEN
        if plan.text.plain is None:
            return Done({"skipped": "comment_gone"})
        if not plan.jira_comment_ids:
            return Done({"skipped": "not_posted"})
        edited: dict[str, datetime] = {}
        identities: dict[str, str] = {}
        try:
            for jira_id in plan.jira_comment_ids:
                outcome = await self._edit(job, site_id, key, jira_id, plan.text)
                if outcome is None:
                    continue
                edited[jira_id], identities[jira_id] = outcome
        except jira.NotFound as error:
            return Fail("jira_comment_not_found", common.describe(error))
        except common.CALL_ERRORS as error:
            return common.classify(error)

        def save(uow: UnitOfWork) -> None:
            for jira_id, updated in edited.items():
                ref = uow.jira_comment_refs.get(site_id, jira_id)
                if ref is not None:
                    ref.jira_updated_at = updated
            uow.commit()

        await run_db(self.container, save)
        return Done(
            {"edited": identities, "unchanged": [c for c in plan.jira_comment_ids if c not in edited]}
        )

    async def _edit(
        self, job: Job, site_id: str, key: str, jira_id: str, text: Text
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
        who = text if by_user else Text(None, text.name, text.plain, None)
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


def make_comment_update_handler(container: Container) -> Handler:
    return UpdateComment(container)
