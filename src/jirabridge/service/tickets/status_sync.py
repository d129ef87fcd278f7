"""`issue.sync_status`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the links of the issue, their items and the project's
sync settings (`StatusPlan`); the handler (`workers/jira_status.py`) decides with Jira; `apply`
records, in the transaction that completes the operation: the links take the status the issue is
now in (`IssueStatusSeen`), or show the failure (`issue_links.apply_failure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jirabridge.domain import mappings
from jirabridge.domain.inbound import project_sync
from jirabridge.domain.items import Item as DomainItem
from jirabridge.domain.operations import SyncStatus
from jirabridge.domain.outcomes import Done, IssueStatusSeen, Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.tickets.issue_links import (
    BROKEN,
    LinkRef,
    apply_failure,
    linked_items,
    refs,
)
from jirabridge.service.tickets.items import as_domain

KIND = SyncStatus.KIND


@dataclass(frozen=True)
class StatusPlan:
    site_id: str
    issue_key: str
    links: list[LinkRef]
    mode: str | None
    mapping: mappings.StatusMapping
    item_statuses: list[str | None]  # one per distinct item, in link order
    changed: int | None  # the item updated last: the one whose change queued this, most likely
    transition_fields: dict[str, Any] = field(default_factory=dict)
    link_status: str | None = None  # the Jira status the links last saw (when they agree)
    issue_type_id: str | None = None
    item: DomainItem | None = None  # the item whose change queued this: transition field templates use it


def target_of(job: Job) -> tuple[str, str]:
    """The site and issue key the operation is about."""
    op = job.operation_as(SyncStatus)
    return op.site_id, op.issue_key


def load(uow: UnitOfWork, job: Job) -> StatusPlan:
    site_id, key = target_of(job)
    workspace_id = job.workspace_id
    links = uow.links.seen_by_issue(workspace_id, site_id, key)
    settings = project_settings(uow, workspace_id, site_id, project_of(key))  # {}: not configured
    sync = project_sync(settings)
    items = linked_items(uow, workspace_id, links, only_read=True)
    changed = max(range(len(items)), key=lambda i: items[i].updated_at) if items else None
    live = [link for link in links if link.sync_state != BROKEN]
    seen_statuses = {link.jira_status for link in live}
    seen_types = {link.issue_type_id for link in live}
    return StatusPlan(
        site_id=site_id,
        issue_key=key,
        links=refs(links),
        mode=sync.status_sync if settings else None,
        mapping=sync.mapping,
        item_statuses=[item.status for item in items],
        changed=changed,
        transition_fields=dict(settings.get("transition_fields") or {}),
        link_status=seen_statuses.pop() if len(seen_statuses) == 1 else None,
        issue_type_id=seen_types.pop() if len(seen_types) == 1 else None,
        item=as_domain(items[changed]) if changed is not None else None,
    )


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    site_id, key = target_of(job)
    match outcome:
        case Done(value=IssueStatusSeen() as seen):
            uow.links.take_status(
                job.workspace_id,
                site_id,
                key,
                status=seen.status,
                category=seen.category,
                issue_type_id=seen.issue_type_id or None,
                at=seen.at,
            )
        case _:
            apply_failure(uow, job, outcome, site_id, key, now)
