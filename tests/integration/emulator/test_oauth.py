"""OAuth 2.0 (3LO) against the emulator, driven by a third-party client (Authlib) as an app would."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator.state import EmulatorState

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx, which works.
    # Its deprecate module installs an "always" filter on import, so ours must come after it.
    from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError  # type: ignore[import-untyped]

AUTHORIZE = "https://auth.atlassian.com/authorize"
TOKEN = "https://auth.atlassian.com/oauth/token"
RESOURCES = "https://api.atlassian.com/oauth/token/accessible-resources"
GATEWAY = "https://api.atlassian.com/ex/jira"
CLIENT_ID = "jirabridge-dev"
SECRET = "jirabridge-dev-secret-for-local-tests-only"
REDIRECT = "http://127.0.0.1:8000/oauth/callback"
SCOPES = "read:jira-work write:jira-work read:jira-user offline_access"


def _state(emulator: FastAPI) -> EmulatorState:
    state: EmulatorState = emulator.state.emulator
    return state


def _cloud_id(emulator: FastAPI, site: str = "acme") -> str:
    return _state(emulator).sites[site].cloud_id


@pytest.fixture
async def app_client(emulator: FastAPI) -> AsyncIterator[AsyncOAuth2Client]:
    async with AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        scope=SCOPES,
        redirect_uri=REDIRECT,
        # Atlassian documents the client credentials in the request body.
        token_endpoint_auth_method="client_secret_post",
        transport=httpx.ASGITransport(app=emulator),
    ) as client:
        yield client


async def _authorize(client: AsyncOAuth2Client, **extra: str) -> httpx.Response:
    url, _ = client.create_authorization_url(
        AUTHORIZE, audience="api.atlassian.com", prompt="consent", **extra
    )
    response: httpx.Response = await client.request("GET", url, withhold_token=True)
    return response


async def _login(client: AsyncOAuth2Client, email: str = "alice@acme.test") -> dict[str, Any]:
    """Consent as `email`, follow the redirect and exchange the code, as a web app's callback does."""
    url, state = client.create_authorization_url(
        AUTHORIZE, audience="api.atlassian.com", prompt="consent", login_hint=email
    )
    redirect = await client.request("GET", url, withhold_token=True)
    assert redirect.status_code == 302
    token: dict[str, Any] = await client.fetch_token(
        TOKEN, authorization_response=redirect.headers["location"], state=state
    )
    return token


async def _myself(client: AsyncOAuth2Client, emulator: FastAPI) -> httpx.Response:
    response: httpx.Response = await client.get(f"{GATEWAY}/{_cloud_id(emulator)}/rest/api/3/myself")
    return response


