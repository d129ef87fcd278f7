"""`AiohttpNetwork`: an httpx transport that sends over aiohttp's connection pool, for the worker's Jira
calls (`JiraPool`, `JIRABRIDGE_JIRA_HTTP=aiohttp`, the default).

Why: httpx's own network layer (httpcore, h11 and anyio's streams) costs about 1.5 ms of CPU per call
on this kind of machine, aiohttp about 0.35 ms (`python -m bench.http_stack_cpu`); with it the
worker spends 11–19 % less CPU per change (docs/performance.md). The Jira client keeps
httpx's API (requests, responses, errors, `MockTransport` in tests); only the bytes go through aiohttp.

What it keeps from `GuardedTransport`'s network path (adapters/outbound_http.py):
- each new connection resolves its host through the outbound guard (`GuardResolver`, aiohttp's
  resolver hook) and connects to an address it has just checked (a host written as an address, which
  aiohttp connects to without its resolver, `GuardedTransport` checks before the request: this
  transport is made only inside one); TLS verifies the host name; no environment proxies, no
  cookies, no redirects;
- the pacer's "on the wire" signal (`trace` extension, jira/_pacing.py): sent when the call has its
  connection and is about to be written (aiohttp's connection trace), awaited before the write;
- the errors the Jira client tells apart (jira/_transport.py): a call that never reached Jira
  (`httpx.ConnectError`, `ConnectTimeout`, `PoolTimeout`) from one that may have (`ReadTimeout`,
  `RemoteProtocolError`, `ReadError`). Whatever aiohttp raises that is not plainly a failure to
  connect counts as "may have reached Jira", so a create is looked for before it is sent again.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from jirabridge.service.core.outbound import OutboundGuard
from jirabridge.service.core.ports import ResolveFailed

# Headers aiohttp writes itself from the request it is given.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_WIRE_EVENT = "http11.send_request_headers.started"


class GuardResolver(AbstractResolver):
    """aiohttp's name resolution through the outbound guard: only addresses it allowed come back
    (`OutboundRefused` otherwise, raised from the request); a host the operator allows by name is
    resolved as usual."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._plain = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self._guard.destination_soon(host, port)
        except ResolveFailed as exc:
            # aiohttp makes it a ClientConnectorDNSError (httpx.ConnectError here), saying `exc`.
            raise socket.gaierror(socket.EAI_NONAME, str(exc)) from None
        if addresses is None:
            return await self._plain.resolve(host, port, family)
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in addresses
        ]

    async def close(self) -> None:
        await self._plain.close()


async def _on_the_wire(session: Any, context: SimpleNamespace, params: Any) -> None:
    trace = getattr(context.trace_request_ctx, "trace", None)
    if trace is not None:
        await trace(_WIRE_EVENT, {})


def _tracing() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    # The call has its connection (a new one, or one from the pool) and is about to be written.
    config.on_connection_create_end.append(_on_the_wire)
    config.on_connection_reuseconn.append(_on_the_wire)
    return config


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    pool, connect, read = timeout.get("pool"), timeout.get("connect"), timeout.get("read")
    waiting = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=read)


def _as_httpx(error: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for what aiohttp raised; see the module docstring for the split."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, aiohttp.ConnectionTimeoutError):  # waiting for a connection, or connecting
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError):  # refused, unreachable, no address
        return httpx.ConnectError(message, request=request)
    if isinstance(error, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return httpx.ReadTimeout(message, request=request)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)


class AiohttpNetwork(httpx.AsyncBaseTransport):
    """See the module docstring. Its aiohttp session is made on the first request, in that event loop."""

    def __init__(self, guard: OutboundGuard, ssl_context: Any, *, limits: httpx.Limits) -> None:
        self._guard = guard
        self._ssl = ssl_context
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                resolver=GuardResolver(self._guard),
                use_dns_cache=False,  # each new connection is checked again
                ssl=self._ssl,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,  # httpx decodes, from the answer's Content-Encoding
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                trace_configs=[_tracing()],
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _OWN_HEADERS]
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(request),
                trace_request_ctx=SimpleNamespace(trace=request.extensions.get("trace")),
            ) as answer:
                content = await answer.read()
                status, raw_headers = answer.status, answer.raw_headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc, request) from exc
        return httpx.Response(status, headers=list(raw_headers), content=content, request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
