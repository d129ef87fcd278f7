"""Project settings (SPEC sections 2 and 3): per site and Jira project, validated against the site.

Every Jira name in a document is checked against what Jira says now — the project, its issue types,
the statuses of its workflows, the site's priorities, the create screens of the issue types that
field defaults name — before anything is written. Names match case-insensitively and are stored
with Jira's spelling, so later comparisons (transitions, create screens) can be exact. The document's
shape and its defaults are the HTTP layer's request model; this module checks the names.

A site holds settings for at most `max_projects_per_site` projects (workspace settings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.domain import templates, ticket_status
from jirabridge.domain.settings import comment_template_problem
from jirabridge.errors import Conflict, FieldError, Invalid, NotFound
from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import ProjectMeta, Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import polling
from jirabridge.service.sites import dynamic_webhooks, metadata, transition_settings
from jirabridge.service.sites.sites import get_site
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage.tables import ProjectSettings, Site

ANY_ISSUE_TYPE = "*"
# Fields jirabridge fills from the ticket request itself: a default for them would never apply.
SET_BY_REQUEST = ("project", "issuetype", "summary", "description")
MAX_LISTED = 20  # allowed names shown in one message


@dataclass(frozen=True)
class ProjectView:
    key: str
    site_id: str
    settings: dict[str, Any]
    updated_at: datetime


def _view(row: ProjectSettings) -> ProjectView:
    return ProjectView(row.project_key, row.site_id, dict(row.settings), row.updated_at)


def _connected_site(uow: UnitOfWork, workspace_id: str, site_id: str) -> Site:
    site = get_site(uow, workspace_id, site_id)
    if site.status != "connected":
        raise Conflict(f"site {site_id} is not connected yet (status {site.status})")
    return site


def _row(uow: UnitOfWork, workspace_id: str, site_id: str, project: str) -> ProjectSettings | None:
    return uow.projects.get(workspace_id, site_id, project.upper())


def _check_room(uow: UnitOfWork, site: Site, project: str) -> None:
    """One more project than the workspace allows per site is refused; replacing one is not."""
    if _row(uow, site.workspace_id, site.id, project) is not None:
        return
    limit = workspace_settings.load(uow, site.workspace_id).max_projects_per_site
    count = uow.projects.count_on_site(site.workspace_id, site.id)
    if count >= limit:
        raise Conflict(
            f"site {site.id} already has settings for {count} projects, the workspace's "
            f"max_projects_per_site; delete one or raise the limit in the workspace settings"
        )


# -- read --------------------------------------------------------------------------------------


def list_projects(uow: UnitOfWork, workspace_id: str, site_id: str) -> list[ProjectView]:
    get_site(uow, workspace_id, site_id)
    return [_view(row) for row in uow.projects.on_site(workspace_id, site_id)]


def get_project(uow: UnitOfWork, workspace_id: str, site_id: str, project: str) -> ProjectView:
    get_site(uow, workspace_id, site_id)
    row = _row(uow, workspace_id, site_id, project)
    if row is None:
        raise NotFound(f"project {project} has no settings on site {site_id}")
    return _view(row)


# -- write -------------------------------------------------------------------------------------


async def put_project(
    services: Services, workspace_id: str, site_id: str, project: str, document: Mapping[str, Any]
) -> tuple[ProjectView, bool]:
    """Validate `document` (shape-checked, defaults filled) against the site and store it.
    Returns (view, created). Raises Invalid naming every unknown name; nothing is written then."""

    def read(uow: UnitOfWork) -> Site:
        site = _connected_site(uow, workspace_id, site_id)
        _check_room(uow, site, project)
        return site

    site = await run_db(services, read)
    # Fresh metadata: a host that has just changed the workflow in Jira saves again to use it.
    metadata.invalidate(services, site.id, project)
    meta = await metadata.project_meta(services, site, project)
    settings = await _validated(services, site, meta, document)

    def save(uow: UnitOfWork) -> tuple[ProjectView, bool]:
        # Two saves of new projects on one site must not both pass the limit (PostgreSQL; SQLite
        # transactions are serialised anyway).
        uow.sites.hold(site_id)
        fresh = _connected_site(uow, workspace_id, site_id)
        _check_room(uow, fresh, meta.key)
        row = _row(uow, workspace_id, site_id, meta.key)
        created = row is None
        previous = None if row is None else dict(row.settings or {})
        now = services.clock.now()
        if row is None:
            row = ProjectSettings(
                workspace_id=workspace_id, site_id=site_id, project_key=meta.key, updated_at=now
            )
            uow.projects.add(row)
        row.settings = settings
        row.updated_at = now
        polling.follow_settings(uow, now, row, previous)
        dynamic_webhooks.follow_site(uow, now, fresh)
        uow.commit()
        return _view(row), created

    return await run_db(services, save)


def delete_project(
    services: Services, uow: UnitOfWork, workspace_id: str, site_id: str, project: str
) -> None:
    get_site(uow, workspace_id, site_id)
    row = _row(uow, workspace_id, site_id, project)
    if row is None:
        raise NotFound(f"project {project} has no settings on site {site_id}")
    uow.projects.remove(row)
    polling.forget_project(uow, site_id, row.project_key)
    dynamic_webhooks.follow_site_id(uow, services.clock.now(), site_id)
    uow.commit()
    metadata.invalidate(services, site_id, project)


# -- validation against the site ----------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_any(self) -> None:
        if self.errors:
            summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
            raise Invalid(summary, errors=list(self.errors))


def _listed(names: Iterable[str]) -> str:
    shown = list(names)
    more = f", … ({len(shown) - MAX_LISTED} more)" if len(shown) > MAX_LISTED else ""
    return ", ".join(repr(n) for n in shown[:MAX_LISTED]) + more or "none"


def _match(name: str, allowed: Iterable[str]) -> str | None:
    """Jira's spelling of `name`, matched case-insensitively, or None."""
    wanted = name.strip().lower()
    return next((a for a in allowed if a.lower() == wanted), None)


