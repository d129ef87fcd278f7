"""Polling cost: one poll cycle with 100 changed issues among 1,000, 10,000 and 100,000 links.

    python -m bench.polling                          # 250 ms per Jira call
    python -m bench.polling --links 1000,10000 --changed 50 --latency-ms 50

What happens: the emulator, the service and a worker run as separate processes; project BEN syncs
status both ways (no webhook, so only the poller sees Jira's changes). For each size the database gets
links up to that many (written directly: setup, not measured); `--changed` of them point at issues a
Jira user then moves, the rest at other issues of the project. `POST /api/v1/sync/reconcile` runs one
cycle; its Jira calls (the worker's counters) and its duration (the poll operation's own start and end
in the database) are reported, and every changed item must have taken its new status.

SPEC section 7: the cost of a cycle grows with the number of changed issues, not with the number of
links. The reference printed beside it is what a poller that reads every linked issue would need: one
call per link (computed, not run: at 100,000 links it would take longer than the poll interval).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from bench._stack import (
    BOT_EMAIL,
    BOT_TOKEN,
    Stack,
    StackOptions,
    Tenant,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
)
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Item, Operation

SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress"},
    "poll_interval_s": 3600,  # only the reconcile polls during the run
}


@dataclass
class Cycle:
    links: int
    calls: float
    poll_s: float
    applied: int


def _move_all(stack: Stack, keys: Sequence[str], target: str) -> None:
    with httpx.Client(
        base_url=f"{stack.emulator_url}/sites/bench", auth=(BOT_EMAIL, BOT_TOKEN), timeout=60
    ) as jira:
        ids = {
            t["to"]["name"]: t["id"]
            for t in jira.get(f"/rest/api/3/issue/{keys[0]}/transitions").json()["transitions"]
        }

        def one(key: str) -> None:
            for _ in range(20):  # the Jira user shares the site's rate limit: wait when told to
                answer = jira.post(
                    f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": ids[target]}}
                )
                if answer.status_code != 429:
                    answer.raise_for_status()
                    return
                time.sleep(float(answer.headers.get("Retry-After", "1")))
            answer.raise_for_status()

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, keys))


def _last_poll_s(database_url: str) -> float:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            op = session.scalars(
                select(Operation).where(Operation.kind == "inbound.poll").order_by(Operation.seq.desc())
            ).first()
            assert op is not None and op.status == "done", op and (op.status, op.reason, op.detail)
            return (op.updated_at - op.created_at).total_seconds()
    finally:
        engine.dispose()


def _statuses(database_url: str, workspace_id: str, ids: Sequence[str]) -> dict[str, str | None]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(
                select(Item).where(Item.workspace_id == workspace_id, Item.id.in_(list(ids)))
            )
            return {row.id: row.status for row in rows}
    finally:
        engine.dispose()


def cycle(
    stack: Stack, tenant: Tenant, changed: Sequence[str], changed_items: Sequence[str], links: int, n: int
) -> Cycle:
    target, host = ("In Progress", "Acknowledged") if n % 2 == 0 else ("To Do", "Open")
    _move_all(stack, changed, target)
    before = sum(stack.jira_calls().values())
    with stack.api() as api:
        api.post("/api/v1/sync/reconcile", json={}, headers=tenant.headers).raise_for_status()
    time.sleep(0.3)
    stack.wait_drained(timeout_s=600, every_s=0.1)
    calls = sum(stack.jira_calls().values()) - before
    statuses = _statuses(stack.database_url, tenant.workspace_id, changed_items)
    applied = sum(status == host for status in statuses.values())
    return Cycle(links, calls, _last_poll_s(stack.database_url), applied)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", default="1000,10000,100000")
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--rate-limit", type=int, default=50)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.links.split(","))
    options = StackOptions(latency_ms=args.latency_ms, rate_limit=args.rate_limit, concurrency=8, poll_s=0.05)
    results: list[Cycle] = []
    with Stack(options) as stack:
        stack.start_emulator(bench_seed(["bench"], issues=args.changed))
        stack.start_service()
        tenant = stack.seed_tenant(["bench"], SETTINGS)
        site_id = tenant.sites["bench"]
        real = seeded_issues(stack.emulator_state(), "bench")
        changed_items = insert_linked_items(
            stack.database_url, tenant.workspace_id, site_id, real, item_type="error", prefix="changed"
        )
        stack.start_worker()
        stack.wait_drained(timeout_s=120)
        stored = len(real)
        for n, size in enumerate(sizes):
            extra = [(f"BEN-{100_000 + stored + i}", None) for i in range(max(0, size - stored))]
            insert_linked_items(
                stack.database_url, tenant.workspace_id, site_id, extra, item_type="error", prefix=f"other{n}"
            )
            stored += len(extra)
            results.append(cycle(stack, tenant, [k for k, _ in real], changed_items, stored, n))
    print(report(args, results))
    return 0 if all(r.applied == args.changed for r in results) else 1


def report(args: argparse.Namespace, results: Sequence[Cycle]) -> str:
    lines = [
        f"polling cost — one cycle, {args.changed} changed issues, {args.latency_ms} ms per Jira call, "
        f"{machine()}",
        f"  {'links':>9} {'Jira calls':>11} {'poll time':>11} {'applied':>9}   "
        "reference: a poller reading every link",
    ]
    for r in results:
        naive_s = r.links * args.latency_ms / 1000 / 16
        lines.append(
            f"  {r.links:>9,} {r.calls:>11.0f} {r.poll_s:>9.2f} s {r.applied:>5}/{args.changed:<3}"
            f"   {r.links:,} calls, ≥ {naive_s:,.0f} s with 16 in flight"
        )
    first, last = results[0], results[-1]
    growth = last.poll_s / first.poll_s if first.poll_s else float("nan")
    calls = last.calls / first.calls if first.calls else float("nan")
    lines.append(
        f"  {last.links // first.links}x the links: {calls:.2f}x the calls, {growth:.2f}x the time "
        "(target: flat)"
    )
    lines.append(f"  measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
