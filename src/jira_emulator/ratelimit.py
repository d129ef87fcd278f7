"""Rate limiting (stub: filled in by the rate-limit work)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RateLimiter:
    pass


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
