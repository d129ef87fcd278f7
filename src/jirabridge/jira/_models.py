"""Typed views of Jira's answers. Lenient about what Jira adds (unknown keys are ignored, or kept in
`model_extra` where callers need them, as custom fields), strict about what we read: a field we
depend on that is missing or of the wrong type fails validation, and the client turns that into
`InvalidResponse`. Names are snake_case; Jira's camelCase keys are the aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class JiraModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, strict=False
    )


# --- people and the site ---------------------------------------------------------------------------


class User(JiraModel):
    account_id: str
    display_name: str = ""
    active: bool = True
    email_address: str | None = None
    time_zone: str | None = None
    account_type: str | None = None


class ServerInfo(JiraModel):
    base_url: str
    version: str
    deployment_type: str | None = None
    server_time: datetime | None = None
    server_title: str | None = None


# --- projects and their metadata -------------------------------------------------------------------


class IssueType(JiraModel):
    id: str
    name: str
    subtask: bool = False
    hierarchy_level: int | None = None


class Project(JiraModel):
    id: str
    key: str
    name: str
    issue_types: list[IssueType] | None = None


class StatusCategory(JiraModel):
    id: int
    key: str
    name: str = ""


class Status(JiraModel):
    id: str
    name: str
    status_category: StatusCategory | None = None


class Priority(JiraModel):
    id: str
    name: str


class Resolution(JiraModel):
    id: str
    name: str


class FieldSchema(JiraModel):
    type: str
    items: str | None = None
    system: str | None = None
    custom: str | None = None


class FieldDefinition(JiraModel):
    """A field definition from `/field`."""

    id: str
    name: str
    custom: bool = False
    schema_: FieldSchema | None = Field(default=None, alias="schema")


class CreateMetaField(JiraModel):
    field_id: str
    name: str
    required: bool
    schema_: FieldSchema | None = Field(default=None, alias="schema")
    allowed_values: list[dict[str, Any]] | None = None
    has_default_value: bool = False
    operations: list[str] = []


# --- issues -----------------------------------------------------------------------------------------


class IssueFields(JiraModel):
    """The fields we read, all optional since `fields=` may leave any out. Every other field (custom
    fields included) is kept as is in `model_extra`; `get(name)` reads either kind."""

    model_config = ConfigDict(extra="allow")

    summary: str | None = None
    description: dict[str, Any] | str | None = None
    status: Status | None = None
    issuetype: IssueType | None = None
    project: Project | None = None
    priority: Priority | None = None
    assignee: User | None = None
    reporter: User | None = None
    labels: list[str] | None = None
    created: datetime | None = None
    updated: datetime | None = None
    resolutiondate: datetime | None = None

    def get(self, name: str, default: Any = None) -> Any:
        if name in type(self).model_fields:
            value = getattr(self, name)
            return default if value is None else value
        return (self.model_extra or {}).get(name, default)


class Transition(JiraModel):
    id: str
    name: str
    to: Status
    has_screen: bool = False
    fields: dict[str, dict[str, Any]] | None = None

    def required_fields(self) -> list[str]:
        return [k for k, v in (self.fields or {}).items() if v.get("required")]


class ChangeItem(JiraModel):
    field: str
    field_id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    from_string: str | None = None
    to: str | None = None
    to_string: str | None = None


class ChangeHistory(JiraModel):
    id: str
    author: User | None = None
    created: datetime
    items: list[ChangeItem]


class Changelog(JiraModel):
    histories: list[ChangeHistory] = []


class Issue(JiraModel):
    id: str
    key: str
    self_: str | None = Field(default=None, alias="self")
    fields: IssueFields = IssueFields()
    changelog: Changelog | None = None
    transitions: list[Transition] | None = None
    properties: dict[str, Any] | None = None


class CreatedIssue(JiraModel):
    id: str
    key: str
    self_: str | None = Field(default=None, alias="self")


class BulkCreateRefusal(JiraModel):
    status: int | None = None
    failed_element_number: int
    element_errors: dict[str, Any] = {}


class BulkCreateResult(JiraModel):
    issues: list[CreatedIssue] = []
    errors: list[BulkCreateRefusal] = []


class SearchPage(JiraModel):
    issues: list[Issue] = []
    next_page_token: str | None = None
    is_last: bool | None = None


class IssueError(JiraModel):
    id: str
    error_message: str = ""


class BulkFetchResult(JiraModel):
    issues: list[Issue] = []
    issue_errors: list[IssueError] = []


# --- comments, worklogs, links, properties --------------------------------------------------------


class Property(JiraModel):
    key: str
    value: Any = None


class Comment(JiraModel):
    id: str
    body: dict[str, Any] | str | None = None
    author: User | None = None
    update_author: User | None = None
    created: datetime
    updated: datetime
    properties: list[Property] | None = None


class CommentPage(JiraModel):
    start_at: int = 0
    total: int = 0
    comments: list[Comment] = []


class Worklog(JiraModel):
    id: str
    issue_id: str
    author: User | None = None
    update_author: User | None = None
    started: datetime
    time_spent_seconds: int
    comment: dict[str, Any] | str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    properties: list[Property] | None = None


class WorklogPage(JiraModel):
    start_at: int = 0
    total: int = 0
    worklogs: list[Worklog] = []


class WorklogChange(JiraModel):
    worklog_id: int
    updated_time: int  # epoch milliseconds
    properties: list[Property] = []


class WorklogChanges(JiraModel):
    """One page of `/worklog/updated` or `/worklog/deleted`; read the next with `since=until`."""

    values: list[WorklogChange]
    since: int
    until: int
    last_page: bool


class RemoteLinkRef(JiraModel):
    id: int
    self_: str | None = Field(default=None, alias="self")


class RemoteLink(JiraModel):
    id: int
    global_id: str | None = None
    relationship: str | None = None
    object: dict[str, Any]
    application: dict[str, Any] | None = None

    @property
    def url(self) -> str | None:
        value = self.object.get("url")
        return value if isinstance(value, str) else None

    @property
    def title(self) -> str | None:
        value = self.object.get("title")
        return value if isinstance(value, str) else None


# --- webhooks and OAuth -----------------------------------------------------------------------------


class Webhook(JiraModel):
    id: int
    url: str | None = None
    jql_filter: str | None = None
    events: list[str] = []
    expiration_date: int | None = None  # epoch milliseconds
    field_ids_filter: list[str] | None = None


class AdminWebhook(JiraModel):
    """A webhook a Jira administrator manages (`/rest/webhooks/1.0/webhook`). Jira never returns
    its secret; the id is the last segment of `self`."""

    self_: str = Field(alias="self")
    name: str = ""
    url: str
    events: list[str] = []
    filters: dict[str, str] = {}
    exclude_body: bool = False
    enabled: bool = True

    @property
    def id(self) -> int:
        return int(self.self_.rstrip("/").rsplit("/", 1)[-1])

    @property
    def jql_filter(self) -> str:
        return self.filters.get("issue-related-events-section", "")


class WebhookRegistration(JiraModel):
    """One entry of the registration answer: the new id, or why it was refused."""

    created_webhook_id: int | None = None
    errors: list[str] = []


class AccessibleResource(JiraModel):
    id: str  # the cloud id
    url: str
    name: str
    scopes: list[str] = []


class OAuthTokens(JiraModel):
    """A token pair; the tokens never show in `repr` (and so in logs)."""

    access_token: str = Field(validation_alias=AliasChoices("access_token", "accessToken"), repr=False)
    refresh_token: str | None = Field(
        default=None, validation_alias=AliasChoices("refresh_token", "refreshToken"), repr=False
    )
    expires_at: datetime | None = None  # computed from `expires_in` when received
    scope: str = ""
