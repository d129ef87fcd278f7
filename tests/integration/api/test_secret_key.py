"""The secret key, as an operator lives with it on SQLite and PostgreSQL: a restart with another key
refuses to run (the CLI's `migrate`, `serve`, `worker`) and is not ready, and rotation through several
keys leaves every secret readable (the connection test, webhooks, user connections, callbacks)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from click.testing import Result
from fastapi import FastAPI
from pydantic import SecretStr
from typer.testing import CliRunner

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.entrypoints.cli import app as cli_app
from jirabridge.entrypoints.http.app import create_app
from jirabridge.secrets_box import SecretBox
from jirabridge.service.sites.user_access import find_connection, user_access
from jirabridge.service.workspaces.settings import callback_target
from jirabridge.storage.tables import Site
from support.dns import FakeResolver
from support.service import Tenant, make_tenant

BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
ALICE = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}
CALLBACK_SECRET = "callback-secret-value-123"
WRONG_KEY = "JIRABRIDGE_SECRET_KEY cannot decrypt the secrets stored in this database"


def cli(settings: Settings, keys: str, *args: str) -> Result:
    """A new `jirabridge` run against the test's database, with these keys."""
    env = {"JIRABRIDGE_DATABASE_URL": settings.database_url, "JIRABRIDGE_SECRET_KEY": keys}
    return CliRunner().invoke(cli_app, list(args), env=env)


def key_of(settings: Settings) -> str:
    assert settings.secret_key is not None
    return settings.secret_key.get_secret_value()


@asynccontextmanager
async def restarted(
    settings: Settings, emulator: FastAPI, keys: str | None
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """The service started again, with `keys` as JIRABRIDGE_SECRET_KEY."""
    secret_key = SecretStr(keys) if keys is not None else None
    container = build(
        settings.model_copy(update={"secret_key": secret_key}),
        jira_transport=httpx.ASGITransport(app=emulator),
        resolver=FakeResolver(),
    )
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://jirabridge.test") as client:
            yield client, container
    finally:
        container.close()


async def connect_everything(api: httpx.AsyncClient) -> tuple[Tenant, str, dict[str, str]]:
    """A site (API token), its admin webhook secret, a user connection and a callback secret."""
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": "https://acme.atlassian.net", "auth": BOT}, headers=tenant.headers()
    )
    assert site.status_code == 201, site.text
    site_id = str(site.json()["id"])
    hook = await api.post(f"/api/v1/sites/{site_id}/webhook-secret", headers=tenant.headers())
    assert hook.status_code == 200, hook.text
    user = await api.post("/api/v1/users/u-alice/jira", json={"auth": ALICE}, headers=tenant.headers())
    assert user.status_code == 201, user.text
    settings = await api.put(
        "/api/v1/settings",
        json={"callback": {"url": "https://host.example/hooks", "secret": CALLBACK_SECRET}},
        headers=tenant.headers(),
    )
    assert settings.status_code == 200, settings.text
    return tenant, site_id, hook.json()


