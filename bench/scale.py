"""Scale-out on PostgreSQL: several workers, many sites, a worker killed, one site's backlog.

    python -m bench.scale                 # the whole run: matrix, kill test, fairness run
    python -m bench.scale --quick         # the same, smaller (the matrix in about 9 minutes on 2 cores)
    python -m bench.scale --only matrix --workers 1,2 --sites 20

Each part starts a throwaway PostgreSQL server as the tests do (bench/_postgres.py), and each run gets
a fresh database on it, the Jira emulator (a per-site limit, 250 ms per call), `jirabridge serve` and
`jirabridge worker` processes, all on this machine.

1. **Matrix**: 1, 2 and 4 workers x 1, 20 and 100 sites. Per cell, the outbound benchmark
   (bench/outbound.py): aggregate Jira calls/s and their share of the summed ceiling (sites x the
   per-site limit), 429s, calls per change, CPU per change of each process (each worker, serve,
   PostgreSQL, the emulator) and what landed in Jira (exactly once / missing / duplicated). No worker
   is told a share of the limit: each is told the site's whole limit, as an operator would.
2. **Kill test**: two workers; one is killed with SIGKILL once 30 % of the operations are done. Printed:
   how long until each site the dead worker was serving has an operation finished again, until no
   operation is still leased to it, until every operation it held finished; and what landed.
3. **Fairness run**: one site with a backlog, and quiet sites getting a comment every second each while
   it drains: p50/p99 of the quiet comments' latency, from the API's answer to the comment's creation
   time in the emulator, and the busy site's calls/s against its limit.

The per-site limit is 50/s with one site; with 20 and 100 sites it is lowered (`--rate-limit-many`,
5/s) so the summed ceiling (100/s, 500/s) is nearer what processes sharing two cores can drive: at
50/s the cells would only show our CPU. The output says which limit each cell had.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._figures import CpuRow, cpu_table, percentile
from bench._landed import Landed, count_landed, describe
from bench._postgres import Postgres, postgres
from bench._stack import (
    BIN,
    Proc,
    Stack,
    StackOptions,
    Tenant,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
    task_type_id,
)
from bench._workload import Change, connect_worklog_user, counts, default_mix, plan, push
from bench.outbound import OutboundResult, Samples, run_outbound
from jirabridge.workers.runner import DEFAULT_CONCURRENCY

TARGET_429_SHARE = 0.01
TARGET_QUIET_P99_S = 2.0
TARGET_TAKEOVER_S = 15.0


@dataclass(frozen=True)
class Sizes:
    changes: int  # per matrix cell
    kill_changes: int
    backlog: int  # the busy site's, in the fairness run


FULL = Sizes(changes=3000, kill_changes=3000, backlog=10_000)
QUICK = Sizes(changes=500, kill_changes=1200, backlog=2000)


# -- the matrix ---------------------------------------------------------------------------------------


@dataclass
class Cell:
    workers: int
    sites: int
    limit: int  # the emulator's per-site limit, requests/s
    result: OutboundResult
    wall_s: float

    @property
    def ceiling(self) -> float:
        return float(self.sites * self.limit)

    @property
    def calls_per_s(self) -> float:
        """Every answer, 429s included: what the workers asked of Jira."""
        r = self.result
        return r.total_calls / r.drain_s if r.drain_s else 0.0

    @property
    def accepted_per_s(self) -> float:
        """The calls Jira did not refuse with 429: what counts against the ceiling."""
        r = self.result
        return (r.total_calls - r.calls.get("429", 0.0)) / r.drain_s if r.drain_s else 0.0

    def cpu_rows(self) -> list[CpuRow]:
        r = self.result
        rows = [CpuRow(f"worker {n}", None, w.cpu_s) for n, w in enumerate(r.workers)]
        rows.append(CpuRow("serve", r.service_cpu_ingest_s, r.service_cpu_sync_s))
        rows.append(CpuRow("PostgreSQL", r.database_cpu_ingest_s, r.database_cpu_sync_s))
        rows.append(CpuRow("emulator", None, r.emulator_cpu_s))
        return rows

    def worker_ms(self) -> list[float]:
        return [1000 * w.cpu_s / max(self.result.changes, 1) for w in self.result.workers]


def run_cell(pg: Postgres, args: argparse.Namespace, workers: int, sites: int, changes: int) -> Cell:
    many = sites > 1
    limit = args.rate_limit_many if many else args.rate_limit
    url = pg.fresh_database("cell")
    options = StackOptions(
        latency_ms=args.latency_ms,
        rate_limit=limit,
        # Many sites need more in flight (as bench/many_sites.py): a site's calls wait for its pacing.
        concurrency=128 if many else DEFAULT_CONCURRENCY,
        connections=64 if many else 32,
        database_url=url,
        keep=args.keep,
        emulator_nice=args.emulator_nice,
    )
    began = time.monotonic()
    try:
        result = run_outbound(
            options, changes=changes, mix=None, sites=sites, workers=workers, database_cpu=pg.cpu_s
        )
    finally:
        pg.drop_database(url)
    return Cell(workers, sites, limit, result, time.monotonic() - began)


def describe_cell(cell: Cell) -> list[str]:
    r = cell.result
    landed = r.landed.as_json() if r.landed else {}
    sustained = r.sustained_calls_per_s
    lines = [
        f"-- {cell.workers} worker(s) x {cell.sites} site(s), {cell.limit}/s per site "
        f"(ceiling {cell.ceiling:g} calls/s); {r.changes} changes pushed in {r.ingest_s:.1f} s, synced in "
        f"{r.drain_s:.1f} s (cell took {cell.wall_s:.0f} s)",
        f"  Jira calls/s {cell.calls_per_s:.1f}, not refused {cell.accepted_per_s:.1f} = "
        f"{cell.accepted_per_s / cell.ceiling:.0%} of the ceiling"
        + (
            f"; sustained (429s included) {sustained:.1f} = {sustained / cell.ceiling:.0%}"
            if sustained is not None
            else "; sustained: - (too short to tell)"
        ),
        f"  429s {r.share_429:.2%} of {r.total_calls:.0f} calls; "
        f"{r.total_calls / max(r.changes, 1):.2f} calls per change; "
        f"landed once {landed.get('once', '-')}, missing {landed.get('missing', '-')}, "
        f"duplicated {landed.get('duplicated', '-')}; failed for good {r.failed_operations:g}",
        *cpu_table(cell.cpu_rows(), r.changes, r.drain_s),
    ]
    if r.landed is not None and r.landed.examples:
        lines.extend(f"  e.g. {e}" for e in r.landed.examples)
    return lines


def matrix_table(cells: Sequence[Cell]) -> list[str]:
    head = (
        f"{'workers':>7} {'sites':>5} {'limit':>5} {'ceiling':>7} {'calls/s':>7} {'not429':>6} "
        f"{'%ceil':>5} {'429':>6} {'c/chg':>5} {'worker ms/chg (each)':>22} {'serve':>6} "
        f"{'pg':>5} {'emu':>5}  landed once/missing/dup"
    )
    lines = [head]
    for c in cells:
        r = c.result
        per = 1000 / max(r.changes, 1)
        database = (r.database_cpu_ingest_s or 0.0) + (r.database_cpu_sync_s or 0.0)
        landed = r.landed.as_json() if r.landed else {}
        lines.append(
            f"{c.workers:>7} {c.sites:>5} {c.limit:>5} {c.ceiling:>7g} {c.calls_per_s:>7.1f} "
            f"{c.accepted_per_s:>6.1f} {c.accepted_per_s / c.ceiling:>5.0%} {r.share_429:>6.2%} "
            f"{r.total_calls / max(r.changes, 1):>5.2f} "
            f"{' '.join(f'{ms:.1f}' for ms in c.worker_ms()):>22} "
            f"{(r.service_cpu_ingest_s + r.service_cpu_sync_s) * per:>6.2f} {database * per:>5.2f} "
            f"{r.emulator_cpu_s * per:>5.2f}  "
            f"{landed.get('once', '-')}/{landed.get('missing', '-')}/{landed.get('duplicated', '-')}"
        )
    return lines


# -- shared set-up of the kill test and the fairness run ------------------------------------------------


@dataclass
class World:
    stack: Stack
    emulator: Proc
    service: Proc
    tenant: Tenant
    base: dict[str, list[tuple[str, str]]]  # site -> [(item, issue key)] linked before the run
    mix: dict[str, float]


def build_world(stack: Stack, names: Sequence[str], base_per_site: int) -> World:
    """The emulator with `base_per_site` issues on each site, the service, a tenant with every site,
    and the issues linked to host items straight in the database (setup, not measured)."""
    emulator = stack.start_emulator(bench_seed(names, issues=base_per_site))
    with stack.setting_up():
        service = stack.start_service()
        mix = default_mix(stack)
        tenant = stack.seed_tenant(names)
        if "worklog" in mix:
            connect_worklog_user(stack, tenant)
        state = stack.emulator_state()
        base: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            issues = seeded_issues(state, name)[:base_per_site]
            ids = insert_linked_items(
                stack.database_url,
                tenant.workspace_id,
                tenant.sites[name],
                issues,
                prefix=f"base-{name}",
                issue_type_id=task_type_id(stack, name),
            )
            base[name] = [(item, key) for item, (key, _) in zip(ids, issues, strict=True)]
    return World(stack, emulator, service, tenant, base, mix)


def start_workers(stack: Stack, count: int) -> list[Proc]:
    procs = [stack.start_worker(wait=False) for _ in range(count)]
    for proc in procs:
        stack._wait_http(proc, f"http://127.0.0.1:{proc.port}/metrics")
    return procs


def _engine(stack: Stack) -> Any:
    return stack._db()


def _site_outstanding(stack: Stack, site_id: str) -> int:
    """The site's operations pending or running, periodic rounds (polls, drift checks) left out."""
    from sqlalchemy import func, select

    from jirabridge.storage import schedules
    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).where(
                    Operation.site_id == site_id,
                    Operation.status.in_(("pending", "running")),
                    ~Operation.ordering_key.like(schedules.ORDERING_PREFIX + "%"),
                )
            )
            or 0
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# -- the kill test ----------------------------------------------------------------------------------


