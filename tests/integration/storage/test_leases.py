"""Site leases and the fair claim on a real SQLite file and a real PostgreSQL (storage/leases.py,
storage/outbox.py `claim`): which worker may call each site, and what each worker claims.

Times come from an explicit `now` (no sleeping, no timing assertion)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Done, Job
from jirabridge.domain.site_urls import site_address
from jirabridge.storage import leases, outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.leases import Beat, LeaseTimes, WorkerInfo
from jirabridge.storage.tables import Operation, Site, SiteLease, WorkerProcess
from support.rows import a_lease, a_site, a_worker, a_workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMES = LeaseTimes(heartbeat_s=3, dead_after_s=10, lease_ttl_s=10)
SITES = [f"st_{n:02d}" for n in range(12)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def worker(name: str) -> WorkerInfo:
    return WorkerInfo(id=name, pid=1, version="test", started_at=T0, hostname="host")


def url_of(site_id: str) -> str:
    return f"https://{site_id}.atlassian.net"


def target(site_id: str, workers: list[str]) -> str | None:
    """The worker a site of the fixture belongs with: its address's rendezvous target."""
    return leases.target_of(site_address(url_of(site_id)), workers)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        session.add(a_workspace("ws_a", at=T0))
        session.flush()
        for site_id in SITES:
            session.add(a_site("ws_a", site_id, url=url_of(site_id), at=T0, webhook_token=f"tok-{site_id}"))
        session.commit()
    yield factory
    engine.dispose()


def beat(
    sessions: sessionmaker[Session],
    name: str,
    seconds: float,
    *,
    busy: set[str] | None = None,
    stopping: bool = False,
) -> Beat:
    return leases.heartbeat(
        sessions, me=worker(name), now=at(seconds), times=TIMES, busy_sites=busy or set(), stopping=stopping
    )


