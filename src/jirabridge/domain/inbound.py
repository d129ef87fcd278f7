"""Inbound sync (SPEC section 3, "Status, inbound", "Assignee and comments"): what Jira told us, in one
shape whether it came by webhook or by poll, and the pure decisions about it.

Webhook payloads (REST v2 form) and search results (v3) are turned into these values at the edge
(`service/inbound/webhook_payloads.py`, the poller); everything after that is the same code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jirabridge.domain import mappings

INBOUND_MODES = ("two_way", "inbound")  # modes of status/assignee/comment sync that take Jira's changes
# Why a change Jira reported was not applied (the webhook's answer and log say so).
STATUS_OFF = "status sync inbound off"
ASSIGNEE_OFF = "assignee sync inbound off"
COMMENTS_OFF = "comment sync inbound off"


@dataclass(frozen=True)
class JiraUser:
    account_id: str
    display_name: str | None = None
    email: str | None = None  # only where Jira exposes it (the person's privacy settings)


@dataclass(frozen=True)
class CommentSnapshot:
    id: str
    body: str  # plain text
    author: JiraUser | None
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class IssueSnapshot:
    """An issue as Jira showed it at `updated`. Parts a source did not include are None / not
    `has_*`, and are left alone (a comment event carries no changelog, a poll may carry no comments)."""

    key: str
    id: str | None
    updated: datetime
    status: str | None = None
    status_category: str | None = None  # "new" | "indeterminate" | "done"
    has_assignee: bool = False
    assignee: JiraUser | None = None
    comments: tuple[CommentSnapshot, ...] | None = None
    actor: JiraUser | None = None  # who made the change, where the source says


@dataclass(frozen=True)
class IssueDeleted:
    key: str
    id: str | None


@dataclass(frozen=True)
class CommentChanged:
    """A comment created or edited (webhook `comment_created`/`comment_updated`)."""

    issue_key: str
    issue_id: str | None
    comment: CommentSnapshot


Change = IssueSnapshot | IssueDeleted | CommentChanged


def issue_key_of(change: Change) -> str:
    return change.issue_key if isinstance(change, CommentChanged) else change.key


@dataclass(frozen=True)
class ProjectSync:
    """The inbound part of a project's settings."""

    status_sync: str = "off"
    assignee_sync: str = "off"
    comment_sync: str = "off"
    mapping: mappings.StatusMapping = field(default_factory=lambda: mappings.StatusMapping(outbound={}))

    @property
    def status_inbound(self) -> bool:
        return self.status_sync in INBOUND_MODES

    @property
    def assignee_inbound(self) -> bool:
        return self.assignee_sync in INBOUND_MODES

    @property
    def comment_inbound(self) -> bool:
        return self.comment_sync in INBOUND_MODES

    @property
    def any_inbound(self) -> bool:
        return self.status_inbound or self.assignee_inbound or self.comment_inbound


def project_sync(settings: Mapping[str, object]) -> ProjectSync:
    def mode(name: str, default: str) -> str:
        value = settings.get(name, default)
        return value if isinstance(value, str) else default

    def names(name: str) -> dict[str, str]:
        value = settings.get(name)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}

    resolved = settings.get("resolved_status")
    return ProjectSync(
        status_sync=mode("status_sync", "two_way"),
        assignee_sync=mode("assignee_sync", "off"),
        comment_sync=mode("comment_sync", "off"),
        mapping=mappings.StatusMapping(
            outbound=names("status_map"),
            inbound=names("inbound_status_map"),
            resolved_status=resolved if isinstance(resolved, str) else None,
        ),
    )


def is_stale(seen: datetime | None, updated: datetime) -> bool:
    """A change older than one already applied to the issue is ignored (deliveries are unordered)."""
    return seen is not None and updated < seen


# Jira's timestamps are to the millisecond: whatever changed an issue before it was read is at most
# the `updated` that read showed.
JIRA_TICK = timedelta(milliseconds=1)


def own_write_at(before: datetime, read: datetime | None = None) -> datetime:
    """When jirabridge's own write to a part of an issue (its status, its assignee) happened, as far as
    the handler knows without asking Jira again (a transition or an assignment answers 204, no body):
    no earlier than its clock just before it sent the write, nor than just after the issue's `updated`
    when it read the issue first. Jira may report the issue as an earlier write left it (another write
    of jirabridge's, queued behind this one): that report is older than this moment (`is_stale`), and
    must not undo the write."""
    return before if read is None else max(before, read + JIRA_TICK)