@dataclass
class KillResult:
    sites: int
    limit: int
    changes: int
    held: int  # operations the dead worker held at the kill
    held_sites: int  # the sites of those
    served_again_s: dict[str, float]  # site -> kill until an operation of it finished after the kill
    takeover_s: float | None  # kill until none of its operations is leased to it any more
    recovered_s: float | None  # kill until every operation it held finished
    killed_after_s: float
    drain_s: float
    calls: dict[str, float]  # the surviving worker's counters (the dead one's are gone with it)
    landed: Landed
    lease_s: float | None
    failed: int
    # From `jirabridge status --json`, when the workers lease sites: the sites the dead worker owned
    # and, per site, kill until another worker owned it (None: no site leases in this version).
    owned: int | None = None
    moved_s: dict[str, float] = field(default_factory=dict)


def run_kill(pg: Postgres, args: argparse.Namespace, changes: int) -> KillResult:
    sites = args.kill_sites
    limit = args.rate_limit_many if sites > 1 else args.rate_limit
    url = pg.fresh_database("kill")
    options = StackOptions(
        latency_ms=args.latency_ms,
        rate_limit=limit,
        concurrency=128 if sites > 1 else DEFAULT_CONCURRENCY,
        connections=64 if sites > 1 else 32,
        database_url=url,
        lease_s=args.lease_s,
        keep=args.keep,
        emulator_nice=args.emulator_nice,
    )
    names = [f"site{n:02d}" for n in range(sites)]
    try:
        with Stack(options) as stack:
            world = build_world(stack, names, _base_per_site(changes, sites))
            work = plan(changes, world.mix, world.base, random.Random(11), one_status_each=True)
            pushed = push(stack, world.tenant, work)
            procs = start_workers(stack, 2)
            began = time.monotonic()
            initial = stack.outstanding()
            victim = procs[1]
            while stack.outstanding() > 0.7 * initial and time.monotonic() - began < 600:
                time.sleep(0.2)
            leases = lease_status(stack)  # a CLI run: about a second
            owned = _owned_by(leases, victim.pid) if leases is not None else None
            # What it holds right before the kill (read before the CLI run, most had finished by the kill).
            held = _held(stack, victim)
            held_sites = {site for _, site in held}
            killed_wall, killed = datetime.now(UTC), time.monotonic()
            victim.stop(sig=signal.SIGKILL)
            moved: dict[str, float] = {}
            served: dict[str, float] = {}
            takeover: float | None = None
            recovered: float | None = None
            held_ids = [op for op, _ in held]
            while time.monotonic() - killed < 900:
                waiting = [s for s in held_sites if s not in served]
                if waiting:
                    served.update(_served_since(stack, waiting, killed_wall))
                if takeover is None and not _still_leased(stack, held_ids, victim):
                    takeover = time.monotonic() - killed
                if recovered is None and _unfinished(stack, held_ids) == 0:
                    recovered = time.monotonic() - killed
                if owned and len(moved) < len(owned):
                    now_status, at = lease_status(stack), time.monotonic() - killed
                    for site_id, owner in _owners(now_status or {}).items():
                        if (
                            site_id in owned
                            and owner
                            and owner not in owned.values()
                            and site_id not in moved
                        ):
                            moved[site_id] = at
                if (
                    recovered is not None
                    and takeover is not None
                    and len(served) == len(held_sites)
                    and len(moved) == len(owned or {})
                ):
                    break
                time.sleep(0.25)
            ended = stack.wait_drained(include_periodic=False)
            calls = stack.jira_calls(procs[:1])
            failed = stack.failed()[0]
            landed = count_landed(stack.emulator_state(), world.base, pushed.changes)
            names_of = {site_id: name for name, site_id in world.tenant.sites.items()}
    finally:
        pg.drop_database(url)
    return KillResult(
        sites=sites,
        limit=limit,
        changes=len(pushed.changes),
        held=len(held),
        held_sites=len(held_sites),
        served_again_s={names_of.get(s, s): seconds for s, seconds in served.items()},
        takeover_s=takeover,
        recovered_s=recovered,
        killed_after_s=killed - began,
        drain_s=ended - began,
        calls=calls,
        landed=landed,
        lease_s=args.lease_s,
        failed=failed,
        owned=len(owned) if owned is not None else None,
        moved_s={names_of.get(s, s): seconds for s, seconds in moved.items()},
    )


