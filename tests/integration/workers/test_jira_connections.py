"""The worker's connections to Jira over real sockets: each Jira site has its own pool of
`JIRABRIDGE_JIRA_MAX_CONNECTIONS`, so a site whose calls hold every connection of its pool holds up no
other site's call; calls beyond a pool's connections wait for one, and every answer, or failure,
gives its connection back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.jira import JiraError, JiraTimeout
from support.dns import FakeResolver
from support.http_server import read_request
from support.rows import a_site, a_workspace, store

WS = "ws_conn"


@dataclass
class Jira:
    """A tiny Jira on 127.0.0.1: `/sites/<name>/rest/api/3/serverInfo` answers, except that calls to
    a site in `held` wait until it is released; `broken` sites close the connection unanswered."""

    port: int = 0
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    open_now: int = 0
    most_open: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a held call reached the server

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while (request := await read_request(reader)) is not None:
                site = request.split(" ", 2)[1].split("/")[2]
                if site in self.held:
                    self.arrived.set()
                    await self.held[site].wait()
                if site in self.broken:
                    return
                body = json.dumps(
                    {"baseUrl": f"http://127.0.0.1:{self.port}/sites/{site}", "version": "1001.0.0"}
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
                await writer.drain()
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def jira() -> AsyncIterator[Jira]:
    server = Jira()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server
        for event in server.held.values():
            event.set()


@pytest.fixture(params=["aiohttp", "httpcore"])
def container(
    request: pytest.FixtureRequest, settings: Settings, jira: Jira, resolver: FakeResolver
) -> Iterator[Container]:
    """The worker's pieces with no stand-in transport: Jira calls go over the network, one connection
    per site, on each of the network layers `JIRABRIDGE_JIRA_HTTP` chooses."""
    host = f"127.0.0.1:{jira.port}"
    one = settings.model_copy(
        update={"allowed_jira_hosts": [host], "jira_max_connections": 1, "jira_http": request.param}
    )
    built = build(one, resolver=resolver)
    credentials = built.secrets.seal({"email": "bot@example.com", "api_token": "token"})
    store(
        built,
        a_workspace(WS),
        *(
            a_site(
                WS, name, url=f"http://{host}/sites/{name}", credentials=credentials, webhook_token=name * 10
            )
            for name in ("alpha", "beta", "gamma")
        ),
    )
    yield built
    built.close()


async def server_info(container: Container, site: str) -> str:
    async with container.jira_pool.client(site) as client:
        return (await client.server_info()).base_url


async def test_a_site_holding_all_its_connections_does_not_hold_up_another_sites_call(
    container: Container, jira: Jira
) -> None:
    jira.held["alpha"] = asyncio.Event()
    waiting = asyncio.create_task(server_info(container, "alpha"))
    await asyncio.wait_for(jira.arrived.wait(), 5)  # alpha's one connection is taken, its call held

    base_url = await asyncio.wait_for(server_info(container, "beta"), 5)

    assert base_url.endswith("/sites/beta")
    assert not waiting.done()
    jira.held["alpha"].set()
    assert (await asyncio.wait_for(waiting, 5)).endswith("/sites/alpha")


async def test_calls_beyond_a_sites_connections_wait_their_turn_and_each_answer_gives_it_back(
    container: Container, jira: Jira
) -> None:
    answers = await asyncio.wait_for(asyncio.gather(*(server_info(container, "gamma") for _ in range(6))), 10)

    assert all(url.endswith("/sites/gamma") for url in answers)
    assert jira.most_open == 1  # one connection: each call waited for the one before it


async def test_a_call_that_fails_gives_its_connections_turn_back(container: Container, jira: Jira) -> None:
    jira.broken.add("gamma")
    # Another site's call keeps the worker's pools open (the last one done closes them all).
    async with container.jira_pool.client("beta"):
        for _ in range(3):  # with the turn kept, the second would wait for a connection for ever
            with pytest.raises(JiraError) as failed:
                await asyncio.wait_for(server_info(container, "gamma"), 5)
            assert not isinstance(failed.value, JiraTimeout)
        jira.broken.clear()

        assert (await asyncio.wait_for(server_info(container, "gamma"), 5)).endswith("/sites/gamma")
