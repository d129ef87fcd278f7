"""The event feed (SPEC section 1, "Event"): rows of `events`, read in `seq` order with a cursor.

`record_event` adds an event in the caller's transaction and, when the workspace has a callback URL, a
`callback.deliver` operation beside it: both commit or roll back with the change they describe. The
deliveries of one item are ordered (`DeliverCallback.ordering_key`); a new delivery waits while the
workspace's endpoint backs off (storage/callbacks.py).

Feed order is commit order within a workspace. `seq` is drawn when the row is inserted, so two
transactions of one workspace could otherwise commit out of `seq` order and a reader holding the
cursor of the later one would never see the earlier. `record_event` therefore locks the workspace row
(`SELECT … FOR NO KEY UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already runs one writer at a
time): the event-writing transactions of one workspace commit one after the other, each with a higher
`seq`. `NO KEY UPDATE` does not conflict with the key-share lock PostgreSQL takes on the workspace row
when a transaction inserts a row referencing it, so two transactions that each inserted such a row and
then record an event queue up instead of deadlocking. Record events late in a transaction: the lock is
held until it ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from jirabridge.domain.operations import DeliverCallback
from jirabridge.ids import new_id
from jirabridge.storage import callbacks, outbox, workspace_locks
from jirabridge.storage.core_reads import table
from jirabridge.storage.tables import Event, Workspace

SOURCES = ("jira", "host", "jirabridge")
# Built once: a statement built on every call cost more than running it (cache key, coercions).
_WORKSPACES = table(Workspace)
_LOCK_WORKSPACE = (
    select(_WORKSPACES.c.settings)
    .where(_WORKSPACES.c.id == bindparam("workspace_id"))
    .with_for_update(key_share=True)
)
_INSERT_EVENT = insert(table(Event))


def record_event(
    session: Session,
    *,
    workspace_id: str,
    type: str,
    source: str,
    at: datetime,
    item: tuple[str, str] | None = None,
    issue_key: str | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """Add an event (and its callback delivery, when the workspace has a callback URL) and answer its
    id. A Core INSERT run at once, as `outbox.enqueue`'s: its `seq` is drawn under the workspace's
    lock, taken just before."""
    if source not in SOURCES:
        raise ValueError(f"event source must be one of {SOURCES}, not {source!r}")
    settings = lock_workspace(session, workspace_id)
    event_id = new_id("ev")
    session.execute(
        _INSERT_EVENT,
        {
            "id": event_id,
            "workspace_id": workspace_id,
            "type": type,
            "source": source,
            "at": at,
            "item_type": item[0] if item else None,
            "item_id": item[1] if item else None,
            "issue_key": issue_key,
            "data": dict(data or {}),
        },
    )
    if _callback_url(settings):
        held = callbacks.hold_until(session, workspace_id, at)
        outbox.enqueue(
            session,
            DeliverCallback(event_id, workspace_id, item=item, issue_key=issue_key),
            workspace_id=workspace_id,
            now=at,
            run_after=held,
            # held: released with the others when the endpoint answers
            reason=callbacks.HELD if held is not None else None,
        )
    return event_id


def lock_workspace(session: Session, workspace_id: str) -> dict[str, Any] | None:
    """Lock the workspace row (see the module's description) and answer its settings as of the lock.
    A transaction that recorded an event of this workspace before, or called this, holds the lock
    already: when it keeps track (storage/workspace_locks.py), the row is neither locked nor read
    again. A transaction that will record an event may call it first, to read the settings and queue
    behind the workspace's other writers from its start."""
    known, settings = workspace_locks.locked(session, workspace_id)
    if known:
        return cast("dict[str, Any] | None", settings)
    # Core, not an ORM load: only the settings are needed, and the lock is what matters.
    settings = session.execute(_LOCK_WORKSPACE, {"workspace_id": workspace_id}).first()
    if settings is None:
        raise ValueError(f"workspace {workspace_id} does not exist")
    workspace_locks.remember(session, workspace_id, settings[0])
    return cast("dict[str, Any] | None", settings[0])


def _callback_url(settings: dict[str, Any] | None) -> str | None:
    callback = (settings or {}).get("callback")
    url = callback.get("url") if isinstance(callback, dict) else None
    return url if isinstance(url, str) and url else None


def list_events(session: Session, workspace_id: str, *, after: int, limit: int) -> list[Event]:
    """The workspace's events after `seq` `after`, oldest first."""
    query = (
        select(Event)
        .where(Event.workspace_id == workspace_id, Event.seq > after)
        .order_by(Event.seq)
        .limit(limit)
    )
    return list(session.scalars(query))


def recent_events(session: Session, workspace_id: str, *, limit: int) -> list[Event]:
    """The workspace's newest events, newest first."""
    query = select(Event).where(Event.workspace_id == workspace_id).order_by(Event.seq.desc()).limit(limit)
    return list(session.scalars(query))


def get_event(session: Session, event_id: str) -> Event | None:
    return session.scalar(select(Event).where(Event.id == event_id))


def last_seq(session: Session) -> int:
    """The highest `seq` so far (all workspaces): a cheap count of events ever recorded (metrics)."""
    return int(session.scalar(select(func.max(Event.seq))) or 0)