def lease_status(stack: Stack) -> dict[str, Any] | None:
    """`jirabridge status --json` (workers and the sites they own), or None where it does not exist."""
    done = subprocess.run(
        [str(BIN / "jirabridge"), "status", "--json"],
        env=stack.env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    try:
        found: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return None
    return found


def _owners(status: dict[str, Any]) -> dict[str, str | None]:
    return {str(site["id"]): site.get("owner") for site in status.get("sites", [])}


def _owned_by(status: dict[str, Any], pid: int) -> dict[str, str]:
    """site id -> worker id, for the sites owned by the worker with this process id."""
    mine = {str(w["id"]) for w in status.get("workers", []) if w.get("pid") == pid}
    return {site: str(owner) for site, owner in _owners(status).items() if owner in mine}


def _base_per_site(changes: int, sites: int) -> int:
    # One base issue per status change (each moves once), at least 50 for the comments and worklogs.
    return max(counts(changes, {"create": 0.25, "status": 0.35, "rest": 0.4})["status"] // sites + 1, 50)


def _held(stack: Stack, worker: Proc) -> list[tuple[str, str]]:
    """(operation id, site id) of the operations leased to a worker (its lease owner names its pid)."""
    from sqlalchemy import select

    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        rows = connection.execute(
            select(Operation.id, Operation.site_id).where(
                Operation.status == "running", Operation.lease_owner.like(f"%:{worker.pid}:%")
            )
        ).all()
    return [(str(op), str(site)) for op, site in rows if site is not None]


def _served_since(stack: Stack, site_ids: Sequence[str], since: datetime) -> dict[str, float]:
    """Per site, seconds from `since` until the last operation of it finished, for the sites that had
    one finish after `since` (by the database's clock, written by the worker when it recorded it)."""
    from sqlalchemy import func, select

    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        rows = connection.execute(
            select(Operation.site_id, func.min(Operation.updated_at))
            .where(
                Operation.site_id.in_(list(site_ids)),
                Operation.status == "done",
                Operation.updated_at > since,
            )
            .group_by(Operation.site_id)
        ).all()
    return {str(site): (_utc(moment) - since).total_seconds() for site, moment in rows}


def _still_leased(stack: Stack, op_ids: Sequence[str], worker: Proc) -> bool:
    from sqlalchemy import select

    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        return (
            connection.execute(
                select(Operation.id).where(
                    Operation.id.in_(list(op_ids)),
                    Operation.status == "running",
                    Operation.lease_owner.like(f"%:{worker.pid}:%"),
                )
            ).first()
            is not None
        )


def _unfinished(stack: Stack, op_ids: Sequence[str]) -> int:
    from sqlalchemy import func, select

    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).where(
                    Operation.id.in_(list(op_ids)), Operation.status.in_(("pending", "running"))
                )
            )
            or 0
        )


