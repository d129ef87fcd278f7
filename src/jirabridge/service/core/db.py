"""Running synchronous database work from async code: one unit of work on a worker thread.

At most `DB_THREADS` units of work of one event loop run at once; the rest wait their turn in the
loop. With a thread per waiting job (anyio's default allows 40), a busy worker's threads fought over
the GIL while one of them held the database's write lock, which made every write wait longer
(bench/outbound.py).

On SQLite, units of work that write run one at a time (`SQLITE_WRITERS`): SQLite has one writer at
a time anyway, so a second writing thread could only wait for the write lock, and handing the lock
from thread to thread (a wake-up and a fight for the GIL each time) cost the service about a tenth
of its CPU per request (bench/serve_cpu.py). One thread at a time takes the lock when it is free and
gives it back with nobody waiting. Reads (`read_db`) still run `DB_THREADS` at a time, beside it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import UnitOfWork

T = TypeVar("T")

DB_THREADS = 6
SQLITE_WRITERS = 1
# Per event loop, by kind: "read", "write", "write on SQLite".
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, anyio.CapacityLimiter]] = (
    weakref.WeakKeyDictionary()
)


def _limiter(container: Services, *, writes: bool) -> anyio.CapacityLimiter:
    kind = "read"
    if writes:
        kind = "write on SQLite" if container.settings.database_url.startswith("sqlite") else "write"
    limiters = _limiters.setdefault(asyncio.get_running_loop(), {})
    limiter = limiters.get(kind)
    if limiter is None:
        limiter = limiters[kind] = anyio.CapacityLimiter(
            SQLITE_WRITERS if kind == "write on SQLite" else DB_THREADS
        )
    return limiter


async def run_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    def run() -> T:
        with container.uow() as uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run, limiter=_limiter(container, writes=True))


async def read_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    """`run_db` for work that only reads: on SQLite it takes no write lock, so a busy worker's reads
    do not wait behind its writes (a write in it raises when it commits)."""

    def run() -> T:
        uow = container.uow()
        uow.read_only = True
        with uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run, limiter=_limiter(container, writes=False))
