"""`jirabridge status` as an operator runs it: the workers, the sites they own, and each site's lag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jirabridge.domain.operations import Unknown
from jirabridge.storage import leases, outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.leases import WorkerInfo
from jirabridge.storage.migrate import upgrade
from jirabridge.storage.tables import Site, Workspace

pytestmark = pytest.mark.e2e


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jirabridge.entrypoints.cli", *args],
        env={**os.environ, "JIRABRIDGE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_lists_the_workers_their_sites_and_each_sites_backlog(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jb.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    sessions = session_factory(engine)
    with sessions() as session:
        session.add(Workspace(id="ws_a", name="a", settings={}, created_at=now))
        session.flush()
        session.add(
            Site(
                id="st_acme",
                workspace_id="ws_a",
                url="https://acme.atlassian.net",
                auth_type="api_token",
                status="connected",
                webhook_token="tok",
                created_at=now,
            )
        )
        for n in range(3):
            outbox.enqueue(
                session,
                Unknown("issue.comment", {}, ordering=f"WEB-{n}", site_id="st_acme"),
                workspace_id="ws_a",
                now=now - timedelta(seconds=30),
            )
        session.commit()
    me = WorkerInfo(id="web-1:4711:abc", pid=4711, version="0.1.0", started_at=now, hostname="web-1")
    # Leases as long as the `--dead-after-s` below: however slow this machine is today (each CLI
    # run starts a Python process), the worker shows alive and still owning its site.
    long = leases.LeaseTimes(dead_after_s=600, lease_ttl_s=600)
    leases.heartbeat(sessions, me=me, now=now, times=long)
    engine.dispose()

    text = cli("status", "--dead-after-s", "600", database_url=url)
    as_json = cli("status", "--json", "--dead-after-s", "600", database_url=url)

    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "workers: 1"
    assert lines[2].split()[:3] == ["web-1:4711:abc", "web-1", "4711"]
    assert lines[2].split()[-3:] == ["alive", "1", "0"]
    site_line = next(line for line in lines if "acme" in line).split()
    assert site_line[:4] == ["st_acme", "https://acme.atlassian.net", "connected", "web-1:4711:abc"]
    assert site_line[4] == "3" and float(site_line[5].rstrip("s")) >= 30

    report = json.loads(as_json.stdout)
    [worker] = report["workers"]
    assert (worker["id"], worker["hostname"], worker["pid"], worker["sites"], worker["alive"]) == (
        "web-1:4711:abc",
        "web-1",
        4711,
        1,
        True,
    )
    [site] = report["sites"]
    assert (site["id"], site["owner"], site["due"]) == ("st_acme", "web-1:4711:abc", 3)
    assert site["oldest_due_s"] >= 30


def test_a_worker_whose_sites_would_move_at_one_late_heartbeat_is_refused(tmp_path: Path) -> None:
    done = cli(
        "worker", "--heartbeat-s", "3", "--dead-after-s", "5", database_url=f"sqlite:///{tmp_path}/jb.db"
    )

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "jirabridge: --dead-after-s (5) must be at least 3 times --heartbeat-s (3), "
        "so that one late heartbeat does not move a worker's sites"
    )