def describe_kill(k: KillResult) -> list[str]:
    served = sorted(k.served_again_s.values())
    never = k.held_sites - len(served)
    moved = sorted(k.moved_s.values())
    lease = "the worker's default" if k.lease_s is None else f"{k.lease_s:g} s"
    if k.owned is None:
        leases = (
            "  site leases: none in this version (no `jirabridge status --json`): "
            "every worker serves every site"
        )
    else:
        leases = (
            f"  its {k.owned} leased site(s) owned by another worker (`jirabridge status --json`, polled): "
            + (f"max {moved[-1]:.1f} s, median {percentile(moved, 0.5):.1f} s" if moved else "-")
            + (f"; {k.owned - len(moved)} not within the wait" if len(moved) < k.owned else "")
        )
    takeover = f"{k.takeover_s:.1f} s" if k.takeover_s is not None else "not within the wait"
    recovered = f"{k.recovered_s:.1f} s" if k.recovered_s is not None else "not within the wait"
    return [
        f"-- kill test: 2 workers, {k.sites} site(s) at {k.limit}/s each, {k.changes} changes, worker lease "
        f"{lease}; worker 1 killed (SIGKILL) {k.killed_after_s:.1f} s in, holding {k.held} "
        f"operations of {k.held_sites} site(s)",
        "  its sites served again (kill -> an operation of the site finished by the other worker): "
        + (
            f"max {served[-1]:.1f} s, median {percentile(served, 0.5):.1f} s over {len(served)} site(s)"
            if served
            else "-"
        )
        + (f"; {never} site(s) not within the wait" if never else ""),
        leases,
        f"  take-over (kill -> none of its operations leased to it): {takeover} "
        f"(target <= {TARGET_TAKEOVER_S:g} s); recovery (kill -> every one it held finished): {recovered}",
        f"  all synced {k.drain_s:.1f} s after the workers started; operations failed for good: {k.failed}; "
        f"the surviving worker's calls: {dict(sorted(k.calls.items()))}",
        "  " + describe(k.landed).replace("\n", "\n  "),
    ]


