"""Reads that never write (`read_db`) do not wait for the SQLite write lock: a worker busy writing
still reads its next job's state at once. Units of work that write (`run_db`) take turns on SQLite."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jirabridge.bootstrap import build
from jirabridge.config import Settings
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage.migrate import upgrade


async def test_a_read_goes_through_while_another_transaction_holds_the_write_lock(tmp_path: Path) -> None:
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'jb.db'}", secret_key=SecretStr("x")))
    try:
        upgrade(container.engine)
        with container.uow() as writer:
            writer.session.execute(
                text(
                    "INSERT INTO workspaces (id, name, settings, created_at) "
                    "VALUES ('ws_1', 'Acme', '{}', '2026-01-01 00:00:00')"
                )
            )
            writer.session.flush()  # BEGIN IMMEDIATE: the write lock is held until commit

            started = time.monotonic()
            names = await read_db(
                container,
                lambda uow: uow.session.execute(text("SELECT name FROM workspaces")).scalars().all(),
            )

            assert time.monotonic() - started < 5  # not the 30 s busy timeout
            assert names == []  # the snapshot before the uncommitted insert
            writer.commit()
        assert await read_db(
            container, lambda uow: uow.session.execute(text("SELECT name FROM workspaces")).scalars().all()
        ) == ["Acme"]
    finally:
        container.close()


async def test_a_read_only_unit_of_work_refuses_to_commit(tmp_path: Path) -> None:
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'jb.db'}", secret_key=SecretStr("x")))
    try:
        upgrade(container.engine)

        def write(uow: UnitOfWork) -> None:
            uow.session.execute(
                text(
                    "INSERT INTO workspaces (id, name, settings, created_at) "
                    "VALUES ('ws_1', 'Acme', '{}', '2026-01-01 00:00:00')"
                )
            )
            uow.commit()

        with pytest.raises(RuntimeError, match="read-only"):
            await read_db(container, write)
        assert (
            await read_db(
                container, lambda uow: uow.session.execute(text("SELECT count(*) FROM workspaces")).scalar()
            )
            == 0
        )
    finally:
        container.close()


async def test_on_sqlite_units_of_work_that_write_take_turns_and_reads_run_beside_them(
    tmp_path: Path,
) -> None:
    # SQLite has one writer at a time: a second writing thread could only wait for the write lock
    # (handing it from thread to thread costs CPU), so `run_db` starts the next one when one ends.
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'jb.db'}", secret_key=SecretStr("x")))
    first_in, first_may_end, second_in = threading.Event(), threading.Event(), threading.Event()

    def first(uow: UnitOfWork) -> str:
        first_in.set()
        first_may_end.wait(30)
        return "first"

    def second(uow: UnitOfWork) -> str:
        second_in.set()
        return "second"

    try:
        upgrade(container.engine)
        one = asyncio.create_task(run_db(container, first))
        assert await asyncio.to_thread(first_in.wait, 30)
        two = asyncio.create_task(run_db(container, second))
        # A read does not queue behind the writes.
        assert await read_db(container, lambda uow: first_in.is_set() and not first_may_end.is_set())
        assert not await asyncio.to_thread(second_in.wait, 1)  # still waiting for its turn
        first_may_end.set()
        assert await asyncio.gather(one, two) == ["first", "second"]
    finally:
        first_may_end.set()
        container.close()
