"""One PostgreSQL connection that LISTENs on a channel, kept up for as long as it runs.

    await PgListener(conninfo, "channel", on_notify=..., on_state=...).run()   # until cancelled

Used by the service (storage/link_watch.py: a ticket the worker created) and by the worker
(storage/outbox_nudges.py: new work in the outbox). A notification is a hint, never the truth: each
user re-reads the database when notified and when the listener comes back up (`on_state(True)`),
since what was sent while it was down is gone. The connection:

- reconnects with a doubling pause (`reconnect_s`: first and longest) when the database goes away,
  refuses it, or the network breaks;
- checks itself after `keepalive_s` without a notification (`SELECT 1`): a dead peer sends nothing;
- is in autocommit mode and named `application_name`, so `pg_stat_activity` shows what it is.

A URL through a transaction-pooling PgBouncer hears nothing (`JIRABRIDGE_DATABASE_LISTEN_URL`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jirabridge.pg_listen")

NO_LISTEN = "none"  # JIRABRIDGE_DATABASE_LISTEN_URL: do not listen, poll
KEEPALIVE_S = 20.0
RECONNECT_S = (0.5, 10.0)


def conninfo_for(database_url: str) -> str:
    """psycopg's connection string from the service's SQLAlchemy URL (`postgresql+psycopg://…`)."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    def __init__(
        self,
        conninfo: str,
        channel: str,
        *,
        on_notify: Callable[[str], None],
        on_state: Callable[[bool], None],
        application_name: str,
        keepalive_s: float = KEEPALIVE_S,
        reconnect_s: tuple[float, float] = RECONNECT_S,
    ) -> None:
        self._conninfo = conninfo  # holds the password: never logged
        self.channel = channel
        self._on_notify = on_notify
        self._on_state = on_state
        self._application_name = application_name
        self._keepalive_s = keepalive_s
        self._reconnect_s = reconnect_s
        self.listening = False

    async def run(self) -> None:
        pause = self._reconnect_s[0]
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                self._set_listening(False)
                raise
            except Exception as error:  # the database went away, refused us, or the network did
                log.warning(
                    "pg_listen.down channel=%s error=%s retry_in_s=%.1f",
                    self.channel,
                    type(error).__name__,
                    pause,
                )
            if self.listening:
                pause = self._reconnect_s[0]  # it had worked: start the back-off again
            self._set_listening(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._reconnect_s[1])

    async def _listen_once(self) -> None:
        import psycopg

        connection: Any = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name=self._application_name
        )
        async with connection:
            await connection.execute(f"LISTEN {self.channel}")
            self._set_listening(True)
            while True:
                async for notice in connection.notifies(timeout=self._keepalive_s):
                    self._on_notify(notice.payload)
                # Quiet for `keepalive_s`: make sure the connection is alive (a dead one raises).
                async with asyncio.timeout(self._keepalive_s):  # not `wait_for`: see link_watch.py
                    await connection.execute("SELECT 1")

    def _set_listening(self, listening: bool) -> None:
        if listening != self.listening:
            log.info("pg_listen.%s channel=%s", "listening" if listening else "not_listening", self.channel)
            self.listening = listening
            self._on_state(listening)
