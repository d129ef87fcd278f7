"""What an operation's outcome on one Jira issue means to the links of that issue.

Shared by the steps that write to an issue (`workers/steps.py`): their `apply` runs these in the
transaction that completes the operation, so a 404 breaks the links, and a failure the handler
names is shown on the links and on each linked item's feed, exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jirabridge.domain.items import LinkState
from jirabridge.domain.outcomes import Fail, Job, Outcome
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.events import record_event
from jirabridge.storage.repositories.links import LinkSeen
from jirabridge.storage.tables import Item, Link

BROKEN = LinkState.BROKEN
ISSUE_NOT_FOUND = "issue_not_found"


@dataclass(frozen=True)
class LinkRef:
    """A link as a handler sees it (a plain value, read in the claim's transaction)."""

    id: str
    item_type: str
    item_id: str
    sync_state: str


def issue_links(uow: UnitOfWork, workspace_id: str, site_id: str, issue_key: str) -> list[Link]:
    return uow.links.by_issue(workspace_id, site_id, issue_key)


def refs(links: Sequence[LinkSeen]) -> list[LinkRef]:
    return [LinkRef(link.id, link.item_type, link.item_id, link.sync_state) for link in links]


def link_refs(uow: UnitOfWork, workspace_id: str, site_id: str, issue_key: str) -> list[LinkRef]:
    """The issue's links as its handler sees them (a step's `load`)."""
    return refs(uow.links.seen_by_issue(workspace_id, site_id, issue_key))


def issue_gone_detail(issue_key: str) -> str:
    return f"issue {issue_key} does not exist in Jira any more (404)"


def issue_not_found(issue_key: str) -> Fail:
    """The outcome of a 404 on the issue: `apply_failure` breaks its links."""
    return Fail(ISSUE_NOT_FOUND, issue_gone_detail(issue_key))


def mark_broken(
    uow: UnitOfWork, now: datetime, workspace_id: str, site_id: str, issue_key: str, detail: str
) -> int:
    """Every link of the issue becomes `broken` (status unknown) with a `link.broken` event; the
    caller commits. Returns how many links changed."""
    changed = 0
    for link in issue_links(uow, workspace_id, site_id, issue_key):
        if link.sync_state != BROKEN:
            break_link(uow, now, link, ISSUE_NOT_FOUND, detail)
            changed += 1
    return changed


def break_link(uow: UnitOfWork, now: datetime, link: Link, reason: str, detail: str) -> None:
    """The link becomes `broken` (status unknown) with a `link.broken` event naming `reason`; the
    caller commits."""
    link.sync_state = BROKEN
    link.jira_status = None
    link.jira_status_category = None
    link.last_error = detail
    record_event(
        uow.session,
        workspace_id=link.workspace_id,
        type="link.broken",
        source="jira",
        at=now,
        item=(link.item_type, link.item_id),
        issue_key=link.issue_key,
        data={"site": link.site_id, "reason": reason},
    )


def linked_items(
    uow: UnitOfWork, workspace_id: str, links: Sequence[Link | LinkSeen], *, only_read: bool = False
) -> list[Item]:
    """The items of the workspace's `links`, each once, in link order (a link whose item is gone has
    none). `only_read`: read as columns, rows of no session (a step's `load`)."""
    read = uow.items.loose if only_read else uow.items.get
    refs = dict.fromkeys((link.item_type, link.item_id) for link in links)
    return [item for item in (read(workspace_id, *ref) for ref in refs) if item is not None]


def record_sync_failed(
    uow: UnitOfWork,
    job: Job,
    now: datetime,
    item: tuple[str, str],
    issue_key: str,
    reason: str,
    detail: str,
    **data: object,
) -> None:
    """A `sync.failed` event on an item for the operation `job` (the caller commits)."""
    record_event(
        uow.session,
        workspace_id=job.workspace_id,
        type="sync.failed",
        source="jirabridge",
        at=now,
        item=item,
        issue_key=issue_key,
        data={"operation": job.kind, "operation_id": job.id, "reason": reason, "detail": detail, **data},
    )


def apply_failure(
    uow: UnitOfWork, job: Job, outcome: Outcome, site_id: str, issue_key: str, now: datetime
) -> bool:
    """The links' side of a failure on the issue; True when `outcome` was one.

    - `issue_not_found`: the links break (`link.broken` events);
    - a failure the handler announced (`Fail.announced`): every link shows it, and each linked item
      gets one `sync.failed` event carrying `Fail.data`;
    - any other failure: the outbox records it (one `sync.failed`), the links are left alone."""
    if not isinstance(outcome, Fail):
        return False
    if outcome.reason == ISSUE_NOT_FOUND:
        mark_broken(uow, now, job.workspace_id, site_id, issue_key, outcome.detail)
    elif outcome.announced:
        items: list[tuple[str, str]] = []
        for link in issue_links(uow, job.workspace_id, site_id, issue_key):
            link.sync_state = LinkState.FAILED
            link.last_error = f"{outcome.reason}: {outcome.detail}"
            if (link.item_type, link.item_id) not in items:
                items.append((link.item_type, link.item_id))
        for item in items:
            record_sync_failed(uow, job, now, item, issue_key, outcome.reason, outcome.detail, **outcome.data)
    return True
