"""Comments on items. A host comment is posted to every linked issue whose project syncs comments
outbound (`issue.comment`); an edit updates the Jira comments it became (`issue.comment_update`).
Jira comments arrive with inbound sync (service/inbound/inbound.py) and are listed alongside; they are never
sent back, and the host cannot edit them here.

Who the comment is from in Jira is decided by the worker when it posts (workers/jira_comment.py): the
author's own Jira identity when they have a user connection on the site, else the site's connection
with the author's name in the text. The operations therefore carry the author and the plain text,
and the worker reads the comment's body when it claims the operation (`comment_text`, for
service/tickets/comment_sync.py and service/tickets/comment_edit.py), so a create that has not run
yet posts the latest edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.domain.access import Principal, can_act_for
from jirabridge.domain.descriptions import text_to_adf
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import AddComment, UpdateComment, from_row, issue_ordering_key
from jirabridge.errors import Conflict, Forbidden, NotFound
from jirabridge.ids import new_id
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.tickets import items as items_service
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import ItemComment, Link

OUTBOUND_MODES = ("outbound", "two_way")


def site_text(author: str | None, body: str) -> str:
    """The text of a comment posted by the site's connection: it says who wrote it."""
    return f"{author}: {body}" if author else body


@dataclass(frozen=True)
class CommentText:
    """What a host comment says and who wrote it, as the worker posts or edits it in Jira."""

    author: str | None  # the host user (or name) who wrote it; None for a status comment
    name: str | None  # how the site's text names the author (the host user's name, else `author`)
    plain: str | None  # the text; None: nothing to read (a status comment, or the comment is gone)
    account_id: str | None  # the author's Jira account on the site, when they connected one

    def as_user(self) -> dict[str, Any]:
        """The body the author's own identity writes: their text as it is."""
        assert self.plain is not None
        return text_to_adf(self.plain)

    def as_site(self, fallback: Any = None) -> Any:
        """The body the site's connection writes: the text naming its author (`fallback` when there
        is no text)."""
        if self.plain is None:
            return fallback
        return text_to_adf(site_text(self.name, self.plain))

    @property
    def by_user(self) -> bool:
        """Worth trying the author's own identity."""
        return self.author is not None and self.plain is not None


def comment_text(
    uow: UnitOfWork, workspace_id: str, site_id: str, comment_id: str | None, queued: AddComment | None = None
) -> CommentText:
    """The host comment's text and author as they read now (an edit made since the operation was
    queued included), else what the queued post says (`queued`), else nothing. A comment of another
    workspace, or one that came from Jira, is not read."""
    comment = uow.item_comments.text(comment_id) if comment_id else None
    if comment is not None and (comment.workspace_id != workspace_id or comment.source != "host"):
        comment = None
    author = comment.author if comment is not None else (queued.author if queued else None)
    plain = comment.body if comment is not None else (queued.text if queued else None)
    if author is None:
        return CommentText(None, None, plain, None)
    name = uow.host_users.name(workspace_id, author) or author
    account_id = uow.user_connections.account_on_site(workspace_id, site_id, author)
    return CommentText(author, name, plain, account_id)


def add_host_comment(
    uow: UnitOfWork,
    now: datetime,
    workspace_id: str,
    item_type: str,
    item_id: str,
    body: str,
    author: str | None,
) -> ItemComment:
    """Store a host comment and queue its Jira comments; the caller commits."""
    items_service.require_item(uow, workspace_id, item_type, item_id)
    comment = ItemComment(
        id=new_id("cm"),
        workspace_id=workspace_id,
        item_type=item_type,
        item_id=item_id,
        source="host",
        author=author,
        body=body,
        created_at=now,
        updated_at=now,
    )
    uow.item_comments.insert(comment)
    for link in _outbound_links(uow, workspace_id, item_type, item_id):
        assert link.issue_key is not None
        post = AddComment(
            link.site_id,
            link.issue_key,
            # What the site posts if the comment is gone by the time the worker runs.
            body=text_to_adf(site_text(author, body)),
            marker=comment.id,  # the property that makes the create exactly-once
            author=author,
            text=body,
            item=(item_type, item_id),
        )
        outbox.enqueue(uow.session, post, workspace_id=workspace_id, now=now)
    return comment  # the caller commits (with the request's Idempotency-Key)


