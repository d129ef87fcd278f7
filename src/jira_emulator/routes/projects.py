"""Projects and their metadata: issue types, create metadata, statuses, priorities, fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from jira_emulator import render
from jira_emulator.context import Ctx, caller
from jira_emulator.errors import JiraError
from jira_emulator.state import Account, FieldDef, IssueTypeDef, Project

router = APIRouter()


def visible_project(ctx: Ctx, me: Account, ref: str) -> Project:
    project = ctx.site.projects.get(ref.upper()) or next(
        (p for p in ctx.site.projects.values() if p.id == ref), None
    )
    if project is None or not project.has_permission(me.account_id, "BROWSE_PROJECTS"):
        raise JiraError(404, f"No project could be found with key '{ref}'.")
    return project


def _visible_projects(ctx: Ctx, me: Account) -> list[Project]:
    return [p for p in ctx.site.projects.values() if p.has_permission(me.account_id, "BROWSE_PROJECTS")]


def _expand(expand: str | None) -> list[str]:
    return [e.strip() for e in (expand or "").split(",") if e.strip()]


@router.get("/project")
async def list_projects(request: Request, expand: str | None = None) -> list[dict[str, Any]]:
    ctx, me = caller(request)
    return [render.project_json(ctx, p, expand=_expand(expand)) for p in _visible_projects(ctx, me)]


@router.get("/project/search")
async def search_projects(
    request: Request,
    query: str | None = None,
    keys: str | None = None,
    startAt: int = 0,
    maxResults: int = 50,
    expand: str | None = None,
) -> dict[str, Any]:
    ctx, me = caller(request)
    found = _visible_projects(ctx, me)
    if query:
        q = query.lower()
        found = [p for p in found if q in p.key.lower() or q in p.name.lower()]
    if keys:
        wanted = {k.strip() for k in keys.split(",")}
        found = [p for p in found if p.key in wanted]
    page = found[startAt : startAt + maxResults]
    return {
        "self": ctx.rest(f"/project/search?startAt={startAt}&maxResults={maxResults}"),
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(found),
        "isLast": startAt + maxResults >= len(found),
        "values": [render.project_json(ctx, p, expand=_expand(expand)) for p in page],
    }


@router.get("/project/{project_ref}")
async def get_project(request: Request, project_ref: str, expand: str | None = None) -> dict[str, Any]:
    ctx, me = caller(request)
    project = visible_project(ctx, me, project_ref)
    # GET project/{key} includes issue types and the lead even without expand, as Jira's does.
    body = render.project_json(ctx, project, expand=["issueTypes", "lead", *_expand(expand)])
    body["description"] = ""
    body["assigneeType"] = "UNASSIGNED"
    body["components"] = []
    body["versions"] = []
    body["roles"] = {}
    return body


@router.get("/project/{project_ref}/statuses")
async def project_statuses(request: Request, project_ref: str) -> list[dict[str, Any]]:
    ctx, me = caller(request)
    project = visible_project(ctx, me, project_ref)
    names = [project.workflow.initial_status] + [t.to for t in project.workflow.transitions]
    statuses = [render.status_json(ctx, ctx.site.statuses[n]) for n in dict.fromkeys(names)]
    return [
        {
            "self": ctx.rest(f"/issuetype/{it.id}"),
            "id": it.id,
            "name": it.name,
            "subtask": it.subtask,
            "statuses": statuses,
        }
        for it in project.issue_types
    ]


@router.get("/issuetype")
async def issue_types(request: Request) -> list[dict[str, Any]]:
    ctx, me = caller(request)
    # Issue types are site-wide in company-managed projects: each once, however many projects use it.
    unique = {it.id: it for p in _visible_projects(ctx, me) for it in p.issue_types}
    return [render.issue_type_json(ctx, it) for it in unique.values()]


@router.get("/issuetype/project")
async def issue_types_for_project(request: Request, projectId: str) -> list[dict[str, Any]]:
    ctx, me = caller(request)
    project = visible_project(ctx, me, projectId)
    return [render.issue_type_json(ctx, it, project) for it in project.issue_types]


@router.get("/issuetype/{issue_type_id}")
async def get_issue_type(request: Request, issue_type_id: str) -> dict[str, Any]:
    ctx, me = caller(request)
    for project in _visible_projects(ctx, me):
        for it in project.issue_types:
            if it.id == issue_type_id:
                return render.issue_type_json(ctx, it, project)
    raise JiraError(404, "The issue type does not exist or you do not have permission to view it.")


def _create_meta_field(ctx: Ctx, f: FieldDef, required: bool) -> dict[str, Any]:
    return render.field_meta_json(ctx, f, required, create_meta=True)


def create_meta_fields(ctx: Ctx, project: Project, it: IssueTypeDef) -> list[dict[str, Any]]:
    """The create screen of an issue type: the always-required system fields, then the type's own."""
    out = [_create_meta_field(ctx, ctx.site.fields[fid], True) for fid in ("summary", "issuetype", "project")]
    for fid in it.required_fields:
        out.append(_create_meta_field(ctx, ctx.site.fields[fid], True))
    for fid in ("reporter", *it.optional_fields):
        if fid in ctx.site.fields and fid not in it.required_fields:
            out.append(_create_meta_field(ctx, ctx.site.fields[fid], False))
    return out


