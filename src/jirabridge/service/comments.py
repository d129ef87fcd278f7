"""Comments on items. A host comment is posted to every linked issue whose project syncs comments
outbound; Jira comments arrive with inbound sync (a later issue) and are listed alongside."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from jirabridge.ids import new_id
from jirabridge.service import items as items_service
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ItemComment

OUTBOUND_MODES = ("outbound", "two_way")


def add_host_comment(
    uow: UnitOfWork,
    now: datetime,
    workspace_id: str,
    item_type: str,
    item_id: str,
    body: str,
    author: str | None,
) -> ItemComment:
    items_service.find_item(uow, workspace_id, item_type, item_id)
    comment = ItemComment(
        id=new_id("cm"),
        workspace_id=workspace_id,
        item_type=item_type,
        item_id=item_id,
        source="host",
        author=author,
        body=body,
        jira_comments={},
        created_at=now,
        updated_at=now,
    )
    uow.session.add(comment)
    # Posted by the site's connection, so the text says who wrote it.
    text = f"{author}: {body}" if author else body
    posted: set[tuple[str, str]] = set()
    for link in items_service.item_links(uow, workspace_id, item_type, item_id):
        if link.issue_key is None or link.sync_state == "broken" or (link.site_id, link.issue_key) in posted:
            continue
        settings = items_service.project_settings(
            uow, workspace_id, link.site_id, items_service.project_of(link.issue_key)
        )
        if settings.get("comment_sync") in OUTBOUND_MODES:
            items_service.enqueue_comment(uow, now, workspace_id, link, text, marker=comment.id)
            posted.add((link.site_id, link.issue_key))
    uow.commit()
    return comment


def list_comments(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> list[ItemComment]:
    items_service.find_item(uow, workspace_id, item_type, item_id)
    query = (
        select(ItemComment)
        .where(
            ItemComment.workspace_id == workspace_id,
            ItemComment.item_type == item_type,
            ItemComment.item_id == item_id,
        )
        .order_by(ItemComment.created_at, ItemComment.id)
    )
    return list(uow.session.scalars(query))


def comment_json(comment: ItemComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "source": comment.source,
        "author": comment.author,
        "body": comment.body,
        "created_at": items_service.iso_time(comment.created_at),
        "updated_at": items_service.iso_time(comment.updated_at),
    }
