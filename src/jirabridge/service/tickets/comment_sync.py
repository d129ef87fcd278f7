"""`issue.comment`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the links of the issue and the comment as it reads now —
the host comment's latest text and author (an edit made after the post was queued included), the
author's name and Jira account on the site; else what the queued post says
(`comments.comment_text`) — into a `CommentPlan`. The handler (`workers/jira_comment.py`) posts it
in Jira, or finds the copy an earlier attempt posted. `apply` records, in the transaction that
completes the operation:

- the Jira comment that carries the marker (`CommentPosted`): a `JiraCommentRef` with source
  `jirabridge`, pointing at the host comment when the marker is one of this workspace's comments
  (a status comment has none), so inbound sync recognises the comment as jirabridge's own (never
  copied back to the item) and an edit of the host comment finds the Jira comment to update;
- a failure: its side on the links (`issue_links.apply_failure`: a 404 on the issue breaks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jirabridge.domain.operations import AddComment
from jirabridge.domain.outcomes import CommentPosted, Done, Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.tickets.comments import CommentText, comment_text
from jirabridge.service.tickets.issue_links import LinkRef, apply_failure, link_refs

KIND = AddComment.KIND


@dataclass(frozen=True)
class CommentPlan:
    site_id: str
    issue_key: str
    marker: str  # the comment property that makes the post exactly-once
    links: list[LinkRef]
    text: CommentText


def target_of(job: Job) -> tuple[str, str, str]:
    """The site, the issue key, and the marker: the host comment's id, else the operation's own."""
    op = job.operation_as(AddComment)
    return op.site_id, op.issue_key, op.marker or job.id


def load(uow: UnitOfWork, job: Job) -> CommentPlan:
    site_id, key, marker = target_of(job)
    workspace_id = job.workspace_id
    return CommentPlan(
        site_id=site_id,
        issue_key=key,
        marker=marker,
        links=link_refs(uow, workspace_id, site_id, key),
        text=comment_text(uow, workspace_id, site_id, marker, job.operation_as(AddComment)),
    )


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    site_id, key, marker = target_of(job)
    match outcome:
        case Done(value=CommentPosted() as posted):
            host = uow.item_comments.text(marker)
            ours = host is not None and host.workspace_id == job.workspace_id
            uow.jira_comment_refs.save(
                site_id,
                posted.jira_comment_id,
                workspace_id=job.workspace_id,
                issue_key=key,
                item_comment_id=marker if ours else None,
                source="jirabridge",
                jira_updated_at=posted.updated,
            )
        case _:
            apply_failure(uow, job, outcome, site_id, key, now)