# -- the fairness run ---------------------------------------------------------------------------------


@dataclass
class QuietChange:
    change: Change
    accepted: float  # wall-clock time the API answered


@dataclass
class FairnessResult:
    limit: int
    workers: int
    backlog: int
    quiet_sites: int
    latencies: list[float]  # seconds, each quiet comment: API answer -> created in the emulator
    quiet_missing: int
    busy_drain_s: float
    busy_calls: float  # the workers' calls less one per quiet comment (the quiet sites' only calls)
    calls: dict[str, float]
    landed: Landed
    quiet_refused: int
    cpu: list[CpuRow] = field(default_factory=list)
    changes: int = 0
    sync_s: float = 0.0

    @property
    def busy_calls_per_s(self) -> float:
        return self.busy_calls / self.busy_drain_s if self.busy_drain_s else 0.0


class QuietPusher(threading.Thread):
    """Pushes one comment to each quiet site every `every_s` seconds until stopped."""

    def __init__(
        self, stack: Stack, tenant: Tenant, base: dict[str, list[tuple[str, str]]], every_s: float = 1.0
    ) -> None:
        super().__init__(daemon=True)
        self.stack, self.tenant, self.base, self.every_s = stack, tenant, base, every_s
        self.pushed: list[QuietChange] = []
        self.refused = 0
        self._halt = threading.Event()
        self._rng = random.Random(5)

    def run(self) -> None:
        n = 900_000  # tokens q900001…, apart from the backlog's
        with httpx.Client(base_url=self.stack.service_url, timeout=60) as api:
            next_at = time.monotonic()
            while not self._halt.is_set():
                for site, items in self.base.items():
                    n += 1
                    item, _ = self._rng.choice(items)
                    change = Change("comment", item, site, n, f"bench comment q{n:06d}")
                    answer = api.post(
                        f"/api/v1/items/finding/{item}/comments",
                        json={"body": change.value, "author": "bench"},
                        headers={**self.tenant.headers, "Idempotency-Key": f"quiet-{n}"},
                    )
                    if answer.status_code < 400:
                        self.pushed.append(QuietChange(change, time.time()))
                    else:
                        self.refused += 1
                next_at += self.every_s
                self._halt.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_fairness(pg: Postgres, args: argparse.Namespace, backlog: int) -> FairnessResult:
    quiet = [f"quiet{n}" for n in range(1, args.quiet_sites + 1)]
    names = ["busy", *quiet]
    url = pg.fresh_database("fair")
    options = StackOptions(
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        database_url=url,
        keep=args.keep,
        emulator_nice=args.emulator_nice,
    )
    try:
        with Stack(options) as stack:
            world = build_world(stack, names, _base_per_site(backlog, 1))
            busy_base = {"busy": world.base["busy"]}
            work = plan(backlog, world.mix, busy_base, random.Random(13), one_status_each=True)
            service_at, database_at = world.service.stats().cpu_s, pg.cpu_s()
            pushed = push(stack, world.tenant, work)
            service_push, database_push = world.service.stats().cpu_s - service_at, pg.cpu_s() - database_at
            procs = start_workers(stack, args.fair_workers)
            started_wall, began = datetime.now(UTC), time.monotonic()
            before = {p.pid: p.stats().cpu_s for p in procs}
            service_at, database_at = world.service.stats().cpu_s, pg.cpu_s()
            emulator_at = world.emulator.stats().cpu_s
            pusher = QuietPusher(stack, world.tenant, {s: world.base[s] for s in quiet})
            pusher.start()
            busy_id = world.tenant.sites["busy"]
            samples = Samples(stack, procs)
            try:
                while _site_outstanding(stack, busy_id) > 0 and time.monotonic() - began < 3600:
                    samples.take()
                    time.sleep(0.5)
            finally:
                pusher.stop()
            ended = stack.wait_drained(include_periodic=False)
            calls = stack.jira_calls(procs)
            cpu = [CpuRow(f"worker {n}", None, p.stats().cpu_s - before[p.pid]) for n, p in enumerate(procs)]
            cpu.append(CpuRow("serve", service_push, world.service.stats().cpu_s - service_at))
            cpu.append(CpuRow("PostgreSQL", database_push, pg.cpu_s() - database_at))
            cpu.append(CpuRow("emulator", None, world.emulator.stats().cpu_s - emulator_at))
            busy_end = _last_finished(stack, busy_id)
            state = stack.emulator_state()
            quiet_changes = [q.change for q in pusher.pushed]
            landed = count_landed(state, world.base, [*pushed.changes, *quiet_changes])
            latencies, missing = quiet_latencies(state, pusher.pushed)
    finally:
        pg.drop_database(url)
    busy_drain = (busy_end - started_wall).total_seconds() if busy_end else ended - began
    return FairnessResult(
        limit=args.rate_limit,
        workers=args.fair_workers,
        backlog=len(pushed.changes),
        quiet_sites=len(quiet),
        latencies=latencies,
        quiet_missing=missing,
        busy_drain_s=busy_drain,
        busy_calls=sum(calls.values()) - len(quiet_changes),
        calls=calls,
        landed=landed,
        quiet_refused=pusher.refused,
        cpu=cpu,
        changes=len(pushed.changes) + len(quiet_changes),
        sync_s=ended - began,
    )


