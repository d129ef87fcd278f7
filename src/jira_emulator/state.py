"""The emulator's in-memory model of Jira Cloud.

Everything lives in one `EmulatorState`: global Atlassian accounts (an `accountId` is the same on every
site, as in Jira Cloud), OAuth apps and tokens, and the sites with their projects and issues. All routes
are `async def` and run on one event loop, so no lock is needed: a handler's mutations are atomic with
respect to other requests as long as it does not await in the middle of them.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Jira's project permission keys that the emulator enforces.
PERMISSIONS = frozenset(
    {
        "BROWSE_PROJECTS",
        "CREATE_ISSUES",
        "EDIT_ISSUES",
        "TRANSITION_ISSUES",
        "ASSIGN_ISSUES",
        "ASSIGNABLE_USER",
        "ADD_COMMENTS",
        "EDIT_ALL_COMMENTS",
        "EDIT_OWN_COMMENTS",
        "DELETE_ALL_COMMENTS",
        "DELETE_OWN_COMMENTS",
        "DELETE_ISSUES",
        "WORK_ON_ISSUES",
        "EDIT_OWN_WORKLOGS",
        "EDIT_ALL_WORKLOGS",
        "DELETE_OWN_WORKLOGS",
        "DELETE_ALL_WORKLOGS",
        "LINK_ISSUES",
    }
)

STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {
    # key -> (id, name, colorName), as Jira Cloud reports them
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}


class Clock:
    """Wall-clock time plus an offset the control API can advance (for watermark and expiry tests)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class ApiToken:
    token: str
    expires_at: datetime | None = None
    revoked: bool = False


@dataclass
class Account:
    account_id: str
    email: str
    display_name: str
    active: bool = True
    time_zone: str = "UTC"
    # Jira hides a user's email from other users unless the profile allows it.
    email_visible: bool = True
    api_tokens: list[ApiToken] = field(default_factory=list)


@dataclass
class StatusDef:
    id: str
    name: str
    category: str  # "new" | "indeterminate" | "done"
    # Jira's `jira.issue.editable` workflow property: False freezes the issue (no worklog changes).
    editable: bool = True


DEFAULT_RESOLUTIONS = ("Done", "Won't Do", "Duplicate", "Cannot Reproduce")


@dataclass
class TransitionDef:
    id: str
    name: str
    to: str  # status name
    # Statuses the transition is available from; empty means a global transition (from any status).
    from_statuses: list[str] = field(default_factory=list)
    # Field ids the transition screen requires (for example "resolution", "comment" or a custom field).
    required_fields: list[str] = field(default_factory=list)
    # Further fields on the transition screen, which may be given but need not be.
    optional_fields: list[str] = field(default_factory=list)

    @property
    def screen(self) -> list[str]:
        """Every field of the transition screen; empty: the transition has no screen."""
        extra = [f for f in self.optional_fields if f not in self.required_fields]
        return [*self.required_fields, *extra]


@dataclass
class Workflow:
    name: str
    initial_status: str
    transitions: list[TransitionDef]

    def available_from(self, status: str) -> list[TransitionDef]:
        return [t for t in self.transitions if not t.from_statuses or status in t.from_statuses]


@dataclass
class FieldDef:
    id: str
    name: str
    # Jira's schema: type is e.g. "string", "number", "array", "option", "user", "priority", "date".
    schema_type: str
    custom: bool = False
    items: str | None = None  # for arrays: the item type
    custom_type: str | None = None  # e.g. "com.atlassian.jira.plugin.system.customfieldtypes:select"
    allowed_values: list[str] | None = None  # for option fields
    searchable: bool = True
    navigable: bool = True
    orderable: bool = True


@dataclass
class IssueTypeDef:
    id: str
    name: str
    subtask: bool = False
    hierarchy_level: int = 0
    # Field ids (beyond summary, issuetype and project, which are always required) the create screen
    # requires, and those it merely offers.
    required_fields: list[str] = field(default_factory=list)
    optional_fields: list[str] = field(default_factory=list)


