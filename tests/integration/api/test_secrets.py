"""Secrets at rest: encrypted, rotatable under a new key, and never in responses or logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.entrypoints.http.app import create_app
from jirabridge.secrets_box import SecretBox, SecretKeyError
from jirabridge.service.core.secrets import rotate_secrets
from jirabridge.storage.tables import Site
from support.dns import FakeResolver
from support.service import make_tenant

BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
CALLBACK_SECRET = "callback-secret-value-123"


async def _connected_site(api: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": "https://acme.atlassian.net", "auth": BOT}, headers=tenant.headers()
    )
    assert site.status_code == 201
    settings = await api.put(
        "/api/v1/settings",
        json={"callback": {"url": "https://host.example/hooks", "secret": CALLBACK_SECRET}},
        headers=tenant.headers(),
    )
    assert settings.status_code == 200, settings.text
    return str(site.json()["id"]), tenant.headers()


async def test_rotation_re_encrypts_every_secret_under_the_new_key(
    api: httpx.AsyncClient, container: Container, settings: Settings, emulator: FastAPI
) -> None:
    site_id, headers = await _connected_site(api)
    old_key = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    new_key = SecretBox.generate_key()
    with container.uow() as uow:
        sealed_before = uow.session.scalars(select(Site.credentials)).one()
    with pytest.raises(SecretKeyError):
        SecretBox(new_key).open(sealed_before)

    with container.uow() as uow:
        report = rotate_secrets(uow, SecretBox(f"{new_key},{old_key}"), container.clock.now())
    assert (report.sites, report.callback_secrets, report.total) == (1, 1, 2)

    rotated = settings.model_copy(update={"secret_key": SecretStr(new_key)})
    after = build(rotated, jira_transport=httpx.ASGITransport(app=emulator), resolver=FakeResolver())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(after)), base_url="http://jb"
        ) as new_api:
            result = await new_api.post(
                f"/api/v1/sites/{site_id}/test", json={"project": "WEB"}, headers=headers
            )
        assert result.json()["ok"] is True
        with after.uow() as uow:
            assert (
                SecretBox(new_key).open(uow.session.scalars(select(Site.credentials)).one())["api_token"]
                == "bot-token"
            )
    finally:
        after.close()


async def test_no_secret_reaches_the_logs(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    site_id, headers = await _connected_site(api)
    await api.post(f"/api/v1/sites/{site_id}/test", json={"project": "WEB"}, headers=headers)
    alice = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}
    await api.post("/api/v1/users/u-1/jira", json={"auth": alice}, headers=headers)
    await api.post(
        "/api/v1/sites",
        json={"url": "https://globex.atlassian.net", "auth": BOT | {"api_token": "wrong-token-xyz"}},
        headers=headers,
    )
    assert caplog.records, "the flow logged nothing: this test would prove nothing"
    for secret in (
        "bot-token",
        "alice-token",
        "wrong-token-xyz",
        CALLBACK_SECRET,
        headers["Authorization"][7:],
    ):
        assert secret not in caplog.text
