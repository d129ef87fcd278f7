"""`Client` (sync) and `AsyncClient`: the same operations, built by the same code (`_api.py`).

Each client owns an httpx client (closed by `close()` / `aclose()` or the `with` block). `transport=`
is the seam for tests and in-process use: `httpx.MockTransport`, or `httpx.ASGITransport(app=...)` for
the service's app in the same process.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from importlib import metadata
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx
import stamina

from jirabridge.client import _api
from jirabridge.client._errors import InvalidResponse, TransportError, from_response
from jirabridge.client._models import Event, EventPage
from jirabridge.client._operations import Call
from jirabridge.client._retry import Retries

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0


def _user_agent() -> str:
    try:
        version = metadata.version("jirabridge")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        version = "0"
    return f"jirabridge-client/{version}"


def _headers(api_key: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {
        **(extra or {}),
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": _user_agent(),
    }


def _no_answer(error: httpx.TransportError) -> TransportError:
    # Safe to send again: the request may not have arrived, or its answer was lost on the way back.
    # Not: a bad URL or protocol, which fails the same way every time.
    retryable = isinstance(error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)
    try:
        request: httpx.Request | None = error.request
    except RuntimeError:
        request = None
    return TransportError(f"{type(error).__name__}: {error}", request=request, retryable=retryable)


def _read(call: Call[T], response: httpx.Response) -> T:
    if response.is_error:
        raise from_response(response)
    try:
        return call.parse(response)
    except (ValueError, KeyError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        raise InvalidResponse(
            f"{call.operation.method} {call.operation.template} answered {response.status_code} "
            f"with a body that is not what the service documents",
            response=response,
        ) from error


def _sync(builder: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    @functools.wraps(builder)
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._send(builder(*args, **kwargs))

    return method


def _async(builder: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    @functools.wraps(builder)
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._send(builder(*args, **kwargs))

    return method


class Client:
    """The jirabridge API, synchronously. `api_key` is a workspace's API key (`jb_…`), or the service
    token for the workspace and API-key operations."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: Retries | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._retries = retries or Retries()
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _send_once(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.build(self._http))
        except httpx.TransportError as error:
            raise _no_answer(error) from error
        return _read(call, response)

    def _send(self, call: Call[T]) -> T:
        policy = self._retries
        if not call.retryable or policy.attempts <= 1:
            return self._send_once(call)
        for attempt in stamina.retry_context(
            on=policy.wait_for,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                return self._send_once(call)
        raise AssertionError("unreachable")  # stamina re-raises the last error

    def iter_event_pages(self, after: str | None = None, *, limit: int | None = None) -> Iterator[EventPage]:
        """The feed from `after` on, page by page, until a page comes back empty (not yielded). Store
        each page's `next` once its events are handled, to resume there."""
        while True:
            page = self.events(after, limit=limit)
            if not page.events:
                return
            yield page
            after = page.next

    def iter_events(self, after: str | None = None, *, limit: int | None = None) -> Iterator[Event]:
        """Every event from `after` on, following `next` until the feed has no more."""
        for page in self.iter_event_pages(after, limit=limit):
            yield from page.events

    # The operations (`_api.py`): one line each, the same in both clients.
    create_workspace = _sync(_api.create_workspace)
    list_api_keys = _sync(_api.list_api_keys)
    create_api_key = _sync(_api.create_api_key)
    revoke_api_key = _sync(_api.revoke_api_key)
    list_sites = _sync(_api.list_sites)
    connect_site = _sync(_api.connect_site)
    get_site = _sync(_api.get_site)
    edit_site = _sync(_api.edit_site)
    disconnect_site = _sync(_api.disconnect_site)
    check_site = _sync(_api.check_site)
    new_webhook_secret = _sync(_api.new_webhook_secret)
    list_project_settings = _sync(_api.list_project_settings)
    get_project_settings = _sync(_api.get_project_settings)
    put_project_settings = _sync(_api.put_project_settings)
    delete_project_settings = _sync(_api.delete_project_settings)
    jira_projects = _sync(_api.jira_projects)
    jira_project = _sync(_api.jira_project)
    jira_create_fields = _sync(_api.jira_create_fields)
    jira_assignable_users = _sync(_api.jira_assignable_users)
    list_users = _sync(_api.list_users)
    upsert_user = _sync(_api.upsert_user)
    get_user_connections = _sync(_api.get_user_connections)
    connect_user = _sync(_api.connect_user)
    disconnect_user = _sync(_api.disconnect_user)
    get_item = _sync(_api.get_item)
    put_item = _sync(_api.put_item)
    delete_item = _sync(_api.delete_item)
    create_ticket = _sync(_api.create_ticket)
    link_issue = _sync(_api.link_issue)
    unlink_issue = _sync(_api.unlink_issue)
    list_comments = _sync(_api.list_comments)
    add_comment = _sync(_api.add_comment)
    edit_comment = _sync(_api.edit_comment)
    events = _sync(_api.events)
    get_settings = _sync(_api.get_settings)
    put_settings = _sync(_api.put_settings)
    list_failures = _sync(_api.list_failures)
    retry_failure = _sync(_api.retry_failure)
    reconcile = _sync(_api.reconcile)
    get_time_entry = _sync(_api.get_time_entry)
    put_time_entry = _sync(_api.put_time_entry)
    delete_time_entry = _sync(_api.delete_time_entry)
    get_rules = _sync(_api.get_rules)
    put_rules = _sync(_api.put_rules)
    preview_rules = _sync(_api.preview_rules)
    create_ui_session = _sync(_api.create_ui_session)


class AsyncClient:
    """The jirabridge API, for asyncio. `api_key` is a workspace's API key (`jb_…`), or the service
    token for the workspace and API-key operations."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._retries = retries or Retries()
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key, headers), timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send_once(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.build(self._http))
        except httpx.TransportError as error:
            raise _no_answer(error) from error
        return _read(call, response)

    async def _send(self, call: Call[T]) -> T:
        policy = self._retries
        if not call.retryable or policy.attempts <= 1:
            return await self._send_once(call)
        async for attempt in stamina.retry_context(
            on=policy.wait_for,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                return await self._send_once(call)
        raise AssertionError("unreachable")  # stamina re-raises the last error

    async def iter_event_pages(
        self, after: str | None = None, *, limit: int | None = None
    ) -> AsyncIterator[EventPage]:
        """The feed from `after` on, page by page, until a page comes back empty (not yielded). Store
        each page's `next` once its events are handled, to resume there."""
        while True:
            page = await self.events(after, limit=limit)
            if not page.events:
                return
            yield page
            after = page.next

    async def iter_events(
        self, after: str | None = None, *, limit: int | None = None
    ) -> AsyncIterator[Event]:
        """Every event from `after` on, following `next` until the feed has no more."""
        async for page in self.iter_event_pages(after, limit=limit):
            for event in page.events:
                yield event

    # The operations (`_api.py`): one line each, the same in both clients.
    create_workspace = _async(_api.create_workspace)
    list_api_keys = _async(_api.list_api_keys)
    create_api_key = _async(_api.create_api_key)
    revoke_api_key = _async(_api.revoke_api_key)
    list_sites = _async(_api.list_sites)
    connect_site = _async(_api.connect_site)
    get_site = _async(_api.get_site)
    edit_site = _async(_api.edit_site)
    disconnect_site = _async(_api.disconnect_site)
    check_site = _async(_api.check_site)
    new_webhook_secret = _async(_api.new_webhook_secret)
    list_project_settings = _async(_api.list_project_settings)
    get_project_settings = _async(_api.get_project_settings)
    put_project_settings = _async(_api.put_project_settings)
    delete_project_settings = _async(_api.delete_project_settings)
    jira_projects = _async(_api.jira_projects)
    jira_project = _async(_api.jira_project)
    jira_create_fields = _async(_api.jira_create_fields)
    jira_assignable_users = _async(_api.jira_assignable_users)
    list_users = _async(_api.list_users)
    upsert_user = _async(_api.upsert_user)
    get_user_connections = _async(_api.get_user_connections)
    connect_user = _async(_api.connect_user)
    disconnect_user = _async(_api.disconnect_user)
    get_item = _async(_api.get_item)
    put_item = _async(_api.put_item)
    delete_item = _async(_api.delete_item)
    create_ticket = _async(_api.create_ticket)
    link_issue = _async(_api.link_issue)
    unlink_issue = _async(_api.unlink_issue)
    list_comments = _async(_api.list_comments)
    add_comment = _async(_api.add_comment)
    edit_comment = _async(_api.edit_comment)
    events = _async(_api.events)
    get_settings = _async(_api.get_settings)
    put_settings = _async(_api.put_settings)
    list_failures = _async(_api.list_failures)
    retry_failure = _async(_api.retry_failure)
    reconcile = _async(_api.reconcile)
    get_time_entry = _async(_api.get_time_entry)
    put_time_entry = _async(_api.put_time_entry)
    delete_time_entry = _async(_api.delete_time_entry)
    get_rules = _async(_api.get_rules)
    put_rules = _async(_api.put_rules)
    preview_rules = _async(_api.preview_rules)
    create_ui_session = _async(_api.create_ui_session)
