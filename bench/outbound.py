"""Outbound throughput: mixed changes pushed by a host, synced to Jira by the workers.

    python -m bench.outbound                       # 5,000 changes, 250 ms latency, 50 requests/s per site
    python -m bench.outbound --latency-ms 50
    python -m bench.outbound --changes 500 --baseline-changes 40 --mix create=0.5,comment=0.5

What happens:
1. The emulator (latency, a per-site limit of `--rate-limit` requests/s), the service and the workers'
   database start as separate processes. Each site gets issues BEN-1…BEN-n, linked to host items in the
   database directly (the starting state of a host that linked them long ago: setup, not measured).
2. The baseline (bench/baseline.py) applies a sample of the same plan with the PyPI `jira` client.
3. The host pushes every change through the HTTP API while no worker runs (the ingest rate is shown).
4. The workers start; the clock runs from the moment they are up until the outbox is empty.

Reported: changes/s, Jira calls per change and 429s as a share of calls (the workers' own counters),
worker CPU seconds per change and peak memory (/proc), the baseline's rate and the ratio, and what
landed in Jira: each change found exactly once, missing or duplicated in the emulator's state at the
end (bench/_landed.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._landed import Landed, count_landed, describe
from bench._stack import (
    PROJECT,
    Proc,
    ProcStats,
    Stack,
    StackOptions,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
    site_names,
    task_type_id,
)
from bench._workload import Change, connect_worklog_user, counts, default_mix, parse_mix, plan, push
from bench.baseline import BaselineResult, run_baseline
from jirabridge.workers.runner import DEFAULT_CONCURRENCY

TARGET_CALLS_PER_CHANGE = 1.2
TARGET_SHARE_OF_LIMIT = 0.9
TARGET_429_SHARE = 0.01
TARGET_RATIO = 10.0


@dataclass
class OutboundResult:
    sites: list[str]
    changes: int
    by_kind: dict[str, int]
    ingest_s: float
    drain_s: float
    calls: dict[str, float]
    workers: list[ProcStats]
    failed_operations: float
    started_at: datetime
    baseline: BaselineResult | None = None
    baseline_sample: int = 0
    refused: int = 0
    per_site: dict[str, float] = field(default_factory=dict)  # changes/s per site
    emulator_cpu_s: float = 0.0  # while the workers ran (it shares the machine's cores)
    sustained_calls_per_s: float | None = None  # see `Samples`
    landed: Landed | None = None  # what is in Jira at the end (bench/_landed.py)
    # CPU seconds of `jirabridge serve` while the host pushed (no worker running) and while the workers
    # synced; the database server's too when it is measured (PostgreSQL: bench/_postgres.py).
    service_cpu_ingest_s: float = 0.0
    service_cpu_sync_s: float = 0.0
    database_cpu_ingest_s: float | None = None
    database_cpu_sync_s: float | None = None

    @property
    def rate(self) -> float:
        return self.changes / self.drain_s if self.drain_s else 0.0

    @property
    def total_calls(self) -> float:
        return sum(self.calls.values())

    @property
    def share_429(self) -> float:
        return self.calls.get("429", 0.0) / self.total_calls if self.total_calls else 0.0

    @property
    def cpu_s(self) -> float:
        return sum(w.cpu_s for w in self.workers)

    @property
    def peak_rss_mb(self) -> float:
        return max((w.peak_rss_mb for w in self.workers), default=0.0)


def run_outbound(
    options: StackOptions,
    *,
    changes: int,
    mix: dict[str, float] | None,
    sites: int = 1,
    workers: int = 1,
    baseline_changes: int = 0,
    seed: int = 7,
    database_cpu: Callable[[], float] | None = None,
) -> OutboundResult:
    """`database_cpu`: the database server's CPU seconds so far, read around the push and the sync."""
    rng = random.Random(seed)
    names = site_names(sites)
    with Stack(options) as stack:
        # Base issues per site: one per status change (each moves once) and some for the comments.
        guess = mix or {"create": 0.25, "status": 0.35, "comment": 0.25, "worklog": 0.15}
        per_site_status = counts(changes, guess).get("status", 0) // sites + 1
        base_per_site = max(per_site_status, 50)
        baseline_base = baseline_changes
        emulator = stack.start_emulator(bench_seed(names, issues=base_per_site + baseline_base))
        with stack.setting_up():
            service = stack.start_service()
            mix = mix or default_mix(stack)
            tenant = stack.seed_tenant(names)
            if "worklog" in mix:
                connect_worklog_user(stack, tenant)
            state = stack.emulator_state()
            base: dict[str, list[tuple[str, str]]] = {}
            spare: list[tuple[str, str]] = []
            for name in names:
                issues = seeded_issues(state, name)
                ids = insert_linked_items(
                    stack.database_url,
                    tenant.workspace_id,
                    tenant.sites[name],
                    issues[:base_per_site],
                    prefix=f"base-{name}",
                    issue_type_id=task_type_id(stack, name),
                )
                base[name] = [(item, key) for item, (key, _) in zip(ids, issues, strict=False)]
                if name == names[0]:
                    spare = [(f"spare-{n}", key) for n, (key, _) in enumerate(issues[base_per_site:])]

        baseline: BaselineResult | None = None
        if baseline_changes:
            sample = plan(
                baseline_changes,
                mix,
                {names[0]: spare},
                random.Random(seed + 1),
                one_status_each=True,
                new_prefix="baseline",
            )
            baseline = run_baseline(
                f"{stack.emulator_url}/sites/{names[0]}", sample, {item: key for item, key in spare}
            )

        work = plan(changes, mix, base, rng, one_status_each=True)
        service_at, database_at = service.stats().cpu_s, database_cpu() if database_cpu else 0.0
        pushed = push(stack, tenant, work)
        service_ingest = service.stats().cpu_s - service_at
        database_ingest = database_cpu() - database_at if database_cpu else None
        if pushed.refused:
            change, status, text = pushed.refused[0]
            print(
                f"warning: {len(pushed.refused)} changes refused, e.g. {change}: {status} {text}",
                file=sys.stderr,
            )

        started_at = datetime.now(UTC)
        procs = [stack.start_worker(wait=False) for _ in range(workers)]
        for proc in procs:
            stack._wait_http(proc, f"http://127.0.0.1:{proc.port}/metrics")
        began = time.monotonic()
        for proc in procs:
            proc.stats()
        before = {proc.pid: proc.stats().cpu_s for proc in procs}
        emulator_before = emulator.stats().cpu_s
        service_at, database_at = service.stats().cpu_s, database_cpu() if database_cpu else 0.0
        samples = Samples(stack, procs)
        ended = stack.wait_drained(include_periodic=False, on_poll=samples.take)
        emulator_cpu_s = emulator.stats().cpu_s - emulator_before
        service_sync = service.stats().cpu_s - service_at
        database_sync = database_cpu() - database_at if database_cpu else None
        calls = stack.jira_calls(procs)
        stats = _final(procs, before)
        failed = float(stack.failed()[0])
        landed = count_landed(stack.emulator_state(), base, pushed.changes)
        by_kind: dict[str, int] = {}
        for change in pushed.changes:
            by_kind[change.kind] = by_kind.get(change.kind, 0) + 1
        result = OutboundResult(
            sites=names,
            changes=len(pushed.changes),
            by_kind=by_kind,
            ingest_s=pushed.seconds,
            drain_s=ended - began,
            calls=calls,
            workers=stats,
            failed_operations=failed,
            started_at=started_at,
            baseline=baseline,
            baseline_sample=baseline_changes,
            refused=len(pushed.refused),
            emulator_cpu_s=emulator_cpu_s,
            sustained_calls_per_s=samples.sustained_calls_per_s(),
            landed=landed,
            service_cpu_ingest_s=service_ingest,
            service_cpu_sync_s=service_sync,
            database_cpu_ingest_s=database_ingest,
            database_cpu_sync_s=database_sync,
        )
        if sites > 1:
            result.per_site = per_site_rates(stack, tenant.sites, pushed.changes, started_at)
        return result


