"""Settings › Projects: the projects of each site that have settings, adding one, editing and deleting
its settings (admins and managers).

Saving calls the same service as `PUT /api/v1/sites/{site}/projects/{key}` with the document the
HTTP API's request model makes of the form; every dropdown (issue types, workflow statuses,
priorities, the create screen's fields) is read from Jira through service/sites/jira_lookups.py.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from jirabridge.domain.items import Item
from jirabridge.domain.settings import comment_template_problem
from jirabridge.domain.templates import comment_text
from jirabridge.entrypoints.http.projects import ProjectDocument
from jirabridge.entrypoints.pages import forms
from jirabridge.entrypoints.pages import settings_projects_form as project_form
from jirabridge.entrypoints.pages.page import ManagerPage, Notice, Page
from jirabridge.entrypoints.pages.settings_projects_form import ProjectForm
from jirabridge.errors import Conflict, Invalid, JirabridgeError, NotFound
from jirabridge.service.core.db import read_db, run_db
from jirabridge.service.core.ports import ProjectMeta
from jirabridge.service.sites import jira_lookups, projects, sites
from jirabridge.service.sites.metadata import CreateScreen
from jirabridge.service.workspaces import settings as workspace_settings

router = APIRouter(prefix="/ui/s/{token}/settings/projects", include_in_schema=False)

SiteId = Annotated[str, Path(max_length=40)]
ProjectKey = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,9}$")]
ANY_ISSUE_TYPE = "*"

STATUS_MODES = {
    "two_way": "Both ways",
    "outbound": "To Jira only",
    "inbound": "From Jira only",
    "comment": "As comments on the ticket",
    "off": "Off",
}
SYNC_MODES = {
    "off": "Off",
    "outbound": "To Jira only",
    "inbound": "From Jira only",
    "two_way": "Both ways",
}
# The item a comment template is previewed over: what a host's status comment would be made of.
SAMPLE_ITEM = Item(
    type="anomaly",
    id="an-42",
    title="Null rate above 5% in orders.customer_id",
    status="Acknowledged",
    url="https://app.example.com/anomalies/an-42",
)
SAMPLE_PREVIOUS_STATUS = "Open"


def _back(page: Page, path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"{page.base}/settings/projects{path}?{urlencode({'notice': notice})}", status_code=303
    )


# -- the list ----------------------------------------------------------------------------------


@router.get("")
async def projects_page(page: ManagerPage, notice: Notice = None) -> HTMLResponse:
    workspace_id = page.session.workspace_id

    def read(uow: Any) -> tuple[list[Any], dict[str, list[projects.ProjectView]], int]:
        found = sites.list_sites(uow, workspace_id)
        views = {s.id: projects.list_projects(uow, workspace_id, s.id) for s in found}
        limit = workspace_settings.load(uow, workspace_id).max_projects_per_site
        return found, views, limit

    found, views, limit = await read_db(page.container, read)
    cards = []
    for site in found:
        card: dict[str, Any] = {"site": site, "projects": views[site.id], "visible": [], "problem": None}
        if site.status == "connected":
            try:
                visible = await jira_lookups.projects(page.container, workspace_id, site.id)
                configured = {v.key for v in views[site.id]}
                card["visible"] = [p for p in visible if p.key not in configured]
            except JirabridgeError as exc:
                card["problem"] = exc.detail
        cards.append(card)
    return page.render("settings_projects.html", section="projects", cards=cards, limit=limit, notice=notice)


@router.get("/{site_id}/add")
async def add_project(
    page: ManagerPage, site_id: SiteId, key: Annotated[str, Query(pattern=r"^[A-Z][A-Z0-9_]{1,9}$")]
) -> RedirectResponse:
    """The add form's choice: its settings form, empty (nothing is stored until it is saved)."""
    return RedirectResponse(f"{page.base}/settings/projects/{site_id}/{key}", status_code=303)


@router.post("/{site_id}/{key}/delete")
async def delete_project(page: ManagerPage, site_id: SiteId, key: ProjectKey) -> Response:
    workspace_id = page.session.workspace_id
    await run_db(
        page.container,
        lambda uow: projects.delete_project(page.container, uow, workspace_id, site_id, key),
    )
    return _back(page, "", f"Deleted the settings of {key}")


