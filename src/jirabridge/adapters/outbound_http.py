"""`GuardedTransport`: the httpx transport of every client that calls a URL a tenant chose (host
callbacks, Jira connections), applying the outbound guard (service/core/outbound.py) at connect time.

    httpx.AsyncClient(transport=GuardedTransport(guard, limits=...), follow_redirects=False)

- Over the network, each new connection resolves its host through the guard, which refuses it when an
  address is not allowed (`OutboundRefused`, raised from the request), and connects to an address it
  has just checked — never to a second look-up, so DNS rebinding cannot slip an internal address in.
  TLS still verifies the certificate against the host name. httpx has no parameter for httpcore's
  network backend, so the transport's connection pool is rebuilt with ours (same options).
- Around an in-process transport (tests: the emulator or a receiver behind `httpx.ASGITransport`),
  each request is checked the same way before it is handed over, since there is no socket to pin.
- Plain http is refused unless the operator allows the destination.
- Environment proxies (`HTTPS_PROXY`) are not used: through a proxy the service could not know which
  address it reaches.

A name the guard cannot resolve raises `httpx.ConnectError`, like any failed connection.
"""

from __future__ import annotations

import functools
import ssl
import typing

import anyio
import httpcore
import httpx

from jirabridge.adapters.aiohttp_network import AiohttpNetwork
from jirabridge.domain.outbound import IPAddress, OutboundRefused, literal_address
from jirabridge.service.core.outbound import DEFAULT_PORTS, OutboundGuard
from jirabridge.service.core.ports import ResolveFailed

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One per process: building one loads the CA bundle (~0.1 s of CPU), and the service builds a
    transport for each Jira call it makes itself (a link's issue, create metadata, lookups). A context
    is safe to share between connections."""
    return httpx.create_ssl_context()


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network, connecting only to addresses the guard allowed."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 — httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._guard.destination_soon(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"looking up {host} timed out") from None
        except ResolveFailed as exc:
            raise httpcore.ConnectError(str(exc)) from None
        targets = [host] if addresses is None else [str(ip) for ip in addresses]
        failure: httpcore.ConnectError | None = None
        for target in targets:
            try:
                return await self._network.connect_tcp(
                    target, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 — httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not a destination for tenants' requests")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """See the module docstring. `inner` is an in-process transport (tests); None means the network:
    httpx's own (httpcore), or aiohttp's connection pool with `over_aiohttp` (the same guard, as its
    resolver)."""

    def __init__(
        self,
        guard: OutboundGuard,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        over_aiohttp: bool = False,
    ) -> None:
        self._guard = guard
        self._in_process = inner is not None
        if inner is None and over_aiohttp:  # the worker's Jira calls (adapters/aiohttp_network.py)
            inner = AiohttpNetwork(guard, _ssl_context(), limits=limits)
        if inner is None:
            network = httpx.AsyncHTTPTransport(verify=_ssl_context(), limits=limits)
            network._pool = httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context(),
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=GuardedNetworkBackend(guard),
            )
            inner = network
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or DEFAULT_PORTS.get(url.scheme, 0)
        addresses: list[IPAddress] | None = None
        # Over the network the backend checks the addresses when it connects; http needs them first
        # (an allowed network may permit it), an in-process transport has no connection to check, and
        # aiohttp connects to a host written as an address without asking its resolver (a literal
        # costs no DNS, so it is checked here on every path).
        if self._in_process or url.scheme != "https" or literal_address(url.host) is not None:
            try:
                addresses = await self._guard.destination_soon(url.host, port)
            except ResolveFailed as exc:
                raise httpx.ConnectError(str(exc), request=request) from None
        reason = self._guard.scheme_refusal(url.scheme, url.host, port, addresses)
        if reason is not None:
            raise OutboundRefused(reason)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