class Samples:
    """Jira calls made and operations left, about once a second while the workers run. The sustained
    rate is the call rate between the moments 10 % and 90 % of the operations there were at the
    start had finished: the rate the workers hold, without the start (workers warming up) and the
    tail (the last operations of an issue run one after another, so the end is not rate-limited)."""

    def __init__(self, stack: Stack, procs: Sequence[Proc], every_s: float = 1.0) -> None:
        self.stack, self.procs, self.every_s = stack, procs, every_s
        self.points: list[tuple[float, int, float]] = []  # (monotonic, operations left, calls)
        self._next = 0.0

    def take(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        left = self.stack.outstanding(include_periodic=False)
        self.points.append((now, left, sum(self.stack.jira_calls(self.procs).values())))

    def sustained_calls_per_s(self) -> float | None:
        if len(self.points) < 3:
            return None
        start = max(left for _, left, _ in self.points)
        first = next((p for p in self.points if p[1] <= 0.9 * start), None)
        last = next((p for p in self.points if p[1] <= 0.1 * start), None)
        if first is None or last is None or last[0] - first[0] < 2:
            return None
        return (last[2] - first[2]) / (last[0] - first[0])


def _final(procs: Sequence[Proc], before: dict[int, float]) -> list[ProcStats]:
    stats = []
    for proc in procs:
        pid = proc.pid
        proc.stop()
        assert proc.last is not None
        stats.append(ProcStats(proc.last.cpu_s - before[pid], proc.last.peak_rss_mb))
    return stats


def per_site_rates(
    stack: Stack, site_ids: dict[str, str], changes: Sequence[Change], started_at: datetime
) -> dict[str, float]:
    """Per site: its changes divided by the time until its last operation finished."""
    from sqlalchemy import func, select

    from jirabridge.storage.db import make_engine
    from jirabridge.storage.tables import Operation

    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Operation.site_id, func.max(Operation.updated_at)).group_by(Operation.site_id)
            ).all()
    finally:
        engine.dispose()
    finished = {
        site: moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment for site, moment in rows
    }
    rates = {}
    for name, site_id in site_ids.items():
        n = sum(1 for c in changes if c.site == name)
        end = finished.get(site_id)
        seconds = (end - started_at).total_seconds() if end else 0.0
        rates[name] = n / seconds if seconds > 0 else 0.0
    return rates


