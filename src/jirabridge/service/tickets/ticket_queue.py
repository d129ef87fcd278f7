"""Queueing the Jira issue of a new ticket: a pending link and its `issue.create` operation, in the
caller's transaction. Tickets created by hand (service/tickets/tickets.py) and by a rule's auto-create
(service/rules/routing.py) take this one path, so both get the marker label that makes the create
duplicate-proof and the remote link back to the item (workers/jira_create.py). Once the issue exists,
`status_on_create` gives the item the project's `on_create_status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jirabridge.domain import ticket_status
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import CreateIssue, RemoteLinkTarget
from jirabridge.ids import new_id
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.tickets import items as items_service
from jirabridge.service.tickets.ticket_fields import new_marker
from jirabridge.storage import outbox
from jirabridge.storage.tables import Item, Link

MAX_REMOTE_TITLE = 255


def queue_create(
    uow: UnitOfWork,
    now: datetime,
    item: Item,
    site_id: str,
    fields: dict[str, Any],
    *,
    rule_id: str | None = None,
) -> Link:
    """A pending link of `item` and the operation that creates its issue with `fields` (plus the
    marker label); `rule_id` names the routing rule that asked for it."""
    marker = new_marker()
    link = Link(
        id=new_id("lk"),
        workspace_id=item.workspace_id,
        item_type=item.type,
        item_id=item.id,
        site_id=site_id,
        sync_state=LinkState.PENDING,
        created_by_jirabridge=True,
        linked_at=now,
    )
    uow.links.insert(link)
    title = f"{item.type} {item.id}: {item.title}"[:MAX_REMOTE_TITLE]
    create = CreateIssue(
        link_id=link.id,
        site_id=site_id,
        fields={**fields, "labels": [*fields.get("labels", []), marker]},
        marker=marker,
        remote_link=RemoteLinkTarget(item.url, title) if item.url else None,
        rule_id=rule_id,
        item=(item.type, item.id),
    )
    outbox.enqueue(uow.session, create, workspace_id=item.workspace_id, now=now)
    return link


def status_on_create(uow: UnitOfWork, now: datetime, link: Link, settings: dict[str, Any]) -> str | None:
    """The ticket created for `link`'s item exists: the item takes the project's `on_create_status`
    (`settings`: the issue's project's), when its status is one it applies from, with an
    `item.status_changed` event (reason `created`). Called before the new issue's first status push,
    which then follows the new status. Answers the item's status after it (None: the item is gone)."""
    if link.issue_key is None:
        return None
    read = uow.items.loose(link.workspace_id, link.item_type, link.item_id)
    if read is None:
        return None
    target = ticket_status.on_create(settings, read.status)
    if target is None:
        return read.status
    item = uow.items.get(link.workspace_id, link.item_type, link.item_id)  # the one to change
    assert item is not None
    items_service.take_status(uow, now, item, target, issue_key=link.issue_key, reason="created")
    return item.status
