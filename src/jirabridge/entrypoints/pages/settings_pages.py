"""Settings > Integrations > Jira: sites and sync health (admins and managers).

Each action calls the same service function as its HTTP API route, with the session's role.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jirabridge.entrypoints.http.failures import render as failure_json
from jirabridge.entrypoints.http.sites import site_json
from jirabridge.entrypoints.pages.page import ManagerPage, Notice, Page, error_text
from jirabridge.errors import JirabridgeError
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.sites import sites
from jirabridge.service.workspaces import events as events_service
from jirabridge.storage import outbox
from jirabridge.storage.events import recent_events

router = APIRouter(prefix="/ui/s/{token}/settings", include_in_schema=False)

SiteId = Annotated[str, Path(max_length=40)]

# What each connection-test code means to the person reading the table, and what to do about it.
CHECK_ADVICE = {
    "invalid_url": "Check the site address: it is https://NAME.atlassian.net.",
    "connection_failed": "Jira could not be reached. Check the address, then try again later.",
    "network_timeout": "Jira took too long to answer. Try again in a minute.",
    "unauthorized": "Jira refused the credentials. Check the email and create a new API token.",
    "forbidden": "The account lacks a permission in Jira. Ask a Jira admin to grant the permission named.",
    "token_expired": "The API token has expired. Create a new one and connect again.",
    "project_not_found": "The project does not exist or the account cannot browse it.",
    "issue_type_not_found": "The project has no such issue type, or the account cannot create it.",
    "rate_limited": "Jira is limiting requests now. Try again in a minute.",
}


def _back(page: Page, section: str, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"{page.base}/settings/{section}?{urlencode({'notice': notice})}", status_code=303
    )


@router.get("")
async def settings_home(page: ManagerPage) -> Response:
    return RedirectResponse(f"{page.base}/settings/sites", status_code=303)


async def sites_page_with(page: Page, status: int = 200, **context: Any) -> HTMLResponse:
    workspace_id = page.session.workspace_id
    found = await read_db(page.container, lambda uow: sites.list_sites(uow, workspace_id))
    return page.render(
        "settings_sites.html",
        status=status,
        section="sites",
        sites=[site_json(page.container, s) for s in found],
        errors=context.pop("errors", {}),
        entered=context.pop("entered", {}),
        oauth=bool(page.container.settings.oauth_client_id),
        **context,
    )


@router.get("/sites")
async def sites_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    return await sites_page_with(page, notice=notice)


@router.post("/sites")
async def connect_site(page: ManagerPage) -> Response:
    form = await page.request.form()
    entered = {k: str(v) for k, v in form.items() if k not in ("csrf", "api_token")}
    try:
        site = await sites.connect_api_token(
            page.container,
            page.session.workspace_id,
            url=str(form.get("url") or "").strip(),
            email=str(form.get("email") or "").strip(),
            api_token=str(form.get("api_token") or "").strip(),
            default_project=str(form.get("default_project") or "").strip().upper() or None,
            make_default=form.get("default") == "on",
        )
    except JirabridgeError as exc:
        errors = error_text(exc)
        if "auth" in errors:  # the API names the credentials `auth`; here they are the token's input
            errors["api_token"] = errors.pop("auth")
        return await sites_page_with(page, status=exc.status, errors=errors, entered=entered)
    return _back(page, "sites", f"Connected {site.url}")


@router.post("/sites/{site_id}/test")
async def test_site(page: ManagerPage, site_id: SiteId) -> HTMLResponse:
    form = await page.request.form()
    project = str(form.get("project") or "").strip().upper() or None
    issue_type = str(form.get("issue_type") or "").strip() or None
    checks = await sites.connection_test(
        page.container, page.session.workspace_id, site_id, project=project, issue_type=issue_type
    )
    table = [
        {
            "check": c.check,
            "ok": c.ok,
            "code": c.code,
            "message": c.message,
            "advice": CHECK_ADVICE.get(c.code or "", ""),
        }
        for c in checks
    ]
    return await sites_page_with(page, tested=site_id, checks=table, ok=all(c.ok for c in checks))


@router.get("/sites/{site_id}/disconnect")
async def confirm_disconnect(page: ManagerPage, site_id: SiteId) -> HTMLResponse:
    workspace_id = page.session.workspace_id
    site = await read_db(page.container, lambda uow: sites.get_site(uow, workspace_id, site_id))
    return page.render("settings_disconnect.html", section="sites", site=site_json(page.container, site))


@router.post("/sites/{site_id}/disconnect")
async def disconnect(page: ManagerPage, site_id: SiteId) -> Response:
    workspace_id = page.session.workspace_id
    site = await read_db(page.container, lambda uow: sites.get_site(uow, workspace_id, site_id))
    await run_db(
        page.container, lambda uow: sites.disconnect_site(page.container, uow, workspace_id, site_id)
    )
    return _back(page, "sites", f"Disconnected {site.url}")


@router.get("/health")
async def health_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    workspace_id = page.session.workspace_id

    def read(uow: Any) -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
        failed = outbox.list_failures(uow.session, workspace_id, limit=100)
        depth = outbox.workspace_depth(uow.session, workspace_id)
        recent = recent_events(uow.session, workspace_id, limit=20)
        return [failure_json(op) for op in failed], depth, [events_service.render(e) for e in recent]

    failures, depth, recent = await read_db(page.container, read)
    return page.render(
        "settings_health.html", section="health", failures=failures, depth=depth, events=recent, notice=notice
    )


@router.post("/health/failures/{op_id}/retry")
async def retry(page: ManagerPage, op_id: Annotated[str, Path(max_length=40)]) -> Response:
    workspace_id = page.session.workspace_id
    now = page.container.clock.now()

    def work(uow: Any) -> None:
        outbox.retry_failure(uow.session, workspace_id, op_id, now)
        uow.commit()

    await run_db(page.container, work)
    return _back(page, "health", "The operation is queued again")
