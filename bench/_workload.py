"""The host's side of a benchmark: a plan of mixed changes and the HTTP calls that push them.

A change is one thing a host does that implies Jira work: create a ticket for a new item, change the
status of a linked item, add a comment to it, push a time entry (a worklog). Kinds are pluggable: each
is a `Kind` with a `push` coroutine; `plan` draws them in the proportions of a mix such as
`create=0.3,status=0.35,comment=0.35`. The `worklog` kind needs `PUT /api/v1/time-entries/{id}` and
is used only when the service's OpenAPI lists it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from bench._stack import HOST_STATUSES, Stack, Tenant

ITEM_TYPE = "finding"
WORKLOG_USER = "u-bench"
TIME_ENTRIES_PREFIX = "/api/v1/time-entries/"


@dataclass(frozen=True)
class Change:
    kind: str
    item: str  # the item's host id
    site: str  # the emulator site name
    n: int  # its position in the plan (unique texts are built from it)
    value: str | None = None  # a status, a comment body, a summary


@dataclass
class Pushed:
    """What the host pushed, for the expected state at the end (chaos) and the figures."""

    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    refused: list[tuple[Change, int, str]] = field(default_factory=list)


Push = Callable[[httpx.AsyncClient, Tenant, Change], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Kind:
    name: str
    push: Push
    needs_base: bool  # acts on an item that is already linked


async def _create(api: httpx.AsyncClient, tenant: Tenant, change: Change) -> httpx.Response:
    item = {
        "title": change.value or f"item {change.item}",
        "status": "Open",
        "url": f"https://host.example/{ITEM_TYPE}/{change.item}",
    }
    answer = await api.put(f"/api/v1/items/{ITEM_TYPE}/{change.item}", json=item, headers=tenant.headers)
    if answer.status_code >= 400:
        return answer
    return await api.post(
        f"/api/v1/items/{ITEM_TYPE}/{change.item}/tickets",
        json={"site": tenant.sites[change.site]},
        headers={**tenant.headers, "Idempotency-Key": f"create-{change.item}"},
    )


async def _status(api: httpx.AsyncClient, tenant: Tenant, change: Change) -> httpx.Response:
    return await api.put(
        f"/api/v1/items/{ITEM_TYPE}/{change.item}",
        json={"title": f"item {change.item}", "status": change.value},
        headers=tenant.headers,
    )


async def _comment(api: httpx.AsyncClient, tenant: Tenant, change: Change) -> httpx.Response:
    return await api.post(
        f"/api/v1/items/{ITEM_TYPE}/{change.item}/comments",
        json={"body": change.value, "author": "bench"},
        headers={**tenant.headers, "Idempotency-Key": f"comment-{change.n}"},
    )


async def _worklog(api: httpx.AsyncClient, tenant: Tenant, change: Change) -> httpx.Response:
    # The shape of SPEC section 2; the issue key travels in `value` ("KEY|description").
    key, _, text = (change.value or "").partition("|")
    return await api.put(
        f"/api/v1/time-entries/te-{change.n}",
        json={
            "user": WORKLOG_USER,
            "started_at": "2026-01-15T10:00:00Z",
            "duration_s": 600 + change.n % 3000,
            "running": False,
            "description": text,
            "issue_key": key,
            "site": tenant.sites[change.site],
        },
        headers=tenant.headers,
    )


KINDS: dict[str, Kind] = {
    "create": Kind("create", _create, needs_base=False),
    "status": Kind("status", _status, needs_base=True),
    "comment": Kind("comment", _comment, needs_base=True),
    "worklog": Kind("worklog", _worklog, needs_base=True),
}
DEFAULT_MIX = {"create": 0.3, "status": 0.35, "comment": 0.35}
WORKLOG_MIX = {"create": 0.25, "status": 0.25, "comment": 0.25, "worklog": 0.25}


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in KINDS:
            raise ValueError(f"unknown change kind {name!r}; known: {', '.join(KINDS)}")
        mix[name.strip()] = float(share)
    total = sum(mix.values())
    return {name: share / total for name, share in mix.items()}


def worklogs_available(stack: Stack) -> bool:
    """Whether the service has the time-entries endpoint yet (issue 6)."""
    spec = httpx.get(f"{stack.service_url}/openapi.json", timeout=30).json()
    return any(path.startswith(TIME_ENTRIES_PREFIX) for path in spec.get("paths", {}))


def default_mix(stack: Stack) -> dict[str, float]:
    return dict(WORKLOG_MIX if worklogs_available(stack) else DEFAULT_MIX)


def counts(total: int, mix: dict[str, float]) -> dict[str, int]:
    """Whole numbers per kind adding up to `total`."""
    shares = {name: int(total * share) for name, share in mix.items()}
    first = next(iter(mix))
    shares[first] += total - sum(shares.values())
    return shares


def plan(
    total: int,
    mix: dict[str, float],
    base: Mapping[str, Sequence[tuple[str, str]]],
    rng: random.Random,
    *,
    one_status_each: bool,
    new_prefix: str = "new",
) -> list[Change]:
    """`total` changes in random order across the sites of `base` (site -> [(item id, issue key)]).
    With `one_status_each`, each base item changes status at most once, from Open to each other host
    status in turn (Acknowledged, Fixed, Acknowledged …: a different transition every other change):
    one Jira transition per change. Otherwise statuses are drawn at random (the chaos run)."""
    per_kind = counts(total, mix)
    sites = sorted(base)
    changes: list[Change] = []
    n = 0
    status_pool = {site: list(base[site]) for site in sites}
    moves = [status for status in HOST_STATUSES if status != "Open"]  # base items start Open
    for pool in status_pool.values():
        rng.shuffle(pool)
    for kind, count in per_kind.items():
        for i in range(count):
            site = sites[i % len(sites)]
            n += 1
            if kind == "create":
                item = f"{new_prefix}-{n}"
                changes.append(Change(kind, item, site, n, f"bench {item}"))
                continue
            if kind == "status" and one_status_each:
                pool = status_pool[site]
                if not pool:
                    raise ValueError(f"more status changes than base items on {site}")
                item, _ = pool.pop()
                changes.append(Change(kind, item, site, n, moves[i % len(moves)]))
                continue
            item, key = rng.choice(base[site])
            if kind == "status":
                changes.append(Change(kind, item, site, n, rng.choice(HOST_STATUSES)))
            elif kind == "comment":
                changes.append(Change(kind, item, site, n, f"bench comment c{n:06d}"))
            else:
                changes.append(Change(kind, item, site, n, f"{key}|bench worklog w{n:06d}"))
    rng.shuffle(changes)
    return changes


async def _push_all(
    stack: Stack, tenant: Tenant, changes: Sequence[Change], concurrency: int, ordered: bool
) -> Pushed:
    pushed = Pushed()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.service_url, timeout=120, limits=limits) as api:
        # Changes to one item go in plan order (a host pushes its record's states in order), different
        # items in parallel.
        lanes: dict[str, list[Change]] = {}
        for change in changes:
            lanes.setdefault(change.item if ordered else str(change.n), []).append(change)
        queue: asyncio.Queue[list[Change]] = asyncio.Queue()
        for lane in lanes.values():
            queue.put_nowait(lane)

        async def run() -> None:
            while not queue.empty():
                for change in queue.get_nowait():
                    answer = await KINDS[change.kind].push(api, tenant, change)
                    if answer.status_code >= 400:
                        pushed.refused.append((change, answer.status_code, answer.text[:300]))
                    else:
                        pushed.changes.append(change)

        started = time.monotonic()
        await asyncio.gather(*(run() for _ in range(concurrency)))
        pushed.seconds = time.monotonic() - started
    return pushed


def push(
    stack: Stack, tenant: Tenant, changes: Sequence[Change], *, concurrency: int = 8, ordered: bool = True
) -> Pushed:
    """Push the changes through the HTTP API, `concurrency` at a time."""
    return asyncio.run(_push_all(stack, tenant, changes, concurrency, ordered))


def connect_worklog_user(stack: Stack, tenant: Tenant) -> None:
    """The time entries' user, connected to each site with the bot's token (worklogs need it)."""
    from bench._stack import BOT_EMAIL, BOT_TOKEN

    with stack.api() as api:
        api.put(
            f"/api/v1/users/{WORKLOG_USER}",
            json={"email": BOT_EMAIL, "name": "Bench"},
            headers=tenant.headers,
        )
        for site_id in tenant.sites.values():
            api.post(
                f"/api/v1/users/{WORKLOG_USER}/jira",
                json={
                    "site": site_id,
                    "auth": {"type": "api_token", "email": BOT_EMAIL, "api_token": BOT_TOKEN},
                },
                headers=tenant.headers,
            )
