"""Site connections through the HTTP API against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jirabridge.bootstrap import Container
from support.dns import FakeResolver
from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> Tenant:
    return await make_tenant(api)


async def _emulator(emulator: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="http://emulator"
    ) as c:
        return await c.request(method, path, **kwargs)  # type: ignore[arg-type]


async def connect(api: httpx.AsyncClient, tenant: Tenant, **extra: object) -> dict[str, object]:
    answer = await api.post(
        "/api/v1/sites",
        json={"url": ACME, "auth": BOT, "default_project": "WEB"} | extra,
        headers=tenant.headers(),
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _raw_database_text(container: Container) -> str:
    """Every stored value as text, to prove a secret is not in it."""
    chunks = []
    with container.engine.connect() as connection:
        for table in ("sites", "user_connections", "workspaces", "api_keys", "events", "operations"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


async def test_api_token_site_is_verified_stored_encrypted_and_never_shown(
    api: httpx.AsyncClient, tenant: Tenant, container: Container
) -> None:
    site = await connect(api, tenant)
    assert site["status"] == "connected" and site["default"] is True
    assert site["account_email"] == "bot@acme.test" and str(site["account_id"]).startswith("712020:")
    assert str(site["webhook"]["url"]).startswith("http://127.0.0.1:8000/webhooks/jira/")  # type: ignore[index]
    listed = await api.get("/api/v1/sites", headers=tenant.headers("member"))
    read = await api.get(f"/api/v1/sites/{site['id']}", headers=tenant.headers("member"))
    for answer in (listed, read):
        assert answer.status_code == 200
        assert "bot-token" not in answer.text
    assert "bot-token" not in _raw_database_text(container)
    if container.engine.url.get_backend_name() == "sqlite":  # the file itself, journal included
        path = str(container.engine.url.database)
        for file in (Path(path), Path(path + "-wal")):
            assert not file.exists() or b"bot-token" not in file.read_bytes()


async def test_rejected_credentials_and_urls_answer_422_and_store_nothing(
    api: httpx.AsyncClient, tenant: Tenant, container: Container
) -> None:
    cases = [
        ({"url": ACME, "auth": BOT | {"api_token": "wrong"}}, "auth", "unauthorized"),
        ({"url": "https://evil.example.com", "auth": BOT}, "url", "JIRABRIDGE_ALLOWED_JIRA_HOSTS"),
        ({"url": "http://acme.atlassian.net", "auth": BOT}, "url", "https"),
        (
            {"url": ACME, "auth": {"type": "api_token", "email": "bot@acme.test"}},
            "auth.api_token",
            "Field required",
        ),
        ({"url": ACME, "auth": {"type": "basic"}}, "auth", ""),
        ({"url": ACME, "auth": BOT, "default_project": "web"}, "default_project", "pattern"),
    ]
    for body, field, reason in cases:
        answer = await api.post("/api/v1/sites", json=body, headers=tenant.headers())
        assert answer.status_code == 422, body
        errors = answer.json()["errors"]
        assert errors[0]["field"].startswith(field), errors
        assert reason in errors[0]["message"], errors
    with container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sites")).scalar_one() == 0


async def test_members_cannot_connect_edit_test_or_disconnect(api: httpx.AsyncClient, tenant: Tenant) -> None:
    refused = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers("member")
    )
    assert refused.status_code == 403
    site = await connect(api, tenant)
    member = tenant.headers("member")
    assert (
        await api.patch(f"/api/v1/sites/{site['id']}", json={"default_project": "DQ"}, headers=member)
    ).status_code == 403
    assert (await api.delete(f"/api/v1/sites/{site['id']}", headers=member)).status_code == 403
    # The connection test is configuration too: it says what the site's credentials may do.
    tested = await api.post(f"/api/v1/sites/{site['id']}/test", json={"project": "WEB"}, headers=member)
    assert tested.status_code == 403
    assert tested.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(f"/api/v1/sites/{site['id']}", headers=member)).json()["default_project"] == "WEB"


async def test_another_workspace_cannot_see_or_touch_a_site(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    other = await make_tenant(api, "Globex")
    assert (await api.get("/api/v1/sites", headers=other.headers())).json() == {"sites": []}
    for answer in (
        await api.get(f"/api/v1/sites/{site['id']}", headers=other.headers()),
        await api.patch(f"/api/v1/sites/{site['id']}", json={"default": True}, headers=other.headers()),
        await api.delete(f"/api/v1/sites/{site['id']}", headers=other.headers()),
        await api.post(f"/api/v1/sites/{site['id']}/test", json={}, headers=other.headers()),
    ):
        assert answer.status_code == 404
    assert (await api.get(f"/api/v1/sites/{site['id']}", headers=tenant.headers())).json()[
        "status"
    ] == "connected"


async def test_several_sites_one_default(api: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await connect(api, tenant)
    second = await connect(api, tenant, url="https://globex.atlassian.net", default_project="OPS")
    assert second["default"] is False
    duplicate = await api.post("/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers())
    assert duplicate.status_code == 409
    changed = await api.patch(
        f"/api/v1/sites/{second['id']}", json={"default": True}, headers=tenant.headers()
    )
    assert changed.json()["default"] is True
    sites = {
        s["id"]: s["default"]
        for s in (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"]
    }
    assert sites == {first["id"]: False, second["id"]: True}
    # Disconnecting the default hands the role to the remaining site.
    assert (await api.delete(f"/api/v1/sites/{second['id']}", headers=tenant.headers())).status_code == 204
    remaining = (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"]
    assert [(s["id"], s["default"]) for s in remaining] == [(first["id"], True)]


async def test_disconnect_deletes_secrets_and_records_an_event(
    api: httpx.AsyncClient, tenant: Tenant, container: Container
) -> None:
    site = await connect(api, tenant)
    assert (await api.delete(f"/api/v1/sites/{site['id']}", headers=tenant.headers())).status_code == 204
    assert (await api.get(f"/api/v1/sites/{site['id']}", headers=tenant.headers())).status_code == 404
    with container.engine.connect() as connection:
        stored = connection.execute(text("SELECT status, credentials FROM sites")).one()
        kinds = [r[0] for r in connection.execute(text("SELECT type FROM events"))]
    assert tuple(stored) == ("disconnected", None)
    assert kinds == ["site.disconnected"]


async def test_connection_test_passes_and_names_each_failure(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI
) -> None:
    site = await connect(api, tenant)
    path = f"/api/v1/sites/{site['id']}/test"

    async def run(body: dict[str, str]) -> dict[str, object]:
        answer = await api.post(path, json=body, headers=tenant.headers("manager"))
        assert answer.status_code == 200
        return dict(answer.json())

    ok = await run({"project": "WEB", "issue_type": "Bug"})
    assert ok["ok"] is True
    assert [c["check"] for c in ok["checks"]] == ["reach", "auth", "project", "issue_type", "webhook"]  # type: ignore[attr-defined]

    def failure(result: dict[str, object]) -> tuple[str, str]:
        failed = [c for c in result["checks"] if not c["ok"]]  # type: ignore[attr-defined]
        assert result["ok"] is False and len(failed) == 1
        return failed[0]["check"], failed[0]["code"]

    assert failure(await run({"project": "NOPE"})) == ("project", "project_not_found")
    assert failure(await run({"project": "WEB", "issue_type": "Epic"})) == (
        "issue_type",
        "issue_type_not_found",
    )
    # LOCK is visible to the bot, which may not create issues there: the type exists, the right is missing.
    locked = await run({"project": "LOCK", "issue_type": "Task"})
    assert failure(locked) == ("issue_type", "forbidden")
    assert "CREATE_ISSUES" in locked["checks"][-1]["message"]  # type: ignore[index]

    await _emulator(
        emulator,
        "POST",
        "/_emulator/faults",
        json={"rules": [{"kind": "error", "status": 429, "retry_after_s": 7, "count": 1}]},
    )
    assert failure(await run({})) == ("reach", "rate_limited")

    await _emulator(
        emulator,
        "POST",
        "/_emulator/faults",
        json={"rules": [{"kind": "timeout", "hang_s": 0.1, "count": 1}]},
    )
    assert failure(await run({})) == ("reach", "network_timeout")

    await _emulator(emulator, "POST", "/_emulator/faults", json={"rules": [{"kind": "drop", "count": 1}]})
    assert failure(await run({})) == ("reach", "connection_failed")

    emulator.state.emulator.sites["acme"].members.discard(
        emulator.state.emulator.account_by_email("bot@acme.test").account_id
    )
    assert failure(await run({})) == ("auth", "forbidden")

    await _emulator(
        emulator,
        "POST",
        "/_emulator/accounts/bot@acme.test/api-tokens",
        json={"action": "revoke", "token": "bot-token"},
    )
    assert failure(await run({})) == ("auth", "unauthorized")

    await _emulator(emulator, "POST", "/_emulator/reset", json={"sites": [], "users": []})
    assert failure(await run({})) == ("reach", "invalid_url")


async def _oauth_site(api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI) -> dict[str, object]:
    started = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": {"type": "oauth"}}, headers=tenant.headers()
    )
    assert started.status_code == 202
    pending = started.json()
    assert pending["status"] == "pending"
    authorize = urlsplit(pending["authorize_url"])
    consent = await _emulator(emulator, "GET", f"{authorize.path}?{authorize.query}&login_hint=bot@acme.test")
    assert consent.status_code == 302
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    done = await api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert done.status_code == 200, done.text
    assert done.json()["site"]["status"] == "connected"
    again = await api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert again.status_code == 422  # a state is good once
    return dict(done.json()["site"])


async def test_oauth_site_connects_through_the_callback_and_passes_the_test(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI, container: Container
) -> None:
    site = await _oauth_site(api, tenant, emulator)
    assert site["auth_type"] == "oauth" and site["account_email"] == "bot@acme.test"
    result = (
        await api.post(f"/api/v1/sites/{site['id']}/test", json={"project": "WEB"}, headers=tenant.headers())
    ).json()
    assert result["ok"] is True
    # The access token expires: the test refreshes it, and the rotated refresh token is stored.
    before = _raw_database_text(container)
    await _emulator(emulator, "POST", "/_emulator/oauth/expire-access-tokens", json={})
    assert (await api.post(f"/api/v1/sites/{site['id']}/test", json={}, headers=tenant.headers())).json()[
        "ok"
    ] is True
    assert (await api.post(f"/api/v1/sites/{site['id']}/test", json={}, headers=tenant.headers())).json()[
        "ok"
    ] is True
    assert _raw_database_text(container) != before
    tokens = emulator.state.emulator.refresh_tokens.values()
    assert not any(t.token in _raw_database_text(container) for t in tokens)


async def test_revoked_oauth_grant_reports_token_expired(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI
) -> None:
    site = await _oauth_site(api, tenant, emulator)
    await _emulator(
        emulator,
        "POST",
        "/_emulator/oauth/revoke",
        json={"client_id": "jirabridge-dev", "account": "bot@acme.test"},
    )
    result = (await api.post(f"/api/v1/sites/{site['id']}/test", json={}, headers=tenant.headers())).json()
    assert [(c["check"], c["code"]) for c in result["checks"] if not c["ok"]] == [("auth", "token_expired")]


async def test_a_site_url_resolving_to_an_internal_address_is_refused(
    api: httpx.AsyncClient, tenant: Tenant, resolver: FakeResolver
) -> None:
    resolver.answers["acme.atlassian.net"] = ["10.0.0.5"]
    answer = await api.post("/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers())
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "field": "url",
            "message": "acme.atlassian.net resolves to 10.0.0.5, a private address; "
            "allow it with JIRABRIDGE_ALLOWED_OUTBOUND",
        }
    ]
    assert (await api.get("/api/v1/sites", headers=tenant.headers())).json() == {"sites": []}


async def test_the_connection_test_refuses_a_site_that_turned_internal(
    api: httpx.AsyncClient, tenant: Tenant, resolver: FakeResolver
) -> None:
    site = await connect(api, tenant)
    resolver.answers["acme.atlassian.net"] = ["::ffff:127.0.0.2"]
    result = (await api.post(f"/api/v1/sites/{site['id']}/test", json={}, headers=tenant.headers())).json()
    [reach] = result["checks"]
    assert (reach["check"], reach["code"]) == ("reach", "invalid_url")
    assert "an IPv4-mapped address of 127.0.0.2, a loopback address" in reach["message"]
