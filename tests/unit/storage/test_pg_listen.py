"""The database listener stops when its task is cancelled (the service shutting down), even when its
keepalive query answered in the same turn of the loop (no database: a stand-in connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from jirabridge.storage.pg_listen import PgListener


class QuietConnection:
    """LISTENs, never hears a notification, and answers each keepalive when the test says so."""

    def __init__(self) -> None:
        self.keepalive: asyncio.Future[None] | None = None
        self.keepalive_sent = asyncio.Event()

    async def __aenter__(self) -> QuietConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: str) -> None:
        if query.startswith("LISTEN"):
            return
        self.keepalive = asyncio.get_running_loop().create_future()
        self.keepalive_sent.set()
        await self.keepalive

    async def notifies(self, **options: object) -> AsyncIterator[Any]:
        for _ in ():  # quiet for the whole `timeout` it is given
            yield None


async def test_a_cancelled_listener_stops_even_when_its_keepalive_answered_in_the_same_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = QuietConnection()

    async def connect(*args: object, **kwargs: object) -> QuietConnection:
        return connection

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
    listener = PgListener(
        "postgresql://nobody@127.0.0.1:1/none",
        "jirabridge_test",
        on_notify=lambda payload: None,
        on_state=lambda listening: None,
        application_name="test",
    )
    task = asyncio.create_task(listener.run())
    await asyncio.wait_for(connection.keepalive_sent.wait(), 5)
    assert listener.listening and connection.keepalive is not None
    connection.keepalive.set_result(None)  # the database answered ...
    task.cancel()  # ... as the service shuts down
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)  # a listener that missed the cancellation never ends
    assert not listener.listening
