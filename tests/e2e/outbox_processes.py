"""Helpers for the e2e tests of the worker: real `jirabridge worker` processes on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from jirabridge.domain.operations import Unknown
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Operation, Workspace

WORKER = Path(__file__).with_name("effect_worker.py")
KIND = "e2e.effect"


def enqueue_effects(database_url: str, count: int) -> list[str]:
    """A workspace and `count` operations of the test kind, each on an issue of its own."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            session.add(Workspace(id="ws_e2e", name="e2e", settings={}, created_at=now))
            session.flush()
            ops = [
                outbox.enqueue(
                    session, Unknown(KIND, {"n": n}, ordering=f"E2E-{n}"), workspace_id="ws_e2e", now=now
                )
                for n in range(count)
            ]
            session.commit()
            return ops
    finally:
        engine.dispose()


def operations(database_url: str, ids: Iterable[str]) -> dict[str, Operation]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(Operation).where(Operation.id.in_(list(ids))))
            return {row.id: row for row in rows}
    finally:
        engine.dispose()


class Workers:
    """Starts worker processes; on leaving, kills any still running (a failed test leaves none)."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "JIRABRIDGE_DATABASE_URL": self.database_url, "E2E_DIR": str(self.directory)}
        with (self.directory / f"worker-{len(self.started)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(WORKER), "worker", "--poll-s", "0.05", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_until(condition: Callable[[], bool], what: str, directory: Path, timeout_s: float = 60.0) -> None:
    """Wait for a condition the test needs before its next step (not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(directory.glob("*.log")))
            raise TimeoutError(f"gave up waiting for {what}; worker logs:\n{logs}")
        time.sleep(0.05)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
