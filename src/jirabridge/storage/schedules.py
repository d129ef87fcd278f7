"""Periodic work on top of the outbox: pollers, webhook refreshes, worklog drift checks.

A schedule is a row saying "enqueue this operation every `every_s` seconds" (its `kind` and `payload`
as the outbox stores them; `domain.operations.Scheduled` names its key).
The service writes schedules (`ensure`, `remove`, `run_now`) in the same transaction as the settings
that imply them; workers enqueue what is due in their claim transaction (`outbox.claim`). So periodic
work needs no timer of its own, survives restarts, and is shared by any number of workers:

- a due schedule is taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite: one writer at a time),
  so two workers never enqueue the same round;
- its operation's ordering key is `schedule:{key}`, and no new one is enqueued while the previous one
  is still pending or running: a slow poll is never stacked up behind itself;
- the operation then runs like any other: retried with backoff, visible in the failures when it fails
  for good — and the next round is enqueued anyway, so one failure never stops a poller.
"""

from __future__ import annotations

import dataclasses
import weakref
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jirabridge.domain import operations as ops
from jirabridge.storage.core_reads import table
from jirabridge.storage.tables import Schedule

_SCHEDULES = table(Schedule)
# Every claim asks; most find nothing due. Asked as a Core read of one column, built once, that costs
# a fraction of the ORM query that locks and loads the due ones.
_ANY_DUE = (
    select(_SCHEDULES.c.key)
    .where(_SCHEDULES.c.next_run_at <= bindparam("now", type_=_SCHEDULES.c.next_run_at.type))
    .limit(1)
)

ORDERING_PREFIX = ops.SCHEDULE_PREFIX


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ensure(
    session: Session,
    op: ops.Operation,
    *,
    workspace_id: str,
    every_s: float,
    now: datetime,
    key: str | None = None,
) -> Schedule:
    """Create or update the schedule of `op` (its key is `op.schedule_key()`; `key` names it for an
    operation this release does not declare). A new one runs at once; a changed interval counts from
    the last round, so shortening it takes effect without waiting for the old interval to end."""
    if key is None:
        assert isinstance(op, ops.Scheduled), f"{op.kind()} is not a scheduled operation"
        key = op.schedule_key()
    site_id, kind, payload = op.row_site_id(), op.kind(), ops.to_payload(op)
    now = _utc(now)
    schedule = session.get(Schedule, key)
    if schedule is None:
        fresh = Schedule(key=key, next_run_at=now, last_enqueued_at=None)
        _fill(fresh, workspace_id, site_id, kind, payload, every_s)
        schedule = _insert(session, fresh)
        if schedule is fresh:
            return schedule
    if schedule.every_s != every_s:
        last = schedule.last_enqueued_at
        schedule.next_run_at = (
            now if last is None else min(_utc(schedule.next_run_at), _utc(last) + _s(every_s))
        )
    _fill(schedule, workspace_id, site_id, kind, payload, every_s)
    return schedule


def _fill(
    schedule: Schedule,
    workspace_id: str,
    site_id: str | None,
    kind: str,
    payload: dict[str, object],
    every_s: float,
) -> None:
    schedule.workspace_id = workspace_id
    schedule.site_id = site_id
    schedule.kind = kind
    schedule.payload = payload
    schedule.every_s = every_s


def _insert(session: Session, schedule: Schedule) -> Schedule:
    """Insert a new schedule; when a concurrent transaction inserted the same key first (two requests
    starting one schedule together), answer that row instead of failing the caller."""
    try:
        with session.begin_nested():
            session.add(schedule)
            session.flush()
    except IntegrityError:
        existing = session.get(Schedule, schedule.key, populate_existing=True)
        if existing is None:
            raise
        return existing
    return schedule


def get(session: Session, key: str) -> Schedule | None:
    return session.get(Schedule, key)


def exists(session: Session, key: str) -> bool:
    return session.get(Schedule, key) is not None


# Schedules this process read from each database, with their interval: see `seen_before`.
_seen: weakref.WeakKeyDictionary[Engine, set[tuple[str, float]]] = weakref.WeakKeyDictionary()


def _seen_in(session: Session) -> set[tuple[str, float]] | None:
    bind = session.get_bind()
    return _seen.setdefault(bind, set()) if isinstance(bind, Engine) else None


def seen_before(session: Session, key: str, every_s: float) -> bool:
    """Whether this process read the schedule `key`, with this interval, in this database before
    (`remember_seen`). Only the caller knows whether it can have been removed since."""
    seen = _seen_in(session)
    return seen is not None and (key, every_s) in seen


def remember_seen(session: Session, key: str, every_s: float) -> None:
    seen = _seen_in(session)
    if seen is not None:
        seen.add((key, every_s))


def operation_of(schedule: Schedule) -> ops.Operation:
    """The operation a round of `schedule` enqueues: ordered after the schedule's previous round."""
    op = ops.from_row(
        schedule.kind, schedule.payload, workspace_id=schedule.workspace_id, site_id=schedule.site_id
    )
    if isinstance(op, ops.Unknown):
        return dataclasses.replace(op, ordering=ORDERING_PREFIX + schedule.key)
    return op


def remove(session: Session, key: str) -> None:
    session.execute(delete(Schedule).where(Schedule.key == key))


def remove_prefix(session: Session, prefix: str) -> None:
    """Remove every schedule whose key starts with `prefix` (e.g. all of a site's)."""
    session.execute(delete(Schedule).where(Schedule.key.startswith(prefix, autoescape=True)))


def run_now(session: Session, *, workspace_id: str, key_prefix: str, now: datetime) -> list[str]:
    """Make the workspace's schedules under `key_prefix` due now; returns their keys."""
    rows = session.execute(
        update(Schedule)
        .where(Schedule.workspace_id == workspace_id, Schedule.key.startswith(key_prefix, autoescape=True))
        .values(next_run_at=_utc(now))
        .returning(Schedule.key)
        .execution_options(synchronize_session=False)
    )
    return sorted(row.key for row in rows)


def take_due(session: Session, now: datetime, *, limit: int = 100) -> list[tuple[Schedule, bool]]:
    """Lock the due schedules (skipping those another worker holds) and move each to its next round.
    The caller (`outbox.claim`) enqueues their operations in the same transaction. With each, whether
    it was asked for early (`run_now`) rather than reached its regular round."""
    now = _utc(now)
    if session.execute(_ANY_DUE, {"now": now}).first() is None:
        return []
    due = list(
        session.scalars(
            select(Schedule)
            .where(Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    taken: list[tuple[Schedule, bool]] = []
    for schedule in due:
        last = schedule.last_enqueued_at
        early = last is not None and _utc(schedule.next_run_at) < _utc(last) + _s(schedule.every_s)
        schedule.next_run_at = now + _s(schedule.every_s)
        taken.append((schedule, early))
    return taken


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