def _last_finished(stack: Stack, site_id: str) -> datetime | None:
    from sqlalchemy import func, select

    from jirabridge.storage import schedules
    from jirabridge.storage.tables import Operation

    with _engine(stack).connect() as connection:
        moment = connection.scalar(
            select(func.max(Operation.updated_at)).where(
                Operation.site_id == site_id,
                Operation.status == "done",
                ~Operation.ordering_key.like(schedules.ORDERING_PREFIX + "%"),
            )
        )
    return _utc(moment) if moment is not None else None


def quiet_latencies(state: dict[str, Any], pushed: Sequence[QuietChange]) -> tuple[list[float], int]:
    """Seconds from the API's answer to the comment's creation in the emulator, per quiet comment found
    (by its unique token, on any issue of its site); and how many were not found."""
    created: dict[str, float] = {}
    for name, site in state["sites"].items():
        if name == "busy":
            continue
        for issue in site["issues"]:
            for comment in issue["comments"]:
                token = (comment.get("body") or "").rpartition(" ")[2]
                if token.startswith("q"):
                    created[token] = datetime.fromisoformat(comment["created"]).timestamp()
    latencies, missing = [], 0
    for q in pushed:
        token = (q.change.value or "").rpartition(" ")[2]
        if token in created:
            latencies.append(created[token] - q.accepted)
        else:
            missing += 1
    return latencies, missing


