"""The outbound guard at connect time, over real sockets: the transport the callback and Jira clients
use on the network resolves through the guard and connects only to the address it checked, on
httpx's own network layer (callbacks, the service's Jira calls) and on aiohttp's (the worker's Jira
calls, adapters/aiohttp_network.py): every test runs on both. A small
HTTP server on loopback plays the internal service a tenant would like to reach; the names it is
reached by exist only in the fake resolver, so a request that arrives went to the checked address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.domain.outbound import OutboundPolicy, OutboundRefused
from jirabridge.service.core.outbound import OutboundGuard
from support.dns import PUBLIC, FakeResolver
from support.http_server import read_request


@dataclass
class Internal:
    """An HTTP/1.1 server on 127.0.0.1 answering 200 and recording each request's head."""

    port: int = 0
    heads: list[str] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        request = await read_request(reader)
        assert request is not None
        self.heads.append(request)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture(params=[False, True], ids=["httpcore", "aiohttp"])
def over_aiohttp(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    server = Internal()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


def client(resolver: FakeResolver, *allowed: str, over_aiohttp: bool) -> httpx.AsyncClient:
    guard = OutboundGuard(OutboundPolicy.from_entries(allowed), resolver)
    transport = GuardedTransport(guard, over_aiohttp=over_aiohttp)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=5)


async def test_a_name_resolving_to_loopback_is_refused_before_any_connection(
    internal: Internal, over_aiohttp: bool
) -> None:
    resolver = FakeResolver({"hook.example": ["127.0.0.1"]})
    async with client(resolver, over_aiohttp=over_aiohttp) as http:
        with pytest.raises(OutboundRefused, match=r"hook\.example resolves to 127\.0\.0\.1, a loopback"):
            await http.post(f"https://hook.example:{internal.port}/events", content=b"{}")
    assert internal.connections == 0


async def test_dns_rebinding_is_refused_when_connecting(internal: Internal, over_aiohttp: bool) -> None:
    # Public when the URL was saved (and checked), loopback by the time the worker connects.
    resolver = FakeResolver({"hook.example": [PUBLIC]})
    guard = OutboundGuard(OutboundPolicy(), resolver)
    guard.check_url(f"https://hook.example:{internal.port}/events")
    resolver.answers["hook.example"] = ["127.0.0.1"]
    async with httpx.AsyncClient(transport=GuardedTransport(guard, over_aiohttp=over_aiohttp)) as http:
        with pytest.raises(OutboundRefused, match=r"resolves to 127\.0\.0\.1"):
            await http.post(f"https://hook.example:{internal.port}/events", content=b"{}")
    assert internal.connections == 0


async def test_an_allowed_network_connects_to_the_address_it_checked(
    internal: Internal, over_aiohttp: bool
) -> None:
    # `hook.internal` is unknown to the system's DNS: only the checked address can have been used.
    resolver = FakeResolver({"hook.internal": ["127.0.0.1"]})
    async with client(resolver, "127.0.0.0/8", over_aiohttp=over_aiohttp) as http:
        answer = await http.post(f"http://hook.internal:{internal.port}/events", content=b"{}")
    assert answer.status_code == 200
    assert f"host: hook.internal:{internal.port}" in internal.heads[0].lower()


async def test_http_is_refused_unless_allowed(internal: Internal, over_aiohttp: bool) -> None:
    resolver = FakeResolver({"hook.example": [PUBLIC]})
    async with client(resolver, over_aiohttp=over_aiohttp) as http:
        with pytest.raises(OutboundRefused, match="must use https"):
            await http.post(f"http://hook.example:{internal.port}/events", content=b"{}")
    async with client(resolver, f"127.0.0.1:{internal.port}", over_aiohttp=over_aiohttp) as http:
        assert (await http.get(f"http://127.0.0.1:{internal.port}/")).status_code == 200


async def test_a_name_that_does_not_resolve_is_a_connection_error(over_aiohttp: bool) -> None:
    async with client(FakeResolver(default=None), over_aiohttp=over_aiohttp) as http:
        with pytest.raises(httpx.ConnectError, match=r"nowhere\.example does not resolve"):
            await http.get("https://nowhere.example/")


async def test_the_environment_proxy_is_not_used(
    internal: Internal, monkeypatch: pytest.MonkeyPatch, over_aiohttp: bool
) -> None:
    # A proxy would resolve and connect on its own; the guard could not know where a request goes.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    resolver = FakeResolver({"hook.internal": ["127.0.0.1"]})
    async with client(resolver, "127.0.0.0/8", over_aiohttp=over_aiohttp) as http:
        assert (await http.get(f"http://hook.internal:{internal.port}/")).status_code == 200
    assert len(internal.heads) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433"])
async def test_an_internal_address_written_as_a_literal_is_refused_before_any_connection(
    internal: Internal, over_aiohttp: bool, host: str
) -> None:
    async with client(FakeResolver({}), over_aiohttp=over_aiohttp) as http:
        with pytest.raises(OutboundRefused, match="loopback"):
            await http.post(f"https://{host}:{internal.port}/events", content=b"{}")
    assert internal.connections == 0
