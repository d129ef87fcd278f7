"""Fixtures for the jirabridge HTTP API, in-process, on each database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from jirabridge.bootstrap import Container, build, handlers
from jirabridge.config import Settings
from jirabridge.entrypoints.http.app import create_app
from jirabridge.secrets_box import SecretBox
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.dns import FakeResolver

SERVICE_TOKEN = "test-service-token"
# The emulator's default seed registers this OAuth app with this redirect URI.
OAUTH_CLIENT = ("jirabridge-dev", "jirabridge-dev-secret-for-local-tests-only")
PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        service_token=SecretStr(SERVICE_TOKEN),
        secret_key=SecretStr(SecretBox.generate_key()),
        allowed_jira_hosts=["127.0.0.1"],
        public_url=PUBLIC_URL,
        oauth_client_id=OAUTH_CLIENT[0],
        oauth_client_secret=SecretStr(OAUTH_CLIENT[1]),
        atlassian_auth_url="https://auth.atlassian.test",
        atlassian_api_url="https://api.atlassian.test",
        jira_timeout_s=2.0,
    )


@pytest.fixture
def resolver() -> FakeResolver:
    """The DNS the service's outbound guard asks: every name is public unless a test says otherwise."""
    return FakeResolver()


@pytest.fixture
def container(settings: Settings, emulator: FastAPI, resolver: FakeResolver) -> Iterator[Container]:
    """The service's pieces; every Jira call goes to the test's in-process `emulator`."""
    built = build(settings, jira_transport=httpx.ASGITransport(app=emulator), resolver=resolver)
    yield built
    built.close()


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no credentials; pass `headers=` per call or use `service`/`as_key`."""
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://jirabridge.test") as client:
        yield client


@pytest.fixture
async def worker(container: Container) -> AsyncIterator[Worker]:
    """A worker running every registered handler in the test's event loop, polling every 50 ms."""
    running = Worker(
        SqlQueue(container.sessions),
        handlers(container),
        container.clock,
        WorkerOptions(poll_s=0.05),
        prime_site=container.jira_pool.prime,
        prime_user=container.jira_pool.prime_user,
    )
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await task


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    workspace_id: str
    keys: dict[str, str]  # role -> plaintext key

    def headers(self, role: str = "admin") -> dict[str, str]:
        return bearer(self.keys[role])


async def make_tenant(api: httpx.AsyncClient, name: str = "Acme") -> Tenant:
    service = bearer(SERVICE_TOKEN)
    workspace = (await api.post("/api/v1/workspaces", json={"name": name}, headers=service)).json()
    keys = {}
    for role in ("admin", "manager", "member"):
        answer = await api.post(
            f"/api/v1/workspaces/{workspace['id']}/api-keys",
            json={"role": role, "name": role},
            headers=service,
        )
        keys[role] = answer.json()["key"]
    return Tenant(workspace["id"], keys)