async def test_the_whole_flow_reaches_jira_through_the_gateway(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    url, state = app_client.create_authorization_url(
        AUTHORIZE, audience="api.atlassian.com", prompt="consent", login_hint="alice@acme.test"
    )
    redirect = await app_client.request("GET", url, withhold_token=True)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    assert query["code"][0]

    token = await app_client.fetch_token(TOKEN, authorization_response=location, state=state)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"].split() == SCOPES.split()
    assert token["refresh_token"]

    resources = await app_client.get(RESOURCES)
    assert resources.status_code == 200
    assert resources.json() == [
        {
            "id": _cloud_id(emulator),
            "url": "https://acme.atlassian.net",
            "name": "acme",
            "scopes": ["read:jira-work", "write:jira-work", "read:jira-user"],
            "avatarUrl": resources.json()[0]["avatarUrl"],
        }
    ]

    me = await app_client.get(f"{GATEWAY}/{resources.json()[0]['id']}/rest/api/3/myself")
    assert me.status_code == 200
    assert me.json()["emailAddress"] == "alice@acme.test"


async def test_accessible_resources_lists_every_site_of_the_account(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    await _login(app_client, "admin@acme.test")
    resources = (await app_client.get(RESOURCES)).json()
    assert sorted(r["name"] for r in resources) == ["acme", "globex"]
    globex = next(r for r in resources if r["name"] == "globex")
    assert globex["url"] == "https://globex.atlassian.net"
    me = await app_client.get(f"{GATEWAY}/{globex['id']}/rest/api/3/myself")
    assert me.json()["emailAddress"] == "admin@acme.test"


async def test_refresh_rotates_the_refresh_token(app_client: AsyncOAuth2Client, emulator: FastAPI) -> None:
    first = dict(await _login(app_client))
    second = dict(await app_client.refresh_token(TOKEN, refresh_token=first["refresh_token"]))
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _myself(app_client, emulator)).status_code == 200

    with pytest.raises(OAuthError) as reused:
        await app_client.refresh_token(TOKEN, refresh_token=first["refresh_token"])
    assert reused.value.error == "unauthorized_client"
    assert reused.value.description == "refresh_token is invalid"

    third = await app_client.refresh_token(TOKEN, refresh_token=second["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


async def test_a_reused_refresh_token_answers_403(app_client: AsyncOAuth2Client, emulator: FastAPI) -> None:
    token = await _login(app_client)
    body = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": token["refresh_token"],
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator)) as raw:
        assert (await raw.post(TOKEN, json=body)).status_code == 200
        again = await raw.post(TOKEN, json=body)
    assert again.status_code == 403
    assert again.json() == {"error": "unauthorized_client", "error_description": "refresh_token is invalid"}


async def test_a_code_works_only_once(app_client: AsyncOAuth2Client) -> None:
    redirect = await _authorize(app_client, login_hint="alice@acme.test")
    location = redirect.headers["location"]
    await app_client.fetch_token(TOKEN, authorization_response=location)
    with pytest.raises(OAuthError) as reused:
        await app_client.fetch_token(TOKEN, authorization_response=location)
    assert reused.value.error == "invalid_grant"


async def test_a_code_expires(app_client: AsyncOAuth2Client, emulator: FastAPI) -> None:
    redirect = await _authorize(app_client, login_hint="alice@acme.test")
    _state(emulator).clock.advance(11 * 60)
    with pytest.raises(OAuthError) as late:
        await app_client.fetch_token(TOKEN, authorization_response=redirect.headers["location"])
    assert late.value.error == "invalid_grant"


async def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    app_client: AsyncOAuth2Client,
) -> None:
    url, _ = app_client.create_authorization_url(
        AUTHORIZE,
        redirect_uri="https://evil.example/callback",
        audience="api.atlassian.com",
        login_hint="alice@acme.test",
    )
    page = await app_client.request("GET", url, withhold_token=True)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "redirect_uri" in page.text


async def test_an_unknown_client_gets_an_error_page(emulator: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator)) as raw:
        page = await raw.get(
            AUTHORIZE,
            params={
                "client_id": "nobody",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "audience": "api.atlassian.com",
                "scope": "read:jira-work",
                "login_hint": "alice@acme.test",
            },
        )
    assert page.status_code == 400
    assert "location" not in page.headers


async def test_the_code_is_bound_to_its_redirect_uri(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    redirect = await _authorize(app_client, login_hint="alice@acme.test")
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    with pytest.raises(OAuthError) as mismatch:
        await app_client.fetch_token(TOKEN, code=code, redirect_uri="http://localhost:8000/oauth/callback")
    assert mismatch.value.error == "invalid_grant"


async def test_a_wrong_client_secret_is_refused(emulator: FastAPI) -> None:
    async with AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret="not-the-secret",
        scope=SCOPES,
        redirect_uri=REDIRECT,
        token_endpoint_auth_method="client_secret_post",
        transport=httpx.ASGITransport(app=emulator),
    ) as client:
        redirect = await _authorize(client, login_hint="alice@acme.test")
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token(TOKEN, authorization_response=redirect.headers["location"])
    assert refused.value.error == "access_denied"


