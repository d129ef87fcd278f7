"""`issue.remote_link`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the links of the issue (`RemoteLinkPlan`: with none, or
only broken ones, nothing is sent); the handler (`workers/jira_create.py`) upserts the web link from
the issue back to the item; `apply` records, in the transaction that completes the operation, what
a failure means to the links (`issue_links.apply_failure`: an issue Jira no longer has breaks them).
A link made says nothing new about the issue: nothing is written for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jirabridge.domain.operations import AddRemoteLink
from jirabridge.domain.outcomes import Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.tickets.issue_links import LinkRef, apply_failure, link_refs

KIND = AddRemoteLink.KIND


@dataclass(frozen=True)
class RemoteLinkPlan:
    links: list[LinkRef]  # the links of the issue


def load(uow: UnitOfWork, job: Job) -> RemoteLinkPlan:
    op = job.operation_as(AddRemoteLink)
    return RemoteLinkPlan(link_refs(uow, job.workspace_id, op.site_id, op.issue_key))


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    op = job.operation_as(AddRemoteLink)
    apply_failure(uow, job, outcome, op.site_id, op.issue_key, now)
