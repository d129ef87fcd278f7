"""Workspaces and API keys through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.entrypoints.http.app import create_app
from support.service import SERVICE_TOKEN, bearer, make_tenant

SERVICE = bearer(SERVICE_TOKEN)


async def test_service_token_creates_a_workspace_and_a_key_shown_once(
    api: httpx.AsyncClient, container: Container
) -> None:
    created = await api.post("/api/v1/workspaces", json={"name": "Acme"}, headers=SERVICE)
    assert created.status_code == 201
    workspace = created.json()
    assert workspace["id"].startswith("ws_") and workspace["name"] == "Acme"

    issued = await api.post(
        f"/api/v1/workspaces/{workspace['id']}/api-keys",
        json={"role": "admin", "name": "host backend", "user": None},
        headers=SERVICE,
    )
    assert issued.status_code == 201
    key = issued.json()
    assert key["key"].startswith("jb_") and key["role"] == "admin" and key["user"] is None

    listed = (await api.get(f"/api/v1/workspaces/{workspace['id']}/api-keys", headers=SERVICE)).json()
    assert [k["id"] for k in listed["api_keys"]] == [key["id"]]
    assert "key" not in listed["api_keys"][0]
    with container.engine.connect() as connection:
        stored = [row[0] for row in connection.execute(text("SELECT key_hash FROM api_keys"))]
    assert key["key"] not in stored and len(stored[0]) == 64  # only the hash is kept


async def test_missing_wrong_and_revoked_credentials_answer_401(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    assert (await api.post("/api/v1/workspaces", json={"name": "x"})).status_code == 401
    wrong = await api.post("/api/v1/workspaces", json={"name": "x"}, headers=bearer("jb_nope"))
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    keys = (await api.get(f"/api/v1/workspaces/{tenant.workspace_id}/api-keys", headers=SERVICE)).json()[
        "api_keys"
    ]
    admin_key = next(k for k in keys if k["role"] == "admin")
    used = await api.get("/api/v1/settings", headers=tenant.headers("admin"))
    assert used.status_code == 200  # the key was in use (and known to this process) before
    revoked = await api.delete(
        f"/api/v1/workspaces/{tenant.workspace_id}/api-keys/{admin_key['id']}", headers=SERVICE
    )
    assert revoked.status_code == 204
    assert (
        await api.post("/api/v1/workspaces", json={"name": "x"}, headers=tenant.headers("admin"))
    ).status_code == 401


async def test_workspace_keys_cannot_manage_workspaces(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    for role in ("admin", "manager", "member"):
        refused = await api.post("/api/v1/workspaces", json={"name": "x"}, headers=tenant.headers(role))
        assert refused.status_code == 403
        issued = await api.post(
            f"/api/v1/workspaces/{tenant.workspace_id}/api-keys",
            json={"role": "admin", "name": "escalate"},
            headers=tenant.headers(role),
        )
        assert issued.status_code == 403
    keys = (await api.get(f"/api/v1/workspaces/{tenant.workspace_id}/api-keys", headers=SERVICE)).json()
    assert len(keys["api_keys"]) == 3  # nothing was added


async def test_invalid_input_names_the_field_and_writes_nothing(
    api: httpx.AsyncClient, container: Container
) -> None:
    for body, field in (
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": 5}, "name"),
    ):
        answer = await api.post("/api/v1/workspaces", json=body, headers=SERVICE)
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["status"] == 422 and problem["type"].endswith("/validation")
        assert [e["field"] for e in problem["errors"]] == [field]
    bad_role = await api.post(
        "/api/v1/workspaces/ws_missing/api-keys", json={"role": "owner", "name": "k"}, headers=SERVICE
    )
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"
    missing = await api.post(
        "/api/v1/workspaces/ws_missing/api-keys", json={"role": "admin", "name": "k"}, headers=SERVICE
    )
    assert missing.status_code == 404
    with container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM workspaces")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0


class SetClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@asynccontextmanager
async def other_serve_process(settings: Settings, clock: SetClock) -> AsyncIterator[httpx.AsyncClient]:
    """A second serve process on the same database (a replica behind the load balancer)."""
    container = build(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://replica.test") as client:
            yield client
    finally:
        container.close()


async def test_a_key_revoked_through_another_serve_process_stops_working_within_the_cache_time(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await make_tenant(api)
    clock = SetClock()
    async with other_serve_process(settings, clock) as replica:
        assert (await replica.get("/api/v1/settings", headers=tenant.headers("member"))).status_code == 200
        member_key = next(
            k
            for k in (
                await api.get(f"/api/v1/workspaces/{tenant.workspace_id}/api-keys", headers=SERVICE)
            ).json()["api_keys"]
            if k["role"] == "member"
        )
        revoked = await api.delete(
            f"/api/v1/workspaces/{tenant.workspace_id}/api-keys/{member_key['id']}", headers=SERVICE
        )
        assert revoked.status_code == 204
        assert (await api.get("/api/v1/settings", headers=tenant.headers("member"))).status_code == 401
        # The replica trusts what it verified for JIRABRIDGE_API_KEY_CACHE_S (10 s), no longer.
        clock.moment += timedelta(seconds=9)
        assert (await replica.get("/api/v1/settings", headers=tenant.headers("member"))).status_code == 200
        clock.moment += timedelta(seconds=1)
        refused = await replica.get("/api/v1/settings", headers=tenant.headers("member"))
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await replica.get("/api/v1/settings", headers=tenant.headers("admin"))).status_code == 200


async def test_with_no_key_cache_a_revocation_through_another_process_applies_at_once(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await make_tenant(api)
    uncached = settings.model_copy(update={"api_key_cache_s": 0.0})
    async with other_serve_process(uncached, SetClock()) as replica:
        assert (await replica.get("/api/v1/settings", headers=tenant.headers("member"))).status_code == 200
        keys = (await api.get(f"/api/v1/workspaces/{tenant.workspace_id}/api-keys", headers=SERVICE)).json()
        member_key = next(k for k in keys["api_keys"] if k["role"] == "member")
        await api.delete(
            f"/api/v1/workspaces/{tenant.workspace_id}/api-keys/{member_key['id']}", headers=SERVICE
        )
        assert (await replica.get("/api/v1/settings", headers=tenant.headers("member"))).status_code == 401
