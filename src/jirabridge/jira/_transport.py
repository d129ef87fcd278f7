"""The one place a request is made: pacing, auth, error mapping and response parsing. The resource
classes (`client.issues`, `client.worklogs`, ...) build on it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.cookiejar import Cookie, CookieJar
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from jirabridge.jira._errors import ConnectionFailed, InvalidResponse, JiraTimeout, from_response
from jirabridge.jira._pacing import SitePacer

log = logging.getLogger("jirabridge.jira")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

Params = Mapping[str, str | int | bool | list[str] | None]


class _NoCookieJar(CookieJar):
    """A cookie jar that keeps nothing set on it (`client.cookies.set(...)`)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None


class _NoCookies(httpx.Cookies):
    """Cookies that stay empty, and an answer's are not even looked at: httpx's own `extract_cookies`
    builds a `urllib` request and response around every answer before it asks the jar (about 1.5 %
    of the worker's CPU, for nothing). Every call carries its own credentials, so Jira's cookies (a
    session, an XSRF token) are never needed; kept, they would be sent back with every request, to
    every site the shared client calls."""

    def __init__(self) -> None:
        super().__init__(_NoCookieJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class CookielessClient(httpx.AsyncClient):
    """`httpx.AsyncClient` that keeps no cookie and sends none: the client for Jira's calls, shared by
    every site it calls. It takes every argument of httpx's but `cookies`."""

    def __init__(self, **kwargs: Any) -> None:
        if "cookies" in kwargs:
            raise TypeError("CookielessClient takes no cookies")
        super().__init__(**kwargs)
        self._none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("CookielessClient takes no cookies")


class Requester:
    def __init__(
        self, http: httpx.AsyncClient, base_url: str, auth: httpx.Auth, pacer: SitePacer | None
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api = f"{self.base_url}/rest/api/3"
        self.auth = auth
        self.pacer = pacer

    async def request(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, str | int] | None = None,
        params: Params | None = None,
        json: Any = None,
        issue: str | None = None,
        root: str | None = None,
    ) -> httpx.Response:
        """Send one call. `template` is the path after `/rest/api/3` (or after `root`, e.g.
        `/rest/webhooks/1.0`) with `{name}` placeholders filled from `path` (escaped); it also names
        the endpoint for pacing. `issue` lets the pacer hold back writes to one issue after a
        per-issue 429."""
        values = {k: quote(str(v), safe="") for k, v in (path or {}).items()}
        # Jira's per-issue limit counts writes only: reads of a held-back issue go ahead.
        issue = issue if method != "GET" else None
        url = (self.api if root is None else self.base_url + root) + template.format(**values)
        endpoint = f"{method} {template}"
        query = {k: v for k, v in params.items() if v is not None} if params else None
        # The URL is absolute and the client's cookie jar keeps nothing, so what `build_request` would
        # merge in is the client's headers only (its timeout is set by `send`): built directly, a
        # call parses its URL once instead of twice.
        request = httpx.Request(method, url, params=query, json=json, headers=self.http.headers)
        if self.pacer is not None:
            await self.pacer.acquire(endpoint, issue)
            request.extensions["trace"] = self.pacer.on_the_wire()
        try:
            response = await self.http.send(request, auth=self.auth)
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            log.info("jira.call.timeout method=%s endpoint=%s", method, template)
            raise JiraTimeout(
                f"{method} {request.url.path} timed out ({type(exc).__name__})",
                request=request,
                maybe_applied=sent and method == "POST",
            ) from exc
        except httpx.TransportError as exc:
            sent = isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError)
            log.info("jira.call.connection_failed method=%s endpoint=%s", method, template)
            raise ConnectionFailed(
                f"{method} {request.url.path} failed: {type(exc).__name__}: {exc}",
                request=request,
                maybe_applied=sent and method == "POST",
            ) from exc
        if self.pacer is not None:
            self.pacer.observe(response, endpoint, issue)
        log.debug("jira.call method=%s endpoint=%s status=%s", method, template, response.status_code)
        if response.is_error:
            raise from_response(response)
        return response

    async def get_model(self, model: type[M], template: str, **kwargs: Any) -> M:
        return parse(model, await self.request("GET", template, **kwargs))

    async def get_list(self, item: type[M], template: str, **kwargs: Any) -> list[M]:
        return parse_list(item, await self.request("GET", template, **kwargs))


def parse(model: type[M], response: httpx.Response) -> M:
    # Parsed and validated in one pass by pydantic-core: no Python objects for the JSON in between.
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise _invalid(response, exc) from None


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def parse_list(item: type[M], response: httpx.Response) -> list[M]:
    adapter = _ADAPTERS.get(item)
    if adapter is None:
        adapter = _ADAPTERS[item] = TypeAdapter(list[item])  # type: ignore[valid-type]
    try:
        result: list[M] = adapter.validate_json(response.content)
    except ValidationError as exc:
        raise _invalid(response, exc) from None
    return result


def _invalid(response: httpx.Response, exc: ValidationError) -> InvalidResponse:
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        problem = "the body is not JSON"
    else:
        problem = f"unexpected answer: {field_problems(exc)}"
    return InvalidResponse(
        f"{response.request.method} {response.request.url.path}: {problem}",
        request=response.request,
        response=response,
    )


def field_problems(exc: ValidationError) -> str:
    """Where and what, never the values: an answer may hold tokens or personal data."""
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
    return "; ".join(problems)
