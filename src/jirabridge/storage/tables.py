"""The database schema (SQLAlchemy 2). Alembic migrations in `migrations/` must match it; a test checks.

Every tenant-owned row carries `workspace_id`, and every repository query filters on it: that column is
how one workspace can never read another's data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, always in UTC with its offset. SQLite keeps no zone and gives back naive datetimes, so
    values are stored in UTC and read back as aware UTC: code and the API never see a naive one."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UtcDateTime()}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the key. Keys are 256-bit random, so a fast hash is safe (no dictionary to attack).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class HostUser(Base):
    __tablename__ = "host_users"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    auth_type: Mapped[str] = mapped_column(String(20))  # "api_token" | "oauth"
    status: Mapped[str] = mapped_column(String(20))  # "pending" | "connected" | "disconnected"
    account_email: Mapped[str | None] = mapped_column(String(320))
    account_id: Mapped[str | None] = mapped_column(String(200))
    cloud_id: Mapped[str | None] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    default_project: Mapped[str | None] = mapped_column(String(50))
    # The random part of the webhook URL; identifies the site without revealing anything.
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)
    # Fernet ciphertext of a JSON object of secrets (API token, OAuth tokens, webhook secret).
    credentials: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    disconnected_at: Mapped[datetime | None]
    # OAuth sites: the dynamic webhooks registered for the site (workers/jira_webhooks.py) and when
    # Jira will drop them unless refreshed. None while none is registered.
    webhook_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    webhook_expires_at: Mapped[datetime | None]
    # Where the site's webhook stands (domain/site_webhooks.py `WebhookStatus`) and, when it is not
    # registered, `{"reason", "action"}`: why, and the step a person must take. API-token sites:
    # `webhook_ids` holds the id of the admin webhook jirabridge registered.
    webhook_status: Mapped[str | None] = mapped_column(String(20))
    webhook_problem: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # The keys of the projects the site's account can see, as the worker last listed them
    # (workers/site_projects.py); None until it has. Time entries find their site by them.
    project_keys: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    projects_listed_at: Mapped[datetime | None]


class UserConnection(Base):
    __tablename__ = "user_connections"
    __table_args__ = (UniqueConstraint("workspace_id", "site_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    auth_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))  # "pending" | "connected"
    account_id: Mapped[str | None] = mapped_column(String(200))
    account_email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    credentials: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class OAuthState(Base):
    """An OAuth 2.0 authorisation in flight: the `state` sent to Atlassian and what it is for."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(200))  # set for a user connection
    expires_at: Mapped[datetime]
    # The page (`/ui/s/<session>/…`) the connection was started from: the callback sends the browser back.
    return_page: Mapped[str | None] = mapped_column(String(300))


# Operations still to run (pending or running), as the partial index below states it. Written with
# NOT IN so that only that index serves it: an `IN` would also match `ix_operations_claim`, which
# SQLite then preferred (and sorted every pending operation).
OUTSTANDING_WHERE = "status NOT IN ('done', 'failed')"


