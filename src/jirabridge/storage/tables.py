"""The database schema (SQLAlchemy 2). Alembic migrations in `migrations/` must match it; a test checks.

Every tenant-owned row carries `workspace_id`, and every repository query filters on it: that column is
how one workspace can never read another's data.
"""

from __future__ import annotations

from datetime import datetime
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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


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


class Operation(Base):
    """The outbox: Jira work committed with the change that implies it, run later by a worker."""

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_claim", "status", "run_after"),
        Index("ix_operations_ordering", "ordering_key", "seq"),
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
    created_at: Mapped[datetime]
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
    jira_status: Mapped[str | None] = mapped_column(String(100))
    jira_status_category: Mapped[str | None] = mapped_column(String(20))  # new | indeterminate | done
    sync_state: Mapped[str] = mapped_column(String(20))  # pending | synced | failed | broken
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by_jirabridge: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime]


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


class ItemComment(Base):
    """A comment on an item: written by the host, or (inbound sync) in Jira. `jira_comments` maps each
    link id to the Jira comment id it became, so edits update the same Jira comment."""

    __tablename__ = "item_comments"
    __table_args__ = (Index("ix_item_comments_item", "workspace_id", "item_type", "item_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    item_type: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # "host" | "jira"
    author: Mapped[str | None] = mapped_column(String(200))  # host user id, or Jira display name
    body: Mapped[str] = mapped_column(Text)
    jira_comments: Mapped[dict[str, Any]] = mapped_column(default=dict)
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
