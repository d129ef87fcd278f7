"""Inbound sync: apply what Jira reports (by webhook or poll) to the linked items (SPEC section 3).

One path for both sources. `receive` is called inside the caller's unit of work (the webhook route,
the poller) and either applies the change at once or, when outbound work on that issue is still
pending or running, queues it behind that work (`inbound.apply`, same ordering key as the issue's
outbound operations). That ordering is the echo prevention: by the time Jira's report of a change
jirabridge made itself is applied, the handler that made it has recorded what it did — the link's
`jira_status`, `jira_assignee`, a `JiraCommentRef` for a comment — so the report matches what is
known and changes nothing.

What is applied, per linked issue:
- a change older than the newest already applied to the issue (`Link.jira_updated_at`) is ignored:
  deliveries are unordered and polls overlap; so is its status (its assignee) when it is older than
  jirabridge's own last transition (assignment) of the issue (`Link.jira_status_at`,
  `Link.jira_assignee_at`): a report of the issue as an earlier write left it — jirabridge's own remote
  link, say, queued behind the transition — must not undo the transition;
- status (project `status_sync` two_way/inbound): each linked item takes the mapped host status
  (explicit inbound map, else the inverse of the outbound map, else done → `resolved_status`) unless
  the host changed the item's status after Jira's change (the newer change wins); the item's other
  linked issues are then moved to match, as for a host change;
- assignee (`assignee_sync` inbound/two_way): the Jira account maps to a host user through a user
  connection on the site, else by email where Jira shows one; an unmapped account unassigns the item
  and the event names the Jira user — never a guess;
- comments (`comment_sync` inbound/two_way): a Jira comment created after the link appears on every
  linked item once; edits update it; comments jirabridge wrote are recognised and skipped;
- a deleted issue breaks its links.
Every change emits an event (source `jira`) on the feed and to the host callback. A change whose
parts the project's settings take none of (a status while status sync is not inbound) is `skipped`
with the reason, for the webhook's answer and log; a status is still recorded on the links.

A catch-up (`catch_up=True`, workers/inbound_catch_up.py, when status or assignee sync is switched
on) hands in the part of an issue's current state being caught up: its status is applied to every
item not already in step with it (`domain.inbound.catch_up_status`), its assignee to every item whose
assignee is not the host user of Jira's, even when what Jira shows is what the links recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jirabridge.domain import inbound as domain
from jirabridge.domain import mappings
from jirabridge.domain.inbound import issue_key_of
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import ApplyInbound, issue_ordering_key
from jirabridge.ids import new_id
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.tickets import items as items_service
from jirabridge.service.tickets.issue_links import break_link, linked_items
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import (
    Item,
    ItemComment,
    JiraCommentRef,
    Link,
    Site,
)

# A status sync that failed before touching Jira: once Jira's status changes, the link shows it again.
STATUS_FAILURES = ("transition_not_allowed", "transition_field_required")
# A comment written this long before its issue was linked still counts as new (clocks differ).
COMMENT_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Received:
    """What became of a change: queued behind outbound work (`deferred`), or applied now — or
    `skipped`, with why, when the project's settings take none of what it brought."""

    deferred: bool = False
    skipped: str | None = None


@dataclass
class _Parts:
    """What the parts of one change came to, for `Received.skipped`."""

    changed: bool = False
    skipped: list[str] = field(default_factory=list)

    def result(self) -> Received:
        return Received(skipped="; ".join(self.skipped) if self.skipped and not self.changed else None)


@dataclass
class Known:
    """What many changes of one site need, read once for all, not once per change (`receive_many`):
    the links of their issues, the ordering keys with outbound work outstanding — kept up to date
    with what applying the changes queues — and each project's sync settings as first read."""

    links: dict[str, list[Link]]
    busy: set[str]
    syncs: dict[str, domain.ProjectSync] = field(default_factory=dict)