# -- one project's settings ---------------------------------------------------------------------


class Choices:
    """What the form offers, read from Jira: the project's issue types, workflow statuses and the
    site's priorities, and the create screen of each issue type that has field defaults."""

    def __init__(self) -> None:
        self.meta: ProjectMeta | None = None
        self.screens: dict[str, CreateScreen] = {}
        self.problem: str | None = None

    @property
    def status_names(self) -> list[str]:
        return [s.name for s in self.meta.statuses] if self.meta else []

    def required(self, issue_type: str) -> list[Any]:
        screen = self.screens.get(issue_type)
        return forms.extra_fields(screen.fields) if screen else []

    def field_name(self, issue_type: str, field_id: str) -> str:
        screen = self.screens.get(issue_type)
        found = screen.field(field_id) if screen else None
        return found.name if found else field_id


def _default_types(
    form: ProjectForm, fd_type: str | None, meta: ProjectMeta | None
) -> tuple[list[str], str | None]:
    """The issue types the field defaults section shows (those with defaults, and the chosen one), and
    the chosen one: the one picked, else the default issue type, else the project's first."""
    shown = list(form.field_defaults)
    standard = [t.name for t in meta.issue_types if not t.subtask] if meta else []
    chosen = fd_type or form.text("default_issue_type") or next(iter(standard), None)
    if chosen and chosen not in shown:
        shown.append(chosen)
    return shown, chosen


async def _choices(
    page: Page, site_id: str, key: str, form: ProjectForm | None = None, fd_type: str | None = None
) -> tuple[Choices, list[str], str | None]:
    workspace_id = page.session.workspace_id
    choices = Choices()
    types: list[str] = []
    chosen = None
    try:
        choices.meta = await jira_lookups.project(page.container, workspace_id, site_id, key)
        if form is not None:
            types, chosen = _default_types(form, fd_type, choices.meta)
        for name in types:
            found = choices.meta.issue_type(name) if name != ANY_ISSUE_TYPE else None
            if found is not None and not found.subtask:
                choices.screens[name] = await jira_lookups.create_screen(
                    page.container, workspace_id, site_id, key, found.name
                )
    except JirabridgeError as exc:
        choices.problem = exc.detail
    return choices, types, chosen


def preview(page: Page, template: str, workspace_template: str) -> tuple[str | None, str | None]:
    """The comment a status change of the sample item would post, or why the template is refused."""
    wanted = template or workspace_template
    problem = comment_template_problem(wanted)
    if problem is not None:
        return None, f"comment_template {problem}"
    text = comment_text(
        wanted,
        timestamp=page.container.clock.now(),
        host=page.host_name,
        item_type=SAMPLE_ITEM.type,
        status=SAMPLE_ITEM.status or "",
        item=SAMPLE_ITEM,
        previous_status=SAMPLE_PREVIOUS_STATUS,
    )
    return text, None


