"""A throwaway PostgreSQL server for a benchmark, started like the tests' (tests/support/postgres.py:
Debian's binaries, a temporary directory, fsync off), one fresh database per run on it, and the CPU
the server used.

The server's CPU is the postmaster's process tree: its own `utime + stime`, the `cutime + cstime` of
the backends it has already reaped (stat(5): the CPU of waited-for children), and the `utime + stime`
of the backends alive now. A difference of two readings is what the server spent in between,
whatever connections came and went.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import PostgresCluster, postgres_cluster


@dataclass(frozen=True)
class ProcCpu:
    """One process's CPU from /proc/PID/stat, in clock ticks."""

    ppid: int
    own: int  # utime + stime
    reaped: int  # cutime + cstime: the children it has waited for


def parse_stat(raw: str) -> ProcCpu:
    """The fields of /proc/PID/stat that matter here (the command name in parentheses may hold spaces)."""
    fields = raw.rpartition(")")[2].split()
    # After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17), counted from 1.
    return ProcCpu(int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))


def tree_ticks(processes: Mapping[int, ProcCpu], root: int) -> int:
    """CPU ticks of `root` and its live children, plus the children it reaped (one level: PostgreSQL's
    backends and helpers are the postmaster's children)."""
    top = processes.get(root)
    if top is None:
        return 0
    children = sum(p.own + p.reaped for pid, p in processes.items() if p.ppid == root and pid != root)
    return top.own + top.reaped + children


def _processes() -> dict[int, ProcCpu]:
    found: dict[int, ProcCpu] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return found


@dataclass
class Postgres:
    cluster: PostgresCluster
    _made: int = 0

    @property
    def admin_url(self) -> str:
        return self.cluster.url

    def cpu_s(self) -> float:
        """CPU seconds the server has used since it started (see the module's docstring)."""
        return tree_ticks(_processes(), self.cluster.postmaster_pid()) / os.sysconf("SC_CLK_TCK")

    def fresh_database(self, prefix: str = "bench") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self._made += 1
        name = f"{prefix}_{self._made}"
        self._execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rpartition("/")[0] + f"/{name}"

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


@contextmanager
def postgres() -> Iterator[Postgres]:
    with postgres_cluster() as cluster:
        yield Postgres(cluster)