@router.get("/issue/createmeta/{project_ref}/issuetypes")
async def create_meta_issue_types(
    request: Request,
    project_ref: str,
    startAt: int = 0,
    maxResults: int = 50,
) -> dict[str, Any]:
    ctx, me = caller(request)
    project = visible_project(ctx, me, project_ref)
    if not project.has_permission(me.account_id, "CREATE_ISSUES"):
        types: list[IssueTypeDef] = []
    else:
        types = project.issue_types
    page = types[startAt : startAt + maxResults]
    return {
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(types),
        "issueTypes": [render.issue_type_json(ctx, it) for it in page],
    }


@router.get("/issue/createmeta/{project_ref}/issuetypes/{issue_type_id}")
async def create_meta_fields_route(
    request: Request,
    project_ref: str,
    issue_type_id: str,
    startAt: int = 0,
    maxResults: int = 50,
) -> dict[str, Any]:
    ctx, me = caller(request)
    project = visible_project(ctx, me, project_ref)
    it = next((t for t in project.issue_types if t.id == issue_type_id), None)
    if it is None or not project.has_permission(me.account_id, "CREATE_ISSUES"):
        raise JiraError(404, f"Issue type with id '{issue_type_id}' does not exist or is not in the project.")
    fields = create_meta_fields(ctx, project, it)
    page = fields[startAt : startAt + maxResults]
    return {
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(fields),
        "fields": page,
        "results": page,
    }


@router.get("/priority")
async def priorities(request: Request) -> list[dict[str, Any]]:
    ctx, _ = caller(request)
    return [render.priority_json(ctx, p) for p in ctx.site.priorities]


@router.get("/priority/search")
async def search_priorities(request: Request, startAt: int = 0, maxResults: int = 50) -> dict[str, Any]:
    ctx, _ = caller(request)
    values = [
        render.priority_json(ctx, p) | {"isDefault": p.id == ctx.site.default_priority}
        for p in ctx.site.priorities
    ]
    return {
        "self": ctx.rest("/priority/search"),
        "maxResults": maxResults,
        "startAt": startAt,
        "total": len(values),
        "isLast": startAt + maxResults >= len(values),
        "values": values[startAt : startAt + maxResults],
    }


@router.get("/priority/{priority_id}")
async def get_priority(request: Request, priority_id: str) -> dict[str, Any]:
    ctx, _ = caller(request)
    priority = ctx.site.priority_by_ref(priority_id)
    if priority is None:
        raise JiraError(404, f"The priority with ID {priority_id} does not exist.")
    return render.priority_json(ctx, priority)


@router.get("/status")
async def statuses(request: Request) -> list[dict[str, Any]]:
    ctx, _ = caller(request)
    return [render.status_json(ctx, s) for s in ctx.site.statuses.values()]


@router.get("/status/{status_ref}")
async def get_status(request: Request, status_ref: str) -> dict[str, Any]:
    ctx, _ = caller(request)
    status = next((s for s in ctx.site.statuses.values() if status_ref in (s.id, s.name)), None)
    if status is None:
        raise JiraError(404, f"The status with ID or name '{status_ref}' does not exist.")
    return render.status_json(ctx, status)


@router.get("/statuscategory")
async def status_categories(request: Request) -> list[dict[str, Any]]:
    ctx, _ = caller(request)
    return [render.status_category_json(ctx, key) for key in ("new", "indeterminate", "done")]


@router.get("/resolution")
async def resolutions(request: Request) -> list[dict[str, Any]]:
    ctx, _ = caller(request)
    return [render.resolution_json(ctx, name) for name in ctx.site.resolutions]


@router.get("/field")
async def fields(request: Request) -> list[dict[str, Any]]:
    ctx, _ = caller(request)
    return [render.field_json(ctx, f) for f in ctx.site.fields.values()]
