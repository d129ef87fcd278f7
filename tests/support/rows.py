"""Rows as the service leaves them, for tests that set up the database directly: one function a
table, every field a test does not care about at a plain default, anything else by keyword (a
keyword the function does not name goes to the row as it is, e.g. `last_error=` or `polled_until=`).

The defaults are one connected API-token site `st_1` at acme, an Open `error` item, a link synced
with its issue in To Do, all written at T0. `store` writes rows in one transaction, in the order
given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import inspect, select

from jirabridge.bootstrap import Container
from jirabridge.domain.items import LinkState
from jirabridge.domain.worklogs import State
from jirabridge.storage.tables import (
    Base,
    HostUser,
    Item,
    ItemComment,
    JiraCommentRef,
    Link,
    ProjectSettings,
    Site,
    SiteLease,
    TimeEntry,
    UserConnection,
    WorkerProcess,
    Workspace,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SITE = "st_1"
ACME = "https://acme.atlassian.net"
STATUS_MAP = {"Open": "To Do", "Active": "In Progress", "Resolved": "Done"}
TWO_WAY_STATUS: dict[str, Any] = {"status_sync": "two_way", "status_map": STATUS_MAP}
# The categories of the emulator's default workflow, which a link records beside Jira's status.
CATEGORIES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}

R = TypeVar("R", bound=Base)


def a_workspace(id: str, *, at: datetime = T0, **over: Any) -> Workspace:
    return Workspace(**{"id": id, "name": id, "settings": {}, "created_at": at} | over)


def a_site(workspace_id: str, id: str = SITE, *, url: str = ACME, at: datetime = T0, **over: Any) -> Site:
    fields: dict[str, Any] = {
        "id": id,
        "workspace_id": workspace_id,
        "url": url,
        "auth_type": "api_token",
        "status": "connected",
        "webhook_token": "t" * 40,
        "created_at": at,
    }
    return Site(**fields | over)


def an_item(
    workspace_id: str,
    id: str,
    *,
    type: str = "error",
    status: str | None = "Open",
    at: datetime = T0,
    **over: Any,
) -> Item:
    """An item created at `at`, its status set then too; its title is its id unless given."""
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "type": type,
        "id": id,
        "title": id,
        "status": status,
        "attributes": {},
        "created_at": at,
        "updated_at": at,
        "status_changed_at": at,
    }
    return Item(**fields | over)


def a_link(
    item: Item,
    *,
    id: str,
    site_id: str = SITE,
    issue_key: str | None,
    state: LinkState | str = LinkState.SYNCED,
    jira_status: str | None = "To Do",
    at: datetime = T0,
    **over: Any,
) -> Link:
    """`item` linked to `issue_key` at `at`, last seen in `jira_status` (with its workflow category)."""
    fields: dict[str, Any] = {
        "id": id,
        "workspace_id": item.workspace_id,
        "item_type": item.type,
        "item_id": item.id,
        "site_id": site_id,
        "issue_key": issue_key,
        "jira_status": jira_status,
        "jira_status_category": CATEGORIES.get(jira_status or ""),
        "sync_state": str(state),
        "linked_at": at,
    }
    return Link(**fields | over)


def a_pending_link(item: Item, *, id: str, site_id: str = SITE, at: datetime = T0, **over: Any) -> Link:
    """A link whose issue jirabridge is still creating: no issue, no status yet."""
    pending = {"state": LinkState.PENDING, "jira_status": None, "created_by_jirabridge": True}
    return a_link(item, id=id, site_id=site_id, issue_key=None, at=at, **pending | over)


def project_settings(
    workspace_id: str,
    site_id: str = SITE,
    *,
    key: str = "WEB",
    settings: dict[str, Any] = TWO_WAY_STATUS,
    at: datetime = T0,
    **over: Any,
) -> ProjectSettings:
    """A project's saved settings document (by default: statuses synced both ways through STATUS_MAP)."""
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "site_id": site_id,
        "project_key": key,
        "settings": dict(settings),
        "updated_at": at,
    }
    return ProjectSettings(**fields | over)