def update_host_comment(
    uow: UnitOfWork,
    now: datetime,
    who: Principal,
    item_type: str,
    item_id: str,
    comment_id: str,
    body: str,
) -> ItemComment:
    """Store the new body and queue the update of every Jira comment it became. A comment from Jira
    is Jira's to edit (409); a member key bound to a user edits only that user's comments (403)."""
    assert who.workspace_id is not None
    workspace_id = who.workspace_id
    items_service.find_item(uow, workspace_id, item_type, item_id)
    comment = uow.item_comments.get(comment_id)
    if comment is None or (comment.workspace_id, comment.item_type, comment.item_id) != (
        workspace_id,
        item_type,
        item_id,
    ):
        raise NotFound(f"item {item_type}/{item_id} has no comment {comment_id}")
    if comment.source != "host":
        raise Conflict(f"comment {comment_id} came from Jira: edit it in Jira")
    if not can_act_for(who, comment.author or ""):
        raise Forbidden(f"this key acts only for user {who.user_id}; comment {comment_id} is not theirs")
    if comment.body == body:
        return comment
    comment.body = body
    comment.updated_at = now
    for site_id, issue_key in _posted_or_posting(uow, comment):
        edit = UpdateComment(site_id, issue_key, comment.id, item=(item_type, item_id))
        outbox.enqueue(uow.session, edit, workspace_id=workspace_id, now=now)
    record_event(
        uow.session,
        workspace_id=workspace_id,
        type="item.comment_updated",
        source="host",
        at=now,
        item=(item_type, item_id),
        data={"comment_id": comment.id, "author": comment.author, "body": body},
    )
    uow.commit()
    return comment


def _posted_or_posting(uow: UnitOfWork, comment: ItemComment) -> list[tuple[str, str]]:
    """The issues whose Jira comment must follow an edit: those it was posted to (`JiraCommentRef`)
    and those whose create is still queued or running. A queued create reads the new body itself;
    one already running may have read the old one, so the update queued behind it (same ordering
    key) makes sure. Projects that stopped syncing comments outbound are left alone."""
    found: list[tuple[str, str]] = []
    for ref in uow.jira_comment_refs.posted(comment.workspace_id, comment.id):
        if (ref.site_id, ref.issue_key) not in found:
            found.append((ref.site_id, ref.issue_key))
    for link in _outbound_links(uow, comment.workspace_id, comment.item_type, comment.item_id):
        assert link.issue_key is not None
        if (link.site_id, link.issue_key) not in found and _create_outstanding(uow, link, comment.id):
            found.append((link.site_id, link.issue_key))
    return [
        (site_id, key)
        for site_id, key in found
        if project_settings(uow, comment.workspace_id, site_id, project_of(key)).get("comment_sync")
        in OUTBOUND_MODES
    ]


def _create_outstanding(uow: UnitOfWork, link: Link, marker: str) -> bool:
    assert link.issue_key is not None
    queued = uow.operations.outstanding_payloads(
        issue_ordering_key(link.site_id, link.issue_key), AddComment.KIND, outbox.OUTSTANDING
    )
    posts = (from_row(AddComment.KIND, payload) for payload in queued)
    return any(isinstance(post, AddComment) and post.marker == marker for post in posts)


def _outbound_links(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> list[Link]:
    """The item's usable links to issues whose project syncs comments outbound, one per issue."""
    found: list[Link] = []
    seen: set[tuple[str, str]] = set()
    for link in uow.links.loose_for_item(workspace_id, item_type, item_id):
        if (
            link.issue_key is None
            or link.sync_state == LinkState.BROKEN
            or (link.site_id, link.issue_key) in seen
        ):
            continue
        settings = project_settings(uow, workspace_id, link.site_id, project_of(link.issue_key))
        if settings.get("comment_sync") in OUTBOUND_MODES:
            found.append(link)
            seen.add((link.site_id, link.issue_key))
    return found


def list_comments(uow: UnitOfWork, workspace_id: str, item_type: str, item_id: str) -> list[ItemComment]:
    items_service.find_item(uow, workspace_id, item_type, item_id)
    return uow.item_comments.on_item(workspace_id, item_type, item_id)


def comment_json(comment: ItemComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "source": comment.source,
        "author": comment.author,
        "body": comment.body,
        "created_at": items_service.iso_time(comment.created_at),
        "updated_at": items_service.iso_time(comment.updated_at),
    }
