"""Site leases: each Jira site is driven by exactly one live worker at a time.

Jira's limits are per site, and a worker paces each site in process (`jirabridge.jira.SitePacer`).
With one worker per site that pacer is the site's whole budget, and a 429 it sees holds back every
call to the site, with no database round trip per Jira call. This module decides which worker that is.

A lease is one row per connected site (`sites` row, `site_leases`), as the claim checks it; but one Jira
site may be connected several times (two workspaces), and the pacer is keyed by the Jira site's
address (`jirabridge.domain.site_urls.site_address`, the key the Jira pool's pacers use). So every
connection of one address goes to the same worker, and no worker holds a connection of an address
while another holds one of the same address.

Every worker runs `heartbeat` every `heartbeat_s`, one short transaction that:

1. writes its row in `workers` (`heartbeat_at = now`);
2. reads the live workers: those whose heartbeat is younger than `dead_after_s` and that are not
   stopping;
3. gives each address a target owner by rendezvous hashing (the live worker with the highest
   `hash(address, worker)`): every worker computes the same answer from the same list, with no
   coordination, and a worker joining or leaving moves only the addresses it wins or held;
4. renews its leases, and takes the free or expired leases of the sites whose address it is the
   target of, but only the addresses of which no other worker holds a lease that has not expired: a
   conditional UPDATE, then INSERT … ON CONFLICT DO NOTHING, so two workers never both hold a site;
   on PostgreSQL takes run one at a time (an advisory lock), and a take locks the address's leases
   and leaves the address alone if one of them is locked (being renewed), so two workers never hold
   two connections of one address either; a take never waits for a row, so it deadlocks with nothing;
5. releases the sites whose target is another worker, but only once none of its operations of that
   site runs: it stops claiming for them at once and drains first, and the new owner takes none of
   the address's connections until the old one has let go of all of them, so a rebalance never has
   two workers calling one Jira site, and no operation moves while it runs;
6. extends the leases of its running operations (`outbox.extend_leases`, same transaction).

`Beat.active`, the sites it claims for, are those it holds whose address is its own and of which no
other worker holds a connection (a worker of an earlier release leased each connection on its own).

A worker killed with SIGKILL stops renewing: its site leases expire after `lease_ttl_s`, the others see
it dead after `dead_after_s`, and the next heartbeat of the new target takes each site. A worker told
to stop marks itself `stopping` (the others take its sites as it drains them) and, once its running
operations are recorded, `leave` deletes its leases and row, so nothing waits for an expiry.

Sites leased: every site not disconnected, and disconnected sites that still have outstanding
operations (a queued removal of their webhook). Clocks: times come from the workers' own clocks, so
the hosts' clocks must agree to well under `lease_ttl_s` (NTP does). Dead workers' rows are
forgotten (`FORGET_AFTER`) by a heartbeat that has the takes' turn, so never under a take.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain.site_urls import site_address
from jirabridge.storage.outbox import OUTSTANDING, PENDING, RUNNING, as_utc, extend_leases_in
from jirabridge.storage.tables import Operation, Site, SiteLease, WorkerProcess

# A worker row this long without a heartbeat is deleted (its leases with it): it only served `status`.
FORGET_AFTER = timedelta(hours=1)
# The PostgreSQL advisory lock (transaction-level) a heartbeat holds while it takes leases.
TAKE_LOCK = 0x6A62_6C73


@dataclass(frozen=True)
class LeaseTimes:
    heartbeat_s: float = 3.0  # how often a worker runs `heartbeat`
    dead_after_s: float = 10.0  # a worker silent this long is dead: its sites go to the others
    lease_ttl_s: float = 10.0  # a site lease not renewed for this long is free to take


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    pid: int
    version: str
    started_at: datetime
    hostname: str = socket.gethostname()[:200]


@dataclass(frozen=True)
class Beat:
    """What one heartbeat left: the sites this worker holds, and of those the ones it may claim for."""

    active: frozenset[str]  # held, and this worker is their target: claim their operations
    held: frozenset[str]  # active ones plus those draining towards another worker
    acquired: frozenset[str]
    released: frozenset[str]
    live_workers: int
    extended: frozenset[str]  # running operations whose lease was extended


def weight(key: str, worker_id: str) -> int:
    """Rendezvous weight: stable across processes and machines (not Python's salted `hash`)."""
    digest = hashlib.blake2b(f"{key}\n{worker_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def target_of(key: str, workers: Sequence[str]) -> str | None:
    """The worker a Jira site belongs with (`key`: the site's address, `site_address`): the live
    worker of highest weight (None when none is live)."""
    return max(workers, key=lambda worker_id: weight(key, worker_id), default=None)


@dataclass(frozen=True)
class _Lease:
    worker_id: str
    live: bool  # not expired
    address: str  # of its site (`site_address`)


def heartbeat(
    sessions: sessionmaker[Session],
    *,
    me: WorkerInfo,
    now: datetime,
    times: LeaseTimes = LeaseTimes(),
    busy_sites: Collection[str] = (),
    running_ops: Collection[str] = (),
    op_lease_s: float = 12.0,
    stopping: bool = False,
    sole: bool = False,
) -> Beat:
    """One heartbeat of worker `me` (see the module's description). `busy_sites`: the sites of the
    operations it runs now (their leases are kept until those finish); `running_ops`: their ids.
    `sole`: no other worker can be running (SQLite: storage/worker_lock.py holds the file), so the
    rows of any other are a killed worker's, dropped at once instead of waiting for them to expire."""
    now = as_utc(now)
    until = now + timedelta(seconds=times.lease_ttl_s)
    with sessions() as session, session.begin():
        if sole:
            session.execute(delete(SiteLease).where(SiteLease.worker_id != me.id))
            session.execute(delete(WorkerProcess).where(WorkerProcess.id != me.id))
        _write_worker(session, me, now, stopping)
        live = list(
            session.scalars(
                select(WorkerProcess.id).where(
                    WorkerProcess.heartbeat_at >= now - timedelta(seconds=times.dead_after_s),
                    WorkerProcess.stopping.is_(False),
                )
            )
        )
        address = _leasable_sites(session)  # site -> its address
        targets = {key: target_of(key, live) for key in set(address.values())}
        want = {site for site, key in address.items() if targets[key] == me.id}
        mine, held, blocked, took = _renew_and_take(
            session, me.id, want, address, set(busy_sites), now, until
        )
        extended = extend_leases_in(session, worker_id=me.id, op_ids=running_ops, now=now, lease_s=op_lease_s)
        if took or _try_lock_takes(session):  # not while another worker takes leases
            _forget_dead_workers(session, now)
    active = {site for site in held & want if address[site] not in blocked}
    return Beat(
        active=frozenset(active),
        held=frozenset(held),
        acquired=frozenset(held - mine),
        released=frozenset(mine - held),
        live_workers=len(live),
        extended=frozenset(extended),
    )


def _renew_and_take(
    session: Session,
    worker_id: str,
    want: set[str],
    address: dict[str, str],
    busy: set[str],
    now: datetime,
    until: datetime,
) -> tuple[set[str], set[str], set[str], bool]:
    """Renew the leases this worker keeps, take those it is owed, drop the rest. Returns the sites it
    held before and holds now, the addresses another worker holds a lease of, and whether it had its
    turn to take (it then holds the advisory lock until the transaction ends)."""
    address = dict(address)  # and of the leased sites not to lease, as `_leases` reads them
    view = _leases(session, now, address)
    mine = {site for site, lease in view.items() if lease.worker_id == worker_id}
    keep = mine & (want | busy)
    renew = {site for site in keep if view[site].live}
    # Addresses another worker holds a lease of: this worker takes none of their sites, and claims
    # for none of those it holds, until the other has let go of all of them.
    blocked = _blocked(view, worker_id)
    # Free or expired leases (its own expired ones too) of addresses nobody else holds.
    take = {site for site in (keep | want) - renew if address[site] not in blocked}
    turn = bool(take)
    if turn:
        # Takes run one at a time (PostgreSQL), and each reads the leases again once its turn has
        # come: it sees what the take before it did.
        _lock_takes(session)
        view = _leases(session, now, address)
        blocked = _blocked(view, worker_id)
        taking = {address[site] for site in take} - blocked
        # Lock the leases of those addresses and read them again: one a worker is renewing now (it
        # may not have expired by that worker's clock) is locked, so its address waits for a later
        # heartbeat. Locked rows are skipped, not waited for: a take never waits for a renewal.
        rows = {site for site, lease in view.items() if lease.address in taking}
        locked = _leases(session, now, address, rows, lock=True)
        blocked |= _blocked(locked, worker_id) | {address[site] for site in rows - locked.keys()}
        take = {site for site in take if address[site] not in blocked}
    held = _renew_or_take(session, worker_id, renew | take, now, until)
    held |= _take_new(session, worker_id, take - held, now, until)
    if gone := mine - held:  # released, or expired and not taken back
        session.execute(
            delete(SiteLease).where(SiteLease.site_id.in_(sorted(gone)), SiteLease.worker_id == worker_id)
        )
    return mine, held, blocked, turn


def _blocked(view: dict[str, _Lease], worker_id: str) -> set[str]:
    return {lease.address for lease in view.values() if lease.worker_id != worker_id and lease.live}


def leave(sessions: sessionmaker[Session], worker_id: str) -> None:
    """A worker that stopped: its sites are free at once, for the others' next heartbeat."""
    with sessions() as session, session.begin():
        session.execute(delete(SiteLease).where(SiteLease.worker_id == worker_id))
        session.execute(delete(WorkerProcess).where(WorkerProcess.id == worker_id))


def _write_worker(session: Session, me: WorkerInfo, now: datetime, stopping: bool) -> None:
    row = session.get(WorkerProcess, me.id)
    if row is None:
        session.add(
            WorkerProcess(
                id=me.id,
                hostname=me.hostname,
                pid=me.pid,
                version=me.version,
                started_at=as_utc(me.started_at),
                heartbeat_at=now,
                stopping=stopping,
            )
        )
    else:
        row.heartbeat_at = now
        row.stopping = stopping
    session.flush()


def _leasable_sites(session: Session) -> dict[str, str]:
    """The sites to lease, each with its address."""
    has_work = exists().where(Operation.site_id == Site.id, Operation.status.in_(OUTSTANDING))
    rows = session.execute(select(Site.id, Site.url).where(or_(Site.status != "disconnected", has_work)))
    return {site_id: site_address(url) for site_id, url in rows}


def _leases(
    session: Session,
    now: datetime,
    address: dict[str, str],
    sites: Collection[str] | None = None,
    *,
    lock: bool = False,
) -> dict[str, _Lease]:
    """The leases (of `sites`, else every one), each with its site's address (from `address`, else
    read and added to it). `lock` (PostgreSQL): lock them, leaving out those another transaction has
    locked."""
    if sites is not None and not sites:
        return {}
    query = select(SiteLease.site_id, SiteLease.worker_id, SiteLease.leased_until >= now)
    if sites is not None:
        query = query.where(SiteLease.site_id.in_(sorted(sites)))
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if unknown := sorted(site for site, _, _ in rows if site not in address):
        urls = session.execute(select(Site.id, Site.url).where(Site.id.in_(unknown)))
        address |= {site: site_address(url) for site, url in urls}
    return {site: _Lease(worker, bool(live), address[site]) for site, worker, live in rows}


def _lock_takes(session: Session) -> None:
    """Wait for the turn to take leases (PostgreSQL: a transaction-level advisory lock; SQLite
    writes one transaction at a time anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(TAKE_LOCK)))


def _try_lock_takes(session: Session) -> bool:
    """The same turn if no other worker has it now; SQLite: always."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(TAKE_LOCK))))


def _renew_or_take(
    session: Session, worker_id: str, sites: Iterable[str], now: datetime, until: datetime
) -> set[str]:
    """Renew the leases this worker holds and take the expired ones among `sites`. A conditional
    UPDATE: on PostgreSQL a second worker's UPDATE of the same row waits for the first to commit, then
    finds the lease no longer expired and leaves it."""
    sites = sorted(sites)  # rows locked in one order by every worker: no deadlock between two
    if not sites:
        return set()
    statement = (
        update(SiteLease)
        .where(
            SiteLease.site_id.in_(sites),
            or_(SiteLease.worker_id == worker_id, SiteLease.leased_until < now),
        )
        .values(
            # `acquired_at` records when this worker took the lease; a renewal keeps it (SET reads the
            # row as it was, whatever the order of the assignments).
            acquired_at=case((SiteLease.worker_id == worker_id, SiteLease.acquired_at), else_=now),
            worker_id=worker_id,
            leased_until=until,
        )
        .returning(SiteLease.site_id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))


def _take_new(
    session: Session, worker_id: str, sites: Iterable[str], now: datetime, until: datetime
) -> set[str]:
    """Leases of sites nobody holds yet: whoever inserts the row first has it."""
    rows = [  # in one order by every worker, so two inserting the same sites never deadlock
        {"site_id": site, "worker_id": worker_id, "leased_until": until, "acquired_at": now}
        for site in sorted(sites)
    ]
    if not rows:
        return set()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(SiteLease)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[SiteLease.site_id])
        .returning(SiteLease.site_id)
    )
    return set(session.scalars(statement))


