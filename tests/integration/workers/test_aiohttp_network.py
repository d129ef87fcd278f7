"""The worker's Jira calls over aiohttp's connection pool (adapters/aiohttp_network.py), over real
sockets: the answer comes back as httpx gives it, the errors keep "never reached Jira" apart from
"may have reached it" (what decides whether a create is looked for before it is sent again), and the
pacer hears each call when it has its connection, before a byte of it is written."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.domain.outbound import OutboundPolicy
from jirabridge.service.core.outbound import OutboundGuard
from support.dns import FakeResolver
from support.http_server import read_request

Answer = Callable[[str, asyncio.StreamWriter], Awaitable[bool]]  # False: close the connection


@dataclass
class Server:
    """HTTP/1.1 on 127.0.0.1, keep-alive; `answer` decides what each request gets."""

    answer: Answer
    port: int = 0
    heads: list[str] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                self.heads.append(request)
                if not await self.answer(request, writer):
                    return
                await writer.drain()
        finally:
            writer.close()


async def _json(head: str, writer: asyncio.StreamWriter) -> bool:
    body = gzip.compress(json.dumps({"id": "10001", "echo": head.split(" ")[1]}).encode())
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return True


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[Server]]]:
    listening: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        server = Server(answer)
        listening.append(await asyncio.start_server(server.handle, "127.0.0.1", 0))
        server.port = listening[-1].sockets[0].getsockname()[1]
        return server

    yield start
    for each in listening:
        each.close()


def client(**options: Any) -> httpx.AsyncClient:
    guard = OutboundGuard(OutboundPolicy.from_entries(["127.0.0.0/8"]), FakeResolver({}))
    transport = GuardedTransport(guard, over_aiohttp=True, limits=httpx.Limits(max_connections=4))
    return httpx.AsyncClient(transport=transport, follow_redirects=False, **options)


async def test_the_answer_and_the_request_go_through_unchanged(serve: Any) -> None:
    server = await serve(_json)
    async with client(timeout=5, headers={"User-Agent": "jirabridge"}) as http:
        answer = await http.post(
            f"http://127.0.0.1:{server.port}/rest/api/3/issue/WEB-1/comment?expand=properties",
            json={"body": "hello"},
            headers={"Authorization": "Basic Ym90OnRva2Vu"},
        )
        again = await http.get(f"http://127.0.0.1:{server.port}/rest/api/3/serverInfo")
    assert answer.status_code == 201
    assert answer.json() == {"id": "10001", "echo": "/rest/api/3/issue/WEB-1/comment?expand=properties"}
    assert again.status_code == 201 and server.connections == 1  # the connection was kept and reused
    head = server.heads[0].lower()
    assert head.startswith("post /rest/api/3/issue/web-1/comment?expand=properties http/1.1")
    assert "authorization: basic ym90onrva2vu" in head and "user-agent: jirabridge" in head
    assert "content-type: application/json" in head and head.endswith('{"body":"hello"}')


async def test_a_redirect_is_answered_not_followed(serve: Any) -> None:
    async def moved(head: str, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n")
        return True

    server = await serve(moved)
    async with client(timeout=5) as http:
        answer = await http.get(f"http://127.0.0.1:{server.port}/rest/api/3/myself")
    assert answer.status_code == 302 and len(server.heads) == 1


async def test_nothing_listening_is_a_call_that_never_reached_jira() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with client(timeout=5) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/rest/api/3/issue", json={})


async def test_a_connection_closed_before_the_answer_may_have_reached_jira(serve: Any) -> None:
    async def hang_up(head: str, writer: asyncio.StreamWriter) -> bool:
        return False  # read the request, then close without a word

    server = await serve(hang_up)
    async with client(timeout=5) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"http://127.0.0.1:{server.port}/rest/api/3/issue", json={})
    assert len(server.heads) == 1


async def test_an_answer_slower_than_the_read_timeout_is_a_read_timeout(serve: Any) -> None:
    async def slow(head: str, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        return await _json(head, writer)

    server = await serve(slow)
    async with client(timeout=httpx.Timeout(5, read=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"http://127.0.0.1:{server.port}/rest/api/3/issue", json={})


async def test_the_pacer_hears_each_call_before_it_is_written(serve: Any) -> None:
    server = await serve(_json)
    heard: list[str] = []
    go, arrived = asyncio.Event(), asyncio.Event()

    async def trace(event: str, info: Any) -> None:
        heard.append(event)
        arrived.set()
        await go.wait()  # what the pacer does when the window is full

    async with client(timeout=5) as http:
        url = f"http://127.0.0.1:{server.port}/rest/api/3/issue/WEB-1/comment"
        for n in (1, 2):  # a new connection, then the same one again
            go.clear()
            arrived.clear()
            call = asyncio.create_task(http.post(url, json={}, extensions={"trace": trace}))
            await asyncio.wait_for(arrived.wait(), 5)
            await asyncio.sleep(0.1)
            assert len(server.heads) == n - 1  # held: nothing of it was written
            go.set()
            assert (await call).status_code == 201
    assert heard == ["http11.send_request_headers.started"] * 2 and server.connections == 1
