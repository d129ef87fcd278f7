"""Two `jirabridge worker` processes on PostgreSQL share the Jira sites by lease; one is killed with
SIGKILL in the middle of the run, the other takes its sites, and every change the host pushed is in
Jira (the emulator's state) exactly once."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest
from bench._landed import count_landed, describe
from bench._stack import (
    Stack,
    StackOptions,
    bench_seed,
    insert_linked_items,
    seeded_issues,
    site_names,
    task_type_id,
)
from bench._workload import plan, push
from sqlalchemy import select

from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Operation, SiteLease

pytestmark = pytest.mark.e2e

# Short lease times so the test is short; `jirabridge worker`'s defaults are 3 s, 10 s and 12 s.
LEASES = ("--heartbeat-s", "0.3", "--dead-after-s", "2")


def owners(database_url: str) -> Counter[str]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return Counter(session.scalars(select(SiteLease.worker_id)))
    finally:
        engine.dispose()


def done_count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return len(session.scalars(select(Operation.id).where(Operation.status == "done")).all())
    finally:
        engine.dispose()


def wait_for(condition: object, what: str, timeout_s: float = 60) -> None:
    """Wait for a step the test needs (not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_killed_workers_sites_move_to_the_other_and_every_change_lands_once(database_url: str) -> None:
    sites = site_names(6)
    options = StackOptions(
        latency_ms=100, rate_limit=50, database_url=database_url, lease_s=2.0, poll_s=0.05, concurrency=6
    )
    with Stack(options) as stack:
        stack.start_emulator(bench_seed(sites, issues=8))
        stack.start_service()
        tenant = stack.seed_tenant(sites)
        base = {}
        for site in sites:
            issues = seeded_issues(stack.emulator_state(), site)
            items = insert_linked_items(
                stack.database_url,
                tenant.workspace_id,
                tenant.sites[site],
                issues,
                prefix=site,
                issue_type_id=task_type_id(stack, site),
            )
            base[site] = [(item, key) for item, (key, _) in zip(items, issues, strict=True)]
        changes = plan(120, {"comment": 0.7, "status": 0.3}, base, random.Random(7), one_status_each=False)

        workers = [stack.start_worker(*LEASES) for _ in range(2)]
        wait_for(lambda: sum(owners(database_url).values()) == len(sites), "every site to have an owner")
        pushed = push(stack, tenant, changes)
        assert not pushed.refused
        wait_for(lambda: done_count(database_url) >= 20, "the run to be under way")

        # Kill the worker that owns the most sites, in the middle of its work.
        counts = owners(database_url)
        victim = max(workers, key=lambda w: sum(n for o, n in counts.items() if f":{w.pid}:" in o))
        survivor = next(w for w in workers if w is not victim)
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait()

        stack.wait_drained(timeout_s=60, include_periodic=False)
        # The survivor owns every site now.
        assert [owner for owner in owners(database_url) if f":{survivor.pid}:" not in owner] == []
        landed = count_landed(stack.emulator_state(), base, pushed.changes)
        # SIGTERM: the survivor stops cleanly and gives up its sites: none is left leased.
        survivor.stop()
        assert survivor.popen.returncode == 0
        assert owners(database_url) == Counter()

    summary = describe(landed)
    assert landed.total("missing") == 0, summary
    assert landed.total("duplicated") == 0, summary
    assert landed.total("once") == len(pushed.changes), summary