def receive(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    change: domain.Change,
    *,
    source: str,
    catch_up: bool = False,
    known: Known | None = None,
) -> Received:
    """Apply `change` now, or queue it behind outbound work on its issue. The caller commits.
    `catch_up`: `change` is the issue's current state read to catch up (`catch_up_status`), applied
    even when its status is the one already recorded."""
    deferred = ApplyInbound(site.id, source, change, catch_up=catch_up)
    ordering_key = deferred.ordering_key()
    if known is not None:
        busy = ordering_key in known.busy
    else:
        busy = uow.operations.any_outstanding(ordering_key, outbox.OUTSTANDING)
    if busy:
        outbox.enqueue(uow.session, deferred, workspace_id=site.workspace_id, now=now)
        if known is not None:
            known.busy.add(ordering_key)
        return Received(deferred=True)
    return apply(uow, now, site, change, source=source, catch_up=catch_up, known=known)


def receive_many(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    changes: Sequence[domain.IssueSnapshot],
    *,
    source: str,
    catch_up: bool = False,
) -> int:
    """`receive` each of a poll's (a catch-up's) changes, oldest first, reading the links of all their
    issues, and which have outbound work outstanding, in one go: a poll of hundreds of issues is then
    a few reads and its writes, in the transaction that records it. Returns how many were applied
    now (the others wait behind outbound work)."""
    keys = {c.key for c in changes}
    known = Known(
        links=uow.links.by_issues(site.workspace_id, site.id, keys),
        busy=uow.operations.outstanding_keys(
            [issue_ordering_key(site.id, key) for key in keys], outbox.OUTSTANDING
        ),
    )
    received = (receive(uow, now, site, c, source=source, catch_up=catch_up, known=known) for c in changes)
    return sum(not r.deferred for r in received)


def linked_issue_keys(uow: UnitOfWork, workspace_id: str, site_id: str, project: str) -> list[str]:
    """The issues of `project` that items are linked to (broken links aside), for a catch-up."""
    keys = uow.links.issue_keys_in_project(workspace_id, site_id, project, except_state=LinkState.BROKEN)
    return [key for key in keys if project_of(key) == project]


def apply(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    change: domain.Change,
    *,
    source: str,
    catch_up: bool = False,
    known: Known | None = None,
) -> Received:
    key = issue_key_of(change)
    if known is not None:
        found = known.links.get(key, [])
    else:
        found = items_service.issue_links(uow, site.workspace_id, site.id, key)
    links = [lk for lk in found if lk.sync_state != LinkState.BROKEN]
    if not links:
        return Received()
    if isinstance(change, domain.IssueDeleted):
        _deleted(uow, now, key, links)
        return Received()
    sync = _sync(uow, site, project_of(key), known)
    parts = _Parts()
    if isinstance(change, domain.CommentChanged):
        _comments(uow, now, site, key, links, (change.comment,), sync, parts)
        return parts.result()
    seen = domain.newest(_aware(lk.jira_updated_at) for lk in links if lk.jira_updated_at)
    if not domain.is_stale(seen, change.updated):
        # jirabridge's own transition or assignment may be newer than the change (a report of an earlier
        # write, queued behind it): that part of the issue is the one the links record.
        status_at = domain.newest(_aware(lk.jira_status_at) for lk in links if lk.jira_status_at)
        if not domain.is_stale(status_at, change.updated):
            _status(uow, now, site, key, links, change, sync, parts, catch_up=catch_up, known=known)
        assignee_at = domain.newest(_aware(lk.jira_assignee_at) for lk in links if lk.jira_assignee_at)
        if change.has_assignee and not domain.is_stale(assignee_at, change.updated):
            _assignee(uow, now, site, key, links, change, sync, parts, catch_up=catch_up)
        for link in links:
            link.jira_updated_at = change.updated
    if change.comments is not None:
        _comments(uow, now, site, key, links, change.comments, sync, parts)
    return parts.result()


def _sync(uow: UnitOfWork, site: Site, project: str, known: Known | None) -> domain.ProjectSync:
    if known is not None and project in known.syncs:
        return known.syncs[project]
    sync = domain.project_sync(project_settings(uow, site.workspace_id, site.id, project))
    if known is not None:
        known.syncs[project] = sync
    return sync


# -- status ----------------------------------------------------------------------------------------


