"""The client over real HTTP: the emulator served by uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from integration.jira.jira_client_support import task
from jira_emulator import create_app
from jira_emulator.faults import with_drop_support
from jirabridge.jira import BasicTokenAuth, JiraClient, JiraTimeout, SitePacer, maybe_applied


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[str]:
    """The emulator's root URL over loopback."""
    port = free_port()
    config = uvicorn.Config(
        with_drop_support(create_app()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_the_client_over_loopback(served: str) -> None:
    auth = BasicTokenAuth("admin@acme.test", "admin-token")
    async with JiraClient(f"{served}/sites/acme", auth, pacer=SitePacer(rate=50)) as jira:
        assert (await jira.myself()).email_address == "admin@acme.test"
        created = await jira.issues.create(task(labels=["loopback"]))
        comment = await jira.comments.add(created.key, "over the wire")
        assert [c.id for c in await jira.comments.list(created.key)] == [comment.id]
        assert [i.key async for i in jira.search.issues("labels = loopback")] == [created.key]
        assert created.self_ is not None and created.self_.startswith(f"{served}/sites/acme/")


async def test_calls_paced_on_the_wire_are_never_refused(served: str) -> None:
    # Thirty calls at once through four connections, the pacer told the site's limit: calls that
    # waited for a connection are checked again when written (httpx's trace), and Jira never sees
    # more than its limit in a second.
    async with httpx.AsyncClient(base_url=served) as control:
        limits = {"sites": {"acme": {"requests_per_s": 10}}}
        assert (await control.post("/_emulator/rate-limits", json=limits)).status_code == 200
        slow = {"latency_ms": 250}  # like Jira Cloud: connections are busy a while
        assert (await control.post("/_emulator/faults", json=slow)).status_code == 200
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=4))
        auth = BasicTokenAuth("admin@acme.test", "admin-token")
        pacer = SitePacer(rate=10)
        async with (
            http,
            JiraClient(f"{served}/sites/acme", auth, pacer=pacer, http=http) as jira,
        ):
            started = time.monotonic()
            await asyncio.gather(*(jira.myself() for _ in range(30)))
            elapsed = time.monotonic() - started
        refused = (await control.get("/_emulator/rate-limits")).json()["rejections"]
    assert refused == {} and pacer.stats.rate_limited == 0
    assert pacer.stats.acquired == pacer.stats.checked_on_the_wire == 30  # httpx reported each write
    assert elapsed >= 2 * 1.06  # three windows of ten: the pacer, not the connections, set the pace


async def test_a_hung_create_times_out_and_may_have_been_applied(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as control:
        rule = {
            "kind": "lost_answer",
            "method": "POST",
            "count": 1,
            "hang_s": 1.5,
            "path": "/rest/api/3/issue$",
        }
        assert (await control.post("/_emulator/faults", json={"rules": [rule]})).status_code == 200
    auth = BasicTokenAuth("admin@acme.test", "admin-token")
    async with JiraClient(f"{served}/sites/acme", auth, timeout=0.3) as jira:
        with pytest.raises(JiraTimeout) as caught:
            await jira.issues.create(task(labels=["lost-on-the-wire"]))
        assert maybe_applied(caught.value)
        found = [i.key async for i in jira.search.issues("labels = lost-on-the-wire")]
        assert len(found) == 1
