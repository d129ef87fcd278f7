"""Page sessions through the HTTP API and the pages, in process on SQLite and PostgreSQL: who may open
which pages, one-time links, expiry, the return URL, CSRF, the security headers, and tenant isolation."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from jirabridge.bootstrap import Container
from jirabridge.storage.tables import UiSession
from support.host import ACME, BOT, Host, connect_host
from support.service import SERVICE_TOKEN, bearer, make_tenant


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    found = await connect_host(api, emulator, container, Host)
    answer = await found.call("PUT", "/api/v1/items/anomaly/an-1", {"title": "Null rate spike"})
    assert answer.status_code == 201, answer.text
    return found


async def ui_session(host: Host, role: str = "admin", key_role: str = "admin", **body: Any) -> httpx.Response:
    document = {"user_id": "u-1", "role": role, "scope": "settings"} | body
    return await host.call("POST", "/api/v1/ui-sessions", document, role=key_role)


async def open_link(api: httpx.AsyncClient, url: str) -> httpx.Response:
    """Open a one-time link as a browser does: follow its redirect to the first page."""
    path = url.removeprefix("http://127.0.0.1:8000")
    return await api.get(path, follow_redirects=True)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def test_a_settings_link_opens_once_into_the_settings_pages(api: httpx.AsyncClient, host: Host) -> None:
    issued = await ui_session(host)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["url"].startswith("http://127.0.0.1:8000/ui/start/") and body["expires_at"].endswith("Z")

    page = await open_link(api, body["url"])
    assert page.status_code == 200
    assert "<h1>Jira sites</h1>" in page.text and ACME in page.text
    assert re.search(r"/ui/s/jbs_[\w-]+/settings/sites$", str(page.url))
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["referrer-policy"] == "same-origin"
    # The bot's API token is a secret: it never reaches a page.
    assert "bot-token" not in page.text

    again = await open_link(api, body["url"])
    assert again.status_code == 401 and "already used" in again.text


async def test_an_expired_link_or_session_is_refused(
    api: httpx.AsyncClient, host: Host, container: Container
) -> None:
    issued = (await ui_session(host)).json()
    with container.sessions() as session:
        session.execute(update(UiSession).values(link_expires_at=container.clock.now().replace(year=2020)))
        session.commit()
    expired = await open_link(api, issued["url"])
    assert expired.status_code == 401 and "expired" in expired.text

    fresh = await open_link(api, (await ui_session(host)).json()["url"])
    assert fresh.status_code == 200
    with container.sessions() as session:
        session.execute(update(UiSession).values(session_expires_at=container.clock.now().replace(year=2020)))
        session.commit()
    ended = await api.get(str(fresh.url))
    assert ended.status_code == 401 and "expired" in ended.text


@pytest.mark.parametrize(
    ("key_role", "body", "status", "field"),
    [
        ("member", {}, 403, None),  # a member key opens no session
        ("manager", {"role": "admin"}, 403, None),  # never more rights than the key
        ("admin", {"role": "member"}, 422, "scope"),  # settings are for admins and managers
        ("admin", {"role": "owner"}, 422, "role"),
        ("admin", {"scope": {"item_type": "anomaly", "item_id": "nope"}}, 404, None),
        ("admin", {"return_url": "https://evil.example/back"}, 422, "return_url"),
        ("admin", {"user_id": ""}, 422, "user_id"),
    ],
)
async def test_sessions_are_refused_beyond_the_callers_rights_or_with_bad_input(
    host: Host, key_role: str, body: dict[str, Any], status: int, field: str | None, container: Container
) -> None:
    answer = await ui_session(host, key_role=key_role, **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in [e["field"] for e in answer.json()["errors"]]
    with container.sessions() as session:
        assert session.query(UiSession).count() == 0  # nothing written


async def test_the_service_token_opens_a_session_for_a_named_workspace(
    api: httpx.AsyncClient, host: Host
) -> None:
    document = {"user_id": "u-1", "role": "admin", "scope": "settings"}
    missing = await api.post("/api/v1/ui-sessions", json=document, headers=bearer(SERVICE_TOKEN))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "workspace"
    named = await api.post(
        "/api/v1/ui-sessions",
        json=document | {"workspace": host.tenant.workspace_id},
        headers=bearer(SERVICE_TOKEN),
    )
    assert named.status_code == 201
    assert (await open_link(api, named.json()["url"])).status_code == 200


async def test_allowed_origins_frame_the_pages_and_take_the_return_url(
    api: httpx.AsyncClient, host: Host
) -> None:
    settings = (await host.call("GET", "/api/v1/settings")).json()
    settings["ui"] = {"allowed_origins": ["https://app.example.com", "http://localhost:5173"]}
    saved = await host.call("PUT", "/api/v1/settings", settings)
    assert saved.status_code == 200, saved.text
    assert saved.json()["ui"]["allowed_origins"] == ["https://app.example.com", "http://localhost:5173"]

    issued = await ui_session(host, return_url="https://app.example.com/settings/integrations")
    assert issued.status_code == 201, issued.text
    page = await open_link(api, issued.json()["url"])
    assert (
        "frame-ancestors 'self' https://app.example.com http://localhost:5173"
        in (page.headers["content-security-policy"])
    )
    assert 'href="https://app.example.com/settings/integrations" target="_top"' in page.text


async def test_an_origin_with_a_path_is_refused_in_settings(host: Host) -> None:
    settings = (await host.call("GET", "/api/v1/settings")).json()
    settings["ui"] = {"allowed_origins": ["https://app.example.com/path"]}
    answer = await host.call("PUT", "/api/v1/settings", settings)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "ui.allowed_origins[0]"


async def test_a_member_session_sees_its_item_only_and_no_settings(
    api: httpx.AsyncClient, host: Host
) -> None:
    await host.call("PUT", "/api/v1/items/anomaly/an-2", {"title": "Another"})
    scope = {"item_type": "anomaly", "item_id": "an-1"}
    issued = await ui_session(host, role="member", key_role="manager", scope=scope)
    assert issued.status_code == 201, issued.text
    panel = await open_link(api, issued.json()["url"])
    assert panel.status_code == 200 and "Linked tickets" in panel.text and "Null rate spike" in panel.text
    base = str(panel.url).split("/items/")[0].removeprefix("http://jirabridge.test")

    assert (await api.get(f"{base}/settings/sites")).status_code == 403
    assert (await api.get(f"{base}/items/anomaly/an-2")).status_code == 403


async def test_a_session_of_one_workspace_never_reaches_another(api: httpx.AsyncClient, host: Host) -> None:
    other = await make_tenant(api, "Globex")
    connected = await api.post(
        "/api/v1/sites",
        json={
            "url": "https://globex.atlassian.net",
            "auth": BOT | {"email": "admin@acme.test", "api_token": "admin-token"},
        },
        headers=other.headers(),
    )
    assert connected.status_code == 201, connected.text
    await api.put("/api/v1/items/anomaly/an-9", json={"title": "Globex secret item"}, headers=other.headers())

    mine = await open_link(api, (await ui_session(host)).json()["url"])
    assert "globex" not in mine.text
    base = str(mine.url).split("/settings/")[0].removeprefix("http://jirabridge.test")
    # Another workspace's item is refused even when its type and id are known.
    refused = await api.get(f"{base}/items/anomaly/an-9")
    assert refused.status_code == 403 and "Globex secret item" not in refused.text
    # Another workspace's site cannot be disconnected through this session.
    site_b = connected.json()["id"]
    form = {"csrf": csrf_of(mine)}
    answer = await api.post(f"{base}/settings/sites/{site_b}/disconnect", data=form)
    assert answer.status_code == 404
    still = await api.get(f"/api/v1/sites/{site_b}", headers=other.headers())
    assert still.json()["status"] == "connected"


async def test_forms_need_the_sessions_csrf_token_and_their_own_origin(
    api: httpx.AsyncClient, host: Host
) -> None:
    page = await open_link(api, (await ui_session(host)).json()["url"])
    base = str(page.url).split("/settings/")[0].removeprefix("http://jirabridge.test")
    action = f"{base}/settings/sites/{host.site_id}/disconnect"

    no_token = await api.post(action, data={})
    forged = await api.post(action, data={"csrf": "x" * 43})
    cross_site = await api.post(
        action, data={"csrf": csrf_of(page)}, headers={"Origin": "https://evil.example"}
    )
    assert [r.status_code for r in (no_token, forged, cross_site)] == [403, 403, 403]
    assert (await host.call("GET", f"/api/v1/sites/{host.site_id}")).json()["status"] == "connected"

    done = await api.post(action, data={"csrf": csrf_of(page)}, follow_redirects=True)
    assert done.status_code == 200 and "Disconnected" in done.text
    assert (await host.call("GET", f"/api/v1/sites/{host.site_id}")).status_code == 404
