"""Serve CPU per ticket wait: `POST …/tickets` waits up to `ticket_wait_s` for the worker to create the
issue. No worker runs here, so every wait lasts its full `--wait-s` and answers 202: what such a wait
costs the service while Jira is slow or the worker is behind.

Three runs on one database, each with a fresh `serve` process, `--waits` requests, `--concurrency` at
a time, the service's CPU read from /proc before and after:

- `no-wait`: `ticket_wait_s` 0, the request's own work (the floor);
- `poll-100ms`: the code path before LISTEN/NOTIFY, a read of the link every 100 ms (the baseline);
- `watch`: the service as shipped: LISTEN/NOTIFY on PostgreSQL, a growing poll (20 ms doubling to
  500 ms) on SQLite (storage/link_watch.py).

CPU per wait is a run's serve CPU over its requests, minus the `no-wait` run's per request.

    python -m bench.ticket_wait --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python -m bench.ticket_wait             # SQLite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx

from bench._stack import BIN, PROJECT, Stack, StackOptions, Tenant, bench_seed, free_port, machine

ITEM_TYPE = "finding"
MODES = ("no-wait", "poll-100ms", "watch")


class _Every100ms:
    async def wait(self, deadline: float) -> bool:
        remaining = deadline - asyncio.get_running_loop().time()
        await asyncio.sleep(max(0.0, min(0.1, remaining)))
        return True  # the old loop read the link after every sleep, the last one too


class FixedPollWatch:
    """The wait before LISTEN/NOTIFY: a read of the link every 100 ms (the old `POLL_S`)."""

    @contextlib.asynccontextmanager
    async def watch(self, link_id: str) -> AsyncIterator[_Every100ms]:
        yield _Every100ms()

    async def aclose(self) -> None:
        return None


def serve(mode: str, port: int) -> None:
    """`jirabridge serve`, with the wait of `mode` (run in the child process)."""
    import uvicorn

    from jirabridge.bootstrap import build
    from jirabridge.entrypoints.http.app import create_app

    container = build()
    if mode == "no-wait":
        container.settings = container.settings.model_copy(update={"ticket_wait_s": 0.0})
    elif mode == "poll-100ms":
        container.link_watch = FixedPollWatch()
    try:
        uvicorn.run(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    finally:
        container.close()


@dataclass
class Run:
    mode: str
    requests: int
    cpu_s: float
    seconds: float
    answers: dict[int, int]

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests


async def _push(stack: Stack, tenant: Tenant, prefix: str, waits: int, concurrency: int) -> dict[int, int]:
    answers: dict[int, int] = {}
    gate = asyncio.Semaphore(concurrency)
    site = next(iter(tenant.sites.values()))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.service_url, timeout=120, limits=limits) as api:

        async def one(n: int) -> None:
            async with gate:
                answer = await api.post(
                    f"/api/v1/items/{ITEM_TYPE}/{prefix}-{n}/tickets",
                    json={"site": site},
                    headers=tenant.headers,
                )
                answers[answer.status_code] = answers.get(answer.status_code, 0) + 1

        await asyncio.gather(*(one(n) for n in range(waits)))
    return answers


async def _items(stack: Stack, tenant: Tenant, prefix: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=stack.service_url, timeout=120) as api:
        for n in range(count):
            answer = await api.put(
                f"/api/v1/items/{ITEM_TYPE}/{prefix}-{n}",
                json={"title": f"item {n}", "status": "Open"},
                headers=tenant.headers,
            )
            answer.raise_for_status()


def run_mode(stack: Stack, tenant: Tenant, mode: str, waits: int, concurrency: int) -> Run:
    port = free_port()
    stack.service_url = f"http://127.0.0.1:{port}"
    proc = stack._spawn(
        f"service-{mode}",
        [str(BIN / "python"), "-m", "bench.ticket_wait", "--serve", mode, "--port", str(port)],
    )
    stack._wait_http(proc, f"{stack.service_url}/healthz")
    try:
        asyncio.run(_items(stack, tenant, mode, waits))
        # One ticket first, outside the measure: the site's create metadata is then cached.
        asyncio.run(_push(stack, tenant, mode, 1, 1))
        before, started = proc.stats().cpu_s, time.monotonic()
        answers = asyncio.run(_push(stack, tenant, mode, waits, concurrency))
        seconds = time.monotonic() - started
        cpu = proc.stats().cpu_s - before
    finally:
        proc.stop()
    return Run(mode, waits, cpu, seconds, answers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, default=400, help="ticket requests per run")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    parser.add_argument("--wait-s", type=float, default=5.0, help="the service's ticket_wait_s")
    parser.add_argument("--modes", default=",".join(MODES), help=f"some of {', '.join(MODES)}")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, database)")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    options = StackOptions(
        latency_ms=0,
        rate_limit=10_000,
        database_url=args.database_url,
        keep=args.keep,
        extra_env={"JIRABRIDGE_TICKET_WAIT_S": str(args.wait_s)},
    )
    runs: list[Run] = []
    with Stack(options) as stack:
        stack.start_emulator(bench_seed(["bench"]))
        first = stack.start_service()
        tenant = stack.seed_tenant(["bench"])
        first.stop()
        for mode in modes:
            runs.append(run_mode(stack, tenant, mode, args.waits, args.concurrency))
            print(f"  {mode}: done", file=sys.stderr)
    database = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"ticket waits on {database}, project {PROJECT}: {args.waits} requests per run, {args.concurrency}")
    print(f"at a time, ticket_wait_s {args.wait_s:g}, no worker (every wait times out); {machine()}")
    floor = next((r.cpu_ms_per_request for r in runs if r.mode == "no-wait"), 0.0)
    print(f"{'run':<12} {'answers':<16} {'wall s':>7} {'serve CPU s':>12} {'ms/request':>11} {'ms/wait':>8}")
    for r in runs:
        answers = " ".join(f"{code}×{n}" for code, n in sorted(r.answers.items()))
        per_wait = r.cpu_ms_per_request - floor if r.mode != "no-wait" else 0.0
        print(
            f"{r.mode:<12} {answers:<16} {r.seconds:>7.1f} {r.cpu_s:>12.2f} "
            f"{r.cpu_ms_per_request:>11.2f} {per_wait:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
