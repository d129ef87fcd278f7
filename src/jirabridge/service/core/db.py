"""Running synchronous database work from async code: one unit of work, on the event loop's own
thread when it need not wait, else on a worker thread.

On SQLite a unit of work runs on the event loop's thread, at once, whenever it can have the
database without waiting: always for one that only reads (`read_db`: in WAL mode a reader never
waits), and for one that writes when no other thread of this process and no other process holds the
write lock (its `BEGIN IMMEDIATE` is tried without waiting: storage/db.py `NO_WAIT`). SQLite answers
in microseconds from its page cache, so handing such work to a thread cost more than the work: the
wake-up of the thread, the two threads taking turns at the GIL and the answer's way back to the loop
were about a third of the service's CPU per request (bench/serve_cpu.py). A unit of work that finds
the lock taken raises `WouldWait` before any of it ran, and goes to a thread as below. The loop is
held for the work's own time only (a few hundred microseconds); a unit of work that commits and goes
on begins its next transaction normally, and may wait there.

On PostgreSQL every unit of work runs on a thread: each statement is a round trip to the server.

At most `DB_THREADS` units of work of one event loop run on threads at once; the rest wait their turn
in the loop. With a thread per waiting job (anyio's default allows 40), a busy worker's threads
fought over the GIL while one of them held the database's write lock, which made every write wait
longer (bench/outbound.py).

On SQLite, units of work that write run one at a time on threads (`SQLITE_WRITERS`): SQLite has one
writer at a time anyway, so a second writing thread could only wait for the write lock, and handing
the lock from thread to thread (a wake-up and a fight for the GIL each time) cost the service about a
tenth of its CPU per request (bench/serve_cpu.py). Reads (`read_db`) still run `DB_THREADS` at a
time, beside it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import UnitOfWork, WouldWait

T = TypeVar("T")

DB_THREADS = 6
SQLITE_WRITERS = 1
# Per event loop, by kind: "read", "write", "write on SQLite".
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, anyio.CapacityLimiter]] = (
    weakref.WeakKeyDictionary()
)


def _on_sqlite(container: Services) -> bool:
    return container.settings.database_url.startswith("sqlite")


def _limiter(container: Services, *, writes: bool) -> anyio.CapacityLimiter:
    kind = "read"
    if writes:
        kind = "write on SQLite" if _on_sqlite(container) else "write"
    limiters = _limiters.setdefault(asyncio.get_running_loop(), {})
    limiter = limiters.get(kind)
    if limiter is None:
        limiter = limiters[kind] = anyio.CapacityLimiter(
            SQLITE_WRITERS if kind == "write on SQLite" else DB_THREADS
        )
    return limiter


def _run(container: Services, work: Callable[[UnitOfWork], T], *, read_only: bool, no_wait: bool) -> T:
    uow = container.uow()
    uow.read_only, uow.no_wait = read_only, no_wait
    with uow:
        return work(uow)


async def run_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    if _on_sqlite(container):
        try:
            return _run(container, work, read_only=False, no_wait=True)
        except WouldWait:
            pass  # another thread or process is writing: wait for it on a thread
    run = partial(_run, container, work, read_only=False, no_wait=False)
    return await anyio.to_thread.run_sync(run, limiter=_limiter(container, writes=True))


async def read_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    """`run_db` for work that only reads: on SQLite it takes no write lock, so a busy worker's reads
    do not wait behind its writes (a write in it raises when it commits)."""
    if _on_sqlite(container):
        return _run(container, work, read_only=True, no_wait=False)
    run = partial(_run, container, work, read_only=True, no_wait=False)
    return await anyio.to_thread.run_sync(run, limiter=_limiter(container, writes=False))
