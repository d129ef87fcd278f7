"""The pages a host embeds (settings, an item's ticket panel), server-rendered by the service.

Routes here are one more entry point: they resolve a page session (page.py) and call the same service
functions as the HTTP API; templates only show what the routes hand them.
"""

from __future__ import annotations

import inspect
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from jirabridge.bootstrap import Container
from jirabridge.entrypoints.pages import (
    item_panel,
    settings_pages,
    settings_projects,
    settings_rules,
    settings_users,
    settings_worklogs,
)
from jirabridge.entrypoints.pages.page import HERE, CurrentPage, PageError, error_page
from jirabridge.errors import JirabridgeError, Unauthorized
from jirabridge.service.core.db import run_db
from jirabridge.service.workspaces import ui_sessions

router = APIRouter(include_in_schema=False)


def _landing(token: str, session: ui_sessions.PageSession) -> str:
    scope = session.scope
    if scope.is_account:
        return f"/ui/s/{token}/account"
    if scope.is_settings:
        return f"/ui/s/{token}/settings"
    return f"/ui/s/{token}/items/{scope.item_type}/{scope.item_id}"


@router.get("/ui/start/{link_token}")
async def start(request: Request, link_token: Annotated[str, Path(max_length=100)]) -> Response:
    """Open a one-time link: it becomes a session, and the browser goes to its first page."""
    container: Container = request.app.state.container
    now = container.clock.now()
    try:
        token, session = await run_db(container, lambda uow: ui_sessions.open_link(uow, now, link_token))
    except Unauthorized as exc:
        return error_page(401, "Link not valid", exc.detail)
    return RedirectResponse(
        _landing(token, session), status_code=303, headers={"Referrer-Policy": "same-origin"}
    )


@router.get("/ui/s/{token}")
async def home(page: CurrentPage) -> Response:
    return RedirectResponse(_landing(page.token, page.session), status_code=303)


async def _page_error(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageError)
    return error_page(exc.status, exc.title, exc.message)


def install(app: FastAPI) -> None:
    """Mount the pages on `app`, after the API's problem handlers: under /ui/ a service error is a
    page, not problem+json."""
    api_handler = app.exception_handlers[JirabridgeError]

    async def service_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/ui/") and isinstance(exc, JirabridgeError):
            return error_page(exc.status, exc.title, exc.detail)
        answer = api_handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(JirabridgeError, service_error)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)
    app.include_router(item_panel.router)
    app.include_router(settings_pages.router)
    app.include_router(settings_projects.router)
    app.include_router(settings_worklogs.router)
    app.include_router(settings_rules.router)
    app.include_router(settings_users.router)
    app.add_exception_handler(PageError, _page_error)
