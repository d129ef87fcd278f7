"""Liveness, readiness and metrics: no credentials, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.domain.operations import PollProject, Unknown
from jirabridge.domain.outcomes import Fail
from jirabridge.entrypoints.http.app import create_app
from jirabridge.storage import leases, outbox
from jirabridge.storage.db import make_engine
from jirabridge.storage.events import record_event
from jirabridge.storage.leases import WorkerInfo
from jirabridge.storage.tables import Site
from support.service import make_tenant

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A reachable, empty database no migration ran on."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"e_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"


async def serve(url: str) -> AsyncIterator[httpx.AsyncClient]:
    container = build(Settings(database_url=url, service_token=SecretStr("t")))
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://jirabridge.test") as client:
            yield client
    finally:
        container.close()


async def test_live_and_ready_on_a_migrated_database(api: httpx.AsyncClient) -> None:
    live = await api.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_not_ready_before_migrations(unmigrated_url: str) -> None:
    async for client in serve(unmigrated_url):
        assert (await client.get("/healthz")).status_code == 200
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert "jirabridge migrate" in answer.json()["detail"]


async def test_not_ready_without_a_database(tmp_path: Path) -> None:
    async for client in serve(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'jb.db'}"):
        answer = await client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["detail"] == "the database cannot be reached"
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "jirabridge_database_up 0.0" in metrics.text


async def test_metrics_show_queue_depth_failures_and_events(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    with container.uow() as uow:
        for n in range(3):
            outbox.enqueue(
                uow.session,
                Unknown("comment.add", {}, ordering=f"issue:DQ-{n}"),
                workspace_id=tenant.workspace_id,
                now=NOW,
            )
        record_event(
            uow.session, workspace_id=tenant.workspace_id, type="link.created", source="host", at=NOW
        )
        outbox.enqueue(uow.session, PollProject("site", "DQ"), workspace_id=tenant.workspace_id, now=NOW)
        uow.commit()
    [job] = outbox.claim(container.sessions, worker_id="w", now=NOW, limit=1, lease_s=60)
    outbox.record(container.sessions, job, Fail("forbidden", "no permission"), NOW, worker_id="w")

    answer = await api.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert 'jirabridge_outbox_operations{status="pending"} 2.0' in lines
    assert 'jirabridge_outbox_operations{status="running"} 0.0' in lines
    assert 'jirabridge_outbox_operations{status="failed"} 1.0' in lines
    assert 'jirabridge_outbox_failed_operations{reason="forbidden"} 1.0' in lines
    # A periodic round (a poll) is counted apart, so the queue above can reach zero when idle.
    assert 'jirabridge_outbox_periodic_operations{status="pending"} 1.0' in lines
    assert "jirabridge_database_up 1.0" in lines
    assert any(line.startswith("jirabridge_events_total ") and float(line.split()[1]) >= 1 for line in lines)


async def test_metrics_show_how_long_due_work_has_waited_for_a_worker(
    api: httpx.AsyncClient, container: Container
) -> None:
    def lag() -> float:
        [line] = [
            x for x in answer.text.splitlines() if x.startswith("jirabridge_outbox_oldest_due_seconds ")
        ]
        return float(line.split()[1])

    answer = await api.get("/metrics")
    assert lag() == 0.0  # nothing waits
    tenant = await make_tenant(api)
    now = datetime.now(UTC)
    with container.uow() as uow:
        for minutes_ago, key in ((2, "issue:WEB-1"), (-10, "issue:WEB-2")):  # the second is not due yet
            outbox.enqueue(
                uow.session,
                Unknown("comment.add", {}, ordering=key),
                workspace_id=tenant.workspace_id,
                now=now,
                run_after=now - timedelta(minutes=minutes_ago),
            )
        uow.commit()
    answer = await api.get("/metrics")
    assert 120 <= lag() < 3600


async def test_metrics_show_the_live_workers_and_the_sites_none_of_them_owns(
    api: httpx.AsyncClient, container: Container
) -> None:
    def gauge(name: str) -> float:
        [line] = [x for x in answer.text.splitlines() if x.startswith(name + " ")]
        return float(line.split()[1])

    tenant = await make_tenant(api)
    now = datetime.now(UTC)
    with container.uow() as uow:
        for n in range(2):
            uow.session.add(
                Site(
                    id=f"st_{n}",
                    workspace_id=tenant.workspace_id,
                    url=f"https://s{n}.atlassian.net",
                    auth_type="api_token",
                    status="connected",
                    webhook_token=f"tok-{n}",
                    created_at=now,
                )
            )
        uow.commit()
    answer = await api.get("/metrics")
    assert (gauge("jirabridge_workers_alive"), gauge("jirabridge_sites_without_worker")) == (0.0, 2.0)

    # A worker's heartbeat (storage/leases.py) takes both sites.
    me = WorkerInfo(id="w1", pid=1, version="t", started_at=now, hostname="h")
    leases.heartbeat(container.sessions, me=me, now=now)
    answer = await api.get("/metrics")
    assert (gauge("jirabridge_workers_alive"), gauge("jirabridge_sites_without_worker")) == (1.0, 0.0)
