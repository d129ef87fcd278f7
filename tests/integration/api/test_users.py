"""Host users and their own Jira identities, through the HTTP API against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jirabridge.bootstrap import Container
from support.service import SERVICE_TOKEN, Tenant, bearer, make_tenant

ACME = "https://acme.atlassian.net"
ALICE = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> Tenant:
    tenant = await make_tenant(api)
    bot = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
    connected = await api.post("/api/v1/sites", json={"url": ACME, "auth": bot}, headers=tenant.headers())
    assert connected.status_code == 201
    bound = await api.post(
        f"/api/v1/workspaces/{tenant.workspace_id}/api-keys",
        json={"role": "member", "name": "alice's browser", "user": "u-alice"},
        headers=bearer(SERVICE_TOKEN),
    )
    tenant.keys["alice"] = bound.json()["key"]
    return tenant


async def test_user_connects_with_an_api_token_resolved_to_the_account_id(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI, container: Container
) -> None:
    assert (
        await api.put(
            "/api/v1/users/u-alice",
            json={"email": "alice@host.example", "name": "Alice"},
            headers=tenant.headers("alice"),
        )
    ).status_code == 200
    answer = await api.post(
        "/api/v1/users/u-alice/jira", json={"auth": ALICE}, headers=tenant.headers("alice")
    )
    assert answer.status_code == 201, answer.text
    alice = emulator.state.emulator.account_by_email("alice@acme.test")
    assert answer.json()["account_id"] == alice.account_id
    assert answer.json()["display_name"] == "Alice Analyst"
    read = await api.get("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))
    assert [c["account_id"] for c in read.json()["connections"]] == [alice.account_id]
    assert "alice-token" not in read.text
    with container.engine.connect() as connection:
        stored = " ".join(
            str(v) for row in connection.execute(text("SELECT * FROM user_connections")) for v in row
        )
    assert "alice-token" not in stored and alice.account_id in stored


async def test_a_bound_member_key_acts_only_for_its_user(api: httpx.AsyncClient, tenant: Tenant) -> None:
    other = tenant.headers("alice")
    assert (await api.put("/api/v1/users/u-bob", json={"name": "Bob"}, headers=other)).status_code == 403
    assert (
        await api.post("/api/v1/users/u-bob/jira", json={"auth": ALICE}, headers=other)
    ).status_code == 403
    assert (await api.get("/api/v1/users/u-bob/jira", headers=other)).status_code == 403
    assert (await api.delete("/api/v1/users/u-bob/jira", headers=other)).status_code == 403
    # A manager acts for anyone.
    assert (
        await api.post("/api/v1/users/u-bob/jira", json={"auth": ALICE}, headers=tenant.headers("manager"))
    ).status_code == 201


async def test_rejected_identity_and_missing_site_write_nothing(
    api: httpx.AsyncClient, tenant: Tenant, container: Container
) -> None:
    wrong = await api.post(
        "/api/v1/users/u-alice/jira", json={"auth": ALICE | {"api_token": "nope"}}, headers=tenant.headers()
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "auth"
    unknown_site = await api.post(
        "/api/v1/users/u-alice/jira", json={"site": "st_nope", "auth": ALICE}, headers=tenant.headers()
    )
    assert unknown_site.status_code == 404
    with container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM user_connections")).scalar_one() == 0


async def test_user_connects_through_oauth(api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI) -> None:
    started = await api.post(
        "/api/v1/users/u-alice/jira", json={"auth": {"type": "oauth"}}, headers=tenant.headers("alice")
    )
    assert started.status_code == 202
    authorize = urlsplit(started.json()["authorize_url"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="https://auth.atlassian.test"
    ) as atlassian:
        consent = await atlassian.get(f"{authorize.path}?{authorize.query}&login_hint=alice@acme.test")
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    done = await api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert done.status_code == 200 and done.json()["user"] == "u-alice"
    connections = (await api.get("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))).json()[
        "connections"
    ]
    assert [(c["auth_type"], c["email"]) for c in connections] == [("oauth", "alice@acme.test")]


async def test_disconnecting_the_user_or_the_site_forgets_the_identity(
    api: httpx.AsyncClient, tenant: Tenant, container: Container
) -> None:
    await api.post("/api/v1/users/u-alice/jira", json={"auth": ALICE}, headers=tenant.headers())
    assert (
        await api.delete("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))
    ).status_code == 204
    assert (await api.get("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))).json() == {
        "connections": []
    }
    assert (
        await api.delete("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))
    ).status_code == 404

    await api.post("/api/v1/users/u-alice/jira", json={"auth": ALICE}, headers=tenant.headers())
    site = (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"][0]
    assert (await api.delete(f"/api/v1/sites/{site['id']}", headers=tenant.headers())).status_code == 204
    assert (await api.get("/api/v1/users/u-alice/jira", headers=tenant.headers("alice"))).json() == {
        "connections": []
    }
    with container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM user_connections")).scalar_one() == 0
