"""Waking a request that waits for a pending link (a ticket the worker is creating) to settle.

`POST …/tickets` gives the worker a moment (`ticket_wait_s`) to create the issue, so the answer
usually carries the key. How it learns that the link settled depends on the database:

- PostgreSQL: the links table's trigger (migration 0009) sends `NOTIFY jirabridge_link_settled` with
  the link's id when a link stops being `pending`, from the transaction that records the outcome, so
  the notification goes out when that transaction commits. One connection per serve process
  LISTENs (`PgLinkWatch`) and wakes the requests waiting on that id. A lost notification costs
  latency, never correctness: while the listener is not listening (not yet connected, the database
  restarted, the connection died) every waiter re-reads its link every `fallback_poll_s`, and when
  it listens again every waiter re-reads once (what was sent in between is gone).
  Behind a transaction-pooling PgBouncer a LISTEN hears nothing (the session's server connection
  changes between transactions): `JIRABRIDGE_DATABASE_LISTEN_URL` then names a direct connection,
  or `none` for the growing poll below.
- SQLite (embedded, one host): there is no signal between processes; `PollingLinkWatch` re-reads at
  a growing interval, 20 ms doubling to 500 ms, so a quick create is seen within a few tens of ms and
  a slow one costs a read every half second.

The caller re-reads the link when a waiter says "look now", and decides.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from jirabridge.storage.pg_listen import KEEPALIVE_S, NO_LISTEN, RECONNECT_S, PgListener, conninfo_for

CHANNEL = "jirabridge_link_settled"

FIRST_POLL_S = 0.02
MAX_POLL_S = 0.5
FALLBACK_POLL_S = 1.0
# Link ids notified recently, kept so a notification that arrives between the ticket's commit and its
# waiter's registration still wakes it.
RECENT = 4096


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


class PollingWait:
    """One request's wait on SQLite: each call sleeps twice as long as the last, up to `MAX_POLL_S`."""

    def __init__(self) -> None:
        self._interval = FIRST_POLL_S

    async def wait(self, deadline: float) -> bool:
        remaining = _remaining(deadline)
        interval, self._interval = self._interval, min(self._interval * 2, MAX_POLL_S)
        await asyncio.sleep(min(interval, remaining))
        return interval < remaining  # at the deadline, the answer is what was last read


class PollingLinkWatch:
    """For SQLite: no signal, a growing poll."""

    @contextlib.asynccontextmanager
    async def watch(self, link_id: str) -> AsyncIterator[PollingWait]:
        yield PollingWait()

    async def aclose(self) -> None:
        return None


class ListenWait:
    """One request's wait on PostgreSQL: woken by its link's notification, or at the fallback poll
    interval while the listener is not listening."""

    def __init__(self, watch: PgLinkWatch, link_id: str) -> None:
        self._watch = watch
        self.link_id = link_id
        self.woken = asyncio.Event()

    async def wait(self, deadline: float) -> bool:
        remaining = _remaining(deadline)
        # Not listening: look every `fallback_poll_s`; a notification may have been lost.
        poll_due = not self._watch.listening and self._watch.fallback_poll_s < remaining
        timeout = self._watch.fallback_poll_s if poll_due else remaining
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` returns normally when the wake
        # and the request's cancellation come in the same loop turn, and the cancelled request would
        # go on waiting.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.woken.wait()
        woken = self.woken.is_set()
        self.woken.clear()
        return woken or poll_due  # at the deadline, the answer is what was last read


class PgLinkWatch:
    """One LISTENing connection per process (started on the first wait, in that event loop), and the
    requests waiting on it, by link id."""

    def __init__(
        self,
        conninfo: str,
        *,
        fallback_poll_s: float = FALLBACK_POLL_S,
        keepalive_s: float = KEEPALIVE_S,
        reconnect_s: tuple[float, float] = RECONNECT_S,
    ) -> None:
        self.fallback_poll_s = fallback_poll_s
        self._listener = PgListener(
            conninfo,
            CHANNEL,
            on_notify=self._notified,
            on_state=self._state_changed,
            application_name="jirabridge-link-watch",
            keepalive_s=keepalive_s,
            reconnect_s=reconnect_s,
        )
        self._waiters: dict[str, set[ListenWait]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_url(cls, database_url: str, **options: Any) -> PgLinkWatch:
        """From the service's SQLAlchemy URL (`postgresql+psycopg://…`)."""
        return cls(conninfo_for(database_url), **options)

    @property
    def listening(self) -> bool:
        return self._listener.listening

    @property
    def waiting(self) -> int:
        """Requests waiting now (each leaves when its wait ends, however it ends)."""
        return sum(len(group) for group in self._waiters.values())

    @contextlib.asynccontextmanager
    async def watch(self, link_id: str) -> AsyncIterator[ListenWait]:
        self._ensure_listener()
        waiter = ListenWait(self, link_id)
        if link_id in self._recent:
            waiter.woken.set()
        self._waiters.setdefault(link_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            group = self._waiters.get(link_id)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[link_id]

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done() and self._loop is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listener.listening = False

    def _ensure_listener(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._listener.listening = False
        self._task = loop.create_task(self._listener.run(), name="jirabridge-link-watch")

    def _notified(self, link_id: str) -> None:
        self._recent[link_id] = None
        self._recent.move_to_end(link_id)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        for waiter in self._waiters.get(link_id, ()):
            waiter.woken.set()

    def _state_changed(self, listening: bool) -> None:
        # Going down: waiters switch to the fallback poll. Up again: what was notified meanwhile is
        # lost, so every waiter looks once.
        for group in self._waiters.values():
            for waiter in group:
                waiter.woken.set()


def link_watch_for(database_url: str, listen_url: str | None = None) -> PgLinkWatch | PollingLinkWatch:
    """The watch that fits the database: LISTEN on PostgreSQL (on `listen_url` when given, a direct
    connection when the database URL goes through a transaction-pooling PgBouncer), a growing poll on
    SQLite or when `listen_url` is `none`."""
    if database_url.startswith("postgresql") and listen_url != NO_LISTEN:
        return PgLinkWatch.for_url(listen_url or database_url)
    return PollingLinkWatch()
