"""Serve CPU per API request on the routes a host calls for each change: create a ticket
(`POST …/tickets`, with `ticket_wait_s` 0 so no wait is counted), change an item's status
(`PUT /api/v1/items/…`), add a comment (`POST …/comments`), push a time entry
(`PUT /api/v1/time-entries/…`). No worker runs: this is the service's own work, queued for a worker.

Each route gets `--requests` requests, `--concurrency` at a time, after a warm-up of `--warm-up`
requests; the service's CPU (user + system, /proc) is read around each route's batch, and with
`--postgres` (a throwaway server, bench/_postgres.py) the database server's too. The same is
measured for `GET /healthz`, a route with no work of its own: the floor, what uvicorn, Starlette,
FastAPI and the service's middlewares cost a request before any route does anything (printed apart,
not in "all routes"). `--profile`
runs the service under cProfile and prints its top functions (cumulative and own time) afterwards.

    python -m bench.serve_cpu                                   # SQLite
    python -m bench.serve_cpu --postgres                        # a throwaway PostgreSQL server
    python -m bench.serve_cpu --database-url postgresql+psycopg://…
    python -m bench.serve_cpu --profile --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

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
    site_names,
)
from bench._workload import ITEM_TYPE, WORKLOG_USER, connect_worklog_user

Call = Callable[[httpx.AsyncClient, Tenant, int], Awaitable[httpx.Response]]


async def _ticket(api: httpx.AsyncClient, tenant: Tenant, n: int) -> httpx.Response:
    return await api.post(
        f"/api/v1/items/{ITEM_TYPE}/new-{n}/tickets",
        json={"site": next(iter(tenant.sites.values()))},
        headers={**tenant.headers, "Idempotency-Key": f"ticket-{n}"},
    )


async def _status(api: httpx.AsyncClient, tenant: Tenant, n: int) -> httpx.Response:
    status = ("Acknowledged", "Fixed", "Open")[n // _BASE % 3]
    return await api.put(
        f"/api/v1/items/{ITEM_TYPE}/base-{n % _BASE + 1}",
        json={"title": f"base {n % _BASE + 1}", "status": status},
        headers=tenant.headers,
    )


async def _comment(api: httpx.AsyncClient, tenant: Tenant, n: int) -> httpx.Response:
    return await api.post(
        f"/api/v1/items/{ITEM_TYPE}/base-{n % _BASE + 1}/comments",
        json={"body": f"comment {n}", "author": "bench"},
        headers={**tenant.headers, "Idempotency-Key": f"comment-{n}"},
    )


async def _time_entry(api: httpx.AsyncClient, tenant: Tenant, n: int) -> httpx.Response:
    return await api.put(
        f"/api/v1/time-entries/te-{n}",
        json={
            "user": WORKLOG_USER,
            "started_at": "2026-01-15T10:00:00Z",
            "duration_s": 600 + n,
            "running": False,
            "description": f"work {n}",
            "issue_key": f"BEN-{n % _BASE + 1}",
            "site": next(iter(tenant.sites.values())),
        },
        headers=tenant.headers,
    )


_BASE = 500  # linked items the status, comment and time-entry requests act on
ROUTES: dict[str, Call] = {
    "POST tickets": _ticket,
    "PUT item status": _status,
    "POST comment": _comment,
    "PUT time entry": _time_entry,
}


async def _liveness(api: httpx.AsyncClient, tenant: Tenant, n: int) -> httpx.Response:
    return await api.get("/healthz")


FLOOR = "GET /healthz"  # no work of its own: what any request costs before its route's work


@dataclass
class Figure:
    route: str
    requests: int
    cpu_s: float
    seconds: float
    answers: dict[int, int]
    database_cpu_s: float | None = None  # the PostgreSQL server's, with --postgres


async def _batch(
    stack: Stack, tenant: Tenant, call: Call, first: int, count: int, concurrency: int
) -> dict[int, int]:
    answers: dict[int, int] = {}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=stack.service_url, timeout=120) as api:

        async def one(n: int) -> None:
            async with gate:
                answer = await call(api, tenant, n)
                answers[answer.status_code] = answers.get(answer.status_code, 0) + 1

        await asyncio.gather(*(one(n) for n in range(first, first + count)))
    return answers


async def _new_items(stack: Stack, tenant: Tenant, count: int) -> None:
    async with httpx.AsyncClient(base_url=stack.service_url, timeout=120) as api:
        for n in range(count):
            answer = await api.put(
                f"/api/v1/items/{ITEM_TYPE}/new-{n}",
                json={"title": f"new {n}", "status": "Open", "url": f"https://host.example/new/{n}"},
                headers=tenant.headers,
            )
            answer.raise_for_status()


def start_service(stack: Stack, profile: str | None) -> Proc:
    stack.migrate()
    command = [str(BIN / "jirabridge")]
    if profile:
        command = [str(BIN / "python"), "-m", "cProfile", "-o", profile, "-m", "jirabridge.entrypoints.cli"]
    proc = stack._spawn(
        "service", [*command, "serve", "--port", str(stack.service_port), "--log-level", "warning"]
    )
    stack._wait_http(proc, f"{stack.service_url}/healthz")
    return proc


def run(
    args: argparse.Namespace, database_cpu: Callable[[], float] | None = None
) -> tuple[list[Figure], str | None]:
    options = StackOptions(
        latency_ms=0,
        rate_limit=100_000,
        database_url=args.database_url,
        keep=args.keep,
        extra_env={"JIRABRIDGE_TICKET_WAIT_S": "0"},
    )
    figures: list[Figure] = []
    with Stack(options) as stack:
        site = site_names(1)[0]
        stack.start_emulator(bench_seed([site], issues=_BASE))
        profile = str(stack.directory / "serve.prof") if args.profile else None
        proc = start_service(stack, profile)
        tenant = stack.seed_tenant([site])
        connect_worklog_user(stack, tenant)
        issues = seeded_issues(stack.emulator_state(), site)
        insert_linked_items(stack.database_url, tenant.workspace_id, tenant.sites[site], issues[:_BASE])
        total = args.warm_up + args.requests
        asyncio.run(_new_items(stack, tenant, total))
        for route, call in [*ROUTES.items(), (FLOOR, _liveness)]:
            asyncio.run(_batch(stack, tenant, call, 0, args.warm_up, args.concurrency))
            before, started = proc.stats().cpu_s, time.monotonic()
            database_before = database_cpu() if database_cpu else 0.0
            answers = asyncio.run(_batch(stack, tenant, call, args.warm_up, args.requests, args.concurrency))
            figures.append(
                Figure(
                    route,
                    args.requests,
                    proc.stats().cpu_s - before,
                    time.monotonic() - started,
                    answers,
                    database_cpu() - database_before if database_cpu else None,
                )
            )
        proc.stop(signal.SIGINT)
        report = None
        if profile:
            report = _profile_report(profile, args.top)
    return figures, report


def _profile_report(path: str, top: int) -> str:
    import io

    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def database_cpu_known(figures: list[Figure]) -> bool:
    return any(f.database_cpu_s is not None for f in figures)


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[Callable[[], float] | None]:
    """With --postgres: a throwaway server, its fresh database in `args.database_url`, and its CPU."""
    if not args.postgres:
        yield None
        return
    from bench._postgres import postgres

    with postgres() as pg:
        args.database_url = pg.fresh_database("serve")
        yield pg.cpu_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per route")
    parser.add_argument("--warm-up", type=int, default=100, help="requests per route before measuring")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL server and measure its CPU too"
    )
    parser.add_argument("--profile", action="store_true", help="run the service under cProfile")
    parser.add_argument("--top", type=int, default=40, help="functions in the profile's report")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, database)")
    args = parser.parse_args(argv)
    with _database(args) as database_cpu:
        figures, report = run(args, database_cpu)
    database = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"serve CPU per request on {database}, {args.concurrency} at a time; {machine()}")
    if args.profile:
        print("(under cProfile: absolute figures are inflated, compare shares)")
    database_column = f" {'database ms/request':>20}" if database_cpu_known(figures) else ""
    print(f"{'route':<18} {'answers':<14} {'requests/s':>10} {'CPU ms/request':>15}{database_column}")
    total_cpu = total_requests = total_database = 0.0
    floor = [f for f in figures if f.route == FLOOR]
    figures = [f for f in figures if f.route != FLOOR]
    for f in figures:
        answers = " ".join(f"{code}×{n}" for code, n in sorted(f.answers.items()))
        database_figure = (
            "" if f.database_cpu_s is None else f" {1000 * f.database_cpu_s / f.requests:>20.2f}"
        )
        print(
            f"{f.route:<18} {answers:<14} {f.requests / f.seconds:>10.0f}"
            f" {1000 * f.cpu_s / f.requests:>15.2f}{database_figure}"
        )
        total_cpu += f.cpu_s
        total_requests += f.requests
        total_database += f.database_cpu_s or 0.0
    database_total = f" {1000 * total_database / total_requests:>20.2f}" if database_column else ""
    print(f"{'all routes':<18} {'':<14} {'':>10} {1000 * total_cpu / total_requests:>15.2f}{database_total}")
    for f in floor:
        per_request = 1000 * f.cpu_s / f.requests
        print(
            f"floor: {f.route}, a route with no work of its own: {per_request:.2f} ms per request"
            f" (uvicorn, Starlette, FastAPI, the middlewares; {f.requests / f.seconds:.0f} requests/s)"
        )
    if report:
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
