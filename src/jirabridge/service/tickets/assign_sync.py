"""`issue.assign`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the links of the issue, whether the project pushes
assignees, the item's host assignee now and how that user may map to a Jira account (their user
connection on the site, their email) (`AssignPlan`); the handler (`workers/jira_assign.py`) decides
with Jira; `apply` records, in the transaction that completes the operation:

- the account the issue is assigned to now (`IssueAssigneeSeen`): every link of the issue not broken
  takes it as `jira_assignee`, and when (`jira_assignee_at`), so the webhook or poll that reports
  jirabridge's own assignment — or the issue as an earlier write left it — changes nothing;
- a failure the handler names (`Fail.announced`: `user_not_mapped`, or Jira's refusal): one
  `sync.failed` event on the item whose change queued the assignment; the links are left alone;
- `issue_not_found`: the links break (`issue_links.mark_broken`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jirabridge.domain.inbound import newest
from jirabridge.domain.operations import AssignIssue
from jirabridge.domain.outcomes import Done, Fail, IssueAssigneeSeen, Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.tickets.assignees import pushes_assignee
from jirabridge.service.tickets.issue_links import (
    BROKEN,
    ISSUE_NOT_FOUND,
    LinkRef,
    issue_links,
    link_refs,
    mark_broken,
    record_sync_failed,
)

KIND = AssignIssue.KIND


@dataclass(frozen=True)
class AssignPlan:
    site_id: str
    issue_key: str
    links: list[LinkRef]
    pushes: bool  # the project's `assignee_sync` sends assignees to Jira
    item_exists: bool
    assignee: str | None  # the host user
    account_id: str | None  # from their user connection on the site
    email: str | None  # the host user's email, for the search


def target_of(job: Job) -> tuple[str, str]:
    """The site and issue key the operation is about."""
    op = job.operation_as(AssignIssue)
    return op.site_id, op.issue_key


def load(uow: UnitOfWork, job: Job) -> AssignPlan:
    op = job.operation_as(AssignIssue)
    site_id, key, workspace_id = op.site_id, op.issue_key, job.workspace_id
    item = uow.items.get(workspace_id, *op.item) if op.item else None
    assignee = item.assignee if item is not None else None
    account_id = email = None
    if assignee is not None:
        account_id = uow.user_connections.account_on_site(workspace_id, site_id, assignee)
        user = uow.host_users.get(workspace_id, assignee)
        email = user.email if user is not None else None
    return AssignPlan(
        site_id=site_id,
        issue_key=key,
        links=link_refs(uow, workspace_id, site_id, key),
        pushes=pushes_assignee(uow, workspace_id, site_id, key),
        item_exists=item is not None,
        assignee=assignee,
        account_id=account_id,
        email=email,
    )


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    site_id, key = target_of(job)
    match outcome:
        case Done(value=IssueAssigneeSeen() as seen):
            for link in issue_links(uow, job.workspace_id, site_id, key):
                if link.sync_state != BROKEN:
                    link.jira_assignee = seen.account_id
                    link.jira_assignee_at = newest((link.jira_assignee_at, seen.at))
        case Fail(reason=reason, detail=detail) if reason == ISSUE_NOT_FOUND:
            mark_broken(uow, now, job.workspace_id, site_id, key, detail)
        case Fail(announced=True, reason=reason, detail=detail, data=data):
            # On the item whose change queued the assignment (service/tickets/assignees.py names it on every
            # one), not on each link: the assignee is that item's, the other items of the issue did
            # not ask for it.
            item = job.item
            assert item is not None
            record_sync_failed(uow, job, now, item, key, reason, detail, **data)
        case _:
            pass
