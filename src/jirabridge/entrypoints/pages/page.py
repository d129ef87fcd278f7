"""What every page shares: the session in its path, the CSRF check of its forms, and rendering with
the security headers (CSP with the workspace's frame ancestors, no referrer to other origins, no caching).

A session's token is in the path (`/ui/s/<token>/…`), not in a cookie: the pages are made to be
framed by a host on another origin, where browsers block or partition third-party cookies (Safari,
Firefox) or may (Chrome). A path token works in every browser, in a frame, a tab or a popup. It is a
256-bit random capability that expires within the hour; `Referrer-Policy: same-origin` keeps it out of
other origins' Referer headers (not `no-referrer`: with it browsers send `Origin: null` on form posts,
and the CSRF check wants the real origin), links to Jira open with `rel="noreferrer"`, and it never
reaches the host page (the frame is cross-origin).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from jirabridge.bootstrap import Container
from jirabridge.domain.access import Role, can_manage
from jirabridge.domain.ui_sessions import origin
from jirabridge.errors import JirabridgeError, Unauthorized
from jirabridge.service.core.db import read_db
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.service.workspaces import ui_sessions
from jirabridge.service.workspaces.ui_sessions import PageSession

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def content_security_policy(frame_ancestors: str, form_targets: str = "") -> str:
    """Only this service's own scripts, styles and forms; framed only by `frame_ancestors`.
    `form_targets`: other origins a form may lead to (browsers check form-action on the redirects
    after a post too, and an OAuth form's answer redirects to Atlassian's consent page)."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'{form_targets}; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


BASE_HEADERS = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass
class Page:
    """One request of a page session."""

    request: Request
    container: Container
    session: PageSession
    token: str
    host_name: str
    frame_ancestors: tuple[str, ...]
    notices: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"/ui/s/{self.token}"

    @property
    def can_manage(self) -> bool:
        return can_manage(self.session.principal)

    @property
    def role(self) -> Role:
        assert self.session.principal.role is not None
        return self.session.principal.role

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = TEMPLATES.get_template(template).render(
            page=self, csrf=self.session.csrf_token, return_url=self.session.return_url, **context
        )
        ancestors = " ".join(("'self'", *self.frame_ancestors))
        consent = origin(self.container.settings.atlassian_auth_url)
        policy = content_security_policy(ancestors, f" {consent}" if consent else "")
        headers = BASE_HEADERS | {"Content-Security-Policy": policy}
        return HTMLResponse(body, status_code=status, headers=headers)


def error_page(status: int, title: str, message: str) -> HTMLResponse:
    """A page for a request with no valid session: nothing of any workspace is shown, so any host may
    frame it (the person sees why, not a blank frame)."""
    body = TEMPLATES.get_template("error.html").render(title=title, message=message, page=None)
    headers = BASE_HEADERS | {"Content-Security-Policy": content_security_policy("*")}
    return HTMLResponse(body, status_code=status, headers=headers)


class PageError(Exception):
    """Raised by a page dependency; rendered as `error_page` (see install)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


async def current_page(
    request: Request, token: Annotated[str, PathParam(min_length=10, max_length=100)]
) -> Page:
    container: Container = request.app.state.container
    now = container.clock.now()

    def load(uow: Any) -> tuple[PageSession, str, tuple[str, ...]]:
        session = ui_sessions.resolve(uow, now, token)
        shown = workspace_settings.get_settings(uow, session.workspace_id)
        loaded = workspace_settings.load(uow, session.workspace_id)
        return session, str(shown["host_name"]), loaded.ui_allowed_origins

    try:
        session, host_name, ancestors = await read_db(container, load)
    except Unauthorized as exc:
        raise PageError(401, "Session ended", exc.detail) from None
    page = Page(request, container, session, token, host_name, ancestors)
    if request.method == "POST":
        await _check_post(page)
    return page


async def _check_post(page: Page) -> None:
    """A form of this session, posted from this service's own pages."""
    sent_origin = page.request.headers.get("origin")
    own = {origin(page.container.settings.public_url), origin(str(page.request.base_url))}
    if sent_origin is not None and sent_origin not in own:
        raise PageError(403, "Not allowed", "This form was sent from another site.")
    form = await page.request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, page.session.csrf_token):
        raise PageError(403, "Not allowed", "This form has expired; reload the page and try again.")


CurrentPage = Annotated[Page, Depends(current_page)]


def require_manager(page: Page) -> None:
    if not page.can_manage:
        raise PageError(403, "Not allowed", "Only admins and managers can change these settings.")


async def manager_page(page: CurrentPage) -> Page:
    """A settings page: an admin's or a manager's session only."""
    require_manager(page)
    return page


ManagerPage = Annotated[Page, Depends(manager_page)]
# What a page says after a change, passed on by the redirect that follows it.
Notice = Annotated[str | None, Query(max_length=200)]


def error_text(exc: JirabridgeError) -> dict[str, str]:
    """A service error as messages per form field (`_` for the form as a whole)."""
    if exc.errors:
        return {e.field: e.message for e in exc.errors}
    return {"_": exc.detail}
