"""OAuth: proactive refresh, refresh on a 401, one refresh for many concurrent requests, the rotated
refresh token handed to the caller, and a dead grant reported as TokenExpired."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jirabridge.jira import (
    InvalidResponse,
    JiraClient,
    OAuthApp,
    OAuthAuth,
    OAuthTokens,
    TokenExpired,
    gateway_base_url,
)
from jirabridge.jira._auth import parse_token_response

APP = OAuthApp(
    client_id="cid",
    client_secret="secret",
    redirect_uri="https://bridge.example/oauth/callback",
    token_url="https://auth.example/oauth/token",
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


class FakeAtlassian:
    """A token endpoint with rotation, and an API accepting only the latest access token."""

    def __init__(self) -> None:
        self.generation = 0
        self.refreshes = 0
        self.api_calls = 0
        self.dead_grant = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            body = json.loads(request.content)
            if self.dead_grant or body["refresh_token"] != f"rt-{self.generation}":
                return httpx.Response(
                    403,
                    json={"error": "unauthorized_client", "error_description": "refresh_token is invalid"},
                )
            self.refreshes += 1
            self.generation += 1
            tokens = {
                "access_token": f"at-{self.generation}",
                "refresh_token": f"rt-{self.generation}",
                "expires_in": 3600,
            }
            return httpx.Response(200, json=tokens)
        self.api_calls += 1
        if request.headers.get("authorization") != f"Bearer at-{self.generation}":
            return httpx.Response(401, json={"code": 401, "message": "Unauthorized"})
        return httpx.Response(200, json={"accountId": "acc-1", "displayName": "Ada"})


def make(
    fake: FakeAtlassian, expires_at: datetime, handler: Handler | None = None
) -> tuple[JiraClient, OAuthAuth, list[OAuthTokens]]:
    stored: list[OAuthTokens] = []

    async def store(tokens: OAuthTokens) -> None:
        stored.append(tokens)

    tokens = OAuthTokens(access_token="at-0", refresh_token="rt-0", expires_at=expires_at)
    auth = OAuthAuth(APP, tokens, store, now=lambda: NOW)
    client = JiraClient(
        gateway_base_url("cloud-1", "https://api.example"),
        auth,
        transport=httpx.MockTransport(handler or fake.handler),
    )
    return client, auth, stored


async def test_a_valid_token_is_used_as_is() -> None:
    fake = FakeAtlassian()
    client, _, stored = make(fake, NOW + timedelta(hours=1))
    async with client:
        me = await client.myself()
    assert me.account_id == "acc-1" and fake.refreshes == 0 and stored == []


async def test_an_expiring_token_is_refreshed_first_and_the_new_pair_handed_over() -> None:
    fake = FakeAtlassian()
    client, auth, stored = make(fake, NOW + timedelta(seconds=30))
    async with client:
        await client.myself()
    assert fake.refreshes == 1 and fake.api_calls == 1
    assert [t.refresh_token for t in stored] == ["rt-1"]
    assert stored[0].expires_at == NOW + timedelta(hours=1)
    assert auth.tokens.access_token == "at-1"


async def test_a_401_refreshes_once_and_retries_the_request() -> None:
    fake = FakeAtlassian()

    # The server revokes at-0 behind our back (before its expiry) while rt-0 still works.
    def revoke_first(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/oauth/token" and request.headers.get("authorization") == "Bearer at-0":
            return httpx.Response(401, json={"code": 401, "message": "Unauthorized"})
        return fake.handler(request)

    client, _, stored = make(fake, NOW + timedelta(hours=1), revoke_first)
    async with client:
        await client.myself()
    assert fake.refreshes == 1 and [t.access_token for t in stored] == ["at-1"]


async def test_concurrent_requests_share_one_refresh() -> None:
    fake = FakeAtlassian()
    client, _, stored = make(fake, NOW - timedelta(seconds=1))
    async with client:
        await asyncio.gather(*(client.myself() for _ in range(10)))
    assert fake.refreshes == 1 and len(stored) == 1


async def test_a_dead_grant_is_token_expired() -> None:
    fake = FakeAtlassian()
    fake.dead_grant = True
    client, _, stored = make(fake, NOW - timedelta(seconds=1))
    async with client:
        with pytest.raises(TokenExpired) as caught:
            await client.myself()
    assert stored == [] and caught.value.response is not None


def test_the_authorize_url_carries_state_and_offline_access() -> None:
    url = urlsplit(APP.authorization_url("st-123"))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://auth.atlassian.com/authorize"
    assert query["state"] == ["st-123"]
    assert query["audience"] == ["api.atlassian.com"]
    assert query["response_type"] == ["code"]
    assert "offline_access" in query["scope"][0].split()
    assert "secret" not in repr(APP)


def test_the_gateway_url() -> None:
    assert gateway_base_url("abc") == "https://api.atlassian.com/ex/jira/abc"


def test_tokens_never_show_in_repr_or_errors() -> None:
    tokens = OAuthTokens(access_token="at-secret", refresh_token="rt-secret")
    assert "secret" not in repr(tokens) and "secret" not in str(tokens)
    assert OAuthTokens.model_validate(tokens.model_dump()) == tokens  # storable and restorable

    answer = httpx.Response(200, json={"refresh_token": "rt-secret"}, request=APP.refresh_request("rt-0"))
    with pytest.raises(InvalidResponse) as caught:
        parse_token_response(answer, NOW)
    assert "secret" not in str(caught.value)
