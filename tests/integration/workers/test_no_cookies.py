"""Jira Cloud answers with cookies (an XSRF token, a session id); jirabridge authenticates every call
on its own, so neither the service (connecting a site) nor a worker (creating a ticket, commenting)
ever sends one back, and a cookie one site set cannot reach another site through a shared client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.workers.runner import Worker
from support.dns import FakeResolver
from support.host import Host, connect_host


class CookieSettingJira(httpx.AsyncBaseTransport):
    """The emulator, with the cookies Jira Cloud sets on every answer; records each request's."""

    def __init__(self, emulator: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=emulator)
        self.cookies_sent: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.cookies_sent.append(request.headers.get("Cookie"))
        response = await self.inner.handle_async_request(request)
        response.headers.update({"Set-Cookie": "atlassian.xsrf.token=abc|lin; Path=/; Secure"})
        return response


@pytest.fixture
def jira(emulator: FastAPI) -> CookieSettingJira:
    return CookieSettingJira(emulator)


@pytest.fixture
def container(settings: Settings, jira: CookieSettingJira, resolver: FakeResolver) -> Iterator[Container]:
    built = build(settings, jira_transport=jira, resolver=resolver)
    yield built
    built.close()


async def test_no_call_to_jira_carries_a_cookie_jira_set(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, jira: CookieSettingJira
) -> None:
    host = await connect_host(api, emulator, container, Host)  # the service's connection test
    await host.project("WEB", default_issue_type="Task", status_sync="outbound")
    for item in ("e-1", "e-2"):
        answer = await host.call("PUT", f"/api/v1/items/error/{item}", {"title": item, "status": "Open"})
        assert answer.status_code in (200, 201), answer.text
        answer = await host.call("POST", f"/api/v1/items/error/{item}/tickets", {})
        assert answer.status_code in (201, 202), answer.text
    await host.settle()
    answer = await host.call("POST", "/api/v1/items/error/e-1/comments", {"body": "seen", "author": "Dana"})
    assert answer.status_code in (200, 201), answer.text
    await host.settle()

    assert len(jira.cookies_sent) >= 5  # connecting, two creates, a comment: each answered with a cookie
    assert set(jira.cookies_sent) == {None}
