"""`issue.comment_update`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the links of the issue, the host comment as it reads now
(text, author, the author's Jira account on the site: `comments.comment_text`, as `issue.comment`
reads it) and the Jira comments it became on the issue (`CommentEditPlan`); the handler
(`workers/jira_comment_edit.py`) edits them in Jira; `apply` records, in the transaction that
completes the operation, the `updated` Jira answered for each edit on its ref (`CommentsEdited`), or
the failure's side on the links (`issue_links.apply_failure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jirabridge.domain.operations import UpdateComment
from jirabridge.domain.outcomes import CommentsEdited, Done, Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.tickets.comments import CommentText, comment_text
from jirabridge.service.tickets.issue_links import LinkRef, apply_failure, link_refs

KIND = UpdateComment.KIND


@dataclass(frozen=True)
class CommentEditPlan:
    site_id: str
    issue_key: str
    links: list[LinkRef]
    text: CommentText  # the host comment as it reads now; `plain` None: the comment is gone
    jira_comment_ids: list[str]


def target_of(job: Job) -> tuple[str, str, str]:
    """The site, issue key and host comment the operation is about."""
    op = job.operation_as(UpdateComment)
    return op.site_id, op.issue_key, op.item_comment_id


def load(uow: UnitOfWork, job: Job) -> CommentEditPlan:
    site_id, key, comment_id = target_of(job)
    workspace_id = job.workspace_id
    return CommentEditPlan(
        site_id=site_id,
        issue_key=key,
        links=link_refs(uow, workspace_id, site_id, key),
        text=comment_text(uow, workspace_id, site_id, comment_id),
        jira_comment_ids=list(uow.jira_comment_refs.posted_on_issue(workspace_id, site_id, key, comment_id)),
    )


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    site_id, key, _ = target_of(job)
    match outcome:
        case Done(value=CommentsEdited() as edited):
            for jira_id, updated in edited.updated:
                ref = uow.jira_comment_refs.get(site_id, jira_id)
                if ref is not None:
                    ref.jira_updated_at = updated
        case _:
            apply_failure(uow, job, outcome, site_id, key, now)
