"""A host using jirabridge in process: the HTTP API with its keys, a connected site `acme` of the emulator,
and what the tests watch — the worker's queue, the event feed, the emulator's state.

End-to-end tests of a feature subclass `Host` with that feature's own steps, and build it with
`connect_host` (a tenant, and the site connected with the bot's API token)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from jira_emulator.state import Site as EmulatedSite
from jira_emulator.webhooks import drain
from jirabridge.bootstrap import Container
from jirabridge.storage.tables import Operation, Schedule
from support.service import Tenant, bearer, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}


def worker_idle(container: Container) -> bool:
    """Nothing left for the worker: no operation pending or running and no schedule due.

    Schedules are read first: a worker's claim moves a due schedule on and adds its operation in one
    commit, so once the schedule is no longer due, its operation is visible."""
    with container.sessions() as session:
        due = session.scalar(
            select(func.count()).select_from(Schedule).where(Schedule.next_run_at <= datetime.now(UTC))
        )
        busy = session.scalar(
            select(func.count()).select_from(Operation).where(Operation.status.in_(("pending", "running")))
        )
    return busy == 0 and due == 0


async def wait_until_idle(container: Container, limit_s: float, emulator: FastAPI | None = None) -> None:
    """Until the worker has nothing left to do and no schedule is due; with `emulator`, also until
    its webhook deliveries (which may queue more work) are done, before and after."""
    if emulator is not None:
        await drain(emulator)
    deadline = asyncio.get_running_loop().time() + limit_s
    while asyncio.get_running_loop().time() < deadline:
        if worker_idle(container):
            if emulator is not None:
                await drain(emulator)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not finish")


async def emulator_control(emulator: FastAPI, method: str, path: str, body: Any = None) -> Any:
    """The emulator's control API (`/_emulator/...`); asserts success, answers the JSON (None if empty)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="http://emulator"
    ) as client:
        answer = await client.request(method, f"/_emulator{path}", json=body)
        assert answer.is_success, answer.text
        return answer.json() if answer.content else None


class Host:
    def __init__(
        self, api: httpx.AsyncClient, tenant: Tenant, site_id: str, emulator: FastAPI, container: Container
    ) -> None:
        self.api, self.tenant, self.site_id = api, tenant, site_id
        self.emulator, self.container = emulator, container

    # -- the host's side -----------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, body: Any = None, role: str = "admin", key: str | None = None
    ) -> httpx.Response:
        """As the tenant's key of `role`, or as the API key `key`."""
        headers = bearer(key) if key else self.tenant.headers(role)
        return await self.api.request(method, path, json=body, headers=headers)

    async def project(self, key: str = "WEB", **document: Any) -> None:
        answer = await self.call("PUT", f"/api/v1/sites/{self.site_id}/projects/{key}", document)
        assert answer.status_code in (200, 201), answer.text

    async def events(self, kind: str) -> list[dict[str, Any]]:
        feed = (await self.call("GET", "/api/v1/events?limit=500")).json()["events"]
        return [e for e in feed if e["type"] == kind]

    # -- Jira's side ---------------------------------------------------------------------------------

    @property
    def jira(self) -> EmulatedSite:
        site: EmulatedSite = self.emulator.state.emulator.sites["acme"]
        return site

    def account(self, email: str) -> str:
        account = self.emulator.state.emulator.account_by_email(email)
        assert account is not None
        return str(account.account_id)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """The emulator's control API (`/_emulator/...`)."""
        return await emulator_control(self.emulator, method, path, body)

    # -- the worker ----------------------------------------------------------------------------------

    async def settle(self, limit_s: float = 15) -> None:
        """Until the worker has nothing left to do and no schedule is due."""
        await wait_until_idle(self.container, limit_s)

    async def wait_for_retry(self, kind: str, limit_s: float = 10) -> None:
        """Until an operation of `kind` has failed an attempt and waits for its next one."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while asyncio.get_running_loop().time() < deadline:
            with self.container.sessions() as session:
                waiting = session.scalar(
                    select(func.count())
                    .select_from(Operation)
                    .where(Operation.kind == kind, Operation.status == "pending", Operation.attempts > 0)
                )
            if waiting:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} operation is waiting for a retry")


H = TypeVar("H", bound=Host)


async def connect_host(
    api: httpx.AsyncClient, emulator: FastAPI, container: Container, kind: type[H], project: str = "WEB"
) -> H:
    """A new tenant with the emulator's site `acme` connected by the bot's API token."""
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT, "default_project": project}, headers=tenant.headers()
    )
    assert site.status_code == 201, site.text
    return kind(api, tenant, site.json()["id"], emulator, container)
