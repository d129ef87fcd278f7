"""Reads that never write (`read_db`) do not wait for the SQLite write lock: a worker busy writing
still reads its next job's state at once. On SQLite a unit of work runs on the event loop's own
thread when it can have the database at once, and on a thread when it would wait, where units of
work that write (`run_db`) take turns."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.core.unit_of_work import UnitOfWork, WouldWait
from jirabridge.storage.migrate import upgrade

INSERT_ACME = (
    "INSERT INTO workspaces (id, name, settings, created_at) "
    "VALUES ('ws_1', 'Acme', '{}', '2026-01-01 00:00:00')"
)


@dataclass
class Database:
    container: Container
    path: Path  # the SQLite file


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A service container on a migrated SQLite file."""
    path = tmp_path / "jb.db"
    container = build(Settings(database_url=f"sqlite:///{path}", secret_key=SecretStr("x")))
    upgrade(container.engine)
    yield Database(container, path)
    container.close()


@contextmanager
def another_process_writing(path: Path) -> Iterator[sqlite3.Connection]:
    """The database's write lock held by another connection of its own, as another process would."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.close()


def insert_acme(uow: UnitOfWork) -> None:
    uow.session.execute(text(INSERT_ACME))


def names(uow: UnitOfWork) -> list[str]:
    return list(uow.session.execute(text("SELECT name FROM workspaces")).scalars())


async def test_a_read_goes_through_while_another_transaction_holds_the_write_lock(db: Database) -> None:
    with db.container.uow() as writer:
        insert_acme(writer)
        writer.session.flush()  # BEGIN IMMEDIATE: the write lock is held until commit

        started = time.monotonic()
        seen = await read_db(db.container, names)

        assert time.monotonic() - started < 5  # not the 30 s busy timeout
        assert seen == []  # the snapshot before the uncommitted insert
        writer.commit()
    assert await read_db(db.container, names) == ["Acme"]


async def test_a_read_only_unit_of_work_refuses_to_commit(db: Database) -> None:
    def write(uow: UnitOfWork) -> None:
        insert_acme(uow)
        uow.commit()

    with pytest.raises(RuntimeError, match="read-only"):
        await read_db(db.container, write)
    assert await read_db(db.container, names) == []


async def test_on_sqlite_a_unit_of_work_that_can_have_the_database_at_once_runs_on_the_loops_thread(
    db: Database,
) -> None:
    loop_thread = threading.get_ident()

    def write(uow: UnitOfWork) -> int:
        insert_acme(uow)
        uow.commit()
        return threading.get_ident()

    assert await run_db(db.container, write) == loop_thread
    assert await read_db(db.container, lambda uow: threading.get_ident()) == loop_thread
    assert await read_db(db.container, names) == ["Acme"]


async def test_on_sqlite_a_write_that_would_wait_for_another_process_waits_on_a_thread_not_on_the_loop(
    db: Database,
) -> None:
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def write(uow: UnitOfWork) -> str:
        ran_on.append(threading.get_ident())
        insert_acme(uow)
        uow.commit()
        return "written"

    with another_process_writing(db.path) as other:
        task = asyncio.create_task(run_db(db.container, write))
        started = time.monotonic()
        await asyncio.sleep(0.3)  # the loop goes on while the write waits
        assert time.monotonic() - started < 1.5
        assert not task.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(task, 10) == "written"
    # Run once, on a thread: the attempt on the loop's thread stopped before any of it ran.
    assert len(ran_on) == 1 and ran_on[0] != loop_thread
    # The attempt that would have waited gave its connection back: none is left checked out.
    assert db.container.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_no_wait_unit_of_work_raises_at_once_and_gives_its_connection_back(db: Database) -> None:
    with another_process_writing(db.path):
        started = time.monotonic()
        for _ in range(100):  # more than the pool holds (60)
            uow = db.container.uow()
            uow.no_wait = True
            with pytest.raises(WouldWait), uow:
                pass
        assert time.monotonic() - started < 5  # never the 30 s busy timeout
        assert db.container.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with db.container.uow() as uow:  # and the process's own write lock was given back
        insert_acme(uow)
        uow.commit()


async def test_on_sqlite_units_of_work_that_write_take_turns_on_threads_and_reads_run_beside_them(
    db: Database,
) -> None:
    # SQLite has one writer at a time: a second writing thread could only wait for the write lock
    # (handing it from thread to thread costs CPU), so `run_db` starts the next one when one ends.
    # Both go to threads here: another process holds the write lock when they start.
    first_in, first_may_end, second_in = threading.Event(), threading.Event(), threading.Event()

    def first(uow: UnitOfWork) -> str:
        insert_acme(uow)  # it holds the write lock until it ends
        first_in.set()
        first_may_end.wait(30)
        return "first"

    def second(uow: UnitOfWork) -> str:
        second_in.set()
        return "second"

    try:
        with another_process_writing(db.path):
            one = asyncio.create_task(run_db(db.container, first))
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(first_in.wait, 30)
        two = asyncio.create_task(run_db(db.container, second))
        # A read does not queue behind the writes.
        assert await read_db(db.container, lambda uow: first_in.is_set() and not first_may_end.is_set())
        assert not await asyncio.to_thread(second_in.wait, 1)  # still waiting for its turn
        first_may_end.set()
        assert await asyncio.gather(one, two) == ["first", "second"]
    finally:
        first_may_end.set()  # the thread of `first` ends before the fixture closes the database
