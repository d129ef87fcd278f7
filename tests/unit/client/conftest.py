"""Fixtures of the client's unit tests: a `Client` and an `AsyncClient` over a scripted MockTransport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jirabridge.client import AsyncClient, Client
from support.client_script import BASE, NO_WAIT, Script


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def client(script: Script) -> Iterator[Client]:
    with Client(BASE, "jb_key", retries=NO_WAIT, transport=httpx.MockTransport(script)) as made:
        yield made


@pytest.fixture
def async_client(script: Script) -> AsyncClient:
    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        return script(request)

    return AsyncClient(BASE, "jb_key", retries=NO_WAIT, transport=httpx.MockTransport(handler))
