"""Site connections: connect, list, read, edit, disconnect, test, and the OAuth callback."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import ConfigDict, Field
from starlette.requests import Request as HttpRequest

from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.errors import Invalid, JirabridgeError
from jirabridge.service.inbound import webhooks
from jirabridge.service.sites import oauth, sites
from jirabridge.storage.tables import Site

router = APIRouter(tags=["sites"])

ProjectKey = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,9}$")]


class ApiTokenAuth(Request):
    type: Literal["api_token"]
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    api_token: str = Field(min_length=1, max_length=2000)


class OAuthAuth(Request):
    type: Literal["oauth"]


class ConnectSite(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://acme.atlassian.net",
                    "auth": {"type": "api_token", "email": "bot@acme.example", "api_token": "ATATT3x…"},
                    "default_project": "WEB",
                },
                {
                    "url": "https://acme.atlassian.net",
                    "auth": {"type": "oauth"},
                    "default_project": "WEB",
                    "default": True,
                },
            ]
        }
    )

    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The site's address. Optional with OAuth: the site the consent grants is connected.",
    )
    auth: ApiTokenAuth | OAuthAuth = Field(discriminator="type")
    default_project: ProjectKey | None = None
    default: bool = False


class EditSite(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"default_project": "OPS", "default": True}]})

    default_project: ProjectKey | None = None
    default: bool | None = None


class TestSite(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"project": "WEB", "issue_type": "Bug"}]})

    project: ProjectKey | None = None
    issue_type: str | None = Field(default=None, min_length=1, max_length=255)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def site_json(container: Container, site: Site) -> dict[str, Any]:
    """A site as the API shows it. No secret, ever."""
    webhook = sites.webhook_state(site)
    return {
        "id": site.id,
        "url": site.url or None,  # none yet: an OAuth site waiting for consent without an address
        "auth_type": site.auth_type,
        "account_email": site.account_email,
        "account_id": site.account_id,
        "default": site.is_default,
        "default_project": site.default_project,
        "status": site.status,
        "webhook": {
            "url": webhooks.webhook_url(container.settings.public_url, site.webhook_token),
            "mode": "dynamic" if site.auth_type == "oauth" else "admin",
            # Dynamic webhooks: when Jira drops them unless refreshed (the worker refreshes them).
            "expires_at": (
                _time(sites.aware(site.webhook_expires_at))
                if site.auth_type == "oauth" and site.webhook_expires_at
                else None
            ),
            "status": webhook.status,
            "reason": webhook.reason,
            "action": webhook.action,
        },
        "created_at": _time(site.created_at),
    }


@router.post(
    "/api/v1/sites",
    status_code=201,
    responses={202: {"description": "OAuth: the site waits for consent at `authorize_url`"}},
    summary="Connect a Jira site",
)
async def connect_site(body: ConnectSite, who: Manager, services: Services) -> JSONResponse:
    """With an API token (`auth.type` `api_token`): the credentials are checked against the site and the
    site is `connected` at once (201). With OAuth 2.0 (`auth.type` `oauth`): the site is `pending` and
    the answer (202) carries `authorize_url`, where a Jira administrator gives consent; Atlassian then
    sends them back to `/oauth/callback`, which connects the site. Credentials are stored encrypted and
    never returned. A site connected while the workspace has no default becomes its default."""
    assert who.workspace_id is not None
    if isinstance(body.auth, ApiTokenAuth):
        if body.url is None:
            raise Invalid.field("url", "is required with an API token (only OAuth can find the site itself)")
        site = await sites.connect_api_token(
            services,
            who.workspace_id,
            url=body.url,
            email=body.auth.email,
            api_token=body.auth.api_token,
            default_project=body.default_project,
            make_default=body.default,
        )
        return JSONResponse(site_json(services, site), status_code=201)
    site, authorize_url = await sites.start_oauth(
        services,
        who.workspace_id,
        url=body.url,
        default_project=body.default_project,
        make_default=body.default,
    )
    return JSONResponse(site_json(services, site) | {"authorize_url": authorize_url}, status_code=202)


@router.get("/api/v1/sites", summary="List sites")
def list_sites(who: Member, uow: Uow, services: Services) -> dict[str, Any]:
    """The workspace's sites that are not disconnected, oldest first."""
    assert who.workspace_id is not None
    return {"sites": [site_json(services, s) for s in sites.list_sites(uow, who.workspace_id)]}