def _status(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    key: str,
    links: list[Link],
    change: domain.IssueSnapshot,
    sync: domain.ProjectSync,
    parts: _Parts,
    *,
    catch_up: bool,
    known: Known | None = None,
) -> None:
    if change.status is None:
        return  # the change says nothing of the status (a catch-up of assignees alone)
    changed = domain.status_changed(links[0].jira_status, change.status)
    if not changed and not catch_up:
        return
    for link in links:
        link.jira_status = change.status
        link.jira_status_category = change.status_category
        if (
            changed
            and link.sync_state == LinkState.FAILED
            and (link.last_error or "").startswith(STATUS_FAILURES)
        ):
            link.sync_state, link.last_error = LinkState.SYNCED, None
    if not sync.status_inbound:
        # Recorded (outbound moves need to know where the issue is) but not applied: switching
        # inbound on again catches up (`catch_up_status`).
        if changed:
            parts.skipped.append(domain.STATUS_OFF)
        return
    for item in linked_items(uow, site.workspace_id, links):
        if catch_up:
            target = domain.catch_up_status(sync.mapping, item.status, change.status, change.status_category)
        else:
            target = mappings.inbound_status(sync.mapping, change.status, change.status_category)
        if target is None or item.status == target:
            continue
        if item.status_changed_at is not None and _aware(item.status_changed_at) > change.updated:
            continue  # the host changed it after Jira did: the host's change wins and is pushed out
        previous = item.status
        item.status = target
        item.status_changed_at = now
        item.updated_at = now
        _event(
            uow,
            now,
            site,
            key,
            item,
            "item.status_changed",
            {"from": previous, "to": target, "jira_status": change.status, "jira_user": _user(change.actor)},
        )
        parts.changed = True
        _push_to_other_issues(uow, now, item, site.id, key, known)


def _push_to_other_issues(
    uow: UnitOfWork, now: datetime, item: Item, site_id: str, key: str, known: Known | None
) -> None:
    """The item's other linked issues follow its new status, as for a host change (and a change of one
    of them later in the same poll waits behind that: `known.busy`)."""
    for link in items_service.item_links(uow, item.workspace_id, item.type, item.id):
        if link.issue_key is None or (link.site_id, link.issue_key) == (site_id, key):
            continue
        settings = project_settings(uow, item.workspace_id, link.site_id, project_of(link.issue_key))
        if settings.get("status_sync", "two_way") in items_service.STATUS_MODES_THAT_PUSH:
            items_service.enqueue_status_sync(
                uow, now, item.workspace_id, link.site_id, link.issue_key, (item.type, item.id)
            )
            if known is not None:
                known.busy.add(issue_ordering_key(link.site_id, link.issue_key))


# -- assignee --------------------------------------------------------------------------------------


def _assignee(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    key: str,
    links: list[Link],
    change: domain.IssueSnapshot,
    sync: domain.ProjectSync,
    parts: _Parts,
    *,
    catch_up: bool = False,
) -> None:
    account = change.assignee.account_id if change.assignee else None
    changed = any(link.jira_assignee != account for link in links)
    if not changed and not catch_up:
        return
    for link in links:
        link.jira_assignee = account
    if not sync.assignee_inbound:
        if changed:
            parts.skipped.append(domain.ASSIGNEE_OFF)
        return
    host_user = None if change.assignee is None else host_user_for(uow, site, change.assignee)
    for item in linked_items(uow, site.workspace_id, links):
        if item.assignee_changed_at is not None and _aware(item.assignee_changed_at) > change.updated:
            continue
        if item.assignee == host_user and (host_user is not None or change.assignee is None or catch_up):
            continue  # in step (a catch-up reports no unmapped account the item already shows as none)
        previous = item.assignee
        item.assignee = host_user
        item.assignee_changed_at = now
        item.updated_at = now
        data: dict[str, Any] = {"from": previous, "to": host_user, "jira_user": _user(change.assignee)}
        if change.assignee is not None and host_user is None:
            data["unmapped"] = True
        _event(uow, now, site, key, item, "item.assignee_changed", data)
        parts.changed = True


