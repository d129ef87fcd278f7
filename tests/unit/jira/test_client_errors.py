"""Errors are classified by what the caller should do next, and carry the request and response."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jirabridge.jira import (
    Action,
    BadRequest,
    BasicTokenAuth,
    Conflict,
    ConnectionFailed,
    CookielessClient,
    Forbidden,
    HTTPStatusError,
    InvalidResponse,
    JiraClient,
    JiraError,
    JiraTimeout,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    Unauthorized,
    maybe_applied,
)
from jirabridge.jira._errors import retry_after_seconds

Handler = httpx.MockTransport


def client_answering(status: int, body: object = None, headers: dict[str, str] | None = None) -> JiraClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return JiraClient("https://acme.atlassian.net", BasicTokenAuth("a@b", "t"), transport=Handler(handler))


def client_raising(exc: Exception) -> JiraClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return JiraClient("https://acme.atlassian.net", BasicTokenAuth("a@b", "t"), transport=Handler(handler))


async def test_a_validation_error_gives_up_and_names_the_fields() -> None:
    body = {"errorMessages": [], "errors": {"description": "Operation value must be an Atlassian Document"}}
    async with client_answering(400, body) as jira:
        with pytest.raises(BadRequest) as caught:
            await jira.issues.create({"summary": "x"})
    error = caught.value
    assert error.action is Action.GIVE_UP
    assert error.field_errors == {"description": "Operation value must be an Atlassian Document"}
    assert "description" in str(error)
    assert error.request is not None and error.request.method == "POST"
    assert error.response is not None and error.response.status_code == 400


@pytest.mark.parametrize(
    ("status", "cls", "action"),
    [
        (401, Unauthorized, Action.GIVE_UP),
        (403, Forbidden, Action.GIVE_UP),
        (404, NotFound, Action.GIVE_UP),
        (409, Conflict, Action.GIVE_UP),
        (429, RateLimited, Action.RETRY),
        (500, ServerError, Action.RETRY),
        (503, ServerError, Action.RETRY),
        (418, HTTPStatusError, Action.GIVE_UP),
    ],
)
async def test_statuses_map_to_classes_and_actions(status: int, cls: type[JiraError], action: Action) -> None:
    async with client_answering(status, {"errorMessages": ["nope"], "errors": {}}) as jira:
        with pytest.raises(cls) as caught:
            await jira.issues.get("WEB-1")
    assert type(caught.value) is cls
    assert caught.value.action is action
    assert caught.value.messages == ["nope"]  # type: ignore[attr-defined]


async def test_a_404_on_delete_is_skipped_since_it_is_already_gone() -> None:
    async with client_answering(404, {"errorMessages": ["Issue does not exist"]}) as jira:
        with pytest.raises(NotFound) as caught:
            await jira.issues.delete("WEB-1")
    assert caught.value.action is Action.SKIP


async def test_a_409_on_a_transition_is_retried() -> None:
    async with client_answering(409, {"errorMessages": ["concurrent transition"]}) as jira:
        with pytest.raises(Conflict) as caught:
            await jira.issues.transition("WEB-1", "11")
    assert caught.value.action is Action.RETRY


async def test_a_429_carries_retry_after_and_reason() -> None:
    headers = {"retry-after": "7", "ratelimit-reason": "jira-per-issue-on-write"}
    async with client_answering(429, {"errorMessages": ["Rate limit exceeded."]}, headers) as jira:
        with pytest.raises(RateLimited) as caught:
            await jira.comments.add("WEB-1", "hi")
    assert caught.value.retry_after == 7
    assert caught.value.reason == "jira-per-issue-on-write"


async def test_the_gateway_401_shape_is_understood() -> None:
    async with client_answering(401, {"code": 401, "message": "Unauthorized"}) as jira:
        with pytest.raises(Unauthorized) as caught:
            await jira.myself()
    assert caught.value.messages == ["Unauthorized"]


async def test_an_expired_token_is_told_apart() -> None:
    headers = {"www-authenticate": 'Bearer error="invalid_token", error_description="token expired"'}
    async with client_answering(401, {"code": 401, "message": "Unauthorized"}, headers) as jira:
        with pytest.raises(TokenExpired):
            await jira.myself()


async def test_a_timeout_on_a_post_may_have_been_applied() -> None:
    async with client_raising(httpx.ReadTimeout("slow")) as jira:
        with pytest.raises(JiraTimeout) as caught:
            await jira.issues.create({"summary": "x"})
    assert caught.value.action is Action.RETRY
    assert maybe_applied(caught.value)


async def test_a_timeout_on_a_get_or_before_connecting_was_not_applied() -> None:
    async with client_raising(httpx.ReadTimeout("slow")) as jira:
        with pytest.raises(JiraTimeout) as caught:
            await jira.issues.get("WEB-1")
    assert not maybe_applied(caught.value)
    async with client_raising(httpx.ConnectTimeout("slow")) as jira:
        with pytest.raises(JiraTimeout) as caught:
            await jira.issues.create({"summary": "x"})
    assert not maybe_applied(caught.value)


async def test_a_refused_connection_is_retryable_and_not_applied() -> None:
    async with client_raising(httpx.ConnectError("refused")) as jira:
        with pytest.raises(ConnectionFailed) as caught:
            await jira.myself()
    assert caught.value.action is Action.RETRY
    assert not maybe_applied(caught.value)
    assert caught.value.request is not None and caught.value.response is None


async def test_a_504_to_a_create_may_have_been_applied() -> None:
    async with client_answering(504, {"errorMessages": ["Gateway timeout"]}) as jira:
        with pytest.raises(ServerError) as caught:
            await jira.issues.create({"summary": "x"})
    assert maybe_applied(caught.value)


async def test_a_success_with_an_unexpected_body_is_an_invalid_response() -> None:
    async with client_answering(200, {"unexpected": True}) as jira:
        with pytest.raises(InvalidResponse) as caught:
            await jira.myself()
    assert caught.value.response is not None


async def test_a_success_whose_body_is_not_json_is_an_invalid_response_saying_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Log in</html>")

    transport = httpx.MockTransport(handler)
    async with JiraClient("https://a.atlassian.net", BasicTokenAuth("a", "b"), transport=transport) as jira:
        with pytest.raises(InvalidResponse, match="GET /rest/api/3/myself: the body is not JSON"):
            await jira.myself()
        with pytest.raises(InvalidResponse, match="the body is not JSON"):
            await jira.admin_webhooks.list()


async def test_a_non_json_error_body_still_makes_a_readable_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    transport = httpx.MockTransport(handler)
    async with JiraClient("https://a.atlassian.net", BasicTokenAuth("a", "b"), transport=transport) as jira:
        with pytest.raises(ServerError, match="Bad gateway"):
            await jira.myself()


def test_retry_after_reads_seconds_dates_and_the_reset_header() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"}), now=now) == 3
    date = httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 12:00:10 GMT"})
    assert retry_after_seconds(date, now=now) == 10
    reset = httpx.Headers({"X-RateLimit-Reset": "2026-01-01T12:01Z"})
    assert retry_after_seconds(reset, now=now) == 60
    assert retry_after_seconds(httpx.Headers({}), now=now) is None


async def test_cookies_jira_sets_are_never_sent_back() -> None:
    """Jira answers with a session cookie and an XSRF token; every call authenticates on its own, so
    they are not kept (and a cookie one site set never reaches another through the shared client)."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        cookies = [
            ("Set-Cookie", "atlassian.xsrf.token=abc|lin; Path=/; Secure"),
            ("Set-Cookie", "JSESSIONID=0123; Path=/; Secure; HttpOnly"),
        ]
        return httpx.Response(200, json={"accountId": "1", "displayName": "A"}, headers=cookies)

    transport = httpx.MockTransport(handler)
    async with JiraClient("https://a.atlassian.net", BasicTokenAuth("a", "b"), transport=transport) as jira:
        await jira.myself()
        await jira.myself()
        assert not jira.http.cookies
    assert seen == [None, None]


def test_the_cookieless_client_refuses_cookies_it_would_not_send() -> None:
    """A cookie given to the client would be silently dropped; it is refused instead."""
    with pytest.raises(TypeError, match="no cookies"):
        CookielessClient(cookies={"JSESSIONID": "0123"})
    client = CookielessClient()
    with pytest.raises(TypeError, match="no cookies"):
        client.cookies = {"JSESSIONID": "0123"}
    client.cookies.set("JSESSIONID", "0123")  # set on its cookies: kept nowhere
    assert not client.cookies
