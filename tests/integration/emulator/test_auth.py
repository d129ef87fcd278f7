"""Who may call the REST API: Basic auth with API tokens on the site, Bearer tokens through the gateway."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app
from jira_emulator.seed import ApiTokenSeed, Seed, UserSeed, default_seed
from jira_emulator.state import EmulatorState

MakeClient = Callable[..., httpx.AsyncClient]

ACME = "https://acme.atlassian.net"
GATEWAY = "https://api.atlassian.com/ex/jira"
UNAUTHENTICATED = {
    "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
    "errors": {},
}
GATEWAY_401 = {"code": 401, "message": "Unauthorized"}


def _seed() -> Seed:
    """The default seed plus Carol, whose tokens are in every state a token can be in, and Dave, an
    Atlassian account that belongs to no site."""
    seed = default_seed()
    soon = datetime.now(UTC) + timedelta(days=1)
    seed.users.append(
        UserSeed(
            email="carol@acme.test",
            display_name="Carol Contractor",
            sites=["acme"],
            api_tokens=[
                ApiTokenSeed(token="carol-expiring", expires_at=soon),
                ApiTokenSeed(token="carol-expired", expires_at=datetime.now(UTC) - timedelta(days=1)),
                ApiTokenSeed(token="carol-revoked", revoked=True),
            ],
        )
    )
    seed.users.append(
        UserSeed(
            email="dave@elsewhere.test", display_name="Dave", sites=[], api_tokens=[ApiTokenSeed(token="d")]
        )
    )
    return seed


@pytest.fixture
def emulator() -> FastAPI:
    return create_app(_seed())


def _state(emulator: FastAPI) -> EmulatorState:
    state: EmulatorState = emulator.state.emulator
    return state


def _raw(emulator: FastAPI, base_url: str = ACME) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url=base_url)


async def _access_token(emulator: FastAPI, email: str = "alice@acme.test") -> str:
    """An OAuth access token for `email`, through the same authorize and token calls an app makes."""
    async with _raw(emulator, "https://auth.atlassian.com") as auth:
        redirect = await auth.get(
            "/authorize",
            params={
                "audience": "api.atlassian.com",
                "client_id": "jirabridge-dev",
                "scope": "read:jira-work read:jira-user",
                "redirect_uri": "http://127.0.0.1:8000/oauth/callback",
                "response_type": "code",
                "login_hint": email,
            },
        )
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        token = await auth.post(
            "/oauth/token",
            json={
                "grant_type": "authorization_code",
                "client_id": "jirabridge-dev",
                "client_secret": "jirabridge-dev-secret-for-local-tests-only",
                "code": code,
                "redirect_uri": "http://127.0.0.1:8000/oauth/callback",
            },
        )
    access: str = token.json()["access_token"]
    return access


async def test_basic_auth_with_a_valid_token_answers_as_the_caller(jira: httpx.AsyncClient) -> None:
    me = await jira.get("/rest/api/3/myself")
    assert me.status_code == 200
    assert me.json()["emailAddress"] == "admin@acme.test"
    assert me.json()["displayName"] == "Ada Admin"
    assert me.json()["accountId"].startswith("712020:")


async def test_a_token_that_has_not_expired_yet_works(as_user: MakeClient) -> None:
    async with as_user("carol@acme.test", "carol-expiring") as carol:
        me = await carol.get("/rest/api/3/myself")
    assert me.status_code == 200
    assert me.json()["emailAddress"] == "carol@acme.test"


@pytest.mark.parametrize(
    ("email", "token"),
    [
        ("admin@acme.test", "wrong-token"),
        ("nobody@acme.test", "admin-token"),
        ("carol@acme.test", "carol-expired"),
        ("carol@acme.test", "carol-revoked"),
        ("alice@acme.test", "bob-token"),  # somebody else's token
    ],
    ids=["wrong-token", "unknown-email", "expired-token", "revoked-token", "another-users-token"],
)
async def test_rejected_credentials_answer_401(as_user: MakeClient, email: str, token: str) -> None:
    async with as_user(email, token) as client:
        answer = await client.get("/rest/api/3/myself")
    assert answer.status_code == 401
    assert answer.json() == UNAUTHENTICATED
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.headers["x-seraph-loginreason"] == "AUTHENTICATED_FAILED"


async def test_an_api_token_stops_working_when_it_expires(as_user: MakeClient, emulator: FastAPI) -> None:
    async with as_user("carol@acme.test", "carol-expiring") as carol:
        assert (await carol.get("/rest/api/3/myself")).status_code == 200
        _state(emulator).clock.advance(2 * 24 * 3600)
        assert (await carol.get("/rest/api/3/myself")).status_code == 401


async def test_no_credentials_answer_401(emulator: FastAPI) -> None:
    async with _raw(emulator) as anonymous:
        answer = await anonymous.get("/rest/api/3/myself")
    assert answer.status_code == 401
    assert answer.json() == UNAUTHENTICATED
    assert "www-authenticate" in answer.headers


async def test_v2_rejects_bad_credentials_the_same_way(as_user: MakeClient) -> None:
    async with as_user("admin@acme.test", "wrong-token") as client:
        answer = await client.get("/rest/api/2/myself")
    assert answer.status_code == 401
    assert answer.json() == UNAUTHENTICATED


async def test_an_account_without_access_to_the_site_gets_403(as_user: MakeClient) -> None:
    # Alice is a real account with a valid token, but only acme granted her access, not globex.
    async with as_user("alice@acme.test", "alice-token", base_url="https://globex.atlassian.net") as alice:
        answer = await alice.get("/rest/api/3/myself")
    assert answer.status_code == 403
    assert answer.json()["errorMessages"]
    async with as_user("dave@elsewhere.test", "d") as dave:
        assert (await dave.get("/rest/api/3/myself")).status_code == 403


async def test_the_gateway_refuses_basic_auth(as_user: MakeClient, emulator: FastAPI) -> None:
    cloud_id = _state(emulator).sites["acme"].cloud_id
    async with as_user("admin@acme.test", "admin-token", base_url=f"{GATEWAY}/{cloud_id}") as admin:
        answer = await admin.get("/rest/api/3/myself")
    assert answer.status_code == 401
    assert answer.json() == GATEWAY_401


async def test_the_gateway_accepts_a_valid_bearer_token(emulator: FastAPI) -> None:
    token = await _access_token(emulator)
    cloud_id = _state(emulator).sites["acme"].cloud_id
    async with _raw(emulator, f"{GATEWAY}/{cloud_id}") as gateway:
        me = await gateway.get("/rest/api/3/myself", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["emailAddress"] == "alice@acme.test"


async def test_a_bearer_token_does_not_work_on_the_site_url(emulator: FastAPI) -> None:
    # 3LO access tokens are for api.atlassian.com; the site's own URL takes Basic auth only.
    token = await _access_token(emulator)
    async with _raw(emulator) as site:
        answer = await site.get("/rest/api/3/myself", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


async def test_an_expired_bearer_token_gets_the_gateways_401(emulator: FastAPI) -> None:
    token = await _access_token(emulator)
    cloud_id = _state(emulator).sites["acme"].cloud_id
    _state(emulator).clock.advance(_state(emulator).access_token_ttl_s + 1)
    async with _raw(emulator, f"{GATEWAY}/{cloud_id}") as gateway:
        answer = await gateway.get("/rest/api/3/myself", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json() == GATEWAY_401
    assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_bearer_token_gets_the_gateways_401(emulator: FastAPI) -> None:
    token = await _access_token(emulator)
    cloud_id = _state(emulator).sites["acme"].cloud_id
    async with _raw(emulator, "http://emulator") as control:
        revoked = await control.post(
            "/_emulator/oauth/revoke", json={"client_id": "jirabridge-dev", "account": "alice@acme.test"}
        )
    assert revoked.status_code == 200
    async with _raw(emulator, f"{GATEWAY}/{cloud_id}") as gateway:
        answer = await gateway.get("/rest/api/3/myself", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json() == GATEWAY_401


async def test_an_unknown_bearer_token_gets_the_gateways_401(emulator: FastAPI) -> None:
    cloud_id = _state(emulator).sites["acme"].cloud_id
    async with _raw(emulator, f"{GATEWAY}/{cloud_id}") as gateway:
        answer = await gateway.get("/rest/api/3/myself", headers={"Authorization": "Bearer made-up"})
    assert answer.status_code == 401
    assert answer.json() == GATEWAY_401


async def test_an_unknown_cloud_id_is_not_found(emulator: FastAPI) -> None:
    token = await _access_token(emulator)
    async with _raw(emulator, f"{GATEWAY}/00000000-0000-0000-0000-000000000000") as gateway:
        answer = await gateway.get("/rest/api/3/myself", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404
