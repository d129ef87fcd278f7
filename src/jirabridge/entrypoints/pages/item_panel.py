"""An item's ticket panel: its linked tickets, Add Jira ticket (Create, or Add to existing) and Remove.

Every action calls the same service functions as the HTTP API, with the session's role and user.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from jirabridge.entrypoints.pages import forms
from jirabridge.entrypoints.pages.destination import Destination, read_project, read_projects
from jirabridge.entrypoints.pages.page import CurrentPage, Notice, Page, PageError, error_text
from jirabridge.errors import Conflict, Invalid, JirabridgeError
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.sites import jira_lookups
from jirabridge.service.sites.sites import list_sites
from jirabridge.service.tickets import items as items_service
from jirabridge.service.tickets import tickets
from jirabridge.service.tickets.ticket_fields import TicketRequest
from jirabridge.storage.tables import Item, Link, Site

router = APIRouter(prefix="/ui/s/{token}/items/{item_type}/{item_id}", include_in_schema=False)

ItemType = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,99}$")]
ItemId = Annotated[str, Path(min_length=1, max_length=200)]


def _check_scope(page: Page, item_type: str, item_id: str) -> None:
    scope = page.session.scope
    if (scope.item_type, scope.item_id) != (item_type, item_id):
        raise PageError(403, "Not allowed", "This session is for another page; open this one from the app.")


def _here(page: Page, item_type: str, item_id: str) -> str:
    return f"{page.base}/items/{item_type}/{item_id}"


async def _load(
    page: Page, item_type: str, item_id: str
) -> tuple[Item, list[Link], dict[str, str], list[Site]]:
    workspace_id = page.session.workspace_id

    def read(uow: Any) -> tuple[Item, list[Link], dict[str, str], list[Site]]:
        item = items_service.find_item(uow, workspace_id, item_type, item_id)
        links = items_service.item_links(uow, workspace_id, item_type, item_id)
        urls = items_service.site_urls(uow, (lk.site_id for lk in links))
        sites = [s for s in list_sites(uow, workspace_id) if s.status == "connected"]
        return item, links, urls, sites

    return await read_db(page.container, read)


async def _choices(
    page: Page, item_type: str, item_id: str, site: str | None, project: str | None, issue_type: str | None
) -> Destination:
    """What the Create tab offers: the request's choice, else where a ticket of the item would go."""
    workspace_id = page.session.workspace_id
    choices = Destination()
    default_site, default_project, default_type = await read_db(
        page.container, lambda uow: tickets.create_defaults(uow, workspace_id, item_type, item_id)
    )
    choices.site = site or default_site
    if choices.site is None:
        choices.problem = "No Jira site is connected yet: an admin connects one in the settings."
        return choices
    try:
        await read_projects(page, choices)
    except JirabridgeError as exc:
        choices.problem = exc.detail
        return choices
    choices.project = project or default_project or (choices.projects[0].key if choices.projects else None)
    await read_project(page, choices, issue_type or default_type)
    return choices