async def _validated(
    services: Services, site: Site, meta: ProjectMeta, document: Mapping[str, Any]
) -> dict[str, Any]:
    problems = _Problems()
    settings = dict(document)
    statuses = [s.name for s in meta.statuses]
    in_workflow = f"is not a status of the workflow of {meta.key}; its statuses are {_listed(statuses)}"

    default_type = document.get("default_issue_type")
    if default_type is not None:
        found = meta.issue_type(default_type)
        if found is None:
            problems.add(
                "default_issue_type",
                f"{default_type!r} is not an issue type of {meta.key}; its types are "
                + _listed(t.name for t in meta.issue_types),
            )
        elif found.subtask:
            problems.add(
                "default_issue_type", f"{found.name!r} is a sub-task type: tickets need a standard type"
            )
        else:
            settings["default_issue_type"] = found.name

    status_map: dict[str, str] = {}
    for host_status, jira_status in (document.get("status_map") or {}).items():
        canonical = _match(jira_status, statuses)
        if canonical is None:
            problems.add(f"status_map.{host_status}", f"{jira_status!r} {in_workflow}")
        status_map[host_status] = canonical or jira_status
    settings["status_map"] = status_map

    inbound: dict[str, str] = {}
    for jira_status, host_status in (document.get("inbound_status_map") or {}).items():
        canonical = _match(jira_status, statuses)
        if canonical is None:
            problems.add(f"inbound_status_map.{jira_status}", f"{jira_status!r} {in_workflow}")
        inbound[canonical or jira_status] = host_status
    settings["inbound_status_map"] = inbound

    priorities: dict[str, str] = {}
    for severity, priority in (document.get("priority_map") or {}).items():
        canonical = _match(priority, meta.priorities)
        if canonical is None:
            problems.add(
                f"priority_map.{severity}",
                f"{priority!r} is not a priority of the site; its priorities are {_listed(meta.priorities)}",
            )
        priorities[severity] = canonical or priority
    settings["priority_map"] = priorities

    for field, message in ticket_status.problems(document):
        problems.add(field, message)

    template = document.get("comment_template")
    if template is not None and (problem := comment_template_problem(template)) is not None:
        problems.add("comment_template", problem)

    settings["field_defaults"] = await _field_defaults(
        services, site, meta, document.get("field_defaults") or {}, problems
    )
    settings["transition_fields"], transition_problems = await transition_settings.validated(
        services, site, meta, document.get("transition_fields") or {}
    )
    problems.errors.extend(transition_problems)
    problems.raise_any()
    return settings


async def _field_defaults(
    services: Services,
    site: Site,
    meta: ProjectMeta,
    defaults: Mapping[str, Mapping[str, Any]],
    problems: _Problems,
) -> dict[str, dict[str, Any]]:
    """Each key is `*` (every standard issue type) or an issue type of the project; each field must
    be on the create screen of the issue type(s) it applies to; each value a valid template."""
    result: dict[str, dict[str, Any]] = {}
    for scope, fields in defaults.items():
        path = f"field_defaults.{scope}"
        if scope == ANY_ISSUE_TYPE:
            types = [t for t in meta.issue_types if not t.subtask]
            name = ANY_ISSUE_TYPE
        else:
            found = meta.issue_type(scope)
            if found is None:
                problems.add(
                    path,
                    f"{scope!r} is not an issue type of {meta.key}; use '*' or one of "
                    + _listed(t.name for t in meta.issue_types),
                )
                result[scope] = dict(fields)
                continue
            types, name = [found], found.name
        screens = [await metadata.create_fields(services, site, meta.key, t.id, field=path) for t in types]
        for field_id, template in fields.items():
            field_path = f"{path}.{field_id}"
            if field_id in SET_BY_REQUEST:
                problems.add(field_path, f"{field_id} is set from the ticket request, not by a default")
                continue
            lacking = [s.issue_type_name for s in screens if not s.has(field_id)]
            if lacking:
                on_all = [f for f in screens[0].fields if all(s.has(f.field_id) for s in screens)]
                offered = [f"{f.field_id} ({f.name})" for f in on_all if f.field_id not in SET_BY_REQUEST]
                where = ", ".join(lacking)
                problems.add(
                    field_path,
                    f"{field_id!r} is not on the create screen of {where} in {meta.key}; "
                    f"its fields are {_listed(offered)}",
                )
                continue
            for problem in templates.validate(template):
                problems.add(field_path, problem)
        result.setdefault(name, {}).update(fields)
    return result