def _forget_dead_workers(session: Session, now: datetime) -> None:
    gone = select(WorkerProcess.id).where(WorkerProcess.heartbeat_at < now - FORGET_AFTER)
    session.execute(delete(SiteLease).where(SiteLease.worker_id.in_(gone)))
    session.execute(delete(WorkerProcess).where(WorkerProcess.heartbeat_at < now - FORGET_AFTER))


@dataclass
class SqlLeases:
    """The worker's leases on its database (workers/leasing.py `Leases`)."""

    sessions: sessionmaker[Session]
    times: LeaseTimes = field(default_factory=LeaseTimes)
    sole: bool = False  # SQLite: the only worker there can be (storage/worker_lock.py)
    version: str = ""  # of jirabridge, shown by `jirabridge status`
    started_at: datetime | None = None

    def beat(
        self,
        *,
        worker_id: str,
        now: datetime,
        busy_sites: Collection[str],
        running_ops: Collection[str],
        op_lease_s: float,
        stopping: bool,
    ) -> Beat:
        if self.started_at is None:
            self.started_at = now
        me = WorkerInfo(id=worker_id, pid=os.getpid(), version=self.version, started_at=self.started_at)
        return heartbeat(
            self.sessions,
            me=me,
            now=now,
            times=self.times,
            busy_sites=busy_sites,
            running_ops=running_ops,
            op_lease_s=op_lease_s,
            stopping=stopping,
            sole=self.sole,
        )

    def leave(self, worker_id: str) -> None:
        leave(self.sessions, worker_id)

    def backlogs(self, sites: Collection[str], now: datetime) -> dict[str, SiteBacklog]:
        with self.sessions() as session:
            return site_backlogs(session, now, sites)


