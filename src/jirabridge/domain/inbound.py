"""Inbound sync (SPEC section 3, "Status, inbound", "Assignee and comments"): what Jira told us, in one
shape whether it came by webhook or by poll, and the pure decisions about it.

Webhook payloads (REST v2 form) and search results (v3) are turned into these values at the edge
(`service/webhook_payloads.py`, the poller); everything after that is the same code path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

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
