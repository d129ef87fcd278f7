"""Waking an idle worker when new work is queued, instead of at its next poll (PostgreSQL).

Migration 0010's trigger sends `NOTIFY jirabridge_outbox` when a transaction that queued operations
commits. Each worker keeps one LISTENing connection (storage/pg_listen.py) and, when it hears one,
claims what is due at once: a ticket a host asked for is created within the claim's round trip, not
up to `poll_s` later. A nudge is only a hint: the worker still polls, so a lost notification (the
listener down, a database restart) costs at most a poll interval, and when the listener comes back
the worker claims once (what was queued meanwhile was not announced).

Each notification names the sites of the operations queued (migration 0011; `-` for operations of
no site). A worker busy with one site's backlog uses that to claim at once for a site it is not
serving, rather than at its next batched claim (workers/runner.py). `wake` is called with those
sites, or with None when they are not known (an empty payload, or the listener (re)connecting).

SQLite has no notifications: the one worker polls.
"""

from __future__ import annotations

from collections.abc import Callable

from jirabridge.storage.pg_listen import NO_LISTEN, PgListener, conninfo_for

CHANNEL = "jirabridge_outbox"
NO_SITE = "-"  # in a payload: operations of no site (host callbacks)

# The sites of the operations just queued (None in the set: of no site); None: not known.
Announced = frozenset[str | None] | None


def announced(payload: str) -> Announced:
    """The sites a notification names (migration 0011); None for an empty payload."""
    if not payload:
        return None
    return frozenset(None if site == NO_SITE else site for site in payload.split(",") if site)


class PgOutboxNudges:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo  # holds the password: never logged

    @classmethod
    def for_url(cls, database_url: str) -> PgOutboxNudges:
        return cls(conninfo_for(database_url))

    async def listen(self, wake: Callable[[Announced], None]) -> None:
        """Call `wake` for every notification (with the sites it names) and when the listener
        (re)connects (with None: what was queued meanwhile is not known); until cancelled."""

        def on_state(listening: bool) -> None:
            if listening:
                wake(None)

        listener = PgListener(
            self._conninfo,
            CHANNEL,
            on_notify=lambda payload: wake(announced(payload)),
            on_state=on_state,
            application_name="jirabridge-worker-nudges",
        )
        await listener.run()


def outbox_nudges_for(database_url: str, listen_url: str | None = None) -> PgOutboxNudges | None:
    """Nudges on PostgreSQL (on `listen_url` when given; none when it is `none`), else None."""
    if database_url.startswith("postgresql") and listen_url != NO_LISTEN:
        return PgOutboxNudges.for_url(listen_url or database_url)
    return None