@router.get("/api/v1/sites/{site_id}", summary="Read a site")
def get_site(site_id: str, who: Member, uow: Uow, services: Services) -> dict[str, Any]:
    """One site: its URL, how it is connected, its status, its default project and its webhook address."""
    assert who.workspace_id is not None
    return site_json(services, sites.get_site(uow, who.workspace_id, site_id))


@router.patch("/api/v1/sites/{site_id}", summary="Edit a site")
def edit_site(site_id: str, body: EditSite, who: Manager, uow: Uow, services: Services) -> dict[str, Any]:
    """Change the default project or make the site the workspace's default; fields left out are unchanged."""
    assert who.workspace_id is not None
    changes = body.model_dump(exclude_unset=True)
    return site_json(services, sites.update_site(uow, who.workspace_id, site_id, changes))


@router.delete("/api/v1/sites/{site_id}", status_code=204, summary="Disconnect a site")
def disconnect_site(site_id: str, who: Manager, uow: Uow, services: Services) -> Response:
    """Stops the site's sync: its credentials and its users' are deleted, work still queued for it fails
    with `site_disconnected`, and its webhooks answer 404. Links, items and history stay."""
    assert who.workspace_id is not None
    sites.disconnect_site(services, uow, who.workspace_id, site_id)
    return Response(status_code=204)


@router.post("/api/v1/sites/{site_id}/test", summary="Test a site's connection")
async def run_connection_test(
    site_id: str, who: Manager, services: Services, body: TestSite | None = None
) -> dict[str, Any]:
    """Checks, in order, that Jira answers at the site, that the credentials sign in, that the project
    (default: the site's) is visible, that issues of the type can be created there, and that the site's
    webhook is registered; it stops at the first that fails. Each check has `ok`, a `code` naming what
    failed and a message saying what to do; nothing is written in Jira. Configuration, like editing
    the site: managers and admins."""
    assert who.workspace_id is not None
    body = body or TestSite()
    checks = await sites.connection_test(
        services, who.workspace_id, site_id, project=body.project, issue_type=body.issue_type
    )
    return {
        "ok": all(c.ok for c in checks),
        "checks": [{"check": c.check, "ok": c.ok, "code": c.code, "message": c.message} for c in checks],
    }


@router.get("/oauth/callback", response_model=None, summary="OAuth callback")
async def oauth_callback(
    request: HttpRequest,
    services: Services,
    state: Annotated[str, Query(min_length=1)],
    code: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query()] = None,
    error_description: Annotated[str | None, Query()] = None,
) -> Response:
    """Atlassian sends the person back here. Answers a small page for people, JSON for programs."""
    wants_html = "text/html" in request.headers.get("accept", "")
    try:
        if error or not code:
            raise Invalid.field(
                "code", f"{error or 'no code'}: {error_description or 'the grant was not given'}"
            )
        done = await oauth.complete_oauth(services, state=state, code=code)
    except JirabridgeError as exc:
        if wants_html:
            return HTMLResponse(f"<h1>Not connected</h1><p>{escape(exc.detail)}</p>", status_code=exc.status)
        raise
    site, user_id = done.site, done.user_id
    what = f"Your Jira account is connected to {site.url}" if user_id else f"{site.url} is connected"
    if done.return_page is not None:
        # Started from a page: the browser goes back to it (a path of this service only, checked
        # when the connection started), which says what happened.
        notice = f"Connected your Jira account on {site.url}" if user_id else f"Connected {site.url}"
        return RedirectResponse(f"{done.return_page}?{urlencode({'notice': notice})}", status_code=303)
    body = {"site": site_json(services, site), "user": user_id, "status": "connected"}
    if wants_html:
        return HTMLResponse(f"<h1>Connected</h1><p>{escape(what)}. You can close this window.</p>")
    return JSONResponse(body)