@dataclass
class Priority:
    id: str
    name: str
    status_color: str = "#cfcfcf"


@dataclass
class Project:
    id: str
    key: str
    name: str
    lead: str  # accountId
    issue_types: list[IssueTypeDef]
    workflow: Workflow
    # accountId (or "*" for everyone) -> granted permission keys. A user not listed gets the "*" grant.
    permissions: dict[str, set[str]] = field(default_factory=lambda: {"*": set(PERMISSIONS)})
    project_type_key: str = "software"
    next_number: int = 1

    def issue_type(self, ref: str) -> IssueTypeDef | None:
        for it in self.issue_types:
            if ref in (it.id, it.name) or ref.lower() == it.name.lower():
                return it
        return None

    def has_permission(self, account_id: str, permission: str) -> bool:
        granted = self.permissions.get(account_id, self.permissions.get("*", set()))
        return permission in granted

    def may_change(self, account_id: str, author: str, own: str, every: str) -> bool:
        """Whether the account may edit or delete a comment or worklog `author` wrote: the `…_ALL_…`
        grant (`every`), or the `…_OWN_…` one (`own`) for its own."""
        return self.has_permission(account_id, every) or (
            author == account_id and self.has_permission(account_id, own)
        )


@dataclass
class Comment:
    id: str
    author: str  # accountId
    body: dict[str, Any]  # ADF document
    created: datetime
    updated: datetime
    update_author: str
    properties: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, Any] | None = None


@dataclass
class Worklog:
    id: str
    issue_id: str
    author: str
    update_author: str
    comment: dict[str, Any] | None  # ADF document
    started: datetime
    time_spent_seconds: int
    created: datetime
    updated: datetime
    properties: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, Any] | None = None


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    object: dict[str, Any]
    application: dict[str, Any] | None = None
    relationship: str | None = None


@dataclass
class ChangeItem:
    field: str
    field_id: str
    fieldtype: str  # "jira" or "custom"
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None


@dataclass
class ChangeHistory:
    id: str
    author: str
    created: datetime
    items: list[ChangeItem]


@dataclass
class Issue:
    id: str
    key: str
    project_key: str
    issue_type_id: str
    summary: str
    status: str
    reporter: str
    creator: str
    created: datetime
    updated: datetime
    description: dict[str, Any] | None = None  # ADF document
    priority: str | None = None  # priority id
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None  # accountId
    resolution: str | None = None
    resolution_date: datetime | None = None
    status_category_changed: datetime | None = None
    original_estimate_seconds: int | None = None
    remaining_estimate_seconds: int | None = None
    custom: dict[str, Any] = field(default_factory=dict)  # customfield_xxxxx -> stored value
    comments: list[Comment] = field(default_factory=list)
    worklogs: list[Worklog] = field(default_factory=list)
    remote_links: list[RemoteLink] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    changelog: list[ChangeHistory] = field(default_factory=list)

    @property
    def time_spent_seconds(self) -> int:
        return sum(w.time_spent_seconds for w in self.worklogs)


@dataclass
class DeletedWorklog:
    worklog_id: str
    deleted_at: datetime


@dataclass
class Webhook:
    """An admin webhook (secret, HMAC signature) or a dynamic webhook registered by an OAuth app."""

    id: int
    url: str
    events: list[str]
    jql_filter: str | None
    kind: str  # "admin" | "dynamic"
    secret: str | None = None  # admin webhooks: HMAC secret
    client_id: str | None = None  # dynamic webhooks: the OAuth app that registered it
    account_id: str | None = None  # dynamic webhooks: the user who authorised the app
    expires_at: datetime | None = None
    name: str = ""
    enabled: bool = True
    field_ids_filter: list[str] | None = None  # dynamic: jira:issue_updated only for these fields
    issue_property_keys_filter: list[str] | None = None  # dynamic: property events only for these keys
    exclude_body: bool = False  # admin: deliver an empty body
    last_updated: datetime | None = None
    last_updated_by: str | None = None  # accountId


