"""The transactional outbox: Jira work committed with the change that implies it, run by workers.

Life of an operation (a row of `operations`):

    enqueue ──▶ pending ──claim──▶ running ──record(Done)──▶ done
                  ▲                   │ ├──record(Retry)──▶ pending (run_after = now + wait; a Retry
                  │                   │ │                   that made no call, counted=False, gives
                  │                   │ │                   its attempt back)
                  │                   │ └──record(Fail) / too many attempts──▶ failed
                  │                   └── lease expired (worker killed) ──▶ claimed again
                  └──────────── retry_failure (by hand) ◀── failed

- `enqueue` only adds to the caller's session: the operation commits or rolls back with the state
  change that implies it.
- `claim` runs in its own short transaction: it reads the claimable operations of each site in play
  (the worker's leased sites, storage/leases.py, or every site) and of no site, picks them round
  robin across sites (fair: one site's backlog does not starve the others), then takes them with one
  `UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`, so any number of workers on
  any number of machines share one database and never claim the same row. SQLite has no row locks
  (SQLAlchemy drops the FOR UPDATE clause there); every SQLite transaction starts with
  `BEGIN IMMEDIATE` (see db.py), so the same statements run with one claimer at a time.
- Operations with the same `ordering_key` (one Jira issue) run one at a time in `seq` order: an
  operation is claimable only while no earlier one of its key is pending or running. An operation
  that failed for good no longer holds back the ones after it.
- A claim takes a lease (`lease_owner`, `leased_until`) and counts an attempt. A killed worker's
  operations become claimable again once their lease expires; a running worker extends its leases.
  `record` writes an outcome only while the caller still holds the lease, so a worker that lost its
  lease cannot overwrite the work of the one that took it over.

Times are stored in UTC (SQLite keeps them without zone; `_utc` puts it back).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    TextClause,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from jirabridge import telemetry
from jirabridge.domain import operations as ops
from jirabridge.domain.backoff import DEFAULT_BACKOFF, Backoff
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import OperationState
from jirabridge.domain.outcomes import DEFAULT_MAX_ATTEMPTS, Done, Fail, Job, Outcome, Retry
from jirabridge.errors import Conflict, NotFound
from jirabridge.ids import new_id
from jirabridge.storage import schedules
from jirabridge.storage.tables import OUTSTANDING_WHERE, Link, Operation, SiteLease
from jirabridge.storage.workspace_locks import workspace_locks_kept, workspace_locks_savepoint

PENDING, RUNNING, DONE, FAILED = (
    OperationState.PENDING,
    OperationState.RUNNING,
    OperationState.DONE,
    OperationState.FAILED,
)
OUTSTANDING = (PENDING, RUNNING)
MAX_ATTEMPTS = DEFAULT_MAX_ATTEMPTS
MAX_ATTEMPTS_REASON = "max_attempts"
_DETAIL_LIMIT = 2000

# What a step reads for its job in the claim's transaction (`claim(prepare=...)`), and what it writes
# in the transaction that records the job's outcome (`record(apply=...)`).
Prepare = Callable[[Session, Job], Job]
Apply = Callable[[Session], None]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


as_utc = _utc  # for the modules beside this one (SQLite gives times back without their zone)


def enqueue(
    session: Session,
    op: ops.Operation,
    *,
    workspace_id: str,
    now: datetime,
    run_after: datetime | None = None,
    reason: str | None = None,
) -> str:
    """Add the operation `op` in the caller's transaction and answer its id; it exists once the
    caller commits. Its kind, payload, ordering key, site and issue key are the operation's
    (domain/operations.py); the host item it is for (`op.row_item()`, stored as the payload's `item`)
    is what its failure and the failure's `sync.failed` event name.

    A Core INSERT, run at once, not an ORM row left for the next flush: a fifth of what the ORM's
    add and flush cost (about 25 µs against 130 on this kind of machine), and the operations of one
    transaction take their `seq`, hence their turn, in the order they were queued."""
    now = _utc(now)
    operation_id = new_id("op")
    session.execute(
        _INSERT_OPERATION,
        {
            "id": operation_id,
            "workspace_id": workspace_id,
            "site_id": op.row_site_id(),
            "kind": op.kind(),
            "payload": ops.to_payload(op),
            "ordering_key": op.ordering_key(),
            "status": PENDING,
            "attempts": 0,
            "run_after": _utc(run_after) if run_after is not None else now,
            "leased_until": None,
            "lease_owner": None,
            "reason": reason,
            "detail": None,
            "issue_key": op.row_issue_key(),
            "result": None,
            # The traced request (if any) this operation continues: the worker's span joins its trace.
            "traceparent": telemetry.current_traceparent(),
            "created_at": now,
            "updated_at": now,
        },
    )
    return operation_id


def claim(
    sessions: sessionmaker[Session],
    *,
    worker_id: str,
    now: datetime,
    limit: int,
    lease_s: float,
    max_attempts: int = MAX_ATTEMPTS,
    sites: Collection[str] | None = None,
    in_flight: Mapping[str, int] | None = None,
    site_cap: int | None = None,
    prepare: Prepare | None = None,
) -> list[Job]:
    """Lease up to `limit` due operations to `worker_id` and return them as jobs.

    Fair across sites: each site with due work (and the operations of no site, as one more) gets its
    first operation into the batch before any gets its second, oldest first within a rank, so one
    site's backlog of thousands does not hold back another site's change until it has drained.
    `in_flight`: the worker's running operations per site, counted as ranks already taken, so a site
    that holds many of the worker's slots goes after the sites that hold none. `site_cap`: at most
    this many of one site's operations in flight, `in_flight` counted: claimed beyond what the site's
    pacing sends soon, they would only wait in slots the worker's other sites need (a site it has
    just taken over from a dead worker among them).

    `sites`: the sites this worker holds the lease of (storage/leases.py); only their operations, and
    those of no site, are claimed, and only while the lease is still the worker's in the database.
    None: every site (one worker on SQLite, and in-process workers).

    `prepare` runs for each job in the same transaction, after the lease is taken, and returns the
    job with what its handler needs (`Job.context`): reading it costs no transaction of its own.
    Each runs in a savepoint, so one that raises (a bug) spoils neither the claim nor the other jobs;
    its job is handed out with `PrepareFailed` as its context, and its step retries it."""
    if limit <= 0:
        return []
    now = _utc(now)
    with sessions() as session, session.begin():
        session.connection()  # begun here: a `NO_WAIT` session raises before anything ran (storage/db.py)
        _enqueue_scheduled(session, now)
        _give_up_on_lost_leases(session, now, max_attempts)
        candidates = _candidates(session, worker_id=worker_id, now=now, limit=limit, sites=sites)
        picked = _round_robin(candidates, limit, in_flight or {}, site_cap)
        if not picked:
            return []
        rows = sorted(session.execute(_CLAIM, _claim_values(picked, worker_id, now, lease_s)).all(), key=_seq)
        jobs = [
            Job(
                id=row.id,
                workspace_id=row.workspace_id,
                site_id=row.site_id,
                kind=row.kind,
                operation=_parse(row),
                attempts=row.attempts,
                issue_key=row.issue_key,
                max_attempts=max_attempts,
                traceparent=row.traceparent,
            )
            for row in rows
        ]
        if prepare is not None:
            jobs = _prepared_all(session, jobs, prepare)
    return jobs


def _prepared_all(session: Session, jobs: list[Job], prepare: Prepare) -> list[Job]:
    """Every job's `prepare` in one savepoint (a savepoint per job cost two statements each, round
    trips on PostgreSQL); when one raises, all of it rolls back and each runs again in a savepoint
    of its own, so the one that raised spoils only its own job."""
    try:
        with session.begin_nested():
            return [prepare(session, job) for job in jobs]
    except Exception:
        return [_prepared(session, job, prepare) for job in jobs]


def _prepared(session: Session, job: Job, prepare: Prepare) -> Job:
    try:
        with session.begin_nested():
            return prepare(session, job)
    except Exception as error:
        return replace(job, context=PrepareFailed(type(error).__name__))


@dataclass(frozen=True)
class PrepareFailed:
    """The context of a job whose `prepare` raised: its step retries it (reason `handler_error`)."""

    error: str


def _seq(row: Any) -> int:
    return int(row.seq)


# The worker's hot statements (claim, record, lease extension) are Core statements on the table, not
# ORM-enabled ones on the mapped class: SQLAlchemy runs an ORM UPDATE through its ORM bulk machinery
# even when it synchronises nothing, 2.5 times the CPU of the same statement in Core (about 250 µs
# and 100 µs on SQLite on this machine, docs/performance.md). A column of the mapped class in a
# statement makes the whole statement ORM-enabled, so these name the table's columns only.
OPS: Table = Operation.__table__  # type: ignore[assignment]
_LEASES: Table = SiteLease.__table__  # type: ignore[assignment]
_INSERT_OPERATION = insert(OPS)
_candidate = OPS.alias("candidate").c
_earlier = OPS.alias("earlier").c


# The claim's statements are built once, their values bound at each claim: built on every claim,
# constructing them and computing their cache keys cost more than running them.
_NOW = bindparam("b_now", type_=OPS.c.updated_at.type)
_LIMIT = bindparam("b_limit", type_=Integer)


def _claimable() -> list[ColumnElement[bool] | TextClause]:
    """Outstanding, due at `b_now` (pending and due, or running with its lease run out), and the first
    of its ordering key. Due is one CASE rather than an OR so that the planner walks an index in `seq`
    order and stops at the limit; with an OR, SQLite gathered every pending operation through two
    index ranges and sorted them (12 ms under the write lock with 3,000 pending)."""
    due = case(
        (_candidate.status == PENDING, _candidate.run_after <= _NOW),
        else_=_candidate.leased_until < _NOW,
    )
    first_of_its_key = ~exists().where(
        _earlier.ordering_key == _candidate.ordering_key,
        _earlier.seq < _candidate.seq,
        _earlier.status.in_(OUTSTANDING),
    )
    # Literally the condition of the partial indexes (a bound parameter would not match it).
    return [text(f"candidate.{OUTSTANDING_WHERE}"), due, first_of_its_key]


_CLAIMABLE = _claimable()
_OF_NO_SITE = (
    select(_candidate.seq, _candidate.site_id)
    .where(_candidate.site_id.is_(None), *_CLAIMABLE)
    .order_by(_candidate.seq)
    .limit(_LIMIT)
)
_EVERY_SITE_IN_PLAY = (
    select(OPS.c.site_id)
    .where(text(f"operations.{OUTSTANDING_WHERE}"), OPS.c.site_id.is_not(None))
    .distinct()
)
_LEASED_SITES_IN_PLAY = select(_LEASES.c.site_id).where(
    _LEASES.c.worker_id == bindparam("b_worker"),
    _LEASES.c.leased_until > _NOW,
    _LEASES.c.site_id.in_(bindparam("b_sites", expanding=True)),
)
_OF_ONE_SITE = (  # SQLite: one query per site
    select(_candidate.seq, _candidate.site_id)
    .where(_candidate.site_id == bindparam("b_site"), *_CLAIMABLE)
    .order_by(_candidate.seq)
    .limit(_LIMIT)
)


def _of_sites_in_play(in_play: Select[Any]) -> Select[Any]:
    """PostgreSQL: one statement, a LATERAL subquery walking `ix_operations_site_outstanding` for each
    site in play."""
    site_ids = in_play.subquery("in_play")
    of_site = (
        select(_candidate.seq, _candidate.site_id)
        .where(_candidate.site_id == site_ids.c.site_id, *_CLAIMABLE)
        .order_by(_candidate.seq)
        .limit(_LIMIT)
        .lateral("of_site")
    )
    return select(of_site.c.seq, of_site.c.site_id).select_from(site_ids.join(of_site, true()))


_OF_EVERY_SITE = _of_sites_in_play(_EVERY_SITE_IN_PLAY)
_OF_LEASED_SITES = _of_sites_in_play(_LEASED_SITES_IN_PLAY)


def _candidates(
    session: Session, *, worker_id: str, now: datetime, limit: int, sites: Collection[str] | None
) -> list[tuple[int, str | None]]:
    """(seq, site) of up to `limit` claimable operations of each site in play (all, or those leased to
    the worker among `sites`), and of no site. Read without locks: the claim statement locks (SKIP
    LOCKED) and checks again the ones it takes."""
    values: dict[str, Any] = {"b_now": now, "b_limit": limit}
    found = [(int(seq), site) for seq, site in session.execute(_OF_NO_SITE, values)]
    if sites is not None:
        values |= {"b_worker": worker_id, "b_sites": list(sites)}
    if session.get_bind().dialect.name == "postgresql":
        of_sites = _OF_EVERY_SITE if sites is None else _OF_LEASED_SITES
        found += [(int(seq), site) for seq, site in session.execute(of_sites, values)]
    else:  # SQLite has no LATERAL; one worker, in process: a query per site costs little
        in_play = _EVERY_SITE_IN_PLAY if sites is None else _LEASED_SITES_IN_PLAY
        for site_id in list(session.scalars(in_play, values)):
            rows = session.execute(_OF_ONE_SITE, values | {"b_site": site_id})
            found += [(int(seq), site) for seq, site in rows]
    return found


def _round_robin(
    candidates: Sequence[tuple[int, str | None]],
    limit: int,
    in_flight: Mapping[str, int],
    site_cap: int | None = None,
) -> list[int]:
    """Each site's oldest first, then each site's second, … (oldest first within a rank), up to
    `limit`; a site's operations in flight count as its first ranks, and no site goes past rank
    `site_cap` (the operations of no site have no cap)."""
    rank: dict[str | None, int] = {}
    ranked = []
    for seq, site in sorted(candidates):
        rank[site] = rank.get(site, in_flight.get(site, 0) if site is not None else 0) + 1
        if site_cap is None or site is None or rank[site] <= site_cap:
            ranked.append((rank[site], seq))
    return [seq for _, seq in sorted(ranked)[:limit]]


# Take the picked operations that are still claimable, skipping any another worker has locked: on
# PostgreSQL an `UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`, so two workers
# never claim the same row. SQLite has no row locks (the FOR UPDATE is dropped there); its
# transactions start with BEGIN IMMEDIATE (db.py), so one claim runs at a time.
_CLAIM = (
    update(OPS)
    .where(
        OPS.c.seq.in_(
            select(_candidate.seq)
            .where(_candidate.seq.in_(bindparam("b_picked", expanding=True)), *_CLAIMABLE)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(
        status=RUNNING,
        lease_owner=bindparam("b_worker"),
        leased_until=bindparam("b_until", type_=OPS.c.leased_until.type),
        attempts=OPS.c.attempts + 1,
        updated_at=_NOW,
    )
    .returning(
        *(OPS.c[name] for name in ("seq", "id", "workspace_id", "site_id", "kind", "payload", "attempts")),
        OPS.c.issue_key,
        OPS.c.traceparent,
    )
)


def _claim_values(picked: list[int], worker_id: str, now: datetime, lease_s: float) -> dict[str, Any]:
    until = now + timedelta(seconds=lease_s)
    return {"b_picked": picked, "b_worker": worker_id, "b_now": now, "b_until": until}


def _parse(row: Any) -> ops.Operation:
    return ops.from_row(
        row.kind, row.payload, workspace_id=row.workspace_id, site_id=row.site_id, issue_key=row.issue_key
    )


def _enqueue_scheduled(session: Session, now: datetime) -> None:
    """One operation per due schedule, unless the schedule's previous one is still outstanding. A
    regular round is then skipped; a round asked for early (`run_now`: settings changed while the
    previous round ran, which read the old ones) stays due, so it runs as soon as the previous round
    ends instead of a whole interval later."""
    for schedule, early in schedules.take_due(session, now):
        op = schedules.operation_of(schedule)
        ordering_key = op.ordering_key()
        busy = session.scalar(
            select(exists().where(OPS.c.ordering_key == ordering_key, OPS.c.status.in_(OUTSTANDING)))
        )
        if busy and early:
            schedule.next_run_at = now
        if not busy:
            enqueue(session, op, workspace_id=schedule.workspace_id, now=now)
            schedule.last_enqueued_at = now
    session.flush()


def _defer_site(session: Session, site_id: str, until: datetime, reason: str, detail: str) -> None:
    """The site is paused until `until`: its other pending operations wait as long, with the same
    reason, instead of being claimed only to find the pause (a site out of quota for an hour with a
    backlog of thousands)."""
    c = OPS.c
    session.execute(
        update(OPS)
        .where(c.site_id == site_id, c.status == PENDING, c.run_after < until)
        .values(run_after=until, reason=reason, detail=detail)
    )


_GIVE_UP = (
    update(OPS)
    .where(OPS.c.status == RUNNING, OPS.c.leased_until < _NOW, OPS.c.attempts >= bindparam("b_max_attempts"))
    .values(
        status=FAILED,
        reason=MAX_ATTEMPTS_REASON,
        detail=bindparam("b_detail"),
        lease_owner=None,
        leased_until=None,
        updated_at=_NOW,
    )
    .returning(
        *(OPS.c[name] for name in ("id", "workspace_id", "site_id", "kind", "payload", "attempts")),
        OPS.c.issue_key,
    )
)


def _give_up_on_lost_leases(session: Session, now: datetime, max_attempts: int) -> None:
    """An operation whose worker died on every attempt (it may be what kills it) fails for good."""
    detail = f"the worker running it stopped before finishing, {max_attempts} times"
    values = {"b_now": now, "b_max_attempts": max_attempts, "b_detail": detail}
    for row in session.execute(_GIVE_UP, values).all():
        job = Job(row.id, row.workspace_id, row.site_id, row.kind, _parse(row), row.attempts, row.issue_key)
        _failed(session, job, MAX_ATTEMPTS_REASON, detail, now, gave_up=True)


def extend_leases(
    sessions: sessionmaker[Session],
    *,
    worker_id: str,
    op_ids: Collection[str],
    now: datetime,
    lease_s: float,
) -> set[str]:
    """Extend the leases `worker_id` still holds; returns the ids it holds."""
    if not op_ids:
        return set()
    with sessions() as session, session.begin():
        return extend_leases_in(session, worker_id=worker_id, op_ids=op_ids, now=now, lease_s=lease_s)


def extend_leases_in(
    session: Session, *, worker_id: str, op_ids: Collection[str], now: datetime, lease_s: float
) -> set[str]:
    """`extend_leases` in the caller's transaction (the site-lease heartbeat's, storage/leases.py).

    Rows another transaction has locked are skipped, not waited for: they are this worker's own
    operations being recorded as they finish (`record_many`), which need no longer lease. Waiting
    for them deadlocked: a record locking its batch's rows in one order and the heartbeat the same
    rows in another, PostgreSQL killed one of them a second later, and a heartbeat that fails a few
    times in a row lets the worker's site leases run out (its claims find nothing meanwhile). The
    ids returned are those still leased to the worker, extended now or being recorded."""
    if not op_ids:
        return set()
    c = OPS.c
    ours = (c.id.in_(list(op_ids)), c.status == RUNNING, c.lease_owner == worker_id)
    free = select(c.id).where(*ours).with_for_update(skip_locked=True)
    session.execute(
        update(OPS)
        .where(c.id.in_(free.scalar_subquery()))
        .values(leased_until=_utc(now) + timedelta(seconds=lease_s))
    )
    return set(session.scalars(select(c.id).where(*ours)))


def record(
    sessions: sessionmaker[Session],
    job: Job,
    outcome: Outcome,
    now: datetime,
    *,
    worker_id: str,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
    apply: Apply | None = None,
) -> str | None:
    """Store the outcome of one attempt. Returns the operation's new status, or None when the lease
    was lost (another worker took the operation over) and nothing was written.

    `apply` writes what the outcome means to links, items, entries and events in the same
    transaction, and only while the lease is held: the operation is completed together with its
    effects, or neither is (the worker that took the lease over runs it again)."""
    now = _utc(now)
    values = _outcome_values(job, outcome, now, max_attempts, backoff)
    # The workspace locked for an event is locked and read once (storage/workspace_locks.py).
    with sessions() as session, session.begin(), workspace_locks_kept(session):
        session.connection()  # begun here: a `NO_WAIT` session raises before anything ran
        written = _write_outcome(session, job, outcome, values, now, worker_id, apply)
    return str(values["status"]) if written else None


@dataclass(frozen=True)
class Finished:
    """One attempt's outcome to record with others (`record_many`)."""

    job: Job
    outcome: Outcome
    now: datetime
    apply: Apply | None = None


