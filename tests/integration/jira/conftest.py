"""Fixtures for testing `jirabridge.jira` against the in-process emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from integration.jira.jira_client_support import ACME, EMULATOR, MakeClient, OAuthSession
from jirabridge.jira import BasicTokenAuth, JiraClient, SitePacer


@pytest.fixture
async def control(emulator: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's control API (`/_emulator/...`)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url=EMULATOR) as http:
        yield http


@pytest.fixture
async def client(emulator: FastAPI) -> AsyncIterator[JiraClient]:
    """Ada Admin on acme with an API token."""
    transport = httpx.ASGITransport(app=emulator)
    async with JiraClient(
        ACME, BasicTokenAuth("admin@acme.test", "admin-token"), transport=transport
    ) as jira:
        yield jira


@pytest.fixture
def make_client(emulator: FastAPI) -> MakeClient:
    def make(
        email: str = "admin@acme.test", token: str = "admin-token", pacer: SitePacer | None = None
    ) -> JiraClient:
        transport = httpx.ASGITransport(app=emulator)
        return JiraClient(ACME, BasicTokenAuth(email, token), pacer=pacer, transport=transport)

    return make


@pytest.fixture
async def oauth(emulator: FastAPI) -> AsyncIterator[OAuthSession]:
    transport = httpx.ASGITransport(app=emulator)
    async with httpx.AsyncClient(transport=transport) as http:
        yield OAuthSession(http, transport)