# -- what `jirabridge status` and the metrics show -----------------------------------------------------


@dataclass(frozen=True)
class SiteBacklog:
    due: int  # pending operations whose time has come
    oldest_due_s: float  # how long the longest-waiting of them has waited (0: none)


def site_backlogs(
    session: Session, now: datetime, sites: Collection[str] | None = None
) -> dict[str, SiteBacklog]:
    """Per site, the due pending operations and the age of the oldest (sites with none are absent)."""
    now = as_utc(now)
    query = (
        select(Operation.site_id, func.count(), func.min(Operation.run_after))
        .where(Operation.status == PENDING, Operation.run_after <= now, Operation.site_id.is_not(None))
        .group_by(Operation.site_id)
    )
    if sites is not None:
        query = query.where(Operation.site_id.in_(list(sites)))
    return {
        str(site): SiteBacklog(int(count), max(0.0, (now - as_utc(oldest)).total_seconds()))
        for site, count, oldest in session.execute(query)
    }


@dataclass(frozen=True)
class WorkerStatus:
    id: str
    hostname: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool  # heartbeat younger than `dead_after_s`
    stopping: bool
    sites: int
    running: int  # operations it runs now


@dataclass(frozen=True)
class SiteStatus:
    id: str
    url: str
    status: str
    owner: str | None  # the worker holding a lease that has not expired
    due: int
    oldest_due_s: float


