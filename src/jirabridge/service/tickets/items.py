"""Items (host records) and their links: upsert, read, delete, unlink, and what a status change implies.

A host status change never calls Jira here: it enqueues `issue.sync_status` (or, in `comment` mode,
`issue.comment`) for each linked issue in the same transaction, and the worker does the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.domain import items as domain_items
from jirabridge.domain.descriptions import text_to_adf
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import AddComment, SyncStatus
from jirabridge.domain.templates import comment_text
from jirabridge.errors import NotFound
from jirabridge.ids import new_id
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.rules import routing
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.tickets import assignees
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Item, Link

STATUS_MODES_THAT_PUSH = ("two_way", "outbound")


@dataclass(frozen=True)
class ItemInput:
    title: str
    description: str | None = None
    status: str | None = None
    severity: str | None = None
    assignee: str | None = None
    attributes: dict[str, Any] | None = None
    url: str | None = None


def as_domain(item: Item) -> domain_items.Item:
    return domain_items.Item(
        type=item.type,
        id=item.id,
        title=item.title,
        description=item.description,
        status=item.status,
        severity=item.severity,
        assignee=item.assignee,
        attributes=dict(item.attributes or {}),
        url=item.url,
    )


def find_item(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> Item:
    return _found(uow.items.get(workspace_id, item_type, item_id), item_type, item_id)


def read_item(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> Item:
    """`find_item` read as columns, for reading only (a change to it is not written)."""
    return _found(uow.items.loose(workspace_id, item_type, item_id), item_type, item_id)


def _found(item: Item | None, item_type: str, item_id: str) -> Item:
    if item is None:
        raise _missing(item_type, item_id)
    return item


def _missing(item_type: str, item_id: str) -> NotFound:
    return NotFound(f"item {item_type}/{item_id} does not exist")


def require_item(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> None:
    """`find_item` where only its existence matters."""
    if not uow.items.exists(workspace_id, item_type, item_id):
        raise _missing(item_type, item_id)


def item_links(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> list[Link]:
    return uow.links.for_item(workspace_id, item_type, item_id)


def issue_links(uow: UnitOfWork, workspace_id: str, site_id: str, issue_key: str) -> list[Link]:
    return uow.links.by_issue(workspace_id, site_id, issue_key)


@dataclass(frozen=True)
class Upserted:
    item: Item
    created: bool
    links: list[Link] | None  # the item's links, when a change made them read (None: not read)


def upsert_item(
    uow: UnitOfWork, now: datetime, workspace_id: str, item_type: str, item_id: str, data: ItemInput
) -> Upserted:
    """Store the item; a changed status enqueues the Jira work it implies. The caller commits (after
    rendering the answer with `item_json(uow, item, links)`: once committed, a read opens another
    transaction)."""
    # An existing item is read as columns and written with one UPDATE (a fifth of the ORM's load and
    # flush); a new one is added to the session, as routing may set its rule.
    item = uow.items.loose(workspace_id, item_type, item_id)
    created = item is None
    previous_status = None if item is None else item.status
    previous_assignee = None if item is None else item.assignee
    if item is None:
        item = Item(workspace_id=workspace_id, type=item_type, id=item_id, created_at=now)
        uow.items.add(item)
    if created or data.status != item.status:
        item.status_changed_at = now
    if created or data.assignee != item.assignee:
        item.assignee_changed_at = now
    item.title = data.title
    item.description = data.description
    item.status = data.status
    item.severity = data.severity
    item.assignee = data.assignee
    item.attributes = dict(data.attributes or {})
    item.url = data.url
    item.updated_at = now
    if created:
        uow.flush()
    else:
        uow.items.replace(item)
    links: list[Link] | None = None  # read once for both changes and the answer; only read
    if not created and data.status != previous_status:
        links = uow.links.loose_for_item(workspace_id, item_type, item_id)
        status_changed(uow, now, item, previous_status, links)
    if not created and data.assignee != previous_assignee:
        links = links if links is not None else uow.links.loose_for_item(workspace_id, item_type, item_id)
        assignees.assignee_changed(uow, now, item, links)  # `issue.assign` per linked issue (assignee_sync)
    if created:
        routing.on_new_item(uow, now, item, as_domain(item))  # routing rules; may queue a ticket
    uow.flush()
    return Upserted(item, created, links)


def status_changed(
    uow: UnitOfWork, now: datetime, item: Item, previous: str | None, links: list[Link] | None = None
) -> None:
    """Enqueue, per linked issue, what the project's `status_sync` mode asks for. A broken link gets
    its operation too: the worker records the failure (`link_broken`) without calling Jira. `links`:
    the item's, when the caller read them in this transaction."""
    if links is None:
        links = item_links(uow, item.workspace_id, item.type, item.id)
    for link in links:
        if link.issue_key is None:
            continue  # a pending create syncs the status itself once the issue exists
        settings = project_settings(uow, item.workspace_id, link.site_id, project_of(link.issue_key))
        mode = settings.get("status_sync")
        if mode in STATUS_MODES_THAT_PUSH:
            item_ref = (item.type, item.id)
            enqueue_status_sync(uow, now, item.workspace_id, link.site_id, link.issue_key, item_ref)
        elif mode == "comment":
            workspace = workspace_settings.load(uow, item.workspace_id)
            text = comment_text(
                settings.get("comment_template") or workspace.comment_template,
                timestamp=now,
                host=_host_name(uow, item.workspace_id),
                item_type=item.type,
                status=item.status or "",
                item=as_domain(item),
                previous_status=previous,
            )
            enqueue_comment(uow, now, item.workspace_id, link, text, marker=new_id("cm"))


