"""Authentication as `httpx.Auth` classes, and the OAuth 2.0 (3LO) helpers.

- `BasicTokenAuth(email, api_token)`: Jira Cloud's API tokens over HTTP Basic.
- `OAuthAuth`: a Bearer access token, refreshed shortly before it expires and once on a 401. Atlassian
  rotates refresh tokens: the one used is dead afterwards, so the new pair is handed to `on_refresh`
  (which must store it durably) before the request is retried, and one lock makes concurrent requests
  share a single refresh instead of burning the token twice.
- `OAuthApp`: the authorize URL (with state), the code exchange and `accessible-resources`. Its URLs
  default to Atlassian's and can point at the emulator.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import TypeAdapter, ValidationError

from jirabridge.jira._errors import InvalidResponse, OAuthError, TokenExpired, from_response
from jirabridge.jira._models import AccessibleResource, OAuthTokens
from jirabridge.jira._transport import field_problems

ATLASSIAN_AUTHORIZE_URL = "https://auth.atlassian.com/authorize"
ATLASSIAN_TOKEN_URL = "https://auth.atlassian.com/oauth/token"
ATLASSIAN_API_URL = "https://api.atlassian.com"
REFRESH_SKEW = timedelta(seconds=60)  # refresh this long before the access token expires

Now = Callable[[], datetime]
OnRefresh = Callable[[OAuthTokens], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def gateway_base_url(cloud_id: str, api_url: str = ATLASSIAN_API_URL) -> str:
    """Where OAuth calls go: `{api_url}/ex/jira/{cloudId}` (then `/rest/api/3/...`)."""
    return f"{api_url.rstrip('/')}/ex/jira/{cloud_id}"


class BasicTokenAuth(httpx.Auth):
    def __init__(self, email: str, api_token: str) -> None:
        raw = f"{email}:{api_token}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode()
        self.email = email

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:  # never the token
        return f"BasicTokenAuth(email={self.email!r})"


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: Sequence[str] = (
        "read:jira-work",
        "write:jira-work",
        "read:jira-user",
        "manage:jira-webhook",  # dynamic webhooks
        "offline_access",  # refresh tokens
    )
    authorize_url: str = ATLASSIAN_AUTHORIZE_URL
    token_url: str = ATLASSIAN_TOKEN_URL
    api_url: str = ATLASSIAN_API_URL  # accessible-resources and the /ex/jira gateway

    def __repr__(self) -> str:  # never the secret
        return f"OAuthApp(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def authorization_url(self, state: str, **extra: str) -> str:
        params = {
            "audience": "api.atlassian.com",
            "client_id": self.client_id,
            "scope": " ".join(self.scopes),
            "redirect_uri": self.redirect_uri,
            "state": state,
            "response_type": "code",
            "prompt": "consent",
            **extra,
        }
        return f"{self.authorize_url}?{urlencode(params)}"

    def code_request(self, code: str) -> httpx.Request:
        body = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code": code,
            "redirect_uri": self.redirect_uri,
        }
        return httpx.Request("POST", self.token_url, json=body)

    def refresh_request(self, refresh_token: str) -> httpx.Request:
        body = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        }
        return httpx.Request("POST", self.token_url, json=body)

    async def exchange_code(self, http: httpx.AsyncClient, code: str, *, now: Now = _utcnow) -> OAuthTokens:
        """The callback's `code` for tokens (send `state` checking first: that is the caller's)."""
        response = await http.send(self.code_request(code))
        await response.aread()
        return parse_token_response(response, now(), refreshing=False)

    async def accessible_resources(
        self, http: httpx.AsyncClient, access_token: str
    ) -> list[AccessibleResource]:
        """The sites the token reaches; a site's `id` is the cloud id for `gateway_base_url`."""
        url = f"{self.api_url.rstrip('/')}/oauth/token/accessible-resources"
        response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        if response.is_error:
            raise from_response(response)
        try:
            return _RESOURCES.validate_python(response.json())
        except ValidationError as exc:
            raise InvalidResponse(
                f"accessible-resources: {field_problems(exc)}", request=response.request, response=response
            ) from None
        except ValueError:
            raise InvalidResponse(
                "accessible-resources: the body is not JSON", request=response.request, response=response
            ) from None


_RESOURCES = TypeAdapter(list[AccessibleResource])


def parse_token_response(response: httpx.Response, now: datetime, *, refreshing: bool = True) -> OAuthTokens:
    """The token endpoint's answer as `OAuthTokens`. A refused refresh is `TokenExpired` (the grant is
    dead: used, revoked or expired, and only a new consent helps); any other refusal `OAuthError`."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if response.is_error:
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        if refreshing and (
            error in ("invalid_grant", "unauthorized_client") or "refresh_token" in description
        ):
            raise TokenExpired(f"OAuth {error}: {description}", request=response.request, response=response)
        raise OAuthError(
            error or str(response.status_code), description, request=response.request, response=response
        )
    try:
        expires_in = body.get("expires_in")
        expires_at = now + timedelta(seconds=float(expires_in)) if expires_in is not None else None
        return OAuthTokens.model_validate({**body, "expires_at": expires_at})
    except ValidationError as exc:
        problems = field_problems(exc)
        raise InvalidResponse(
            f"token response: {problems}", request=response.request, response=response
        ) from None
    except (AttributeError, TypeError, ValueError):
        # Never the body in the message: it holds tokens.
        raise InvalidResponse(
            "token response: not a token", request=response.request, response=response
        ) from None


class OAuthAuth(httpx.Auth):
    """Bearer auth that keeps itself fresh. `on_refresh` receives every new token pair and must
    persist it before returning: the previous refresh token no longer works."""

    requires_response_body = True

    def __init__(
        self, app: OAuthApp, tokens: OAuthTokens, on_refresh: OnRefresh, *, now: Now = _utcnow
    ) -> None:
        self.app = app
        self.tokens = tokens
        self._on_refresh = on_refresh
        self._now = now
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OAuthAuth(client_id={self.app.client_id!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuthAuth refreshes asynchronously: use it with httpx.AsyncClient")
        yield request  # pragma: no cover

    def _expiring(self) -> bool:
        expires = self.tokens.expires_at
        return expires is not None and expires - REFRESH_SKEW <= self._now()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._expiring() and self.tokens.refresh_token:
            async with self._lock:
                if self._expiring():  # another request may have refreshed while we waited
                    answer = yield self.app.refresh_request(self.tokens.refresh_token)
                    await self._store(await self._parse(answer))
        used = self.tokens.access_token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401 or not self.tokens.refresh_token:
            return  # without a refresh token the 401 goes to the caller as Unauthorized
        async with self._lock:
            if self.tokens.access_token == used:  # nobody refreshed since this request went out
                answer = yield self.app.refresh_request(self.tokens.refresh_token)
                await self._store(await self._parse(answer))
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        yield request

    async def _parse(self, response: httpx.Response) -> OAuthTokens:
        await response.aread()
        return parse_token_response(response, self._now())

    async def _store(self, tokens: OAuthTokens) -> None:
        if tokens.refresh_token is None:  # Atlassian always rotates; keep the old one otherwise
            tokens = tokens.model_copy(update={"refresh_token": self.tokens.refresh_token})
        self.tokens = tokens
        await self._on_refresh(tokens)