def describe_fairness(f: FairnessResult) -> list[str]:
    p50, p99 = percentile(f.latencies, 0.5), percentile(f.latencies, 0.99)
    worst = max(f.latencies, default=float("nan"))
    met = "met" if p99 <= TARGET_QUIET_P99_S else "NOT met"
    return [
        f"-- fairness: 'busy' with a backlog of {f.backlog} changes, {f.quiet_sites} quiet site(s) with a "
        f"comment every second each while it drains; {f.limit}/s per site; {f.workers} worker(s)",
        f"  quiet comments: n={len(f.latencies)}, p50 {p50:.3f} s, p99 {p99:.3f} s, max {worst:.3f} s "
        f"(API answer -> created in the emulator; target p99 <= {TARGET_QUIET_P99_S:g} s: {met}); "
        f"not found {f.quiet_missing}, refused by the API {f.quiet_refused}",
        f"  busy site drained in {f.busy_drain_s:.1f} s: about {f.busy_calls_per_s:.1f} calls/s = "
        f"{f.busy_calls_per_s / f.limit:.0%} of its limit (the workers' calls less one per quiet comment); "
        f"calls by status {dict(sorted(f.calls.items()))}",
        "  " + describe(f.landed).replace("\n", "\n  "),
        *cpu_table(f.cpu, f.changes, f.sync_s),
    ]