def host_user_for(uow: UnitOfWork, site: Site, user: domain.JiraUser) -> str | None:
    """The host user of a Jira account: by user connection on the site, else by email; else None."""
    connected = uow.user_connections.user_of_account(site.workspace_id, site.id, user.account_id)
    if connected is not None:
        return connected
    if not user.email:
        return None
    matches = uow.host_users.ids_by_email(site.workspace_id, user.email)
    return matches[0] if len(matches) == 1 else None  # two host users with one email: no guess


# -- comments --------------------------------------------------------------------------------------


def _comments(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    key: str,
    links: list[Link],
    comments: tuple[domain.CommentSnapshot, ...],
    sync: domain.ProjectSync,
    parts: _Parts,
) -> None:
    if not comments:
        return
    if not sync.comment_inbound:
        parts.skipped.append(domain.COMMENTS_OFF)
        return
    for comment in comments:
        if _comment(uow, now, site, key, links, comment):
            parts.changed = True


def _comment(
    uow: UnitOfWork,
    now: datetime,
    site: Site,
    key: str,
    links: list[Link],
    comment: domain.CommentSnapshot,
) -> bool:
    """Add or update the comment on the items; True when something changed."""
    ref = uow.jira_comment_refs.get(site.id, comment.id)
    if ref is not None and ref.source != "jira":
        return False  # jirabridge wrote it: never sent back
    jira_ref = f"{site.id}:{comment.id}"
    if ref is None:
        linked_at = min(_aware(lk.linked_at) for lk in links)
        if comment.created < linked_at - COMMENT_GRACE:
            return False  # older than the link: history, not a change
        uow.jira_comment_refs.add(
            JiraCommentRef(
                workspace_id=site.workspace_id,
                site_id=site.id,
                jira_comment_id=comment.id,
                issue_key=key,
                item_comment_id=None,
                source="jira",
                jira_updated_at=comment.updated,
            )
        )
        for item in linked_items(uow, site.workspace_id, links):
            stored = ItemComment(
                id=new_id("cm"),
                workspace_id=site.workspace_id,
                item_type=item.type,
                item_id=item.id,
                source="jira",
                author=comment.author.display_name if comment.author else None,
                body=comment.body,
                jira_ref=jira_ref,
                created_at=comment.created,
                updated_at=comment.updated,
            )
            uow.item_comments.add(stored)
            _event(uow, now, site, key, item, "item.comment_added", _comment_data(stored, comment))
        return True
    if ref.jira_updated_at is not None and comment.updated <= _aware(ref.jira_updated_at):
        return False
    changed = False
    ref.jira_updated_at = comment.updated
    copies = uow.item_comments.copies_of(site.workspace_id, jira_ref)
    for stored in copies:
        if stored.body == comment.body:
            continue
        stored.body = comment.body
        stored.updated_at = comment.updated
        owner = uow.items.get(site.workspace_id, stored.item_type, stored.item_id)
        changed = True
        if owner is not None:
            _event(uow, now, site, key, owner, "item.comment_updated", _comment_data(stored, comment))
    return changed


def _comment_data(stored: ItemComment, comment: domain.CommentSnapshot) -> dict[str, Any]:
    return {
        "comment_id": stored.id,
        "jira_comment_id": comment.id,
        "body": comment.body,
        "jira_user": _user(comment.author),
    }


# -- deleted issues --------------------------------------------------------------------------------


def _deleted(uow: UnitOfWork, now: datetime, key: str, links: list[Link]) -> None:
    detail = f"issue {key} was deleted in Jira"
    for link in links:
        break_link(uow, now, link, "issue_deleted", detail)


# -- helpers ---------------------------------------------------------------------------------------


def _event(
    uow: UnitOfWork, now: datetime, site: Site, key: str, item: Item, kind: str, data: dict[str, Any]
) -> None:
    record_event(
        uow.session,
        workspace_id=site.workspace_id,
        type=kind,
        source="jira",
        at=now,
        item=(item.type, item.id),
        issue_key=key,
        data={"site": site.id, **data},
    )


def _user(user: domain.JiraUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"account_id": user.account_id, "display_name": user.display_name}


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
