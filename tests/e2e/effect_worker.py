"""`jirabridge worker` plus one test-only operation kind, `e2e.effect`, whose effect is visible outside.

The e2e tests launch `python tests/e2e/effect_worker.py worker …`: this adds the kind to a registry of
the built-in ones and runs the real CLI with it (`app(obj=registry)`, the CLI's context object).

The handler, with files in $E2E_DIR:
- appends "<pid> <op id>" to `runs` every time it starts (at least once per operation);
- appends "<op id>" to `effects` unless it is there already: it checks before acting, as every
  handler must, so each effect happens exactly once however often the operation runs;
- then waits while the file `hold` exists, so a test can kill or stop a worker mid-batch for sure.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from jirabridge.adapters.jira_pool import JiraPool
from jirabridge.bootstrap import Container
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.entrypoints.cli import app
from jirabridge.workers.handlers import builtin_registry

KIND = "e2e.effect"


def append_line(path: Path, line: str) -> None:
    # One short write with O_APPEND: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def make_handler(container: Container, pool: JiraPool) -> Handler:
    root = Path(os.environ["E2E_DIR"])

    async def handle(job: Job) -> Outcome:
        append_line(root / "runs", f"{os.getpid()} {job.id}")
        if job.id not in lines(root / "effects"):
            append_line(root / "effects", job.id)
        while (root / "hold").exists():  # noqa: ASYNC110 - another process removes the file
            await asyncio.sleep(0.02)
        # The loop it ran on: `jirabridge worker` runs its handlers on uvloop's (runner.event_loop_factory).
        return Done({"pid": os.getpid(), "loop": type(asyncio.get_running_loop()).__module__})

    return handle


if __name__ == "__main__":
    registry = builtin_registry()
    registry.register(KIND, make_handler)
    app(obj=registry)