@dataclass(frozen=True)
class Recorded:
    """What `record_many` wrote for one `Finished`: its new status (None: the lease was lost, nothing
    written), the outcome written (a `Retry` with reason `apply_error` when its `apply` raised), and
    the type of the exception its `apply` raised, if it did."""

    status: str | None
    outcome: Outcome
    apply_error: str | None = None


def record_many(
    sessions: sessionmaker[Session],
    finished: Sequence[Finished],
    *,
    worker_id: str,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> list[Recorded]:
    """`record` for several attempts that finished together, in one transaction (one commit, one
    connection, one hop to a database thread, instead of one of each per operation).

    Each operation stays atomic with its effects. All of them are first written in one savepoint
    (a savepoint each cost two statements and two flushes per operation); when anything in it raises,
    it rolls back as a whole and each is written again in a savepoint of its own, so an `apply` that
    raises rolls back only its own writes (and its own row's update), and that operation is recorded
    as a `Retry` with reason `apply_error` instead, in the same transaction; the others are
    unaffected. An error outside any apply (the database) raises, and nothing of the batch is
    written: the caller records them one by one."""
    with sessions() as session, session.begin(), workspace_locks_kept(session):
        session.connection()  # begun here: a `NO_WAIT` session raises before anything ran
        try:
            with session.begin_nested(), workspace_locks_savepoint(session):
                return [
                    _record_together(session, item, worker_id, max_attempts, backoff) for item in finished
                ]
        except Exception:  # each again on its own below, which tells which one raised
            pass
        return [_record_in(session, item, worker_id, max_attempts, backoff) for item in finished]


def _record_together(
    session: Session, item: Finished, worker_id: str, max_attempts: int, backoff: Backoff
) -> Recorded:
    """One outcome with its apply, in the savepoint of the whole batch (`record_many`)."""
    job, outcome, now = item.job, item.outcome, _utc(item.now)
    values = _outcome_values(job, outcome, now, max_attempts, backoff)
    written = _write_outcome(session, job, outcome, values, now, worker_id, item.apply)
    return Recorded(str(values["status"]) if written else None, outcome)


def _record_in(
    session: Session, item: Finished, worker_id: str, max_attempts: int, backoff: Backoff
) -> Recorded:
    job, outcome, now = item.job, item.outcome, _utc(item.now)
    values = _outcome_values(job, outcome, now, max_attempts, backoff)
    if item.apply is None and values["status"] != FAILED:  # one UPDATE: nothing to keep apart
        written = _write_outcome(session, job, outcome, values, now, worker_id, None)
        return Recorded(str(values["status"]) if written else None, outcome)
    try:
        with session.begin_nested(), workspace_locks_savepoint(session):
            written = _write_outcome(session, job, outcome, values, now, worker_id, item.apply)
        return Recorded(str(values["status"]) if written else None, outcome)
    except Exception as error:
        if item.apply is None:
            raise
        retry = Retry("apply_error", type(error).__name__)
        values = _outcome_values(job, retry, now, max_attempts, backoff)
        written = _write_outcome(session, job, retry, values, now, worker_id, None)
        return Recorded(str(values["status"]) if written else None, retry, type(error).__name__)


def _outcome_values(
    job: Job, outcome: Outcome, now: datetime, max_attempts: int, backoff: Backoff
) -> dict[str, Any]:
    values: dict[str, Any] = {"lease_owner": None, "leased_until": None, "updated_at": now}
    match outcome:
        case Done(result=result):
            values.update(status=DONE, reason=None, detail=None, result=result)
        case Fail(reason=reason, detail=detail):
            values.update(status=FAILED, reason=reason, detail=_clip(detail))
        case Retry(reason=reason, detail=detail, after_s=after_s, counted=False):
            values.update(
                status=PENDING,
                reason=reason,
                detail=_clip(detail),
                run_after=now + timedelta(seconds=max(0.0, after_s or 0.0)),
                attempts=job.attempts - 1,
            )
        case Retry(reason=reason, detail=detail) if job.attempts >= max_attempts:
            last = f"{reason}: {detail}" if detail else reason
            values.update(
                status=FAILED,
                reason=MAX_ATTEMPTS_REASON,
                detail=_clip(f"gave up after {job.attempts} attempts; the last: {last}"),
            )
        case Retry(reason=reason, detail=detail, after_s=after_s):
            wait_s = after_s if after_s is not None else backoff.delay(job.attempts)
            values.update(
                status=PENDING,
                reason=reason,
                detail=_clip(detail),
                run_after=now + timedelta(seconds=max(0.0, wait_s)),
            )
    return values


def _write_outcome(
    session: Session,
    job: Job,
    outcome: Outcome,
    values: dict[str, Any],
    now: datetime,
    worker_id: str,
    apply: Apply | None,
) -> bool:
    """The operation's row takes the outcome while `worker_id` holds its lease; then `apply` and the
    failure's event. False: the lease was lost, nothing written."""
    columns = tuple(sorted(values))
    params = {f"v_{column}": values[column] for column in columns}
    params.update(w_op_id=job.id, w_owner=worker_id, w_attempts=job.attempts)
    if session.scalar(_outcome_statement(columns), params) is None:
        return False
    if apply is not None:
        apply(session)
    if isinstance(outcome, Retry) and outcome.whole_site and job.site_id:
        _defer_site(session, job.site_id, values["run_after"], outcome.reason, values["detail"])
    if values["status"] == FAILED:
        announced = isinstance(outcome, Fail) and outcome.announced
        if not announced:
            reason, detail = str(values["reason"]), str(values["detail"] or "")
            _failed(session, job, reason, detail, now, gave_up=reason == MAX_ATTEMPTS_REASON)
    return True


@functools.lru_cache(maxsize=64)
def _outcome_statement(columns: tuple[str, ...]) -> Any:
    """The UPDATE that records an outcome setting `columns`, built once per set of columns (a handful:
    one per kind of outcome) with every value a bound parameter: building it for each outcome, and
    computing its cache key, was a good part of recording one."""
    c = OPS.c
    return (
        update(OPS)
        .where(
            c.id == bindparam("w_op_id"),
            c.status == RUNNING,
            c.lease_owner == bindparam("w_owner"),
            c.attempts == bindparam("w_attempts"),
        )
        .values({column: bindparam(f"v_{column}", type_=c[column].type) for column in columns})
        .returning(c.id)
    )


def _failed(session: Session, job: Job, reason: str, detail: str, now: datetime, *, gave_up: bool) -> None:
    """An operation failed for good: the host learns it from the event feed, in the same transaction,
    as a `sync.failed` event naming what the failure shows (the operation's item and issue key).
    A handler never sees the last attempt run out, so then the link of a create also stops being
    `pending` here. A callback's failure is not an event: that would only queue another callback."""
    from jirabridge.storage.events import record_event  # events enqueues through this module

    op = job.operation
    if gave_up and isinstance(op, ops.CreateIssue):
        session.execute(
            update(Link)
            .where(Link.id == op.link_id, Link.sync_state == LinkState.PENDING)
            .values(sync_state=LinkState.FAILED, last_error=detail)
        )
    if job.kind != ops.DeliverCallback.KIND:
        record_event(
            session,
            workspace_id=job.workspace_id,
            type="sync.failed",
            source="jirabridge",
            at=now,
            item=job.item,
            issue_key=job.issue_key,
            data={"operation": job.kind, "operation_id": job.id, "reason": reason, "detail": detail},
        )


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def list_failures(
    session: Session, workspace_id: str, after: int | None = None, limit: int = 50
) -> list[Operation]:
    """Operations of the workspace that failed for good, oldest first; page with `after=op.seq`."""
    query = select(Operation).where(Operation.workspace_id == workspace_id, Operation.status == FAILED)
    if after is not None:
        query = query.where(Operation.seq > after)
    return list(session.scalars(query.order_by(Operation.seq).limit(limit)))


def retry_failure(session: Session, workspace_id: str, op_id: str, now: datetime) -> Operation:
    """Put a failed operation back in the queue with fresh attempts; the caller commits."""
    operation = session.scalar(
        select(Operation).where(Operation.workspace_id == workspace_id, Operation.id == op_id)
    )
    if operation is None:
        raise NotFound(f"operation {op_id} does not exist")
    if operation.status != FAILED:
        raise Conflict(f"operation {op_id} is {operation.status}, not failed")
    now = _utc(now)
    operation.status = PENDING
    operation.attempts = 0
    operation.run_after = now
    operation.reason = None
    operation.detail = None
    operation.updated_at = now
    return operation


DONE_KEPT = timedelta(days=7)
PRUNE_BATCH = 5000


def prune_done(
    sessions: sessionmaker[Session], *, now: datetime, kept: timedelta = DONE_KEPT, limit: int = PRUNE_BATCH
) -> int:
    """Delete up to `limit` operations that finished successfully more than `kept` ago; answers how
    many. Nothing reads them after that (failed ones stay for the failures API), and the table would
    otherwise grow with every change ever synced. Workers call it now and then (runner.py)."""
    cutoff = _utc(now) - kept
    old = select(Operation.seq).where(Operation.status == DONE, Operation.updated_at < cutoff).limit(limit)
    with sessions() as session, session.begin():
        result = session.execute(
            delete(Operation)
            .where(Operation.seq.in_(old.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def workspace_depth(session: Session, workspace_id: str) -> dict[str, int]:
    """`queue_depth` of one workspace's changes (its periodic rounds left out)."""
    scheduled = Operation.ordering_key.like(schedules.ORDERING_PREFIX + "%")
    rows = session.execute(
        select(Operation.status, func.count())
        .where(
            Operation.workspace_id == workspace_id,
            Operation.status.in_((PENDING, RUNNING, FAILED)),
            ~scheduled,
        )
        .group_by(Operation.status)
    )
    counts = {status: count for status, count in rows}
    return {status: int(counts.get(status, 0)) for status in (PENDING, RUNNING, FAILED)}


def queue_depth(session: Session, *, periodic: bool = False) -> dict[str, int]:
    """How many operations are pending, running and failed, across workspaces (for metrics): the
    work host changes and Jira events implied, or with `periodic` the rounds of schedules (polls,
    drift checks, webhook refreshes), which are always there and would keep the first from ever
    reaching zero."""
    scheduled = Operation.ordering_key.like(schedules.ORDERING_PREFIX + "%")
    rows = session.execute(
        select(Operation.status, func.count())
        .where(Operation.status.in_((PENDING, RUNNING, FAILED)), scheduled if periodic else ~scheduled)
        .group_by(Operation.status)
    )
    counts = {status: count for status, count in rows}
    return {status: int(counts.get(status, 0)) for status in (PENDING, RUNNING, FAILED)}


def oldest_due_s(session: Session, now: datetime) -> float:
    """How long the longest-waiting due operation has been waiting for a worker (seconds; 0 when
    none waits): the outbox's lag, which grows when workers are too few, stopped or held back."""
    now = _utc(now)
    oldest = session.scalar(
        select(func.min(Operation.run_after)).where(Operation.status == PENDING, Operation.run_after <= now)
    )
    return max(0.0, (now - _utc(oldest)).total_seconds()) if oldest is not None else 0.0


def outstanding(session: Session, ids: Sequence[str]) -> int:
    """How many of these operations are not finished yet (tests and the demo wait on this)."""
    return int(
        session.scalar(
            select(func.count()).where(Operation.id.in_(list(ids)), Operation.status.in_(OUTSTANDING))
        )
        or 0
    )
