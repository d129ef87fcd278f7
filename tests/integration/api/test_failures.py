"""Failed operations through the HTTP API: list, page, retry; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from jirabridge.bootstrap import Container
from jirabridge.domain.operations import Unknown
from jirabridge.domain.outcomes import Fail
from jirabridge.storage import outbox
from support.service import make_tenant

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fail_operations(container: Container, workspace_id: str, count: int) -> list[str]:
    """Enqueue `count` operations and let them fail for good through the outbox, as a worker would."""
    with container.uow() as uow:
        ids = [
            outbox.enqueue(
                uow.session,
                Unknown(
                    "transition_issue",
                    {"item": {"type": "anomaly", "id": f"an-{n}"}, "to": "Done"},
                    ordering=f"issue:DQ-{n}",
                    issue_key=f"DQ-{n}",
                ),
                workspace_id=workspace_id,
                now=NOW,
            )
            for n in range(count)
        ]
        uow.commit()
    jobs = outbox.claim(container.sessions, worker_id="w", now=NOW, limit=100, lease_s=60)
    for job in jobs:
        outcome = Fail("transition_not_allowed", "No transition from 'Done' to 'Won't Do'")
        outbox.record(container.sessions, job, outcome, NOW, worker_id="w")
    return ids


async def test_failures_are_listed_paged_and_retried(api: httpx.AsyncClient, container: Container) -> None:
    acme = await make_tenant(api, "Acme")
    globex = await make_tenant(api, "Globex")
    ids = fail_operations(container, acme.workspace_id, 3)
    fail_operations(container, globex.workspace_id, 1)

    first = (
        await api.get("/api/v1/sync/failures", params={"limit": 2}, headers=acme.headers("member"))
    ).json()
    second = (
        await api.get(
            "/api/v1/sync/failures", params={"after": first["next"]}, headers=acme.headers("member")
        )
    ).json()
    assert second["next"] is None
    listed = first["failures"] + second["failures"]
    assert [f["id"] for f in listed] == ids
    assert listed[0] == {
        "id": ids[0],
        "operation": "transition_issue",
        "status": "failed",
        "site": None,
        "issue_key": "DQ-0",
        "item": {"type": "anomaly", "id": "an-0"},
        "attempts": 1,
        "reason": "transition_not_allowed",
        "detail": "No transition from 'Done' to 'Won't Do'",
        "created_at": "2026-11-23T12:00:00Z",
        "last_attempt_at": "2026-11-23T12:00:00Z",
    }

    assert (
        await api.post(f"/api/v1/sync/failures/{ids[1]}/retry", headers=acme.headers("member"))
    ).status_code == 403
    # Another workspace's operation does not exist for this one.
    assert (
        await api.post(f"/api/v1/sync/failures/{ids[1]}/retry", headers=globex.headers())
    ).status_code == 404
    retried = await api.post(f"/api/v1/sync/failures/{ids[1]}/retry", headers=acme.headers("manager"))
    assert retried.status_code == 200
    assert retried.json()["status"] == "pending" and retried.json()["attempts"] == 0
    assert (
        await api.post(f"/api/v1/sync/failures/{ids[1]}/retry", headers=acme.headers())
    ).status_code == 409

    remaining = (await api.get("/api/v1/sync/failures", headers=acme.headers())).json()
    assert [f["id"] for f in remaining["failures"]] == [ids[0], ids[2]]
    # The retried operation is back in the queue: a worker claims it again.
    # The retry is due from the moment it was asked for (the service's clock, not the test's NOW).
    jobs = outbox.claim(container.sessions, worker_id="w2", now=container.clock.now(), limit=10, lease_s=60)
    assert [job.id for job in jobs] == [ids[1]]


async def test_a_workspace_sees_only_its_failures(api: httpx.AsyncClient, container: Container) -> None:
    acme = await make_tenant(api, "Acme")
    globex = await make_tenant(api, "Globex")
    fail_operations(container, acme.workspace_id, 2)
    answer = await api.get("/api/v1/sync/failures", headers=globex.headers("admin"))
    assert answer.status_code == 200 and answer.json() == {"failures": [], "next": None}
    bad = await api.get("/api/v1/sync/failures", params={"after": "zzz"}, headers=globex.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"
    assert (await api.get("/api/v1/sync/failures")).status_code == 401