async def _render(
    page: Page,
    site_id: str,
    key: str,
    form: ProjectForm,
    *,
    stored: bool,
    fd_type: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    workspace_id = page.session.workspace_id

    def read(uow: Any) -> tuple[Any, str]:
        site = sites.get_site(uow, workspace_id, site_id)
        return site, workspace_settings.load(uow, workspace_id).comment_template

    site, workspace_template = await read_db(page.container, read)
    choices, types, chosen = await _choices(page, site_id, key, form, fd_type)
    shown, problem = preview(page, form.text("comment_template"), workspace_template)
    return page.render(
        "settings_project.html",
        status=status,
        section="projects",
        site=site,
        key=key,
        site_id=site_id,
        project_key=key,
        here=f"{page.base}/settings/projects/{site_id}/{key}",
        empty_row=project_form.Row(),
        form=form,
        stored=stored,
        choices=choices,
        fd_types=types,
        fd_type=chosen,
        errors=errors or {},
        notice=notice,
        status_modes=STATUS_MODES,
        sync_modes=SYNC_MODES,
        workspace_template=workspace_template,
        preview=shown,
        preview_problem=problem,
        fd_name=project_form.fd_name,
        fd_id=project_form.fd_id,
        row_id=project_form.row_id,
        new_row=secrets.token_hex(4),
    )


@router.get("/{site_id}/{key}")
async def project_page(
    page: ManagerPage,
    site_id: SiteId,
    key: ProjectKey,
    notice: Notice = None,
) -> HTMLResponse:
    workspace_id = page.session.workspace_id

    def read(uow: Any) -> dict[str, Any] | None:
        try:
            return projects.get_project(uow, workspace_id, site_id, key).settings
        except NotFound:
            sites.get_site(uow, workspace_id, site_id)  # an unknown site is a 404 page
            return None

    settings = await read_db(page.container, read)
    form = project_form.from_settings(settings or {})
    return await _render(page, site_id, key, form, stored=settings is not None, notice=notice)


@router.get("/{site_id}/{key}/preview")
async def comment_preview(
    page: ManagerPage,
    site_id: SiteId,
    key: ProjectKey,
    comment_template: Annotated[str, Query(max_length=4000)] = "",
) -> HTMLResponse:
    """The comment preview as the template is typed (htmx swaps it in)."""
    workspace_id = page.session.workspace_id
    workspace_template = await read_db(
        page.container, lambda uow: workspace_settings.load(uow, workspace_id).comment_template
    )
    shown, problem = preview(page, comment_template.strip(), workspace_template)
    return page.render("settings_project_preview.html", preview=shown, preview_problem=problem)


@router.get("/{site_id}/{key}/row")
async def new_row(
    page: ManagerPage,
    site_id: SiteId,
    key: ProjectKey,
    map_name: Annotated[
        str, Query(alias="map", pattern="^(status_map|inbound_status_map|priority_map|transition_fields)$")
    ],
) -> HTMLResponse:
    """One more empty row of a map (the Add a row button; without scripts the form always ends with
    an empty row)."""
    choices, _, _ = await _choices(page, site_id, key)
    return page.render(
        "settings_project_row.html",
        map_name=map_name,
        site_id=site_id,
        project_key=key,
        row=project_form.Row(),
        index=secrets.token_hex(4),
        choices=choices,
        errors={},
        row_id=project_form.row_id,
    )


@router.get("/{site_id}/{key}/removed")
async def removed_row(page: ManagerPage, site_id: SiteId, key: ProjectKey) -> HTMLResponse:
    """Nothing: the Remove button's row is deleted in the page (htmx `delete` swap); without scripts,
    clearing a row removes it on save."""
    return HTMLResponse("")


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]


@router.post("/{site_id}/{key}")
async def save_project(page: ManagerPage, site_id: SiteId, key: ProjectKey) -> Response:
    workspace_id = page.session.workspace_id
    posted = await page.request.form()
    form = project_form.from_form(posted)
    fd_type = str(posted.get("fd_type") or "").strip() or None

    def stored_settings(uow: Any) -> dict[str, Any] | None:
        try:
            return projects.get_project(uow, workspace_id, site_id, key).settings
        except NotFound:
            return None

    stored = await read_db(page.container, stored_settings)
    if posted.get("action") == "refresh":  # a choice changed: show what depends on it, save nothing
        return await _render(page, site_id, key, form, stored=stored is not None, fd_type=fd_type)

    document, problems = project_form.to_document(form)
    try:
        if problems:
            raise Invalid("the form has errors")
        try:
            body = ProjectDocument.model_validate(document).model_dump(mode="json")
        except ValidationError as exc:
            raise Invalid("invalid settings") from exc
        await projects.put_project(page.container, workspace_id, site_id, key, body)
    except (Invalid, Conflict) as exc:
        if problems:
            errors = problems
        elif isinstance(exc.__cause__, ValidationError):
            errors = project_form.input_errors(form, _pydantic_errors(exc.__cause__))
        elif exc.errors:
            errors = project_form.input_errors(form, [(e.field, e.message) for e in exc.errors])
        else:
            errors = {"_": exc.detail}
        return await _render(
            page,
            site_id,
            key,
            form,
            stored=stored is not None,
            fd_type=fd_type,
            errors=errors,
            status=exc.status,
        )
    return _back(page, f"/{site_id}/{key}", f"Saved the settings of {key}")
