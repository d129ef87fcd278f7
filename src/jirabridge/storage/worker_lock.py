"""One worker process per SQLite file.

SQLite is the embedded default for one worker: every write takes the whole file, so a second worker
on it only queues behind the first (and two workers' pacers would each spend a site's whole budget).
Several workers need PostgreSQL. `jirabridge worker` holds an exclusive advisory lock (`flock`) on a
file next to the database for its whole life, and a second one on the same file is refused at start.

A lock rather than a row in the database: the operating system releases it when the process ends,
however it ends, so a worker killed with SIGKILL never blocks the next start. The lock file itself
stays (removing it while another process may be opening it would let two workers lock two different
files); it is empty and harmless. In-memory SQLite and PostgreSQL take no lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

LOCK_SUFFIX = ".worker-lock"


class AnotherWorkerRunning(Exception):
    """A worker process already runs on this SQLite file."""


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite database file; None where no lock is needed."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    return Path(database).absolute().with_name(Path(database).name + LOCK_SUFFIX)


@contextmanager
def single_sqlite_worker(database_url: str) -> Iterator[None]:
    """Hold this SQLite file's worker lock while the block runs; raise AnotherWorkerRunning if
    another process holds it."""
    path = lock_path(database_url)
    if path is None:
        yield
        return
    # Not inherited by child processes (Python's default): only this process holds it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherWorkerRunning(
                f"another `jirabridge worker` is running on the SQLite database "
                f"{path.name.removesuffix(LOCK_SUFFIX)} (it holds {path}); SQLite takes one worker: "
                "stop that one first, or use PostgreSQL "
                "(JIRABRIDGE_DATABASE_URL=postgresql+psycopg://…) to run several workers"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock
