"""Reads from Jira that forms need (any key of the workspace): a site's projects, a project's issue
types, statuses and priorities, an issue type's create screen, and assignable users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from jirabridge.entrypoints.http.deps import Member, Services
from jirabridge.service.core.ports import FieldMeta
from jirabridge.service.sites import jira_lookups

router = APIRouter(prefix="/api/v1/sites/{site_id}/jira", tags=["jira lookups"])

SiteId = Annotated[str, Path(max_length=40)]
ProjectKey = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_]{1,9}$")]


def field_json(meta: FieldMeta) -> dict[str, Any]:
    return {
        "id": meta.field_id,
        "name": meta.name,
        "required": meta.required,
        "type": meta.schema_type,
        "allowed_values": list(meta.allowed_values) if meta.allowed_values is not None else None,
        "has_default": meta.has_default,
    }


@router.get(
    "/projects",
    summary="The site's projects",
    description="The Jira projects the site's connection can see, by key.",
)
async def list_projects(site_id: SiteId, who: Member, services: Services) -> dict[str, Any]:
    assert who.workspace_id is not None
    found = await jira_lookups.projects(services, who.workspace_id, site_id)
    return {"projects": [{"key": p.key, "name": p.name} for p in found]}


@router.get(
    "/projects/{project}",
    summary="A project's issue types, statuses and priorities",
    description="What project settings and ticket forms choose from: the project's issue types, the "
    "statuses of its workflows (with their category) and the site's priorities.",
)
async def get_project(
    site_id: SiteId, project: ProjectKey, who: Member, services: Services
) -> dict[str, Any]:
    assert who.workspace_id is not None
    meta = await jira_lookups.project(services, who.workspace_id, site_id, project)
    return {
        "key": meta.key,
        "name": meta.name,
        "issue_types": [{"id": t.id, "name": t.name, "subtask": t.subtask} for t in meta.issue_types],
        "statuses": [{"id": s.id, "name": s.name, "category": s.category} for s in meta.statuses],
        "priorities": list(meta.priorities),
    }


@router.get(
    "/projects/{project}/issue-types/{issue_type}/fields",
    summary="The create screen of an issue type",
    description="Every field of the issue type's create screen: whether it is required, its type and "
    "its allowed values where Jira lists them. `issue_type` is a name or an id.",
)
async def create_fields(
    site_id: SiteId,
    project: ProjectKey,
    issue_type: Annotated[str, Path(min_length=1, max_length=255)],
    who: Member,
    services: Services,
) -> dict[str, Any]:
    assert who.workspace_id is not None
    screen = await jira_lookups.create_screen(services, who.workspace_id, site_id, project, issue_type)
    return {
        "project": screen.project,
        "issue_type": {"id": screen.issue_type_id, "name": screen.issue_type_name},
        "fields": [field_json(f) for f in screen.fields],
    }


@router.get(
    "/users",
    summary="Users who can be assigned issues of a project",
    description="Jira users assignable in `project` whose name or email starts with `query`.",
)
async def assignable_users(
    site_id: SiteId,
    who: Member,
    services: Services,
    project: Annotated[str, Query(pattern=r"^[A-Za-z][A-Za-z0-9_]{1,9}$")],
    query: Annotated[str, Query(max_length=100)] = "",
) -> dict[str, Any]:
    assert who.workspace_id is not None
    found = await jira_lookups.assignable_users(services, who.workspace_id, site_id, project, query)
    return {"users": [{"account_id": u.account_id, "display_name": u.display_name} for u in found]}