def report(result: OutboundResult, options: StackOptions, workers: int, title: str) -> str:
    limit = options.rate_limit * len(result.sites)
    calls_per_change = result.total_calls / result.changes if result.changes else 0.0
    calls_per_s = result.total_calls / result.drain_s if result.drain_s else 0.0
    writes = result.calls.get("201", 0.0) + result.calls.get("204", 0.0)
    lines = [
        f"== {title}",
        f"machine: {machine()}",
        f"emulator: {options.latency_ms} ms latency, {options.rate_limit} requests/s per site; "
        f"{len(result.sites)} site(s); {workers} worker(s) x concurrency {options.concurrency}, "
        f"pacing {options.pacing():g}/s per site",
        f"changes: {result.changes} ({', '.join(f'{k} {v}' for k, v in sorted(result.by_kind.items()))})"
        + (f"; {result.refused} refused by the API" if result.refused else ""),
        f"ingest (host -> API, no worker running): {result.ingest_s:.1f} s, "
        f"{result.changes / result.ingest_s:.0f} changes/s"
        if result.ingest_s
        else "ingest: -",
        f"sync time: {result.drain_s:.1f} s",
        f"throughput: {result.rate:.1f} changes/s, {calls_per_s:.1f} Jira calls/s = "
        f"{calls_per_s / limit:.0%} of the rate limit (target >= {TARGET_SHARE_OF_LIMIT:.0%}); "
        f"changes/s = {result.rate / limit:.0%} of it",
        (
            f"sustained (from 10 % to 90 % of the operations done): {result.sustained_calls_per_s:.1f} "
            f"Jira calls/s = {result.sustained_calls_per_s / limit:.0%} of the rate limit"
            if result.sustained_calls_per_s is not None
            else "sustained: - (too short a run to tell)"
        ),
        f"Jira calls per change: {calls_per_change:.2f} (target <= {TARGET_CALLS_PER_CHANGE}); "
        f"per Jira write made (201/204 answers: issues, remote links, transitions, comments, worklogs): "
        f"{result.total_calls / max(writes, 1):.2f}; "
        f"calls by status: {dict(sorted(result.calls.items()))}",
        f"429s: {result.share_429:.2%} of calls (target <= {TARGET_429_SHARE:.0%})",
        f"worker CPU: {result.cpu_s:.1f} s = "
        f"{1000 * result.cpu_s / max(result.changes, 1):.2f} ms per change; "
        f"peak RSS {result.peak_rss_mb:.0f} MB; "
        f"cores busy while syncing: workers {result.cpu_s / max(result.drain_s, 1e-9):.2f}, "
        f"emulator {result.emulator_cpu_s / max(result.drain_s, 1e-9):.2f}",
        f"serve CPU: {1000 * result.service_cpu_ingest_s / max(result.changes, 1):.2f} ms per change "
        f"while the host pushed, {1000 * result.service_cpu_sync_s / max(result.changes, 1):.2f} ms "
        "per change while the workers synced",
        f"operations failed for good: {result.failed_operations:g}",
    ]
    if result.landed is not None:
        lines.append(describe(result.landed))
    if result.per_site:
        rates = result.per_site
        slowest = min(rates, key=lambda s: rates[s])
        fastest = max(rates, key=lambda s: rates[s])
        lines.append(
            f"per site: min {rates[slowest]:.1f} changes/s ({slowest}), "
            f"max {rates[fastest]:.1f} ({fastest}); "
            f"min/max {rates[slowest] / rates[fastest]:.2f}"
        )
    if result.baseline is not None:
        b = result.baseline
        lines.append(
            f"baseline (PyPI jira, sequential, same emulator): {b.changes} changes in {b.seconds:.1f} s = "
            f"{b.rate:.2f} changes/s, {b.calls / max(b.changes, 1):.2f} calls per change "
            f"(a sample of {b.changes}; its rate is taken to hold for all {result.changes})"
        )
        ratio = result.rate / b.rate if b.rate else 0.0
        lines.append(f"jirabridge / baseline: {ratio:.1f}x (target >= {TARGET_RATIO:g}x)")
    return "\n".join(lines)


