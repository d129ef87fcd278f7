"""Worker memory as links grow: peak RSS with 10,000, 100,000 and 1,000,000 links stored.

    python -m bench.memory                          # 10k, 100k, 1M links
    python -m bench.memory --links 10000 100000 --seconds 20

For each size: a fresh database; items and links inserted in bulk with SQLAlchemy Core (50 of them on
real emulator issues, the rest on issues the worker never touches); then one worker runs a few hundred
syncs (status changes and comments on the real ones) and stays up `--seconds` more, and its peak
resident memory (VmHWM) is read. Flat means: the figure does not grow with the links.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence

from bench._stack import (
    Stack,
    StackOptions,
    bench_seed,
    insert_linked_items,
    machine,
    seeded_issues,
    task_type_id,
)
from bench._workload import plan, push

LIVE = 50  # links on real emulator issues


def measure(
    links: int, *, syncs: int, seconds: float, latency_ms: int, database_url: str | None
) -> tuple[float, float]:
    """(peak RSS in MB, seconds the bulk insert took)."""
    options = StackOptions(latency_ms=latency_ms, database_url=database_url, concurrency=32)
    with Stack(options) as stack:
        stack.start_emulator(bench_seed(["bench"], issues=LIVE))
        stack.start_service()
        tenant = stack.seed_tenant(["bench"])
        site_id = tenant.sites["bench"]
        live = seeded_issues(stack.emulator_state(), "bench")
        started = time.monotonic()
        type_id = task_type_id(stack, "bench")
        ids = insert_linked_items(
            stack.database_url, tenant.workspace_id, site_id, live, prefix="live", issue_type_id=type_id
        )
        idle = [(f"BEN-{1_000_000 + n}", None) for n in range(links - len(live))]
        insert_linked_items(stack.database_url, tenant.workspace_id, site_id, idle, prefix="idle")
        inserted_s = time.monotonic() - started
        base = {"bench": [(item, key) for item, (key, _) in zip(ids, live, strict=True)]}
        work = plan(syncs, {"status": 0.5, "comment": 0.5}, base, random.Random(3), one_status_each=False)
        worker = stack.start_worker()
        push(stack, tenant, work)
        stack.wait_drained(include_periodic=False)
        time.sleep(seconds)
        peak = worker.stats().peak_rss_mb
        worker.stop()
        return peak, inserted_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--syncs", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the worker stays up afterwards")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per size")
    args = parser.parse_args(argv)
    print("== worker memory as links grow")
    print(f"machine: {machine()}")
    for links in args.links:
        peak, inserted_s = measure(
            links,
            syncs=args.syncs,
            seconds=args.seconds,
            latency_ms=args.latency_ms,
            database_url=args.database_url,
        )
        print(
            f"{links:>9,} links: worker peak RSS {peak:.0f} MB "
            f"(bulk insert {inserted_s:.0f} s; {args.syncs} syncs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
