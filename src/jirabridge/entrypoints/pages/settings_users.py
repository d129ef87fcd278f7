"""Settings › Users (admins and managers: who is connected to which site, whose time entries wait),
the account page (any role: the person's own Jira identity), and connecting a site by OAuth.

A page session acts only for its own host user: connecting and disconnecting always name the
session's `user_id`, through the same service functions as `/api/v1/users/{user}/jira` (and its
`check_acts_for`). OAuth connections remember the page they started from, and the callback brings
the browser back to it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from jirabridge.entrypoints.pages import settings_pages
from jirabridge.entrypoints.pages.page import (
    CurrentPage,
    ManagerPage,
    Notice,
    Page,
    PageError,
    error_text,
    require_manager,
)
from jirabridge.errors import JirabridgeError
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.sites import sites, users
from jirabridge.storage.tables import Site, UserConnection

router = APIRouter(prefix="/ui/s/{token}", include_in_schema=False)

# The pages a connection form may come back to (the form says which).
BACK = {"account": "account", "users": "settings/users"}


def _user_id(page: Page) -> str:
    user_id = page.session.principal.user_id
    assert user_id is not None  # every page session is opened for a host user
    users.check_acts_for(page.session.principal, user_id)
    return user_id


def _own_pages(page: Page) -> None:
    """The account page belongs to account and settings sessions; an item's panel stays on its item."""
    scope = page.session.scope
    if not (scope.is_account or scope.is_settings):
        raise PageError(403, "Not allowed", "This session is for another page; open this one from the app.")


async def _connected_sites(page: Page) -> list[Site]:
    workspace_id = page.session.workspace_id
    found = await read_db(page.container, lambda uow: sites.list_sites(uow, workspace_id))
    return [s for s in found if s.status == "connected"]


async def _own_connections(page: Page) -> list[UserConnection]:
    workspace_id, user_id = page.session.workspace_id, _user_id(page)
    return await read_db(page.container, lambda uow: users.list_connections(uow, workspace_id, user_id))


async def _render(
    page: Page, back: str, status: int = 200, notice: str | None = None, **context: Any
) -> HTMLResponse:
    connected = await _connected_sites(page)
    common = {
        "back": back,
        "sites": connected,
        "site_urls": {s.id: s.url for s in connected},
        "connections": await _own_connections(page),
        "errors": context.pop("errors", {}),
        "entered": context.pop("entered", {}),
        "notice": notice,
        "oauth": bool(page.container.settings.oauth_client_id),
    }
    if back == "users":
        workspace_id = page.session.workspace_id
        people = await read_db(page.container, lambda uow: users.overview(uow, workspace_id))
        return page.render("settings_users.html", status=status, section="users", people=people, **common)
    return page.render("account.html", status=status, **common)


@router.get("/settings/users")
async def users_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    return await _render(page, "users", notice=notice)


@router.get("/account")
async def account_page(page: CurrentPage, notice: Notice = None) -> HTMLResponse:
    _own_pages(page)
    return await _render(page, "account", notice=notice)


def _back_of(page: Page, form: FormData) -> str:
    back = str(form.get("back") or "account")
    if back not in BACK:
        raise PageError(400, "Bad request", "This form came from an unknown page.")
    if back == "users":
        require_manager(page)
    else:
        _own_pages(page)
    return back


def _redirect(page: Page, back: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{page.base}/{BACK[back]}?{urlencode({'notice': notice})}", status_code=303)


def _site_choice(form: FormData) -> str | None:
    return str(form.get("site") or "").strip() or None


@router.post("/account/jira")
async def connect_token(page: CurrentPage) -> Response:
    """Connect the session's own user with an email and API token (`POST /api/v1/users/{user}/jira`)."""
    form = await page.request.form()
    back = _back_of(page, form)
    entered = {k: str(v) for k, v in form.items() if k in ("site", "email")}
    try:
        connection = await users.connect_api_token(
            page.container,
            page.session.workspace_id,
            _user_id(page),
            site_id=_site_choice(form),
            email=str(form.get("email") or "").strip(),
            api_token=str(form.get("api_token") or "").strip(),
        )
    except JirabridgeError as exc:
        errors = error_text(exc)
        if "auth" in errors:  # the API names the credentials `auth`; here they are the token's input
            errors["api_token"] = errors.pop("auth")
        return await _render(page, back, status=exc.status, errors=errors, entered=entered)
    who = connection.display_name or connection.account_email or connection.account_id
    return _redirect(page, back, f"Connected your Jira account ({who})")


@router.post("/account/jira/oauth")
async def connect_oauth(page: CurrentPage) -> Response:
    """Start the person's OAuth consent; the callback comes back to this page."""
    form = await page.request.form()
    back = _back_of(page, form)
    try:
        pending = await users.start_oauth(
            page.container,
            page.session.workspace_id,
            _user_id(page),
            site_id=_site_choice(form),
            return_page=f"{page.base}/{BACK[back]}",
        )
    except JirabridgeError as exc:
        errors = {("oauth" if k in ("_", "auth.type") else k): v for k, v in error_text(exc).items()}
        return await _render(page, back, status=exc.status, errors=errors)
    return RedirectResponse(pending.authorize_url, status_code=303)


@router.post("/account/jira/disconnect")
async def disconnect(page: CurrentPage) -> Response:
    form = await page.request.form()
    back = _back_of(page, form)
    workspace_id, user_id, site_id = page.session.workspace_id, _user_id(page), _site_choice(form)
    await run_db(page.container, lambda uow: users.disconnect(uow, workspace_id, user_id, site_id))
    return _redirect(page, back, "Disconnected your Jira account")


@router.post("/settings/sites/oauth")
async def connect_site_oauth(page: ManagerPage) -> Response:
    """Connect a site with OAuth (`POST /api/v1/sites` with `auth.type` `oauth`): to Atlassian's
    consent page, then back to Settings › Sites."""
    form = await page.request.form()
    entered = {k: str(v) for k, v in form.items() if k in ("oauth_url", "oauth_default_project")}
    try:
        _, authorize_url = await sites.start_oauth(
            page.container,
            page.session.workspace_id,
            url=str(form.get("oauth_url") or "").strip(),
            default_project=str(form.get("oauth_default_project") or "").strip().upper() or None,
            make_default=form.get("oauth_default") == "on",
            return_page=f"{page.base}/settings/sites",
        )
    except JirabridgeError as exc:
        errors = {f"oauth_{k}" if k != "_" else "oauth": v for k, v in error_text(exc).items()}
        if "oauth_auth.type" in errors:
            errors["oauth"] = errors.pop("oauth_auth.type")
        return await settings_pages.sites_page_with(page, status=exc.status, errors=errors, entered=entered)
    return RedirectResponse(authorize_url, status_code=303)