@dataclass
class Delivery:
    """One webhook delivery attempt record, kept for inspection through the control API."""

    identifier: str
    webhook_id: int
    event: str
    url: str
    attempts: int = 0
    delivered: bool = False
    last_status: int | None = None
    last_error: str | None = None
    dropped: bool = False  # a fault removed it on purpose
    # Webhook delivery bookkeeping, JSON-friendly because `GET /_emulator/state` dumps it as is.
    site: str = ""
    client_id: str | None = None  # dynamic webhooks: the app (for GET /webhook/failed)
    body: str = ""
    status: str = "pending"  # "pending" | "delivered" | "failed" | "dropped" | "cancelled"
    failed_at_ms: int | None = None
    attempt_log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Site:
    name: str
    cloud_id: str
    members: set[str]  # accountIds with access to the site
    projects: dict[str, Project]
    priorities: list[Priority]
    statuses: dict[str, StatusDef]  # by name
    fields: dict[str, FieldDef]  # by id
    default_priority: str | None = None  # priority id
    # Resolution names, in Jira's order; ids are 10000 upwards in this order.
    resolutions: list[str] = field(default_factory=lambda: list(DEFAULT_RESOLUTIONS))
    issues: dict[str, Issue] = field(default_factory=dict)  # by id
    keys: dict[str, str] = field(default_factory=dict)  # issue key (current and moved) -> id
    webhooks: dict[int, Webhook] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)  # accountIds of site admins (admin webhooks)
    deleted_worklogs: list[DeletedWorklog] = field(default_factory=list)
    # How long a change takes to become visible to JQL search (Jira's index is eventually consistent).
    index_lag_s: float = 0.0
    # The search index (search_index.py): issue id -> snapshots [(visible to JQL from, copy or None if
    # deleted)]. An issue with no entry (seeded, never changed through the event bus) is searched live.
    search_snapshots: dict[str, list[tuple[datetime, Issue | None]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10000))

    @property
    def base_url(self) -> str:
        return f"https://{self.name}.atlassian.net"

    def next_id(self) -> str:
        return str(next(self._ids))

    def issue_by_ref(self, ref: str) -> Issue | None:
        issue_id = ref if ref in self.issues else self.keys.get(ref.upper())
        return self.issues.get(issue_id) if issue_id else None

    def priority_by_ref(self, ref: str) -> Priority | None:
        for p in self.priorities:
            if ref in (p.id, p.name):
                return p
        return None


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    account_id: str
    redirect_uri: str
    scopes: list[str]
    expires_at: datetime
    used: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    account_id: str
    scopes: list[str]
    expires_at: datetime
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    account_id: str
    scopes: list[str]
    used: bool = False
    revoked: bool = False
    # Atlassian's rotating refresh tokens expire after 90 days unused and 365 days after the consent.
    expires_at: datetime | None = None
    absolute_expires_at: datetime | None = None


@dataclass
class EmulatorState:
    accounts: dict[str, Account] = field(default_factory=dict)  # by accountId
    sites: dict[str, Site] = field(default_factory=dict)  # by name
    oauth_apps: dict[str, OAuthApp] = field(default_factory=dict)  # by client_id
    auth_codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    access_token_ttl_s: int = 3600
    clock: Clock = field(default_factory=Clock)

    def now(self) -> datetime:
        return self.clock.now()

    def site_by_cloud_id(self, cloud_id: str) -> Site | None:
        return next((s for s in self.sites.values() if s.cloud_id == cloud_id), None)

    def account_by_email(self, email: str) -> Account | None:
        wanted = email.lower()
        return next((a for a in self.accounts.values() if a.email.lower() == wanted), None)


def new_account_id() -> str:
    """An accountId in Atlassian's current shape: `712020:` followed by a UUID."""
    return f"712020:{uuid.uuid4()}"


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def expires_in(state: EmulatorState, seconds: float) -> datetime:
    return state.now() + timedelta(seconds=seconds)