async def _render(
    page: Page,
    item_type: str,
    item_id: str,
    *,
    tab: str,
    choices: Destination | None = None,
    errors: dict[str, str] | None = None,
    entered: dict[str, Any] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    item, links, urls, sites = await _load(page, item_type, item_id)
    keys: dict[str, list[str]] = {}
    for link in links:
        if link.issue_key:
            keys.setdefault(link.site_id, []).append(link.issue_key)
    summaries = await jira_lookups.summaries(page.container, page.session.workspace_id, keys)
    if tab == "create" and choices is None:
        choices = await _choices(page, item_type, item_id, None, None, None)
    return page.render(
        "item.html",
        status=status,
        item=item,
        links=[items_service.link_json(lk, urls.get(lk.site_id)) for lk in links],
        summaries=summaries,
        sites=sites,
        here=_here(page, item_type, item_id),
        tab=tab,
        choices=choices,
        errors=errors or {},
        entered=entered or {},
        notice=notice,
        input_kind=forms.input_kind,
    )


@router.get("")
async def panel(
    page: CurrentPage,
    item_type: ItemType,
    item_id: ItemId,
    tab: Annotated[str, Query(pattern="^(create|link)$")] = "create",
    site: Annotated[str | None, Query(max_length=40)] = None,
    project: Annotated[str | None, Query(max_length=10)] = None,
    issue_type: Annotated[str | None, Query(max_length=255)] = None,
    notice: Notice = None,
) -> HTMLResponse:
    _check_scope(page, item_type, item_id)
    choices = None
    if tab == "create":
        choices = await _choices(page, item_type, item_id, site, project, issue_type)
    return await _render(page, item_type, item_id, tab=tab, choices=choices, notice=notice)


@router.get("/users")
async def user_options(
    page: CurrentPage,
    item_type: ItemType,
    item_id: ItemId,
    site: Annotated[str, Query(max_length=40)],
    project: Annotated[str, Query(max_length=10)],
    assignee: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """`<option>`s of the assignee picker's list (htmx asks as the person types)."""
    _check_scope(page, item_type, item_id)
    try:
        found = await jira_lookups.assignable_users(
            page.container, page.session.workspace_id, site, project, assignee
        )
    except JirabridgeError:
        found = []
    return page.render("user_options.html", users=found)


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


@router.post("/tickets")
async def create(page: CurrentPage, item_type: ItemType, item_id: ItemId) -> Response:
    _check_scope(page, item_type, item_id)
    form = await page.request.form()
    site, project, issue_type = _text(form, "site"), _text(form, "project"), _text(form, "issue_type")
    choices = await _choices(page, item_type, item_id, site, project, issue_type)
    fields: dict[str, Any] = {}
    for meta in choices.extra:
        value = forms.jira_value(meta, _texts(form, f"field.{meta.field_id}"))
        if value is not None:
            fields[meta.field_id] = value
    labels = (_text(form, "labels") or "").replace(",", " ").split()
    request = TicketRequest(
        site=choices.site,
        project=choices.project,
        issue_type=choices.issue_type,
        summary=_text(form, "summary"),
        description=_text(form, "description"),
        priority=_text(form, "priority"),
        labels=labels,
        assignee=_text(form, "assignee"),
        fields=fields,
    )
    try:
        link, _ = await tickets.create_ticket(
            page.container, page.session.workspace_id, item_type, item_id, request
        )
    except (Invalid, Conflict) as exc:
        entered = {k: v for k, v in form.multi_items() if k != "csrf"}
        return await _render(
            page,
            item_type,
            item_id,
            tab="create",
            choices=choices,
            errors=error_text(exc),
            entered=entered,
            status=exc.status,
        )
    notice = f"Created {link.issue_key}" if link.issue_key else "The ticket is being created in Jira"
    return _back(page, item_type, item_id, notice)


@router.post("/links")
async def link(page: CurrentPage, item_type: ItemType, item_id: ItemId) -> Response:
    _check_scope(page, item_type, item_id)
    form = await page.request.form()
    ref = _text(form, "issue") or ""
    try:
        if len(ref) < 3:
            raise Invalid.field("issue", "enter an issue key like WEB-184 or its browse URL")
        created, _ = await tickets.link_issue(
            page.container,
            page.session.workspace_id,
            item_type,
            item_id,
            ref=ref,
            site_id=_text(form, "site"),
            backlink=False,
        )
    except (Invalid, Conflict) as exc:
        errors = error_text(exc)
        if isinstance(exc, Conflict):
            errors = {"issue": exc.detail}
        return await _render(
            page, item_type, item_id, tab="link", errors=errors, entered={"issue": ref}, status=exc.status
        )
    return _back(page, item_type, item_id, f"Linked {created.issue_key}")


@router.post("/links/{issue_key}/remove")
async def remove(
    page: CurrentPage, item_type: ItemType, item_id: ItemId, issue_key: Annotated[str, Path(max_length=50)]
) -> Response:
    _check_scope(page, item_type, item_id)
    workspace_id = page.session.workspace_id
    now = page.container.clock.now()
    await run_db(
        page.container,
        lambda uow: items_service.unlink(uow, now, workspace_id, item_type, item_id, issue_key),
    )
    return _back(page, item_type, item_id, f"Removed the link to {issue_key}; the Jira issue is unchanged")


def _back(page: Page, item_type: str, item_id: str, notice: str) -> RedirectResponse:
    query = urlencode({"notice": notice, "tab": "create"})
    return RedirectResponse(f"{_here(page, item_type, item_id)}?{query}", status_code=303)
