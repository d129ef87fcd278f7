"""Assignee, outbound (SPEC section 3, "Assignee and comments"): a host change of an item's assignee
queues `issue.assign` for each linked issue whose project's `assignee_sync` is `outbound` or
`two_way`, in the caller's transaction. The worker (workers/jira_assign.py) decides at run time whom
to assign — the item's assignee then — so a burst of changes ends in one call.

Self-contained (no import of service/tickets/items.py, which calls it) so the two modules do not import
each other.
"""

from __future__ import annotations

from datetime import datetime

from jirabridge.domain.operations import AssignIssue
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.storage import outbox
from jirabridge.storage.tables import Item, Link

OUTBOUND_MODES = ("outbound", "two_way")


def assignee_changed(uow: UnitOfWork, now: datetime, item: Item, links: list[Link] | None = None) -> None:
    """Queue the assignment of every issue linked to `item` whose project pushes assignees. A broken
    link gets its operation too: the worker records the failure (`link_broken`) without a call.
    `links`: the item's, when the caller read them in this transaction."""
    if links is None:
        links = uow.links.for_item(item.workspace_id, item.type, item.id)
    queued: set[tuple[str, str]] = set()
    for link in links:
        if link.issue_key is None or (link.site_id, link.issue_key) in queued:
            continue  # still being created: the ticket request's `assignee` is what it gets
        if not pushes_assignee(uow, item.workspace_id, link.site_id, link.issue_key):
            continue
        queued.add((link.site_id, link.issue_key))
        assign = AssignIssue(link.site_id, link.issue_key, item=(item.type, item.id))
        outbox.enqueue(uow.session, assign, workspace_id=item.workspace_id, now=now)


def pushes_assignee(uow: UnitOfWork, workspace_id: str, site_id: str, issue_key: str) -> bool:
    settings = project_settings(uow, workspace_id, site_id, project_of(issue_key))
    return settings.get("assignee_sync") in OUTBOUND_MODES
