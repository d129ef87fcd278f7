"""A person's own Jira identity on the pages (the `account` session scope and Settings › Users), the
host users overview of the API, and OAuth connections that bring the browser back to their page.
In process on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.domain.ui_sessions import return_page_allowed
from support.host import ACME, Host, connect_host

ALICE_TOKEN = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    return await connect_host(api, emulator, container, Host)


async def open_page(api: httpx.AsyncClient, host: Host, **body: Any) -> tuple[httpx.Response, str]:
    """Open a session's link as a browser does; the page and the session's base path."""
    issued = await host.call("POST", "/api/v1/ui-sessions", {"user_id": "u-alice"} | body)
    assert issued.status_code == 201, issued.text
    page = await api.get(issued.json()["url"].removeprefix("http://127.0.0.1:8000"), follow_redirects=True)
    assert page.status_code == 200, page.text
    base = re.sub(r"^http://[^/]+", "", str(page.url)).split("?")[0]
    return page, base.rsplit("/", 2)[0] if "/settings/" in base else base.rsplit("/", 1)[0]


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_a_member_opens_an_account_page_for_their_own_jira_identity_only(
    api: httpx.AsyncClient, host: Host
) -> None:
    bob = await host.call(
        "POST",
        "/api/v1/users/u-bob/jira",
        {"auth": ALICE_TOKEN | {"email": "bob@acme.test", "api_token": "bob-token"}},
    )
    assert bob.status_code == 201, bob.text
    page, base = await open_page(api, host, role="member", scope="account")
    assert str(page.url).endswith("/account")
    assert "Not connected to Jira yet." in page.text and "Bob" not in page.text
    assert (await api.get(f"{base}/settings/users")).status_code == 403  # members have no settings

    csrf = csrf_of(page)
    wrong = await api.post(
        f"{base}/account/jira",
        data={"csrf": csrf, "back": "account", "email": "alice@acme.test", "api_token": "nope"},
    )
    assert wrong.status_code == 422 and "unauthorized" in wrong.text and "nope" not in wrong.text
    done = await api.post(
        f"{base}/account/jira",
        data={"csrf": csrf, "back": "account", "email": "alice@acme.test", "api_token": "alice-token"},
        follow_redirects=True,
    )
    assert done.status_code == 200 and "Connected your Jira account (Alice" in done.text
    [mine] = (await host.call("GET", "/api/v1/users/u-alice/jira")).json()["connections"]
    assert mine["email"] == "alice@acme.test" and mine["account_id"] in done.text
    # Bob's connection is untouched, and never shown on Alice's page.
    assert len((await host.call("GET", "/api/v1/users/u-bob/jira")).json()["connections"]) == 1
    assert "bob@acme.test" not in done.text

    gone = await api.post(
        f"{base}/account/jira/disconnect", data={"csrf": csrf, "back": "account"}, follow_redirects=True
    )
    assert "Disconnected your Jira account" in gone.text
    assert (await host.call("GET", "/api/v1/users/u-alice/jira")).json()["connections"] == []
    assert len((await host.call("GET", "/api/v1/users/u-bob/jira")).json()["connections"]) == 1


async def test_an_account_session_is_open_to_every_role_and_an_item_panel_cannot_open_it(
    api: httpx.AsyncClient, host: Host
) -> None:
    for role in ("admin", "manager", "member"):
        answer = await host.call(
            "POST", "/api/v1/ui-sessions", {"user_id": "u-1", "role": role, "scope": "account"}
        )
        assert answer.status_code == 201, answer.text
    await host.call("PUT", "/api/v1/items/anomaly/an-1", {"title": "Null rate spike"})
    panel, _ = await open_page(api, host, role="member", scope={"item_type": "anomaly", "item_id": "an-1"})
    base = re.sub(r"^http://[^/]+", "", str(panel.url)).split("/items/")[0]
    assert (await api.get(f"{base}/account")).status_code == 403


async def test_the_users_overview_shows_connections_and_entries_waiting_for_one(
    api: httpx.AsyncClient, host: Host
) -> None:
    connected = await host.call("POST", "/api/v1/users/u-alice/jira", {"auth": ALICE_TOKEN})
    assert connected.status_code == 201
    await host.call("PUT", "/api/v1/users/u-bob", {"email": "bob@acme.test", "name": "Bob Builder"})
    entry = {"user": "u-bob", "started_at": "2024-01-15T09:00:00Z", "duration_s": 600, "description": "WEB-1"}
    assert (await host.call("PUT", "/api/v1/time-entries/te-1", entry)).status_code == 201

    listed = (await host.call("GET", "/api/v1/users")).json()["users"]
    assert [(u["id"], u["name"], u["waiting_entries"]) for u in listed] == [
        ("u-alice", None, {}),
        ("u-bob", "Bob Builder", {host.site_id: 1}),
    ]
    assert listed[0]["connections"][0]["email"] == "alice@acme.test"
    assert listed[1]["connections"] == []
    assert (await host.call("GET", "/api/v1/users", role="member")).status_code == 403

    page, _ = await open_page(api, host, role="admin", scope="settings")
    users_page = await api.get(page.url.path.replace("/settings/sites", "/settings/users"))
    assert users_page.status_code == 200
    assert "Bob Builder" in users_page.text and "1 waiting for a connection to" in users_page.text
    assert "alice-token" not in users_page.text


async def test_an_oauth_connection_started_on_a_page_comes_back_to_it(
    api: httpx.AsyncClient, host: Host, emulator: FastAPI
) -> None:
    page, base = await open_page(api, host, role="member", scope="account")
    started = await api.post(f"{base}/account/jira/oauth", data={"csrf": csrf_of(page), "back": "account"})
    assert started.status_code == 303
    authorize = urlsplit(started.headers["location"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="https://auth.atlassian.test"
    ) as atlassian:
        consent = await atlassian.get(f"{authorize.path}?{authorize.query}&login_hint=alice@acme.test")
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    done = await api.get(
        "/oauth/callback",
        params={"code": back["code"][0], "state": back["state"][0]},
        headers={"Accept": "text/html"},
    )
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    assert location.path == f"{base}/account"
    assert parse_qs(location.query)["notice"] == [f"Connected your Jira account on {ACME}"]
    [mine] = (await host.call("GET", "/api/v1/users/u-alice/jira")).json()["connections"]
    assert (mine["auth_type"], mine["email"]) == ("oauth", "alice@acme.test")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/ui/s/jbs_abcdefghijkl/settings/sites", True),
        ("/ui/s/jbs_abcdefghijkl/account", True),
        ("https://evil.example/ui/s/jbs_abcdefghijkl/account", False),
        ("//evil.example/ui/s/jbs_abcdefghijkl/account", False),
        ("/ui/s/jbs_abcdefghijkl/account?next=https://evil.example", False),
        ("/ui/s/jbs_abcdefghijkl/../../oauth/callback", False),
        ("/api/v1/sites", False),
    ],
)
def test_only_a_page_of_a_session_is_a_return_page(path: str, allowed: bool) -> None:
    assert return_page_allowed(path) is allowed
