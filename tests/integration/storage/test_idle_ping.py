"""PostgreSQL: a pooled connection is checked with a round trip before use only when it sat in the pool
longer than `IDLE_PING_S`; one that broke while idle is replaced without its caller seeing an error."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from jirabridge.storage import db
from jirabridge.storage.db import make_engine

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

IDLE_S = 0.3


@pytest.fixture(autouse=True)
def short_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", IDLE_S)


def _backend_pid(engine: Any) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


def test_a_connection_closed_while_idle_is_replaced_unseen(
    database_url: str, postgres_admin_url: str
) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    admin = make_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        first = _backend_pid(engine)
        with admin.connect() as connection:  # as a server restart or a proxy's idle timeout would
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(IDLE_S + 0.2)
        assert _backend_pid(engine) != first  # no error: the pool opened another connection
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_back_from_a_use_a_moment_ago_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        pid = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == pid
        assert pings == []  # five transactions, no extra round trip
        time.sleep(IDLE_S + 0.2)
        assert _backend_pid(engine) == pid
        assert len(pings) == 1  # idle long enough: checked once
    finally:
        engine.dispose()