# -- the command ----------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer changes everywhere (the output says how many)"
    )
    parser.add_argument("--only", default="matrix,kill,fairness", help="which parts, comma-separated")
    parser.add_argument("--workers", default="1,2,4", help="the matrix's worker counts")
    parser.add_argument("--sites", default="1,20,100", help="the matrix's site counts")
    parser.add_argument("--changes", type=int, default=None, help="per matrix cell (3000; quick 500)")
    parser.add_argument("--kill-changes", type=int, default=None, help="(3000; quick 1200)")
    parser.add_argument("--kill-sites", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=None, help="the busy site's (10000; quick 2000)")
    parser.add_argument("--quiet-sites", type=int, default=5)
    parser.add_argument("--fair-workers", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--rate-limit", type=int, default=50, help="per-site limit with one site")
    parser.add_argument("--rate-limit-many", type=int, default=5, help="per-site limit with 20 or 100 sites")
    parser.add_argument(
        "--lease-s", type=float, default=None, help="the workers' --lease-s (default: theirs)"
    )
    parser.add_argument(
        "--emulator-nice",
        type=int,
        default=-5,
        help="the emulator's scheduling priority (it stands for Jira's servers, which our processes do "
        "not starve; negative needs privileges, else it runs as the others)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's directory")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parts = {p.strip() for p in args.only.split(",")}
    out: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    print(f"== scale-out on PostgreSQL ({'QUICK: fewer changes per run' if args.quick else 'full run'})")
    print(f"machine: {machine()}; started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"emulator: {args.latency_ms} ms per call; per-site limit {args.rate_limit}/s with one site, "
        f"{args.rate_limit_many}/s with more (lowered so the ceiling is nearer what two cores drive); "
        "each worker told the site's whole limit; "
        f"the emulator at nice {args.emulator_nice} (Jira's servers are not starved by our processes)"
    )
    with postgres() as pg:
        if "matrix" in parts:
            changes = args.changes or sizes.changes
            print(f"\n== matrix: {changes} changes per cell")
            cells = []
            matrix_began = time.monotonic()
            for sites in _ints(args.sites):
                for workers in _ints(args.workers):
                    cell = run_cell(pg, args, workers, sites, changes)
                    cells.append(cell)
                    print("\n".join(describe_cell(cell)), flush=True)
            print(f"\nmatrix: {len(cells)} cells in {(time.monotonic() - matrix_began) / 60:.1f} min")
            print("\n".join(matrix_table(cells)))
            print(
                "(calls/s: every answer, 429s included; not429: the others, against the ceiling (sites x "
                "limit), as %ceil. CPU columns: ms per change — each worker while syncing; serve and "
                "PostgreSQL while the host pushed plus while the workers synced; the emulator while "
                "syncing. The bench's own process, which pushes the changes and samples, is not counted.)"
            )
            out["matrix"] = [
                {
                    "workers": c.workers,
                    "sites": c.sites,
                    "limit": c.limit,
                    "wall_s": c.wall_s,
                    "calls_per_s": c.calls_per_s,
                    "ceiling": c.ceiling,
                    **_outbound_json(c.result),
                }
                for c in cells
            ]
        if "kill" in parts:
            kill = run_kill(pg, args, args.kill_changes or sizes.kill_changes)
            print("\n" + "\n".join(describe_kill(kill)), flush=True)
            out["kill"] = {
                "held": kill.held,
                "held_sites": kill.held_sites,
                "served_again_s": kill.served_again_s,
                "owned": kill.owned,
                "moved_s": kill.moved_s,
                "takeover_s": kill.takeover_s,
                "recovered_s": kill.recovered_s,
                "landed": kill.landed.as_json(),
            }
        if "fairness" in parts:
            fair = run_fairness(pg, args, args.backlog or sizes.backlog)
            print("\n" + "\n".join(describe_fairness(fair)), flush=True)
            out["fairness"] = {
                "backlog": fair.backlog,
                "p50_s": percentile(fair.latencies, 0.5),
                "p99_s": percentile(fair.latencies, 0.99),
                "quiet_n": len(fair.latencies),
                "quiet_missing": fair.quiet_missing,
                "busy_calls_per_s": fair.busy_calls_per_s,
                "landed": fair.landed.as_json(),
            }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


def _outbound_json(result: OutboundResult) -> dict[str, Any]:
    from bench.outbound import as_json

    return as_json(result)


if __name__ == "__main__":
    sys.exit(main())