@dataclass(frozen=True)
class Status:
    workers: list[WorkerStatus]
    sites: list[SiteStatus]


def status(session: Session, now: datetime, times: LeaseTimes = LeaseTimes()) -> Status:
    """`jirabridge status`: the workers, the sites they own, and each site's backlog and lag."""
    now = as_utc(now)
    owners = {
        lease.site_id: lease.worker_id
        for lease in session.scalars(select(SiteLease).where(SiteLease.leased_until >= now))
    }
    running = dict(
        session.execute(
            select(Operation.lease_owner, func.count())
            .where(Operation.status == RUNNING, Operation.lease_owner.is_not(None))
            .group_by(Operation.lease_owner)
        ).all()
    )
    owned: dict[str, int] = {}
    for worker_id in owners.values():
        owned[worker_id] = owned.get(worker_id, 0) + 1
    alive_since = now - timedelta(seconds=times.dead_after_s)
    workers = [
        WorkerStatus(
            id=row.id,
            hostname=row.hostname,
            pid=row.pid,
            version=row.version,
            started_at=as_utc(row.started_at),
            heartbeat_at=as_utc(row.heartbeat_at),
            alive=as_utc(row.heartbeat_at) >= alive_since,
            stopping=row.stopping,
            sites=owned.get(row.id, 0),
            running=int(running.get(row.id, 0)),
        )
        for row in session.scalars(select(WorkerProcess).order_by(WorkerProcess.started_at, WorkerProcess.id))
    ]
    backlogs = site_backlogs(session, now)
    has_work = exists().where(Operation.site_id == Site.id, Operation.status.in_(OUTSTANDING))
    sites = [
        SiteStatus(
            id=site.id,
            url=site.url,
            status=site.status,
            owner=owners.get(site.id),
            due=backlogs[site.id].due if site.id in backlogs else 0,
            oldest_due_s=backlogs[site.id].oldest_due_s if site.id in backlogs else 0.0,
        )
        for site in session.scalars(
            select(Site).where(or_(Site.status != "disconnected", has_work)).order_by(Site.url, Site.id)
        )
    ]
    return Status(workers, sites)


@dataclass(frozen=True)
class Ownership:
    workers_alive: int  # heartbeat younger than `dead_after_s`, and not stopping
    sites_without_worker: int  # sites to lease that no unexpired lease covers


def ownership(session: Session, now: datetime, times: LeaseTimes = LeaseTimes()) -> Ownership:
    """For the service's /metrics: are the workers there, and does each site have one?"""
    now = as_utc(now)
    alive = session.scalar(
        select(func.count()).where(
            WorkerProcess.heartbeat_at >= now - timedelta(seconds=times.dead_after_s),
            WorkerProcess.stopping.is_(False),
        )
    )
    has_work = exists().where(Operation.site_id == Site.id, Operation.status.in_(OUTSTANDING))
    owned = exists().where(SiteLease.site_id == Site.id, SiteLease.leased_until >= now)
    unowned = session.scalar(
        select(func.count()).select_from(Site).where(or_(Site.status != "disconnected", has_work), ~owned)
    )
    return Ownership(int(alive or 0), int(unowned or 0))
