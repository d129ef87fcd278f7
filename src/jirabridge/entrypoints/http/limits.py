"""Limits on request bodies, enforced while a body streams in, before any route holds it whole
(`BodyLimits`, an ASGI middleware around `receive`):

- size: `MAX_BODY` bytes for the API, more under some paths (Jira's webhooks: `webhooks.MAX_BODY`). A
  declared `Content-Length` over the limit is refused before a byte is read; any body (chunked too) is
  counted as it arrives and refused the moment it crosses the limit: 413;
- depth: JSON nested deeper than `MAX_JSON_DEPTH` is refused the moment it does: 422 on field `body`.
  Python's parser recurses (about 1,000 levels take the stack), and so does everything that later
  serialises what was stored; a bound far above any real document keeps all of it safe. Every body is
  scanned: the API and the webhook receiver take JSON only.

Both answers are problem+json with `Connection: close`: the server drops the connection instead of
reading the rest of the body, and nothing more is read from it. (FastAPI's own `max_body_size` answers
a declared oversize body in plain text whatever the handlers say, hence this middleware.)
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import accumulate

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jirabridge.entrypoints.http.problems import problem

MAX_BODY = 1024 * 1024  # ten times the largest item a host may send (a 100,000-character description)
MAX_JSON_DEPTH = 64  # a Jira issue payload nests about 8 deep; a rich ADF document a few dozen

_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


class JsonDepth:
    """How deep a JSON text nests, read piece by piece without parsing it: the brackets outside
    strings. Each piece is reduced by `bytes` methods and the running depth summed by `accumulate`, so
    a body costs a few passes in C rather than a Python step per byte.
    Invalid JSON may be misjudged; the parser refuses it afterwards anyway."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self.deepest = 0
        self._in_string = False
        self._backslash = False  # the previous piece ended in the middle of an escape

    def feed(self, piece: bytes) -> bool:
        """Reads the next piece; False once the text has nested deeper than the limit."""
        if self._backslash:
            piece = b"\\" + piece
        if b"\\" in piece:
            # Escapes pair up from the left: two backslashes are an escaped backslash, and what is
            # left of a backslash and a quote an escaped quote (no string ends there).
            piece = piece.replace(b"\\\\", b"").replace(b'\\"', b"")
        self._backslash = piece.endswith(b"\\")  # an escape cut in two by the piece's end
        if self._backslash:
            piece = piece[:-1]
        parts = piece.split(b'"')  # outside and inside strings, by turns
        outside = parts[1::2] if self._in_string else parts[0::2]
        if len(parts) % 2 == 0:
            self._in_string = not self._in_string
        brackets = b"".join(outside).translate(None, _NOT_BRACKET)
        if brackets:
            levels = accumulate(map(_STEP.__getitem__, brackets), initial=self.depth)
            self.deepest = max(self.deepest, max(levels))
            opened = brackets.count(b"[") + brackets.count(b"{")
            self.depth += opened - (len(brackets) - opened)
        return self.deepest <= self.limit


class Refused(HTTPException):
    """A body over a limit. Raised from `receive`, so the route stops reading; an HTTPException because
    FastAPI turns any other error raised while it reads a body into a bare 400."""

    def __init__(self, status: int, slug: str, title: str, message: str) -> None:
        super().__init__(status, message)
        self.slug, self.title, self.message = slug, title, message

    @classmethod
    def too_large(cls, limit: int) -> Refused:
        return cls(413, "too-large", "Content too large", f"larger than {limit} bytes")

    @classmethod
    def too_deep(cls, limit: int) -> Refused:
        return cls(422, "validation", "Invalid request", f"nested deeper than {limit} levels")

    def response(self) -> JSONResponse:
        errors = [{"field": "body", "message": self.message}]
        answer = problem(self.status_code, self.slug, self.title, f"body: {self.message}", errors)
        answer.headers["Connection"] = "close"
        return answer


class BodyLimits:
    """ASGI middleware: counts and scans each request body as the route reads it, and stops it at the
    first byte over a limit. `by_prefix` gives paths starting with a prefix their own size limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = MAX_BODY,
        max_depth: int = MAX_JSON_DEPTH,
        by_prefix: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.by_prefix = dict(by_prefix or {})

    def limit(self, path: str) -> int:
        return next((n for prefix, n in self.by_prefix.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await Refused.too_large(limit).response()(scope, receive, send)
            return
        depth = JsonDepth(self.max_depth)
        received = 0
        refused: Refused | None = None
        started = False

        async def limited() -> Message:
            nonlocal received, refused
            if refused is not None:
                raise refused  # never read on
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    refused = Refused.too_large(limit)
                elif not depth.feed(body):
                    refused = Refused.too_deep(self.max_depth)
                if refused is not None:
                    raise refused
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except Refused as error:  # a route without the handler `install` adds
            if started:
                raise
            await error.response()(scope, receive, send)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return exc.response()


def install(app: FastAPI, by_prefix: Mapping[str, int]) -> None:
    """Limits on every request; `by_prefix` maps path prefixes to their own size limit."""
    app.add_middleware(BodyLimits, max_bytes=MAX_BODY, max_depth=MAX_JSON_DEPTH, by_prefix=by_prefix)
    app.add_exception_handler(Refused, _refused)