def newest(moments: Iterable[datetime | None]) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def status_changed(known: str | None, reported: str | None) -> bool:
    """Jira reports a status other than the one jirabridge last saw (its own moves included)."""
    return reported is not None and not mappings.same_name(known, reported)


def status_inbound_switched_on(before: Mapping[str, object] | None, after: Mapping[str, object]) -> bool:
    """A project's settings start taking Jira's status changes (`status_sync` moved to two_way or
    inbound from outbound, comment or off). Changes Jira reported meanwhile were recorded on the links
    but not applied, and some may never have been reported at all: the items need a catch-up from
    Jira's current status. New settings (`before` None) switch nothing on: a project without settings
    already takes Jira's status changes (the default is two_way)."""
    if before is None:
        return False
    return not project_sync(before).status_inbound and project_sync(after).status_inbound


def assignee_inbound_switched_on(before: Mapping[str, object] | None, after: Mapping[str, object]) -> bool:
    """A project's settings start taking Jira's assignees (`assignee_sync` moved to two_way or inbound
    from outbound or off): as for status, the assignees Jira reported meanwhile were recorded on the
    links but not applied, and some were never reported. New settings switch nothing on (the default
    is off, and a project without settings took no assignee)."""
    if before is None:
        return False
    return not project_sync(before).assignee_inbound and project_sync(after).assignee_inbound


def catch_up_parts(before: Mapping[str, object] | None, after: Mapping[str, object]) -> list[str]:
    """What of the issues' current state a catch-up reads and applies: `status`, `assignee`, or both
    (the parts saving `after` over `before` switches on); empty: no catch-up."""
    parts = ["status"] if status_inbound_switched_on(before, after) else []
    return [*parts, "assignee"] if assignee_inbound_switched_on(before, after) else parts


def catch_up_status(
    mapping: mappings.StatusMapping, item_status: str | None, jira_status: str | None, category: str | None
) -> str | None:
    """The host status an item takes to converge on its issue's current Jira status, or None when it
    already corresponds (its status is the mapped one, or maps out to Jira's) or nothing maps."""
    target = mappings.inbound_status(mapping, jira_status, category)
    if target is None or target == item_status:
        return None
    if mappings.same_name(mappings.outbound_status(mapping, item_status), jira_status):
        return None  # e.g. `New` and `Open` both map to `To Do`: `New` is in step already
    return target


def encode_change(change: Change) -> dict[str, Any]:
    """The change as JSON (an `inbound.apply` operation carries it until it runs)."""
    kind = type(change).__name__
    return {"kind": kind, **_plain(asdict(change))}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def decode_change(data: dict[str, Any]) -> Change:
    kind = data["kind"]
    if kind == "IssueDeleted":
        return IssueDeleted(key=data["key"], id=data.get("id"))
    if kind == "CommentChanged":
        return CommentChanged(
            issue_key=data["issue_key"], issue_id=data.get("issue_id"), comment=_comment_from(data["comment"])
        )
    if kind != "IssueSnapshot":
        raise ValueError(f"unknown inbound change {kind!r}")
    comments = data.get("comments")
    return IssueSnapshot(
        key=data["key"],
        id=data.get("id"),
        updated=datetime.fromisoformat(data["updated"]),
        status=data.get("status"),
        status_category=data.get("status_category"),
        has_assignee=bool(data.get("has_assignee")),
        assignee=_user_from(data.get("assignee")),
        comments=None if comments is None else tuple(_comment_from(c) for c in comments),
        actor=_user_from(data.get("actor")),
    )


def _user_from(data: dict[str, Any] | None) -> JiraUser | None:
    if data is None:
        return None
    return JiraUser(data["account_id"], data.get("display_name"), data.get("email"))


def _comment_from(data: dict[str, Any]) -> CommentSnapshot:
    return CommentSnapshot(
        id=data["id"],
        body=data["body"],
        author=_user_from(data.get("author")),
        created=datetime.fromisoformat(data["created"]),
        updated=datetime.fromisoformat(data["updated"]),
    )