async def test_an_expired_access_token_is_refused_until_refreshed(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    token = await _login(app_client)
    _state(emulator).clock.advance(3601)
    expired = await _myself(app_client, emulator)
    assert expired.status_code == 401
    assert expired.json() == {"code": 401, "message": "Unauthorized"}
    assert (await app_client.get(RESOURCES)).status_code == 401

    await app_client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
    assert (await _myself(app_client, emulator)).status_code == 200


async def test_the_control_api_expires_access_tokens_now(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    token = await _login(app_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://emu") as ctl:
        answer = await ctl.post("/_emulator/oauth/expire-access-tokens", json={"client_id": CLIENT_ID})
    assert answer.json() == {"expired_access_tokens": 1}
    assert (await _myself(app_client, emulator)).status_code == 401
    await app_client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
    assert (await _myself(app_client, emulator)).status_code == 200


async def test_a_refresh_token_dies_after_90_days_unused(
    app_client: AsyncOAuth2Client, emulator: FastAPI
) -> None:
    token = await _login(app_client)
    _state(emulator).clock.advance(91 * 24 * 3600)
    with pytest.raises(OAuthError) as stale:
        await app_client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
    assert stale.value.description == "refresh_token is invalid"


async def test_revoking_consent_kills_every_token(app_client: AsyncOAuth2Client, emulator: FastAPI) -> None:
    token = await _login(app_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://emu") as ctl:
        answer = await ctl.post(
            "/_emulator/oauth/revoke", json={"client_id": CLIENT_ID, "account": "alice@acme.test"}
        )
    assert answer.json() == {"revoked_access_tokens": 1, "revoked_refresh_tokens": 1}
    revoked = await _myself(app_client, emulator)
    assert revoked.status_code == 401
    assert revoked.json() == {"code": 401, "message": "Unauthorized"}
    with pytest.raises(OAuthError) as refused:
        await app_client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
    assert refused.value.error == "unauthorized_client"


async def test_without_offline_access_there_is_no_refresh_token(emulator: FastAPI) -> None:
    async with AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        scope="read:jira-work",
        redirect_uri=REDIRECT,
        token_endpoint_auth_method="client_secret_post",
        transport=httpx.ASGITransport(app=emulator),
    ) as client:
        token = await _login(client)
    assert "refresh_token" not in token
    assert token["scope"] == "read:jira-work"


async def test_without_a_login_hint_the_page_lists_accounts_to_consent_as(
    app_client: AsyncOAuth2Client,
) -> None:
    page = await _authorize(app_client)
    assert page.status_code == 200
    assert "Bob Builder" in page.text
    link = next(
        part.split('"')[0] for part in page.text.split('href="')[1:] if "bob%40acme.test" in part
    ).replace("&amp;", "&")
    chosen = await app_client.request("GET", f"https://auth.atlassian.com/{link}", withhold_token=True)
    assert chosen.status_code == 302
    await app_client.fetch_token(TOKEN, authorization_response=chosen.headers["location"])
    assert (await app_client.get(RESOURCES)).status_code == 200


async def test_a_user_who_declines_sends_the_app_an_error(app_client: AsyncOAuth2Client) -> None:
    redirect = await _authorize(
        app_client, login_hint="alice@acme.test", emulator_consent="deny", state="xyz"
    )
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["xyz"]
    assert "code" not in query


async def test_the_token_endpoint_takes_json_as_atlassian_documents(emulator: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator)) as raw:
        redirect = await raw.get(
            AUTHORIZE,
            params={
                "audience": "api.atlassian.com",
                "client_id": CLIENT_ID,
                "scope": "read:jira-work offline_access",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "prompt": "consent",
                "login_hint": "bob@acme.test",
            },
        )
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        answer = await raw.post(
            TOKEN,
            json={
                "grant_type": "authorization_code",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "code": code,
                "redirect_uri": REDIRECT,
            },
        )
    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "expires_in", "token_type", "refresh_token", "scope"}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "invalid_request"),
        (b'["a"]', "application/json", 400, "invalid_request"),
        (
            b"client_id=jirabridge-dev&client_secret=jirabridge-dev-secret-for-local-tests-only",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (
            b"grant_type=password&client_id=jirabridge-dev&client_secret=jirabridge-dev-secret-for-local-tests-only",
            "application/x-www-form-urlencoded",
            403,
            "unsupported_grant_type",
        ),
        (
            b"grant_type=authorization_code&client_id=jirabridge-dev&client_secret=jirabridge-dev-secret-for-local-tests-only",
            "application/x-www-form-urlencoded",
            400,
            "invalid_request",
        ),
        (
            b"grant_type=refresh_token&client_id=jirabridge-dev&client_secret=jirabridge-dev-secret-for-local-tests-only&refresh_token=x",
            "application/x-www-form-urlencoded",
            403,
            "unauthorized_client",
        ),
        (
            b"grant_type=authorization_code&client_id=nobody&code=x",
            "application/x-www-form-urlencoded",
            401,
            "access_denied",
        ),
    ],
)
async def test_malformed_token_requests_get_oauth_errors(
    emulator: FastAPI, content: bytes, content_type: str, status: int, error: str
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator)) as raw:
        answer = await raw.post(TOKEN, content=content, headers={"content-type": content_type})
    assert answer.status_code == status
    assert answer.json()["error"] == error


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"audience": "api.example.com"}, "access_denied"),
        ({"scope": ""}, "invalid_scope"),
    ],
)
async def test_a_bad_request_from_a_known_client_is_redirected_with_an_error(
    emulator: FastAPI, override: dict[str, str], error: str
) -> None:
    params = {
        "audience": "api.atlassian.com",
        "client_id": CLIENT_ID,
        "scope": "read:jira-work",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "s1",
        "login_hint": "alice@acme.test",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator)) as raw:
        redirect = await raw.get(AUTHORIZE, params={**params, **override})
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["s1"]
    assert "code" not in query