def refused(result: Result) -> str:
    """The one line a refused command prints (exit code 2, no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_a_restart_with_another_key_refuses_to_run_and_is_not_ready(
    api: httpx.AsyncClient, settings: Settings, emulator: FastAPI
) -> None:
    assert cli(settings, key_of(settings), "migrate").exit_code == 0  # records the key check
    await connect_everything(api)
    other = SecretBox.generate_key()

    for command in (
        ["migrate"],
        ["worker", "--once"],
        # An address no socket can bind: were the key not checked, serve would fail another way.
        ["serve", "--host", "256.0.0.1"],
    ):
        line = refused(cli(settings, other, *command))
        assert WRONG_KEY in line and "rotate-secrets" in line, command
    assert "nothing was re-encrypted" in refused(cli(settings, other, "rotate-secrets"))
    async with restarted(settings, emulator, other) as (client, _):
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert WRONG_KEY in ready.json()["detail"]

    async with restarted(settings, emulator, key_of(settings)) as (client, _):
        assert (await client.get("/readyz")).status_code == 200
    assert cli(settings, key_of(settings), "migrate").exit_code == 0


async def test_a_database_without_a_key_check_is_checked_against_its_secrets(
    api: httpx.AsyncClient, settings: Settings, emulator: FastAPI
) -> None:
    """A database from before key checks (here: migrated by the fixtures, never by the CLI)."""
    await connect_everything(api)
    async with restarted(settings, emulator, SecretBox.generate_key()) as (client, _):
        wrong = await client.get("/readyz")
    assert wrong.status_code == 503 and WRONG_KEY in wrong.json()["detail"]
    async with restarted(settings, emulator, None) as (client, _):
        unset = await client.get("/readyz")
    assert unset.status_code == 503 and "JIRABRIDGE_SECRET_KEY is not set" in unset.json()["detail"]
    assert WRONG_KEY in refused(cli(settings, SecretBox.generate_key(), "migrate"))
    assert cli(settings, key_of(settings), "migrate").exit_code == 0


async def test_neither_key_alone_is_enough_once_a_new_key_has_encrypted(
    api: httpx.AsyncClient, settings: Settings, emulator: FastAPI
) -> None:
    old, new = key_of(settings), SecretBox.generate_key()
    assert cli(settings, old, "migrate").exit_code == 0
    await connect_everything(api)
    # Started with the new key first: what it encrypts from now on only the new key opens.
    assert cli(settings, f"{new},{old}", "migrate").exit_code == 0
    async with restarted(settings, emulator, f"{new},{old}") as (client, _):
        tenant = await make_tenant(client, "Globex")
        site = await client.post(
            "/api/v1/sites",
            json={"url": "https://acme.atlassian.net", "auth": BOT},
            headers=tenant.headers(),
        )
        assert site.status_code == 201
    for alone in (old, new):  # each would leave one set of secrets unreadable
        assert WRONG_KEY in refused(cli(settings, alone, "migrate"))
        async with restarted(settings, emulator, alone) as (client, _):
            assert (await client.get("/readyz")).status_code == 503


def test_a_worker_records_the_key_check_of_a_database_migrated_without_one(settings: Settings) -> None:
    """The fixtures migrate without a key; the first process started with one records it."""
    env = {"JIRABRIDGE_DATABASE_URL": settings.database_url, "JIRABRIDGE_SECRET_KEY": key_of(settings)}
    worker = subprocess.run(
        [sys.executable, "-m", "jirabridge.entrypoints.cli", "worker", "--once"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    # No secret is stored yet: only the recorded check can tell that this key is not the one.
    assert WRONG_KEY in refused(cli(settings, SecretBox.generate_key(), "worker", "--once"))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_rotation_through_three_keys_keeps_every_secret_readable(
    api: httpx.AsyncClient, settings: Settings, emulator: FastAPI
) -> None:
    first, second, third = key_of(settings), SecretBox.generate_key(), SecretBox.generate_key()
    assert cli(settings, first, "migrate").exit_code == 0
    tenant, site_id, hook = await connect_everything(api)

    for keys, dropped in ((f"{second},{first}", first), (f"{third},{second}", second)):
        rotated = cli(settings, keys, "rotate-secrets")
        assert rotated.exit_code == 0, rotated.output
        assert rotated.stdout.startswith(
            "re-encrypted 3 stored secrets under the newest key: 1 site credentials (API tokens, "
            "OAuth tokens, webhook secrets), 1 user connections, 1 callback secrets"
        )
        assert WRONG_KEY in refused(cli(settings, dropped, "migrate"))

    async with restarted(settings, emulator, third) as (client, container):
        assert cli(settings, third, "migrate").exit_code == 0  # the old keys are gone
        assert (await client.get("/readyz")).status_code == 200
        test = await client.post(
            f"/api/v1/sites/{site_id}/test", json={"project": "WEB"}, headers=tenant.headers()
        )
        assert test.json()["ok"] is True, test.text  # authenticated against the emulator

        token = hook["url"].rsplit("/", 1)[1]
        body = json.dumps({"webhookEvent": "worklog_created", "worklog": {"id": "1"}}).encode()
        verified = await client.post(
            f"/webhooks/jira/{token}", content=body, headers={"X-Hub-Signature": sign(hook["secret"], body)}
        )
        assert verified.status_code == 200, verified.text
        forged = await client.post(
            f"/webhooks/jira/{token}", content=body, headers={"X-Hub-Signature": sign("guess", body)}
        )
        assert forged.status_code == 401

        with container.uow() as uow:
            site = uow.session.get(Site, site_id)
            connection = find_connection(uow, tenant.workspace_id, site_id, "u-alice")
            assert site is not None and connection is not None
            assert user_access(container, site, connection).credentials["api_token"] == "alice-token"
            target = callback_target(uow, container.secrets, tenant.workspace_id)
        assert target == ("https://host.example/hooks", CALLBACK_SECRET)


async def test_a_secret_the_running_key_cannot_open_answers_503_with_the_reason(
    api: httpx.AsyncClient, settings: Settings, emulator: FastAPI
) -> None:
    """A process whose key stopped matching while it ran (another one rotated the secrets)."""
    tenant, site_id, _ = await connect_everything(api)
    async with restarted(settings, emulator, SecretBox.generate_key()) as (client, _):
        answer = await client.post(
            f"/api/v1/sites/{site_id}/test", json={"project": "WEB"}, headers=tenant.headers()
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "JIRABRIDGE_SECRET_KEY" in answer.json()["detail"] and answer.json()["request_id"]
