"""An OAuth site connected without naming its address: the site the consent grants is connected,
unless the workspace has it already. In process, against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> Tenant:
    return await make_tenant(api)


async def consent(api: httpx.AsyncClient, emulator: FastAPI, authorize_url: str) -> httpx.Response:
    """The Jira administrator consents (as bot@acme.test) and Atlassian sends them to the callback."""
    authorize = urlsplit(authorize_url)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="https://auth.atlassian.test"
    ) as atlassian:
        given = await atlassian.get(f"{authorize.path}?{authorize.query}&login_hint=bot@acme.test")
    back = parse_qs(urlsplit(given.headers["location"]).query)
    return await api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})


async def test_without_an_address_the_granted_site_is_connected(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI
) -> None:
    started = await api.post("/api/v1/sites", json={"auth": {"type": "oauth"}}, headers=tenant.headers())
    assert started.status_code == 202, started.text
    assert (started.json()["url"], started.json()["status"]) == (None, "pending")
    done = await consent(api, emulator, started.json()["authorize_url"])
    assert done.status_code == 200, done.text
    [site] = (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"]
    assert (site["url"], site["status"], site["auth_type"]) == (ACME, "connected", "oauth")
    assert site["default"] is True

    # Consent for a site the workspace already has: refused, and the pending site goes away.
    again = await api.post("/api/v1/sites", json={"auth": {"type": "oauth"}}, headers=tenant.headers())
    refused = await consent(api, emulator, again.json()["authorize_url"])
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "already connected" in refused.json()["detail"]
    assert [s["id"] for s in (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"]] == [
        site["id"]
    ]


async def test_an_api_token_site_still_needs_its_address(api: httpx.AsyncClient, tenant: Tenant) -> None:
    auth = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
    answer = await api.post("/api/v1/sites", json={"auth": auth}, headers=tenant.headers())
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["url"]
    assert (await api.get("/api/v1/sites", headers=tenant.headers())).json()["sites"] == []
