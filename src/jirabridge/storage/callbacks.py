"""The backoff of a failing host callback endpoint, and the callback backlog (docs/callbacks.md).

Deliveries are ordered per item (`DeliverCallback.ordering_key` in domain/operations.py), so a
delivery waiting for its retry holds back only the later events of its own item. What a workspace's
deliveries share is the endpoint, and a dead endpoint should not be sent every item's event at once,
nor each item's event burn its attempts on it:

- `endpoint_failed` (a delivery failed in a way that is retried: 429, 5xx, a timeout, no connection)
  counts a failure of the endpoint and holds the workspace's other pending deliveries back for twice
  its backoff `wait_s` (the host's `Retry-After`, else 1 s doubling with each consecutive failure, at
  most 5 minutes), except the oldest of another item: the *probe*, due after one `wait_s`.
- `endpoint_answered` (the host answered anything else) ends the backoff: the held deliveries are due
  at once.
- `hold_until` tells `record_event` to queue a new delivery behind the held ones while it lasts.

So a dead endpoint gets about one delivery per backoff, and an event the host fails on alone (a
poisoned one) holds the others back for one short backoff each time it fails: the probe goes through
and releases them. A held delivery has not been tried: it counts no attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jirabridge.domain.backoff import Backoff
from jirabridge.domain.operations import DeliverCallback
from jirabridge.storage import outbox
from jirabridge.storage.tables import CallbackEndpoint, Operation

ENDPOINT_BACKOFF = Backoff(base_s=1.0, cap_s=300.0)
HELD = "callback_endpoint_backoff"  # the reason of a delivery held back, never tried since


def _workspace_deliveries(workspace_id: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Operation.workspace_id == workspace_id,
        Operation.kind == DeliverCallback.KIND,
        Operation.status == outbox.PENDING,
    )


def endpoint_failed(
    session: Session,
    *,
    workspace_id: str,
    op_id: str,
    reason: str,
    now: datetime,
    retry_after_s: float | None,
) -> float:
    """A delivery (`op_id`) of the workspace failed and will be retried: hold the others back (see the
    module docstring). Returns the endpoint's backoff in seconds; the caller commits.

    Called where the delivery's retry is recorded (after it, in the same transaction): the delivery
    itself then waits for its own backoff, but never less than the endpoint's."""
    endpoint = _locked_endpoint(session, workspace_id, now)
    failures = endpoint.failures + 1
    wait_s = retry_after_s if retry_after_s is not None else ENDPOINT_BACKOFF.ceiling(failures)
    probe_at = now + timedelta(seconds=wait_s)
    hold = probe_at + timedelta(seconds=wait_s)
    endpoint.failures, endpoint.hold_until = failures, hold
    endpoint.last_reason, endpoint.updated_at = reason, now
    session.execute(
        update(Operation)
        .where(Operation.id == op_id, Operation.status == outbox.PENDING, Operation.run_after < probe_at)
        .values(run_after=probe_at)
        .execution_options(synchronize_session=False)
    )

    # The failed delivery's own item waits behind it anyway (it is not claimable before it is done).
    own_key = session.scalar(select(Operation.ordering_key).where(Operation.id == op_id))
    others = (*_workspace_deliveries(workspace_id), Operation.ordering_key != own_key)
    probe = session.scalar(select(func.min(Operation.seq)).where(*others))
    if probe is None:
        return wait_s
    session.execute(
        update(Operation)
        .where(*others, Operation.seq != probe, Operation.run_after < hold)
        .values(
            run_after=hold,
            reason=case((Operation.attempts == 0, HELD), else_=Operation.reason),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Operation)
        .where(Operation.seq == probe)
        .values(
            run_after=probe_at,
            reason=case((Operation.attempts == 0, HELD), else_=Operation.reason),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return wait_s


def _locked_endpoint(session: Session, workspace_id: str, now: datetime) -> CallbackEndpoint:
    """The workspace's endpoint row, locked until the transaction ends; added when it has none. Two
    deliveries of a healthy endpoint may fail at once and both add it: the one that adds it second
    waits for the other's commit, and takes the row it committed."""
    endpoint = session.get(CallbackEndpoint, workspace_id, with_for_update=True)
    if endpoint is not None:
        return endpoint
    try:
        with session.begin_nested():
            session.add(
                CallbackEndpoint(
                    workspace_id=workspace_id, failures=0, failing_since=now, hold_until=now, updated_at=now
                )
            )
    except IntegrityError:
        pass
    endpoint = session.get(CallbackEndpoint, workspace_id, with_for_update=True, populate_existing=True)
    assert endpoint is not None
    return endpoint


def endpoint_answered(session: Session, *, workspace_id: str, now: datetime) -> None:
    """The host answered a delivery: the endpoint's backoff ends and the held deliveries are due now.
    The caller commits."""
    gone = session.execute(
        delete(CallbackEndpoint)
        .where(CallbackEndpoint.workspace_id == workspace_id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(gone, "rowcount", 0):
        return
    session.execute(
        update(Operation)
        .where(*_workspace_deliveries(workspace_id), Operation.reason == HELD)
        .values(run_after=now, reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def is_failing(session: Session, workspace_id: str) -> bool:
    return session.get(CallbackEndpoint, workspace_id) is not None


def hold_until(session: Session, workspace_id: str, now: datetime) -> datetime | None:
    """Until when a new delivery of the workspace waits (its endpoint is backing off), or None."""
    endpoint = session.get(CallbackEndpoint, workspace_id)
    if endpoint is None:
        return None
    until = outbox.as_utc(endpoint.hold_until)
    return until if until > outbox.as_utc(now) else None


@dataclass(frozen=True)
class Backlog:
    """Callback deliveries not made yet, across workspaces (health and metrics)."""

    waiting: int  # pending or running
    retrying: int  # of those, failed at least once and waiting for their next attempt
    held: int  # of those, held back by their endpoint's backoff, not tried yet
    oldest_s: float  # how long the oldest has been waiting (0 when none)
    endpoints_failing: int  # workspaces whose endpoint is backing off, with deliveries waiting

    def as_json(self) -> dict[str, float | int]:
        return {
            "waiting": self.waiting,
            "retrying": self.retrying,
            "held": self.held,
            "oldest_s": round(self.oldest_s, 3),
            "endpoints_failing": self.endpoints_failing,
        }


def backlog(session: Session, now: datetime) -> Backlog:
    row = session.execute(
        select(
            func.count(),
            func.count(case(((Operation.status == outbox.PENDING) & (Operation.attempts > 0), 1))),
            func.count(case((Operation.reason == HELD, 1))),
            func.min(Operation.created_at),
        ).where(Operation.kind == DeliverCallback.KIND, Operation.status.in_(outbox.OUTSTANDING))
    ).one()
    # An endpoint counts while deliveries wait for it: one whose last delivery was given up (or whose
    # callback was switched off) keeps its row until it next answers, but nothing waits on it.
    waiting_on_it = exists().where(
        Operation.workspace_id == CallbackEndpoint.workspace_id,
        Operation.kind == DeliverCallback.KIND,
        Operation.status.in_(outbox.OUTSTANDING),
    )
    failing = session.scalar(select(func.count()).select_from(CallbackEndpoint).where(waiting_on_it)) or 0
    oldest = (outbox.as_utc(now) - outbox.as_utc(row[3])).total_seconds() if row[3] is not None else 0.0
    return Backlog(int(row[0]), int(row[1]), int(row[2]), max(0.0, oldest), int(failing))