class Operation(Base):
    """The outbox: Jira work committed with the change that implies it, run later by a worker."""

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_claim", "status", "run_after"),
        Index("ix_operations_ordering", "ordering_key", "seq"),
        # The claim walks the outstanding operations oldest first and stops at the first few it
        # can take, instead of gathering and sorting every pending one (storage/outbox.py `claim`).
        Index(
            "ix_operations_outstanding",
            "seq",
            sqlite_where=text(OUTSTANDING_WHERE),
            postgresql_where=text(OUTSTANDING_WHERE),
        ),
        # One site's outstanding operations oldest first: the claim takes a few of each leased site
        # (fair across sites), and the lease heartbeat finds disconnected sites that still have work.
        Index(
            "ix_operations_site_outstanding",
            "site_id",
            "seq",
            sqlite_where=text(OUTSTANDING_WHERE),
            postgresql_where=text(OUTSTANDING_WHERE),
        ),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Operations with the same ordering key (e.g. one Jira issue) run one at a time, in seq order.
    ordering_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # "pending" | "running" | "done" | "failed"
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
    issue_key: Mapped[str | None] = mapped_column(String(50))
    # What the handler reported with Done, kept for inspection (e.g. the id of what it created).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # W3C trace context of the request that queued it, so the worker's spans join its trace.
    traceparent: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CallbackEndpoint(Base):
    """How a workspace's callback endpoint is doing, when it is failing (storage/callbacks.py): the
    backoff that holds its other deliveries back, shared by every worker. No row: it is healthy."""

    __tablename__ = "callback_endpoints"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed deliveries
    failing_since: Mapped[datetime]
    hold_until: Mapped[datetime]  # deliveries other than the probe wait until then
    last_reason: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class Event(Base):
    """The event feed; `seq` is the cursor."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_feed", "workspace_id", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(20))  # "jira" | "host" | "jirabridge"
    at: Mapped[datetime]
    item_type: Mapped[str | None] = mapped_column(String(100))
    item_id: Mapped[str | None] = mapped_column(String(200))
    issue_key: Mapped[str | None] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IdempotencyKey(Base):
    """A POST answered once under an `Idempotency-Key` answers the same again."""

    __tablename__ = "idempotency_keys"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Item(Base):
    """A host record (SPEC section 1, "Item")."""

    __tablename__ = "items"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(100), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(100))
    severity: Mapped[str | None] = mapped_column(String(50))
    assignee: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    url: Mapped[str | None] = mapped_column(String(2000))
    # The rule that matched the item when it was first pushed (error-tracking profile), if any.
    rule_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When the status / assignee last changed (by the host or by Jira): the newer change wins.
    status_changed_at: Mapped[datetime | None]
    assignee_changed_at: Mapped[datetime | None]


class Link(Base):
    """Item ↔ Jira issue. A grouped ticket is several links with one `issue_key`."""

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_item", "workspace_id", "item_type", "item_id"),
        Index("ix_links_issue", "site_id", "issue_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    item_type: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    issue_key: Mapped[str | None] = mapped_column(String(50))  # None while the create is pending
    issue_id: Mapped[str | None] = mapped_column(String(50))
    # The issue's type id (with the project, it names the workflow): lets a status sync use the
    # transitions it already knows for that workflow instead of reading them first.
    issue_type_id: Mapped[str | None] = mapped_column(String(50))
    jira_status: Mapped[str | None] = mapped_column(String(100))
    jira_status_category: Mapped[str | None] = mapped_column(String(20))  # new | indeterminate | done
    sync_state: Mapped[str] = mapped_column(String(20))  # pending | synced | failed | broken
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by_jirabridge: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime]
    # Inbound sync: Jira's `updated` of the newest change applied (older ones are ignored), and the
    # assignee's accountId as last seen (None: unassigned, or not known yet).
    jira_updated_at: Mapped[datetime | None]
    jira_assignee: Mapped[str | None] = mapped_column(String(200))
    # When jirabridge's own transition / assignment of the issue happened (`domain.inbound.own_write_at`):
    # a status / assignee Jira reports from before it is older than what the link records, not a change.
    jira_status_at: Mapped[datetime | None]
    jira_assignee_at: Mapped[datetime | None]


class ProjectSettings(Base):
    """Per connected Jira project (SPEC section 2, "project settings"); the document is validated by
    the service against the site before it is stored."""

    __tablename__ = "project_settings"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    project_key: Mapped[str] = mapped_column(String(50), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]
    # The poller's watermark: every change up to this moment has been applied (None: never polled).
    polled_until: Mapped[datetime | None]


class RuleSet(Base):
    """A workspace's ordered routing rules, one JSON document (service/rules/rule_sets.py says why)."""

    __tablename__ = "rule_sets"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]


