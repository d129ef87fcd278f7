"""Workspace rows locked by `events.record_event` in the current transaction, remembered so that a
transaction recording many events (the worker's record of several finished operations, outbox
`record_many`) locks and reads each workspace once, not once per event.

Only a transaction that asks for it (`workspace_locks_kept`) remembers: it knows where it starts and
ends. A savepoint rolled back gives up the row locks taken inside it (PostgreSQL releases a row lock
of an aborted subtransaction), so what it remembered is forgotten with it (`workspace_locks_savepoint`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

_KEY = "jirabridge.workspace_locks"


@contextmanager
def workspace_locks_kept(session: Session) -> Iterator[None]:
    """Within: each workspace `record_event` locks stays known as locked (with its settings as of
    the lock) until the block ends. Use it around a whole transaction, never a part of one."""
    session.info[_KEY] = {}
    try:
        yield
    finally:
        session.info.pop(_KEY, None)


@contextmanager
def workspace_locks_savepoint(session: Session) -> Iterator[None]:
    """Around a savepoint: the locks taken inside it are forgotten when it rolls back (raises)."""
    locks: dict[str, Any] | None = session.info.get(_KEY)
    before = dict(locks) if locks is not None else None
    try:
        yield
    except BaseException:
        if locks is not None and before is not None:
            locks.clear()
            locks.update(before)
        raise


def locked(session: Session, workspace_id: str) -> tuple[bool, Any]:
    """(True, its settings) when this transaction already locked the workspace and remembers it."""
    locks: dict[str, Any] | None = session.info.get(_KEY)
    if locks is None or workspace_id not in locks:
        return False, None
    return True, locks[workspace_id]


def remember(session: Session, workspace_id: str, settings: Any) -> None:
    locks: dict[str, Any] | None = session.info.get(_KEY)
    if locks is not None:
        locks[workspace_id] = settings
