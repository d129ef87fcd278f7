"""`POST …/tickets` waits for the worker to create the issue without polling the database: on
PostgreSQL the worker's commit notifies the waiting request (storage/link_watch.py), on SQLite it polls
at a growing interval. A lost notification costs latency, never the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.storage.db import make_engine
from jirabridge.storage.link_watch import PgLinkWatch, PollingLinkWatch
from jirabridge.workers.runner import Worker
from support.host import Host, connect_host

ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# Longer than any wait below: a test that gets its answer before it was woken by a notification.
NEVER_S = 3600.0


@pytest.fixture
def container(container: Container) -> Container:
    # Long enough for a loaded machine; the answers below come as soon as the issue exists.
    container.settings = container.settings.model_copy(update={"ticket_wait_s": 30.0})
    return container


async def _until(condition: Callable[[], bool], limit_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.02)


async def _listening(watch: PgLinkWatch) -> None:
    """Starts the watch's listener (it starts on the first wait) and waits until it listens."""
    async with watch.watch("lk_warm_up"):
        await _until(lambda: watch.listening)


async def _create(host: Host, item_id: str) -> httpx.Response:
    await host.project(default_issue_type="Task")
    item = await host.call("PUT", f"/api/v1/items/anomaly/{item_id}", {"title": f"anomaly {item_id}"})
    assert item.status_code in (200, 201), item.text
    return await host.call("POST", f"/api/v1/items/anomaly/{item_id}/tickets", {"summary": "Spike"})


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    return await connect_host(api, emulator, container, Host)


async def test_the_answer_carries_the_key_as_soon_as_the_worker_created_the_issue(
    host: Host, container: Container, worker: Worker, database_url: str
) -> None:
    if database_url.startswith("postgresql"):
        # No poll at all: only the worker's notification can end this wait before its 30 s.
        container.link_watch = watch = PgLinkWatch.for_url(database_url, fallback_poll_s=NEVER_S)
        await _listening(watch)
    answer = await _create(host, "an-1")
    assert answer.status_code == 201, answer.text
    assert answer.json()["issue_key"] == "WEB-1" and answer.json()["sync_state"] == "synced"


@ONLY_POSTGRES
async def test_the_wait_ends_when_the_listener_cannot_connect(
    host: Host, container: Container, worker: Worker
) -> None:
    # Nothing listens on port 1: no notification ever arrives, and the waiter polls instead.
    container.link_watch = watch = PgLinkWatch("postgresql://postgres@127.0.0.1:1/none", fallback_poll_s=0.2)
    answer = await _create(host, "an-2")
    assert answer.status_code == 201, answer.text
    assert answer.json()["issue_key"] == "WEB-1"
    assert not watch.listening and watch.waiting == 0
    await watch.aclose()


@ONLY_POSTGRES
async def test_the_listener_listens_again_after_its_connection_is_killed(
    host: Host, container: Container, worker: Worker, database_url: str
) -> None:
    container.link_watch = watch = PgLinkWatch.for_url(
        database_url, fallback_poll_s=NEVER_S, reconnect_s=(0.05, 0.2)
    )
    await _listening(watch)
    engine = make_engine(database_url)
    with engine.connect() as connection:  # what a database restart does to the listening connection
        killed = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'jirabridge-link-watch' AND datname = current_database()"
            )
        ).all()
    engine.dispose()
    assert killed == [(True,)]
    async with watch.watch("lk_watching"):
        await _until(lambda: not watch.listening)
        await _until(lambda: watch.listening)
    answer = await _create(host, "an-3")
    assert answer.status_code == 201, answer.text
    assert answer.json()["issue_key"] == "WEB-1"
    await watch.aclose()


@ONLY_POSTGRES  # SQLite's watch keeps no waiters
async def test_a_cancelled_wait_leaves_no_waiter_behind(
    host: Host, container: Container, database_url: str
) -> None:
    """No worker runs: the request waits until the host gives up on it."""
    container.link_watch = watch = PgLinkWatch.for_url(database_url)
    request = asyncio.create_task(_create(host, "an-4"))
    await _until(lambda: watch.waiting == 1)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert watch.waiting == 0
    await watch.aclose()


UNREACHABLE_PG = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@ONLY_POSTGRES
async def test_the_service_listens_where_the_listen_url_says(
    host: Host, container: Container, worker: Worker, database_url: str
) -> None:
    # The database URL goes through a pooler a LISTEN cannot use (here: nothing answers on it); the
    # listen URL is a direct connection to PostgreSQL, and the waiting request is woken through it.
    settings = Settings(database_url=UNREACHABLE_PG, database_listen_url=database_url)
    built = build(settings)
    watch = built.link_watch
    assert isinstance(watch, PgLinkWatch)
    watch.fallback_poll_s = NEVER_S
    container.link_watch = watch
    await _listening(watch)
    answer = await _create(host, "an-5")
    assert answer.status_code == 201, answer.text
    assert answer.json()["issue_key"] == "WEB-1"
    await watch.aclose()
    built.close()


@ONLY_POSTGRES
async def test_with_listening_off_a_request_on_postgresql_reads_its_link_until_it_settles(
    host: Host, container: Container, worker: Worker, database_url: str
) -> None:
    built = build(Settings(database_url=database_url, database_listen_url="none"))
    assert isinstance(built.link_watch, PollingLinkWatch)
    container.link_watch = built.link_watch
    answer = await _create(host, "an-6")
    assert answer.status_code == 201, answer.text
    assert answer.json()["issue_key"] == "WEB-1"
    built.close()
