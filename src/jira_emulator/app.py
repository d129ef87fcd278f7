"""The emulator's composition root: `create_app()` builds a FastAPI app with its own state."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from jira_emulator import faults, ratelimit, search_index, webhooks
from jira_emulator.context import SiteRouting
from jira_emulator.errors import JiraError, jira_error_handler, validation_error_handler
from jira_emulator.events import EventBus
from jira_emulator.routes import (
    comments,
    control,
    issues,
    oauth,
    projects,
    properties,
    remote_links,
    search,
    server,
    users,
    webhook_admin,
    webhook_control,
    worklogs,
)
from jira_emulator.seed import Seed, build_state, default_seed


def create_app(
    seed: Seed | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """An emulated Jira Cloud. `seed` defaults to the documented default seed; `webhook_transport`
    lets in-process tests deliver webhooks to an ASGI app instead of over the network."""
    app = FastAPI(
        title="Jira Cloud emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json"
    )
    app.state.emulator = build_state(seed or default_seed())
    app.state.bus = EventBus()
    app.state.faults = faults.FaultTable()
    app.state.rate_limits = ratelimit.RateLimiter()
    search_index.install(app)
    webhooks.install(app, transport=webhook_transport)
    app.add_exception_handler(JiraError, jira_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for module in (
        server,
        users,
        projects,
        issues,
        comments,
        worklogs,
        remote_links,
        properties,
        search,
        webhook_admin,
    ):
        app.include_router(module.router, prefix="/rest/api/3")
        app.include_router(module.router, prefix="/rest/api/2")
        # The `jira` client sends a few calls (assign_issue, user, group) to /rest/api/latest.
        app.include_router(module.router, prefix="/rest/api/latest")
    app.include_router(oauth.router)
    app.include_router(control.router)
    app.include_router(webhook_admin.admin_router, prefix="/rest/webhooks/1.0")
    app.include_router(webhook_control.router)
    # Middleware runs outermost-last: site routing first, then rate limits, then faults.
    app.add_middleware(faults.FaultMiddleware)
    app.add_middleware(ratelimit.RateLimitMiddleware)
    app.add_middleware(SiteRouting)
    return app
