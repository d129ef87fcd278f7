"""Helpers for the `jirabridge.jira` integration tests (fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from jirabridge.jira import JiraClient, OAuthApp, OAuthAuth, OAuthTokens, SitePacer, gateway_base_url

ACME = "https://acme.atlassian.net"
EMULATOR = "https://emulator.test"  # any host: the emulator serves OAuth and the gateway on one host

OAUTH_APP = OAuthApp(
    client_id="jirabridge-dev",
    client_secret="jirabridge-dev-secret-for-local-tests-only",
    redirect_uri="http://127.0.0.1:8000/oauth/callback",
    authorize_url=f"{EMULATOR}/authorize",
    token_url=f"{EMULATOR}/oauth/token",
    api_url=EMULATOR,
)


MakeClient = Callable[..., JiraClient]  # the `make_client` fixture


def task(project: str = "WEB", summary: str = "A task", **more: Any) -> dict[str, Any]:
    return {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary, **more}


async def post_control(control: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await control.post(path, json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def consent(http: httpx.AsyncClient, email: str, state: str = "st-1") -> str:
    """Play the user's consent on the emulator's authorize page; answer the code from the redirect."""
    answer = await http.get(OAUTH_APP.authorization_url(state, login_hint=email))
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


class OAuthSession:
    """What jirabridge does on the OAuth callback, and what it stores."""

    def __init__(self, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport) -> None:
        self.http = http
        self.transport = transport
        self.stored: list[OAuthTokens] = []

    async def store(self, tokens: OAuthTokens) -> None:
        self.stored.append(tokens)

    async def connect(
        self, email: str = "admin@acme.test", site: str = "acme", pacer: SitePacer | None = None
    ) -> tuple[JiraClient, OAuthAuth]:
        tokens = await OAUTH_APP.exchange_code(self.http, await consent(self.http, email))
        self.stored.append(tokens)
        resources = await OAUTH_APP.accessible_resources(self.http, tokens.access_token)
        cloud_id = next(r.id for r in resources if r.name == site)
        auth = OAuthAuth(OAUTH_APP, tokens, self.store)
        base = gateway_base_url(cloud_id, OAUTH_APP.api_url)
        return JiraClient(base, auth, pacer=pacer, transport=self.transport), auth
