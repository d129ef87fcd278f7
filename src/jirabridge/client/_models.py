"""What the client sends and what it answers.

Request bodies mirror the service's (same field names, same required ones: a test compares them with
the service's OpenAPI description) and are strict, so a typo fails in the host before any request.
Answers are lenient: a field the service adds later is kept (`model_extra`) instead of breaking an
older client; the fields below are the ones the service documents today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Role = Literal["admin", "manager", "member"]
AttributeValue = str | int | float | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- request bodies --------------------------------------------------------------------------------


class _Auth(_Body):
    def model_post_init(self, context: Any, /) -> None:
        # `type` is what the service tells the kinds apart by: always sent, even when left to default.
        self.__pydantic_fields_set__.add("type")


class ApiTokenAuth(_Auth):
    type: Literal["api_token"] = "api_token"
    email: str
    api_token: str


class OAuthAuth(_Auth):
    type: Literal["oauth"] = "oauth"


class CreateWorkspace(_Body):
    name: str


class CreateApiKey(_Body):
    role: Role
    name: str
    user: str | None = None


class ConnectSite(_Body):
    url: str | None = None  # OAuth may leave it out: the site the person grants is connected
    auth: ApiTokenAuth | OAuthAuth = Field(discriminator="type")
    default_project: str | None = None
    default: bool = False


class EditSite(_Body):
    default_project: str | None = None
    default: bool | None = None


class ConnectionTest(_Body):
    project: str | None = None
    issue_type: str | None = None


class UpsertUser(_Body):
    email: str | None = None
    name: str | None = None


class ConnectUser(_Body):
    site: str | None = None
    auth: ApiTokenAuth | OAuthAuth = Field(discriminator="type")


class PutItem(_Body):
    title: str
    description: str | None = None
    status: str | None = None
    severity: str | None = None
    assignee: str | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    url: str | None = None


class CreateTicket(_Body):
    site: str | None = None
    project: str | None = None
    issue_type: str | None = None
    summary: str | None = None
    description: str | None = None
    priority: str | None = None
    labels: list[str] = Field(default_factory=list)
    assignee: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class LinkIssue(_Body):
    issue: str
    site: str | None = None
    backlink: bool = False


class AddComment(_Body):
    body: str
    author: str | None = None


class EditComment(_Body):
    body: str


class PutTimeEntry(_Body):
    user: str
    started_at: AwareDatetime
    duration_s: int | None = None
    ended_at: AwareDatetime | None = None
    running: bool = False
    description: str | None = None
    issue_key: str | None = None
    project: str | None = None
    task: str | None = None
    site: str | None = None
    resync: bool = False


class Destination(_Body):
    site: str | None = None
    project: str | None = None
    issue_type: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class Rule(_Body):
    """One routing rule; send `id` back (from `get_rules`) to keep a rule's identity."""

    id: str | None = None
    name: str
    enabled: bool = True
    query: str
    destination: Destination = Field(default_factory=Destination)
    auto_create: bool = False


class PutRules(_Body):
    rules: list[Rule]


class PreviewItem(_Body):
    """`type` and `id` alone name a stored item; anything more is an item given inline."""

    type: str
    id: str | None = None
    title: str | None = None
    description: str | None = None
    status: str | None = None
    severity: str | None = None
    assignee: str | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    url: str | None = None


class PreviewRules(_Body):
    item: PreviewItem


class Reconcile(_Body):
    site: str | None = None
    project: str | None = None


class ItemScope(_Body):
    item_type: str
    item_id: str


class CreateUiSession(_Body):
    workspace: str | None = None
    user_id: str
    role: Role
    scope: Literal["settings"] | ItemScope
    return_url: str | None = None


# -- answers ---------------------------------------------------------------------------------------


class Workspace(_Answer):
    id: str
    name: str
    created_at: datetime | None = None


class ApiKey(_Answer):
    id: str
    role: Role
    name: str
    user: str | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    key: str | None = None  # only in the answer that issued it


class Site(_Answer):
    id: str
    url: str | None  # None while an OAuth site without an address waits for consent
    auth_type: str
    status: str
    default: bool = False
    default_project: str | None = None
    account_email: str | None = None
    account_id: str | None = None
    webhook: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    authorize_url: str | None = None  # OAuth: where a Jira administrator gives consent


class Link(_Answer):
    issue_key: str | None = None  # None while a ticket is still being created (`sync_state` pending)
    issue_url: str | None = None
    site: str
    jira_status: str | None = None
    sync_state: str
    last_error: str | None = None
    linked_at: datetime | None = None
    created_by_jirabridge: bool = False


class Item(_Answer):
    type: str
    id: str
    title: str
    description: str | None = None
    status: str | None = None
    severity: str | None = None
    assignee: str | None = None
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    url: str | None = None
    rule_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    links: list[Link] = Field(default_factory=list)


class Comment(_Answer):
    id: str
    source: str  # "host" or "jira"
    author: str | None = None
    body: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ItemRef(_Answer):
    type: str
    id: str


class Event(_Answer):
    id: str
    type: str
    at: datetime
    source: str | None = None
    item: ItemRef | None = None
    issue_key: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventPage(_Answer):
    """A page of the feed; ask again with `after=next` (an empty page answers the same `next`)."""

    events: list[Event]
    next: str


class User(_Answer):
    id: str
    email: str | None = None
    name: str | None = None


class UserOverview(_Answer):
    """A host user as admins see them: their connection on each site, and per site how many of their
    time entries wait for them to connect there."""

    id: str
    email: str | None = None
    name: str | None = None
    connections: list[UserConnection] = Field(default_factory=list)
    waiting_entries: dict[str, int] = Field(default_factory=dict)


class UserConnection(_Answer):
    user: str
    site: str
    status: str
    auth_type: str | None = None
    account_id: str | None = None
    display_name: str | None = None
    email: str | None = None
    authorize_url: str | None = None  # OAuth: where the person gives consent


class Worklog(_Answer):
    state: str
    reason: str | None = None
    worklog_id: str | None = None
    issue_key: str | None = None
    seconds: int | None = None
    synced_at: datetime | None = None
    drift: Any = None


class TimeEntry(_Answer):
    id: str
    user: str
    site: str | None = None
    started_at: datetime
    duration_s: int | None = None
    ended_at: datetime | None = None
    running: bool = False
    description: str | None = None
    issue_key: str | None = None
    key_source: str | None = None
    project: str | None = None
    task: str | None = None
    deleted: bool = False
    updated_at: datetime | None = None
    worklog: Worklog


class RulePreview(_Answer):
    """`rule` (`id`, `name`, `position`) is None when no rule matches; `would_create` is the ticket."""

    rule: dict[str, Any] | None = None
    auto_create: bool = False
    would_create: dict[str, Any] | None = None
    problems: list[dict[str, Any]] = Field(default_factory=list)


class UiSession(_Answer):
    url: str
    expires_at: datetime