def holders(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {lease.site_id: lease.worker_id for lease in session.scalars(select(SiteLease))}


def add(sessions: sessionmaker[Session], site: str | None, key: str, seconds: float = 0) -> str:
    with sessions() as session:
        op = Unknown("jira.comment", {"key": key}, ordering=key, site_id=site)
        operation = outbox.enqueue(session, op, workspace_id="ws_a", now=at(seconds))
        session.commit()
        return operation


def claim(
    sessions: sessionmaker[Session], name: str, seconds: float, sites: frozenset[str] | None, limit: int = 50
) -> list[Job]:
    return outbox.claim(sessions, worker_id=name, now=at(seconds), limit=limit, lease_s=12, sites=sites)


def test_a_lone_worker_owns_every_connected_site_and_disconnected_ones_only_while_they_have_work(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        session.get_one(Site, "st_00").status = "disconnected"
        session.get_one(Site, "st_01").status = "disconnected"
        session.commit()
    add(sessions, "st_01", "WEB-1")  # e.g. the removal of the disconnected site's webhook

    first = beat(sessions, "w1", 0)

    assert first.active == first.held == first.acquired == frozenset(SITES) - {"st_00"}
    assert first.live_workers == 1


def test_two_workers_split_the_sites_and_each_site_has_one_owner(sessions: sessionmaker[Session]) -> None:
    beat(sessions, "w1", 0)
    joined = beat(sessions, "w2", 1)
    # w1 still holds everything: w2 takes nothing until w1 has let go.
    assert joined.held == frozenset()

    released = beat(sessions, "w1", 3)
    taken = beat(sessions, "w2", 4)

    assert released.released == taken.acquired != frozenset()
    assert released.held | taken.held == frozenset(SITES)
    assert not released.held & taken.held
    # Both workers compute the same owner for every site (rendezvous hashing).
    assert holders(sessions) == {site: target(site, ["w1", "w2"]) for site in SITES}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_heartbeats_never_give_a_site_to_two_workers(sessions: sessionmaker[Session]) -> None:
    names = ["w1", "w2", "w3"]
    seen: list[tuple[int, str, Beat]] = []
    for round_ in range(12):
        # Every fourth round comes after all leases ran out, so every worker races for every site.
        seconds = round_ * 3 + (round_ // 4) * 20
        gate = threading.Barrier(len(names))

        def one(
            name: str, seconds: float = seconds, round_: int = round_, gate: threading.Barrier = gate
        ) -> None:
            gate.wait()
            seen.append((round_, name, beat(sessions, name, seconds)))

        threads = [threading.Thread(target=one, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for round_ in range(12):
        held = [b.held for r, _, b in seen if r == round_]
        assert len(held) == 3
        counts = Counter(site for sites in held for site in sites)
        assert all(count == 1 for count in counts.values()), f"round {round_}: {counts}"
    assert set(holders(sessions)) == set(SITES)


def test_a_dead_workers_sites_go_to_another_once_its_leases_expire(sessions: sessionmaker[Session]) -> None:
    beat(sessions, "w1", 0)
    beat(sessions, "w2", 1)
    beat(sessions, "w1", 3)
    beat(sessions, "w2", 4)
    w1_sites = {site for site, owner in holders(sessions).items() if owner == "w1"}
    assert w1_sites

    # w1 is killed after its heartbeat at 3 s. Until its leases run out, its sites stay its own.
    assert not beat(sessions, "w2", 7).acquired & w1_sites
    assert not beat(sessions, "w2", 12).acquired & w1_sites
    # 10 s after its last heartbeat w1 is dead and its leases expired: w2 takes every site.
    after = beat(sessions, "w2", 13.5)
    assert after.acquired == w1_sites
    assert after.active == frozenset(SITES)
    assert after.live_workers == 1


def test_claim_takes_only_the_sites_leased_to_the_worker_and_operations_of_no_site(
    sessions: sessionmaker[Session],
) -> None:
    beat(sessions, "w1", 0)
    beat(sessions, "w2", 1)
    mine = beat(sessions, "w1", 3).active
    theirs = beat(sessions, "w2", 4).active
    site_a, site_b = sorted(mine)[0], sorted(theirs)[0]
    op_a, op_b, op_none = (
        add(sessions, site_a, "A-1"),
        add(sessions, site_b, "B-1"),
        add(sessions, None, "CB-1"),
    )

    # Asking for a site it does not hold gets nothing of it: the claim checks the lease in the database.
    claimed = {job.id for job in claim(sessions, "w1", 5, mine | {site_b})}
    assert claimed == {op_a, op_none}
    assert {job.id for job in claim(sessions, "w2", 5, theirs)} == {op_b}

    # A lease that expired (no heartbeat for 10 s) claims nothing any more.
    late = add(sessions, site_a, "A-2")
    assert [job.site_id for job in claim(sessions, "w1", 15, mine)] == []
    assert [job.id for job in claim(sessions, "w1", 15, None)] == [late]


def test_a_rebalance_moves_a_site_only_after_its_running_operations_finish(
    sessions: sessionmaker[Session],
) -> None:
    first = beat(sessions, "w1", 0)
    site = next(s for s in SITES if target(s, ["w1", "w2"]) == "w2")
    ops = [add(sessions, site, f"KEY-{n}") for n in range(3)]
    [running] = claim(sessions, "w1", 1, first.active, limit=1)

    beat(sessions, "w2", 2)  # w2 joins: the site's target is now w2
    draining = beat(sessions, "w1", 3, busy={site})
    assert site in draining.held and site not in draining.active
    # w1 claims nothing more of the site while it drains, and w2 cannot take it yet.
    assert claim(sessions, "w1", 3.5, draining.active) == []
    assert site not in beat(sessions, "w2", 4).held

    assert outbox.record(sessions, running, Done(), at(5), worker_id="w1") == outbox.DONE
    assert site in beat(sessions, "w1", 6).released
    taken = beat(sessions, "w2", 7)
    assert site in taken.active
    rest = claim(sessions, "w2", 8, taken.active)

    assert {job.id for job in rest} == set(ops) - {running.id}
    with sessions() as session:
        attempts = {op.id: op.attempts for op in session.scalars(select(Operation))}
    assert attempts == dict.fromkeys(ops, 1)  # no operation claimed twice


def test_a_stopping_worker_hands_its_sites_over_and_leaving_frees_them_at_once(
    sessions: sessionmaker[Session],
) -> None:
    beat(sessions, "w1", 0)
    beat(sessions, "w2", 1)
    beat(sessions, "w1", 3)
    beat(sessions, "w2", 4)
    w1_sites = {site for site, owner in holders(sessions).items() if owner == "w1"}
    busy = sorted(w1_sites)[0]

    # SIGTERM: w1 marks itself stopping and releases what it does not run; w2 takes those at once.
    stopping = beat(sessions, "w1", 5, busy={busy}, stopping=True)
    assert stopping.active == frozenset() and stopping.held == {busy}
    assert beat(sessions, "w2", 5.5).acquired == w1_sites - {busy}

    # Its last operation recorded, w1 leaves: w2 takes the rest well before the lease's expiry.
    leases.leave(sessions, "w1")
    assert beat(sessions, "w2", 6).acquired == {busy}
    with sessions() as session:
        assert session.scalars(select(WorkerProcess.id)).all() == ["w2"]


@pytest.mark.parametrize("leased", [True, False], ids=["leased", "every-site"])
def test_a_quiet_sites_change_is_claimed_next_whatever_the_backlog_of_another(
    sessions: sessionmaker[Session], leased: bool
) -> None:
    busy, quiet, backlog = "st_00", "st_01", 2000
    with sessions() as session:
        for n in range(backlog):
            op = Unknown("jira.comment", {}, ordering=f"BUSY-{n}", site_id=busy)
            outbox.enqueue(session, op, workspace_id="ws_a", now=T0)
        session.commit()
    change = add(sessions, quiet, "QUIET-1", seconds=1)
    callback = add(sessions, None, "CB-1", seconds=1)

    # With leases (`jirabridge worker`) or without (in-process workers), the claim is as fair.
    sites = beat(sessions, "w1", 2).active if leased else None
    claimed = claim(sessions, "w1", 2, sites, limit=10)

    assert change in {job.id for job in claimed} and callback in {job.id for job in claimed}
    assert Counter(job.site_id for job in claimed) == {busy: 8, quiet: 1, None: 1}


def test_a_site_holding_the_workers_slots_goes_after_one_that_holds_none(
    sessions: sessionmaker[Session],
) -> None:
    busy, quiet = "st_00", "st_01"
    older = add(sessions, busy, "BUSY-1", seconds=0)
    change = add(sessions, quiet, "QUIET-1", seconds=1)
    held = beat(sessions, "w1", 2).active

    # The busy site's operation is older, but 5 of its operations already run in this worker.
    [first] = outbox.claim(
        sessions, worker_id="w1", now=at(2), limit=1, lease_s=12, sites=held, in_flight={busy: 5}
    )
    [second] = claim(sessions, "w1", 2, held, limit=1)

    assert (first.id, second.id) == (change, older)


def test_a_site_with_its_cap_in_flight_gets_nothing_more_while_the_others_do(
    sessions: sessionmaker[Session],
) -> None:
    busy, quiet = "st_00", "st_01"
    backlog = [add(sessions, busy, f"BUSY-{n}", seconds=0) for n in range(3)]
    change = add(sessions, quiet, "QUIET-1", seconds=1)
    held = beat(sessions, "w1", 2).active

    # 4 of the busy site's operations run in this worker already: its cap. Slots are left for more.
    claimed = outbox.claim(
        sessions, worker_id="w1", now=at(2), limit=10, lease_s=12, sites=held, in_flight={busy: 4}, site_cap=4
    )
    below_cap = outbox.claim(
        sessions, worker_id="w1", now=at(2), limit=10, lease_s=12, sites=held, in_flight={busy: 2}, site_cap=4
    )

    assert [job.id for job in claimed] == [change]
    assert [job.id for job in below_cap] == backlog[:2]  # up to the cap, oldest first


def test_status_lists_workers_their_sites_and_each_sites_lag(sessions: sessionmaker[Session]) -> None:
    add(sessions, "st_03", "WEB-1", seconds=0)
    add(sessions, "st_03", "WEB-2", seconds=0)
    active = beat(sessions, "w1", 0).active
    [running] = claim(sessions, "w1", 0.5, active, limit=1)
    beat(sessions, "w2", 4)

    with sessions() as session:
        now = leases.status(session, at(5), TIMES)
        later = leases.status(session, at(12), TIMES)

    w1, w2 = now.workers
    assert (w1.id, w1.alive, w1.sites, w1.running) == ("w1", True, len(SITES), 1)
    assert (w2.id, w2.alive, w2.sites, w2.running) == ("w2", True, 0, 0)
    site = next(s for s in now.sites if s.id == "st_03")
    assert (site.owner, site.due, site.oldest_due_s) == ("w1", 1, 5.0)
    assert running.site_id == "st_03"
    # 12 s after its last heartbeat w1 shows dead, and its sites have no owner until w2 takes them.
    assert [(w.id, w.alive) for w in later.workers] == [("w1", False), ("w2", True)]
    assert {s.owner for s in later.sites} == {None}


def test_on_sqlite_the_sole_worker_takes_a_killed_workers_sites_at_once(
    sessions: sessionmaker[Session],
) -> None:
    beat(sessions, "w1", 0)  # then killed: its leases run until 10 s

    restarted = leases.heartbeat(sessions, me=worker("w2"), now=at(1), times=TIMES, sole=True)

    assert restarted.active == frozenset(SITES)
    with sessions() as session:
        assert session.scalars(select(WorkerProcess.id)).all() == ["w2"]


# -- one Jira site connected in two workspaces: every connection of an address goes to one worker -----

SHARED = SITES[:6]  # the Jira sites workspace ws_b connects too


def twin_of(site_id: str) -> str:
    return "sb_" + site_id.removeprefix("st_")


def connect_again(sessions: sessionmaker[Session], sites: list[str] = SHARED) -> list[str]:
    """Workspace ws_b connects the Jira sites of `sites` too: one more row each, at the same address."""
    with sessions() as session:
        session.add(a_workspace("ws_b", at=T0))
        session.flush()
        for site_id in sites:
            twin = twin_of(site_id)
            session.add(a_site("ws_b", twin, url=url_of(site_id), at=T0, webhook_token=f"tok-{twin}"))
        session.commit()
    return [twin_of(site_id) for site_id in sites]


def holders_by_address(sessions: sessionmaker[Session]) -> dict[str, set[str]]:
    """Per Jira site address, the workers holding a lease of one of its connections."""
    found: dict[str, set[str]] = {}
    with sessions() as session:
        rows = session.execute(
            select(Site.url, SiteLease.worker_id).join(SiteLease, SiteLease.site_id == Site.id)
        )
        for url, worker_id in rows:
            found.setdefault(site_address(url), set()).add(worker_id)
    return found


def one_worker_per_address(sessions: sessionmaker[Session]) -> bool:
    return all(len(workers) == 1 for workers in holders_by_address(sessions).values())


def test_the_connections_of_one_jira_site_in_two_workspaces_go_to_one_worker(
    sessions: sessionmaker[Session],
) -> None:
    twins = connect_again(sessions)

    beat(sessions, "w1", 0)
    beat(sessions, "w2", 1)
    released = beat(sessions, "w1", 3)
    taken = beat(sessions, "w2", 4)

    # Each address's connections are held by the one worker its address hashes to, both claimable.
    assert holders_by_address(sessions) == {
        site_address(url_of(site)): {target(site, ["w1", "w2"])} for site in SITES
    }
    for site in SHARED:
        owner = released if target(site, ["w1", "w2"]) == "w1" else taken
        assert {site, twin_of(site)} <= owner.active
    assert set(holders(sessions)) == {*SITES, *twins}
    # Different addresses still spread over the workers.
    assert {target(site, ["w1", "w2"]) for site in SITES} == {"w1", "w2"}
    assert released.active and taken.active
    # `jirabridge status` lists each connection with its owner: one address, one owner.
    with sessions() as session:
        report = leases.status(session, at(5), TIMES)
    owners: dict[str, set[str | None]] = {}
    for row in report.sites:
        owners.setdefault(site_address(row.url), set()).add(row.owner)
    assert owners == {site_address(url_of(site)): {target(site, ["w1", "w2"])} for site in SITES}
    assert sum(w.sites for w in report.workers) == len(SITES) + len(twins)


def test_a_rebalance_moves_an_addresss_connections_together_once_none_of_them_runs_an_operation(
    sessions: sessionmaker[Session],
) -> None:
    connect_again(sessions)
    first = beat(sessions, "w1", 0)  # alone: w1 holds every connection
    site = next(s for s in SHARED if target(s, ["w1", "w2"]) == "w2")
    twin = twin_of(site)
    add(sessions, site, "A-1")
    [running] = claim(sessions, "w1", 1, first.active, limit=1)
    later = add(sessions, twin, "B-1")

    beat(sessions, "w2", 2)  # w2 joins: the address's target is now w2
    draining = beat(sessions, "w1", 3, busy={site})
    # w1 keeps the connection whose operation runs, lets the other go at once, claims for neither.
    assert site in draining.held and twin in draining.released
    assert not {site, twin} & draining.active
    # The twin's lease is free, but w2 takes no connection of the address while w1 holds one.
    joined = beat(sessions, "w2", 4)
    assert not {site, twin} & joined.held
    assert one_worker_per_address(sessions)
    assert claim(sessions, "w2", 4.5, joined.active | {twin}) == []

    assert outbox.record(sessions, running, Done(), at(5), worker_id="w1") == outbox.DONE
    assert site in beat(sessions, "w1", 6).released
    taken = beat(sessions, "w2", 7)
    assert {site, twin} <= taken.acquired and {site, twin} <= taken.active
    assert one_worker_per_address(sessions)
    assert [job.id for job in claim(sessions, "w2", 8, taken.active)] == [later]


def test_a_stopping_worker_keeps_every_connection_of_a_jira_site_it_runs_an_operation_on_from_the_others(
    sessions: sessionmaker[Session],
) -> None:
    twins = connect_again(sessions)
    beat(sessions, "w1", 0)  # alone: w1 holds every connection
    beat(sessions, "w2", 1)
    busy = SHARED[0]

    # SIGTERM: w1 keeps the connection it runs an operation on and lets the rest go; w2 takes every
    # Jira site but that one, whose other connection waits with it.
    beat(sessions, "w1", 2, busy={busy}, stopping=True)
    taken = beat(sessions, "w2", 2.5)
    assert taken.acquired == {*SITES, *twins} - {busy, twin_of(busy)}
    assert one_worker_per_address(sessions)

    leases.leave(sessions, "w1")
    assert beat(sessions, "w2", 3).acquired == {busy, twin_of(busy)}


def test_a_worker_claims_for_no_connection_of_an_address_whose_other_connection_another_holds(
    sessions: sessionmaker[Session],
) -> None:
    # E.g. a worker of an earlier release, which leased each connection on its own, still holds one.
    connect_again(sessions)
    beat(sessions, "w1", 0)
    beat(sessions, "w0", 0.5)  # live, and holds nothing: every lease is w1's
    site = next(s for s in SHARED if target(s, ["w0", "w1"]) == "w1")
    twin = twin_of(site)
    with sessions() as session:
        session.get_one(SiteLease, twin).worker_id = "w0"
        session.commit()

    blocked = beat(sessions, "w1", 1)
    assert site in blocked.held and not {site, twin} & blocked.active
    assert twin not in blocked.held

    with sessions() as session:  # the other lets go
        session.delete(session.get_one(SiteLease, twin))
        session.commit()
    freed = beat(sessions, "w1", 2)
    assert {site, twin} <= freed.active


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_heartbeats_never_give_one_address_to_two_workers(sessions: sessionmaker[Session]) -> None:
    connect_again(sessions, SITES)  # every address has two connections
    # w3 joins at round 4 and w1 stops beating after round 7 (killed): addresses move both ways.
    rounds = [["w1", "w2"]] * 4 + [["w1", "w2", "w3"]] * 4 + [["w2", "w3"]] * 4
    seen: list[tuple[int, Beat]] = []
    for round_, names in enumerate(rounds):
        # Every fourth round comes after all leases ran out, so every worker races for every site.
        seconds = round_ * 3 + (round_ // 4) * 20
        gate = threading.Barrier(len(names))

        def one(
            name: str, seconds: float = seconds, round_: int = round_, gate: threading.Barrier = gate
        ) -> None:
            gate.wait()
            seen.append((round_, beat(sessions, name, seconds)))

        threads = [threading.Thread(target=one, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert one_worker_per_address(sessions), f"round {round_}: {holders_by_address(sessions)}"

    for round_, names in enumerate(rounds):
        held = [b.held for r, b in seen if r == round_]
        assert len(held) == len(names)
        addresses = Counter(
            address for sites in held for address in {site_address(url_of("st_" + s[3:])) for s in sites}
        )
        assert all(count == 1 for count in addresses.values()), f"round {round_}: {addresses}"
    assert holders_by_address(sessions) == {
        site_address(url_of(site)): {target(site, ["w2", "w3"])} for site in SITES
    }


def wait_until_blocked(sessions: sessionmaker[Session], locktype: str) -> None:
    """Until a transaction waits for a lock of `locktype` (PostgreSQL's pg_locks)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sessions() as session:
            waiting = session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = :type"),
                {"type": locktype},
            )
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError(f"no transaction waited for a {locktype} lock")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_take_waits_for_the_take_before_it_and_sees_what_it_took(sessions: sessionmaker[Session]) -> None:
    connect_again(sessions)
    site = next(s for s in SHARED if target(s, ["w1", "w2"]) == "w2")
    with sessions() as session:
        session.add(a_worker("w1", at=at(0)))
        session.commit()
    result: list[Beat] = []

    with sessions() as other, other.begin():
        # w1 takes its turn first: it saw the workers before w2 joined, so it takes one connection
        # of an address that is now w2's.
        other.execute(select(func.pg_advisory_xact_lock(leases.TAKE_LOCK)))
        thread = threading.Thread(target=lambda: result.append(beat(sessions, "w2", 1)))
        thread.start()
        wait_until_blocked(sessions, "advisory")  # w2 read the leases, and waits for its turn
        other.add(a_lease(site, "w1", at=at(1)))
    thread.join()

    [joined] = result
    assert joined.acquired  # w2 took the other addresses it is owed, and no connection of that one
    assert not {site, twin_of(site)} & joined.held
    assert one_worker_per_address(sessions)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_address_being_renewed_is_not_taken_even_if_its_lease_looks_expired(
    sessions: sessionmaker[Session],
) -> None:
    beat(sessions, "w1", 0)  # w1 holds every site until 10 s
    connect_again(sessions)  # then ws_b connects the same Jira sites: their leases are free
    site = next(s for s in SHARED if target(s, ["w1", "w2"]) == "w1")
    result: list[Beat] = []

    with sessions() as renewal, renewal.begin():
        # w1's heartbeat renews its leases (at 9.9 s by its clock) ...
        renewal.execute(update(SiteLease).where(SiteLease.worker_id == "w1").values(leased_until=at(19.9)))
        # ... while w2, at 10.5 s by its own, finds w1 dead and its leases expired.
        thread = threading.Thread(target=lambda: result.append(beat(sessions, "w2", 10.5)))
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()  # a take does not wait for a renewal
    thread.join()

    [late] = result
    assert not {site, twin_of(site)} & late.held  # the address stays w1's: w2 tries again later
    assert one_worker_per_address(sessions)
    assert beat(sessions, "w1", 11).active >= {site, twin_of(site)}
