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
