"""Running synchronous database work from async code: one unit of work on a worker thread.

At most `DB_THREADS` units of work of one event loop run at once; the rest wait their turn in the
loop. With a thread per waiting job (anyio's default allows 40), a busy worker's threads fought over
the GIL while one of them held the database's write lock, which made every write wait longer
(bench/outbound.py).
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
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(DB_THREADS)
    return limiter


async def run_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    def run() -> T:
        with container.uow() as uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run, limiter=_limiter())


async def read_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    """`run_db` for work that only reads: on SQLite it takes no write lock, so a busy worker's reads
    do not wait behind its writes (a write in it raises when it commits)."""

    def run() -> T:
        uow = container.uow()
        uow.read_only = True
        with uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run, limiter=_limiter())