class ItemComment(Base):
    """A comment on an item: written by the host, or (inbound sync) in Jira. The Jira comments a host
    comment became are `JiraCommentRef` rows (`item_comment_id`), so edits update the same ones."""

    __tablename__ = "item_comments"
    __table_args__ = (Index("ix_item_comments_item", "workspace_id", "item_type", "item_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    item_type: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # "host" | "jira"
    author: Mapped[str | None] = mapped_column(String(200))  # host user id, or Jira display name
    # A comment that came from Jira: "<site id>:<Jira comment id>" (one per item of a grouped ticket).
    jira_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Schedule(Base):
    """Periodic work (pollers, webhook refresh, drift checks): the worker enqueues `kind` with `payload`
    every `every_s` seconds, one operation at a time per schedule (see storage/schedules.py)."""

    __tablename__ = "schedules"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    every_s: Mapped[float] = mapped_column(Float)
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    last_enqueued_at: Mapped[datetime | None]


class JiraCommentRef(Base):
    """A Jira comment jirabridge knows: one it wrote (a host comment, or a status comment with no
    item comment) or one that came from Jira. Edits find the Jira comment to update here, and a
    comment reported by a webhook or a poll is recognised as already known (no echo, no duplicate)."""

    __tablename__ = "jira_comment_refs"
    __table_args__ = (Index("ix_jira_comment_refs_item_comment", "item_comment_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    jira_comment_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(50))
    item_comment_id: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # "jirabridge" (we wrote it) | "jira"
    jira_updated_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """`X-Atlassian-Webhook-Identifier`s already received, so a redelivery is applied once."""

    __tablename__ = "webhook_deliveries"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class TimeEntry(Base):
    """A host time entry and the state of its Jira worklog (SPEC sections 1 and 3, see
    domain/worklogs.py). Deleting an entry keeps the row (`deleted_at`) so its outcome stays readable."""

    __tablename__ = "time_entries"
    __table_args__ = (
        Index("ix_time_entries_user", "workspace_id", "user_id", "state"),
        Index("ix_time_entries_worklog", "site_id", "worklog_id"),
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    duration_s: Mapped[int | None]
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    explicit_key: Mapped[str | None] = mapped_column(String(50))
    issue_key: Mapped[str | None] = mapped_column(String(50))  # explicit, else found in the description
    key_source: Mapped[str | None] = mapped_column(String(20))  # "explicit" | "description"
    project: Mapped[str | None] = mapped_column(String(200))
    task: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    # The worklog in Jira: its issue, its id (None while a create's answer is unconfirmed, with
    # `create_marker` set: the worklog property value to look for before creating again).
    worklog_issue_key: Mapped[str | None] = mapped_column(String(50))
    worklog_id: Mapped[str | None] = mapped_column(String(50))
    create_marker: Mapped[str | None] = mapped_column(String(40))
    written: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # Jira has this
    sending: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # sent, unconfirmed
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # what a person changed
    delete_worklog: Mapped[bool] = mapped_column(Boolean, default=False)  # deleted with delete_worklogs on
    # Bumped on every change, so the drift check never reports a worklog changed under its feet.
    version: Mapped[int] = mapped_column(default=0)
    synced_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WorklogWatermark(Base):
    """How far the drift check has read a site's worklog change feeds (epoch milliseconds)."""

    __tablename__ = "worklog_watermarks"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    updated_since_ms: Mapped[int] = mapped_column(BigInteger)
    deleted_since_ms: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime]


class SecretKeyCheck(Base):
    """Proof of which keys sealed the stored secrets, so a process started with another key refuses
    to run instead of writing secrets no single key can read (service/core/secrets.py). One row per key
    that has encrypted since the last `rotate-secrets`; never the key itself."""

    __tablename__ = "secret_key_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Fernet ciphertext of a fixed text under that key.
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class UiSession(Base):
    """A session of the pages a host embeds: a one-time link that becomes a session (domain/ui_sessions.py).
    Both tokens are 256-bit random and stored as SHA-256 only, like API keys."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    scope: Mapped[dict[str, Any]] = mapped_column(
        default=dict
    )  # {"item_type", "item_id"}, {"page": "account"} or {}
    return_url: Mapped[str | None] = mapped_column(String(2000))
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[datetime]
    # Set when the link is opened (it opens once); the session's token is only known from then on.
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    session_expires_at: Mapped[datetime | None]
    # Carried by every form of the session and checked on each POST.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class WorkerProcess(Base):
    """A `jirabridge worker` process that is alive, or was recently (storage/leases.py): it writes its
    row at every heartbeat, and the workers whose heartbeat is recent share the sites between them."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    # Set once the worker was told to stop: the others take its sites as it finishes their work.
    stopping: Mapped[bool] = mapped_column(Boolean, default=False)


class SiteLease(Base):
    """The one worker allowed to call a site's Jira now, until `leased_until` unless it renews."""

    __tablename__ = "site_leases"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id", ondelete="CASCADE"), index=True)
    leased_until: Mapped[datetime]
    acquired_at: Mapped[datetime]
