"""Every request gets an id, and no request ends in a bare `text/plain` 500.

The id is the caller's `X-Request-ID` when it is sane (a proxy or the host app may already have one
to correlate with), otherwise a new one. It is answered in `X-Request-ID` and in every problem body
(problems.py), and logs carry it (jirabridge/request_context.py).

An exception nothing else handled is logged here, with the request id, and answered as a generic 500
problem: the body says nothing of the exception (it may hold anything, secrets included), the id lets
an operator find the traceback. Pure ASGI rather than Starlette's BaseHTTPMiddleware, which buffers
and runs the app in another task (the context variable must reach the route).
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jirabridge import logs
from jirabridge.entrypoints.http.problems import problem
from jirabridge.request_context import request_id

log = logging.getLogger("jirabridge.http")

HEADER = "X-Request-ID"
# Safe to log and to echo in a header: no spaces, quotes or control characters, bounded length.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")


def choose_request_id(given: str | None) -> str:
    return given if given is not None and _SANE.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = choose_request_id(Headers(scope=scope).get(HEADER))
        token = request_id.set(rid)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        try:
            with logs.bound():  # the request's own log fields (deps.principal binds the workspace)
                await self.app(scope, receive, send_with_id)
        except Exception:
            # The path only: a query string may carry an OAuth code or a token.
            log.exception(
                "http.unhandled_error request_id=%s method=%s path=%s",
                rid,
                scope.get("method"),
                scope.get("path"),
                extra={"request_id": rid},
            )
            if started:
                raise  # too late to answer anything else; the server closes the connection
            answer = problem(
                500,
                "internal",
                "Internal error",
                "the service failed to answer this request; quote its request_id when reporting it",
            )
            await answer(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
