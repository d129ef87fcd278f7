"""The HTTP API (SPEC section 2): thin routes that validate, call the service, and render."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jirabridge import __version__, telemetry
from jirabridge.bootstrap import Container
from jirabridge.entrypoints import pages
from jirabridge.entrypoints.http import (
    events,
    failures,
    health,
    items,
    jira_lookups,
    limits,
    openapi,
    problems,
    request_ids,
    rules,
    sites,
    sync,
    time_entries,
    ui_sessions,
    users,
    webhooks,
    workspaces,
)
from jirabridge.entrypoints.http import projects as project_settings
from jirabridge.entrypoints.http import settings as workspace_settings

# The API's sections in reading order (the OpenAPI description's `tags`, docs/api.md), which is not the
# order requests are matched in (below).
SECTIONS = [
    {"name": name}
    for name in (
        "workspaces",
        "sites",
        "projects",
        "users",
        "items",
        "events",
        "settings",
        "sync",
        "time entries",
        "rules",
        "webhooks",
        "jira lookups",
        "pages",
        "health",
    )
]


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await container.link_watch.aclose()  # its listening connection, on PostgreSQL

    app = FastAPI(title="jirabridge", version=__version__, lifespan=lifespan, openapi_tags=SECTIONS)
    app.state.container = container
    problems.install(app)
    limits.install(app, by_prefix={webhooks.PATH_PREFIX: webhooks.MAX_BODY})
    app.add_middleware(request_ids.RequestIdMiddleware)  # added last: the outermost, ids on every answer
    # A request is matched against the routes in this order, and each route tried costs CPU (FastAPI
    # 0.165 checks an included router's routes one by one, a few µs each): the routes a host and Jira
    # call for every change come first. No two routers' paths overlap, so the order decides nothing
    # else (tests/integration/api/test_routes.py holds that every route is reached as itself).
    app.include_router(items.router)
    app.include_router(time_entries.router)
    app.include_router(webhooks.router)
    app.include_router(workspaces.router)
    app.include_router(sites.router)
    app.include_router(project_settings.router)
    app.include_router(users.router)
    app.include_router(events.router)
    app.include_router(workspace_settings.router)
    app.include_router(failures.router)
    app.include_router(sync.router)
    app.include_router(rules.router)
    app.include_router(jira_lookups.router)
    app.include_router(ui_sessions.router)
    pages.install(app)
    health.install(app, container)
    openapi.install(app)
    telemetry.instrument_app(app, container.tracer_provider)
    return app
