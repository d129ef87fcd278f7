"""Engines and sessions. SQLite by default, PostgreSQL via `postgresql+psycopg://`.

On SQLite every transaction starts with `BEGIN IMMEDIATE` (WAL mode): writers queue on the database
lock instead of failing with "database is locked" when a read transaction tries to upgrade, which is
what makes one SQLite file safe for the service and a worker at once. A transaction that only reads
(a connection with the execution option `READ_ONLY`, see service/core/db.py `read_db`) starts with a plain
`BEGIN` instead: in WAL mode it reads a snapshot without taking the write lock, so the worker's reads
do not queue behind its writes.

Within one process, write transactions on SQLite also take a lock of the engine's before their
`BEGIN IMMEDIATE`, held until the connection goes back to the pool. SQLite makes a writer that finds
the database locked sleep and look again (1, 2, 5 … up to 100 ms), so a busy worker's threads spent
more time asleep than the lock was held; the lock hands the database to the next thread the moment
it is free. (Between processes, SQLite's own waiting still applies.)

A write transaction on a connection with the execution option `NO_WAIT` waits for neither: when
this process's lock or SQLite's is taken, its `BEGIN` raises `WouldWait` at once, before anything
ran in it (service/core/db.py runs a unit of work on the event loop's own thread this way, and
hands it to a thread only when it would wait).

On PostgreSQL a pooled connection is checked with a round trip before it is used again only when it
sat in the pool longer than `IDLE_PING_S` (`_ping_when_idle`): what breaks a connection between uses
(a server restart, an idle timeout of a proxy or a firewall) happens while it is idle, and a busy
process takes its connections back within milliseconds, where a ping on every checkout
(`pool_pre_ping`) was one more round trip per transaction. A connection that broke anyway fails its
transaction, and SQLAlchemy then replaces every connection of the pool.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "Engine",
    "Sessions",
    "WouldWait",
    "keeping_rows",
    "make_engine",
    "not_waiting",
    "ping",
    "session_factory",
]

# What code outside storage types its database handles with, so that only storage imports SQLAlchemy.
Sessions = sessionmaker[Session]

READ_ONLY = "jirabridge_read_only"  # execution option: this transaction never writes
NO_WAIT = "jirabridge_no_wait"  # execution option: raise `WouldWait` rather than wait for the write lock


class WouldWait(Exception):
    """A `NO_WAIT` transaction found the database's write lock taken; nothing ran in it."""


BUSY_TIMEOUT_S = 30
# SQLite connections are cheap to keep and costly to open (the pragmas below run on each): keep as
# many as the threads that may use them at once (the service answers requests on up to 40 threads).
SQLITE_POOL = {"pool_size": 40, "max_overflow": 20}
_HOLDS_WRITE_LOCK = "jirabridge_write_lock"
IDLE_PING_S = 5.0  # PostgreSQL: a connection idle in the pool longer than this is pinged before use
_IDLE_SINCE = "jirabridge_idle_since"


def make_engine(url: str, **kwargs: Any) -> Engine:
    # SQLAlchemy puts a failed statement's parameters in its error message, and those can be sealed
    # credentials or an OAuth state: keep them out of errors, hence out of logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        pool = SQLITE_POOL if ":memory:" not in url else {}
        engine = create_engine(url, connect_args=connect_args, **(pool | kwargs))
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """See the module docstring. A failed ping makes the pool open a new connection instead
    (SQLAlchemy's `DisconnectionError` from a checkout listener)."""

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return  # just opened, or back from a use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError(f"a pooled connection was closed: {error}") from error
            raise


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        no_wait = options.get(NO_WAIT, False)
        held = connection.connection.info
        if not held.get(_HOLDS_WRITE_LOCK):
            if no_wait and not write_lock.acquire(blocking=False):
                raise WouldWait("another thread of this process holds the write lock")
            if not no_wait and not write_lock.acquire(timeout=BUSY_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked (by another thread of this process)")
            held[_HOLDS_WRITE_LOCK] = True  # released when the connection goes back to the pool
        if no_wait:
            _begin_immediate_now(connection.connection.dbapi_connection)
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def release(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        if record is not None and record.info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()

    event.listen(engine, "checkin", release)
    event.listen(engine, "invalidate", release)


def _begin_immediate_now(dbapi_connection: Any) -> None:
    """`BEGIN IMMEDIATE` that does not wait for another process's write lock."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # any extended code
            raise WouldWait("another process holds the database's write lock") from error
        raise
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")


def ping(engine: Engine) -> None:
    """Raise unless the database answers a trivial query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def not_waiting(sessions: sessionmaker[Session]) -> sessionmaker[Session] | None:
    """Sessions like `sessions`' whose write transactions raise `WouldWait` rather than wait for the
    write lock (`NO_WAIT`), on SQLite; None on PostgreSQL, where every statement is a round trip."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    at_once = engine.execution_options(**{NO_WAIT: True})
    return sessionmaker(class_=sessions.class_, **(sessions.kw | {"bind": at_once}))


_KEPT_ROWS = "jirabridge.kept_rows"


def keeping_rows(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions like `sessions`' that hold every row they load until they close.

    A session's identity map holds its rows weakly: a row nobody references any more is dropped, and
    the next `get` of it runs its SELECT again. The worker's claim reads each claimed operation's
    site, project and workspace once per operation, and a record applies several outcomes, each
    reading the same few rows: with the rows kept, each is read once per transaction. Only for
    transactions that read a bounded number of rows (a batch of operations), never for a scan."""
    kept = sessionmaker(class_=sessions.class_, **sessions.kw)  # a subclass: listeners only on it

    def keep(session: Session, instance: object) -> None:
        rows: list[object] | None = session.info.get(_KEPT_ROWS)
        if rows is None:
            rows = session.info[_KEPT_ROWS] = []
        rows.append(instance)

    for transition in ("loaded_as_persistent", "pending_to_persistent", "detached_to_persistent"):
        event.listen(kept, transition, keep)
    return kept