def take_status(
    uow: UnitOfWork, now: datetime, item: Item, status: str, *, issue_key: str, reason: str
) -> None:
    """The item takes `status` because of its ticket (`reason`: `linked`, `created`), a decision of
    jirabridge's settings rather than a person's, recorded as `item.status_changed`."""
    previous = item.status
    item.status = status
    item.updated_at = now
    record_event(
        uow.session,
        workspace_id=item.workspace_id,
        type="item.status_changed",
        source="jirabridge",
        at=now,
        item=(item.type, item.id),
        issue_key=issue_key,
        data={"from": previous, "to": status, "reason": reason},
    )


def _host_name(uow: UnitOfWork, workspace_id: str) -> str:
    configured = workspace_settings.load(uow, workspace_id).host_name
    if configured:
        return configured
    workspace = uow.workspaces.get(workspace_id)
    return workspace.name if workspace else "Host"


def enqueue_status_sync(
    uow: UnitOfWork, now: datetime, workspace_id: str, site_id: str, issue_key: str, item: tuple[str, str]
) -> None:
    """`item` is the one whose status changed: a failure of the sync is shown on it."""
    outbox.enqueue(uow.session, SyncStatus(site_id, issue_key, item), workspace_id=workspace_id, now=now)


def enqueue_comment(
    uow: UnitOfWork, now: datetime, workspace_id: str, link: Link, text: str, *, marker: str
) -> None:
    assert link.issue_key is not None
    comment = AddComment(
        link.site_id, link.issue_key, text_to_adf(text), marker=marker, item=(link.item_type, link.item_id)
    )
    outbox.enqueue(uow.session, comment, workspace_id=workspace_id, now=now)


def delete_item(uow: UnitOfWork, now: datetime, workspace_id: str, item_type: str, item_id: str) -> None:
    """Forget the item and its links. Nothing in Jira changes."""
    item = find_item(uow, workspace_id, item_type, item_id)
    for link in item_links(uow, workspace_id, item_type, item_id):
        _removed(uow, now, link)
    uow.item_comments.remove_on_item(workspace_id, item_type, item_id)
    uow.items.remove(item)
    uow.commit()


def unlink(
    uow: UnitOfWork, now: datetime, workspace_id: str, item_type: str, item_id: str, issue_key: str
) -> None:
    find_item(uow, workspace_id, item_type, item_id)
    links = [
        lk
        for lk in item_links(uow, workspace_id, item_type, item_id)
        if (lk.issue_key or "").upper() == issue_key.upper()
    ]
    if not links:
        raise NotFound(f"item {item_type}/{item_id} is not linked to {issue_key}")
    for link in links:
        _removed(uow, now, link)
    uow.commit()


def _removed(uow: UnitOfWork, now: datetime, link: Link) -> None:
    record_event(
        uow.session,
        workspace_id=link.workspace_id,
        type="link.removed",
        source="host",
        at=now,
        item=(link.item_type, link.item_id),
        issue_key=link.issue_key,
        data={"site": link.site_id},
    )
    uow.links.remove(link)


# -- reading ----------------------------------------------------------------------------------------


def link_json(link: Link, site_url: str | None) -> dict[str, Any]:
    shown_status = link.jira_status if link.jira_status and link.sync_state != LinkState.BROKEN else "unknown"
    return {
        "issue_key": link.issue_key,
        "issue_url": f"{site_url}/browse/{link.issue_key}" if site_url and link.issue_key else None,
        "site": link.site_id,
        "jira_status": shown_status,
        "sync_state": link.sync_state,
        "last_error": link.last_error,
        "linked_at": iso_time(link.linked_at),
        "created_by_jirabridge": link.created_by_jirabridge,
    }


def site_urls(uow: UnitOfWork, site_ids: Iterable[str]) -> dict[str, str]:
    return uow.sites.urls(site_ids)


def item_json(uow: UnitOfWork, item: Item, links: list[Link] | None = None) -> dict[str, Any]:
    """SPEC section 2, "item". `links`: the item's, when read in this transaction since they last
    changed."""
    if links is None:
        links = uow.links.loose_for_item(item.workspace_id, item.type, item.id)
    urls = site_urls(uow, (lk.site_id for lk in links))
    return {
        "type": item.type,
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "status": item.status,
        "severity": item.severity,
        "assignee": item.assignee,
        "attributes": dict(item.attributes or {}),
        "url": item.url,
        "rule_id": item.rule_id,  # the routing rule the item matched when it was new
        "created_at": iso_time(item.created_at),
        "updated_at": iso_time(item.updated_at),
        "links": [link_json(lk, urls.get(lk.site_id)) for lk in links],
    }


def iso_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if moment.tzinfo else text + "Z"