def a_host_comment(item: Item, id: str, *, author: str, body: str, at: datetime = T0) -> ItemComment:
    return ItemComment(
        id=id,
        workspace_id=item.workspace_id,
        item_type=item.type,
        item_id=item.id,
        source="host",
        author=author,
        body=body,
        created_at=at,
        updated_at=at,
    )


def a_comment_ref(
    workspace_id: str,
    jira_comment_id: str,
    *,
    site_id: str = SITE,
    issue_key: str,
    item_comment_id: str | None = None,
    source: str = "jira",
    updated_at: datetime | None = T0,
) -> JiraCommentRef:
    """A Jira comment jirabridge knows: from Jira (`source="jira"`) or its own copy of a host comment."""
    return JiraCommentRef(
        workspace_id=workspace_id,
        site_id=site_id,
        jira_comment_id=jira_comment_id,
        issue_key=issue_key,
        item_comment_id=item_comment_id,
        source=source,
        jira_updated_at=updated_at,
    )


def a_host_user(workspace_id: str, id: str, *, at: datetime = T0, **over: Any) -> HostUser:
    return HostUser(**{"workspace_id": workspace_id, "id": id, "updated_at": at} | over)


def a_user_connection(
    workspace_id: str,
    user_id: str,
    *,
    id: str = "uc_1",
    site_id: str = SITE,
    account_id: str,
    at: datetime = T0,
    **over: Any,
) -> UserConnection:
    """`user_id`'s connected API-token account on the site (no credentials unless given)."""
    fields: dict[str, Any] = {
        "id": id,
        "workspace_id": workspace_id,
        "site_id": site_id,
        "user_id": user_id,
        "auth_type": "api_token",
        "status": "connected",
        "account_id": account_id,
        "created_at": at,
    }
    return UserConnection(**fields | over)


def a_time_entry(
    workspace_id: str,
    id: str,
    state: State,
    *,
    user_id: str,
    site_id: str = SITE,
    duration_s: int = 60,
    at: datetime = T0,
    **over: Any,
) -> TimeEntry:
    """A finished entry that started at `at`, in `state`; its worklog fields by keyword."""
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "id": id,
        "user_id": user_id,
        "site_id": site_id,
        "started_at": at,
        "duration_s": duration_s,
        "running": False,
        "state": state.value,
        "delete_worklog": False,
        "created_at": at,
        "updated_at": at,
    }
    return TimeEntry(**fields | over)


def a_worker(id: str, *, at: datetime = T0, **over: Any) -> WorkerProcess:
    """A `jirabridge worker` process whose last heartbeat was at `at` (storage/leases.py)."""
    fields: dict[str, Any] = {
        "id": id,
        "hostname": "host",
        "pid": 1,
        "version": "test",
        "started_at": at,
        "heartbeat_at": at,
        "stopping": False,
    }
    return WorkerProcess(**fields | over)


def a_lease(site_id: str, worker_id: str, *, at: datetime = T0, ttl_s: float = 10.0) -> SiteLease:
    """`worker_id`'s lease of a site, taken at `at` and running `ttl_s` seconds."""
    return SiteLease(
        site_id=site_id, worker_id=worker_id, acquired_at=at, leased_until=at + timedelta(seconds=ttl_s)
    )


def store(container: Container, *rows: Base) -> None:
    """Write `rows` in one transaction, each inserted in turn: nothing but this order puts a site
    before the links and settings that refer to it (the tables have no ORM relationships)."""
    with container.uow() as uow:
        for row in rows:
            uow.session.add(row)
            uow.session.flush()
        uow.commit()


def stored(container: Container, table: type[R]) -> list[R]:
    """Every row of `table`, in the order of its primary key (the feed's order, for events)."""
    with container.uow() as uow:
        return list(uow.session.scalars(select(table).order_by(*inspect(table).primary_key)))
