"""Running synchronous database work from async code: one unit of work on a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from jirabridge.service.ports import Services
from jirabridge.service.unit_of_work import UnitOfWork

T = TypeVar("T")


async def run_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    def run() -> T:
        with container.uow() as uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run)


async def read_db(container: Services, work: Callable[[UnitOfWork], T]) -> T:
    """`run_db` for work that only reads: on SQLite it takes no write lock, so a busy worker's reads
    do not wait behind its writes (a write in it raises when it commits)."""

    def run() -> T:
        uow = container.uow()
        uow.read_only = True
        with uow:
            return work(uow)

    return await anyio.to_thread.run_sync(run)