def as_json(result: OutboundResult) -> dict[str, Any]:
    return {
        "sites": len(result.sites),
        "changes": result.changes,
        "by_kind": result.by_kind,
        "ingest_s": result.ingest_s,
        "drain_s": result.drain_s,
        "changes_per_s": result.rate,
        "calls": result.calls,
        "calls_per_change": result.total_calls / result.changes if result.changes else None,
        "share_429": result.share_429,
        "worker_cpu_s": result.cpu_s,
        "emulator_cpu_s": result.emulator_cpu_s,
        "service_cpu_ingest_s": result.service_cpu_ingest_s,
        "service_cpu_sync_s": result.service_cpu_sync_s,
        "database_cpu_ingest_s": result.database_cpu_ingest_s,
        "database_cpu_sync_s": result.database_cpu_sync_s,
        "sustained_calls_per_s": result.sustained_calls_per_s,
        "peak_rss_mb": result.peak_rss_mb,
        "failed_operations": result.failed_operations,
        "landed": None if result.landed is None else result.landed.as_json(),
        "per_site": result.per_site,
        "baseline": None
        if result.baseline is None
        else {
            "changes": result.baseline.changes,
            "seconds": result.baseline.seconds,
            "calls": result.baseline.calls,
        },
    }


def stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-ms", type=int, default=250, help="emulator latency per call")
    parser.add_argument("--rate-limit", type=int, default=50, help="emulator requests/s per site")
    parser.add_argument(
        "--pacer-rate",
        type=float,
        default=None,
        help="the per-site limit the workers are told (default: the emulator's)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="operations in flight per worker"
    )
    parser.add_argument("--connections", type=int, default=32, help="a worker's connections to Jira")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, database)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--profile", action="store_true", help="run the workers under cProfile (implies --keep)"
    )


def stack_options(args: argparse.Namespace) -> StackOptions:
    if args.workers > 1 and not (args.database_url or "").startswith("postgresql"):
        # `jirabridge worker` refuses a second worker on one SQLite file (storage/worker_lock.py).
        raise SystemExit("--workers above 1 needs --database-url postgresql+psycopg://… (SQLite takes one)")
    return StackOptions(
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        pacer_rate=args.pacer_rate,
        concurrency=args.concurrency,
        connections=args.connections,
        database_url=args.database_url,
        keep=args.keep or args.profile,
        profile=args.profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument(
        "--mix",
        default=None,
        help="e.g. create=0.3,status=0.35,comment=0.35 (default: "
        "those three, plus worklog once the time-entries endpoint exists)",
    )
    parser.add_argument("--baseline-changes", type=int, default=100, help="0: no baseline")
    stack_arguments(parser)
    args = parser.parse_args(argv)
    options = stack_options(args)
    result = run_outbound(
        options,
        changes=args.changes,
        mix=parse_mix(args.mix) if args.mix else None,
        workers=args.workers,
        baseline_changes=args.baseline_changes,
    )
    print(report(result, options, args.workers, f"outbound throughput, project {PROJECT}, one site"))
    if args.json:
        args.json.write_text(json.dumps(as_json(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
