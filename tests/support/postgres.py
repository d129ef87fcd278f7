"""A real PostgreSQL server for the test session, started from Debian's binaries in a temp directory.

`scripts/test` installs the `postgresql` package when it is missing. A machine without it fails the
PostgreSQL tests loudly rather than skipping them, so CI can never pass without PostgreSQL; set
JIRABRIDGE_TEST_SKIP_POSTGRES=1 to skip them knowingly on a laptop. The benchmarks start theirs with
`postgres_cluster` (bench/_postgres.py), which also names the server's data directory and process.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], as_user: str | None) -> None:
    command = ["runuser", "-u", as_user, "--", *args] if as_user else args
    subprocess.run(command, check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class PostgresCluster:
    url: str  # a SQLAlchemy URL of its `postgres` database
    data: Path  # the cluster's directory (`postmaster.pid` holds the server's process id)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway server; yields a SQLAlchemy URL of its `postgres` database."""
    with postgres_cluster() as cluster:
        yield cluster.url


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a throwaway server in a temporary directory, removed afterwards."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's `postgresql` package")
    # initdb refuses to run as root; run the server as the `postgres` user then.
    as_user = "postgres" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="jb-pg-"))
    if as_user:
        entry = pwd.getpwnam(as_user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust", "--no-sync"],
            as_user,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
        _run([pg_ctl, "-D", str(data / "db"), "-l", str(data / "log"), "-o", options, "-w", "start"], as_user)
        try:
            yield PostgresCluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data / "db")
        finally:
            _run([pg_ctl, "-D", str(data / "db"), "-m", "immediate", "-w", "stop"], as_user)
    finally:
        shutil.rmtree(data, ignore_errors=True)
