"""Project settings: `PUT/GET/DELETE /api/v1/sites/{site}/projects/{key}` and the list.

`PUT` replaces the whole document (a field left out takes its default, below) after every Jira name
in it has been checked against the site (service/sites/projects.py). `GET` answers the stored document in
the same shape, so a GET, edit, PUT round trip works. Admin or manager keys write; any key reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.service.sites import projects
from jirabridge.service.sites.projects import ProjectView
from jirabridge.service.sites.sites import aware

router = APIRouter(prefix="/api/v1/sites/{site_id}/projects", tags=["projects"])

ProjectKey = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,9}$", description="The Jira project key.")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
SyncMode = Literal["off", "outbound", "inbound", "two_way"]

MIN_POLL_INTERVAL_S = 30
MAX_POLL_INTERVAL_S = 86400
MAX_FROM_STATUSES = 100


class ProjectDocument(Request):
    """The project settings document (SPEC section 2). Names of Jira things are checked against the
    site; host statuses and severities are the host's own and are free text."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "default_issue_type": "Bug",
                    "status_sync": "two_way",
                    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
                    "priority_map": {"critical": "Highest", "high": "High"},
                    "assignee_sync": "two_way",
                    "comment_sync": "two_way",
                    "poll_interval_s": 300,
                    "field_defaults": {"*": {"labels": ["svc-{attributes.service}"]}},
                }
            ]
        }
    )

    default_issue_type: Name | None = Field(
        default=None, description="Issue type of tickets created without one (a name of the project)."
    )
    status_sync: Literal["two_way", "outbound", "inbound", "comment", "off"] = "two_way"
    status_map: dict[Name, Name] = Field(
        default_factory=dict, description="Host status → Jira status of the project's workflow."
    )
    inbound_status_map: dict[Name, Name] = Field(
        default_factory=dict, description="Jira status → host status; unlisted: the inverse of status_map."
    )
    resolved_status: Name | None = Field(
        default=None, description="Host status for a Jira status of the done category nothing else maps."
    )
    priority_map: dict[Name, Name] = Field(
        default_factory=dict, description="Host severity → Jira priority of the site."
    )
    assignee_sync: SyncMode = "off"
    comment_sync: SyncMode = "off"
    on_link_status: Name | None = Field(
        default=None, description="Host status an item takes when an open ticket is linked to it."
    )
    on_link_status_from: list[Name] | None = Field(
        default=None,
        max_length=MAX_FROM_STATUSES,
        description="Only items in one of these host statuses take on_link_status; null: any status.",
    )
    on_create_status: Name | None = Field(
        default=None, description="Host status an item takes once the ticket created for it exists."
    )
    on_create_status_from: list[Name] | None = Field(
        default=None,
        max_length=MAX_FROM_STATUSES,
        description="Only items in one of these host statuses take on_create_status; null: any status.",
    )
    comment_template: str | None = Field(
        default=None, max_length=2000, description="Status comments (`comment` mode); null: the workspace's."
    )
    poll_interval_s: int = Field(default=300, ge=MIN_POLL_INTERVAL_S, le=MAX_POLL_INTERVAL_S)
    field_defaults: dict[Name, dict[Name, Any]] = Field(
        default_factory=dict,
        description="Issue type name, or `*` for every type → {Jira field id: template over the item}.",
    )
    transition_fields: dict[Name, dict[Name, Any]] = Field(
        default_factory=dict,
        description="Jira status → {Jira field id: template over the item} for the screens of transitions "
        "to it (a resolution, a comment, a custom field).",
    )


def _listing(view: ProjectView) -> dict[str, Any]:
    return {
        "key": view.key,
        "site": view.site_id,
        "settings": view.settings,
        "updated_at": aware(view.updated_at).isoformat().replace("+00:00", "Z"),
    }


@router.get("", summary="List project settings")
def list_projects(site_id: str, who: Member, uow: Uow) -> dict[str, Any]:
    """The settings of every project of the site that has some, with when they last changed."""
    assert who.workspace_id is not None
    return {"projects": [_listing(v) for v in projects.list_projects(uow, who.workspace_id, site_id)]}


@router.put(
    "/{key}",
    response_model=ProjectDocument,
    responses={201: {"model": ProjectDocument, "description": "created: the project's settings are new"}},
    summary="Save project settings",
)
async def put_project(
    site_id: str, key: ProjectKey, body: ProjectDocument, who: Manager, services: Services
) -> JSONResponse:
    """Replaces the project's whole settings document (a field left out takes its default). Every Jira name
    in it — issue type, statuses, priorities, field ids — is checked against the site first: an unknown
    one answers 422 naming it. 201 when the project had no settings yet."""
    assert who.workspace_id is not None
    view, created = await projects.put_project(
        services, who.workspace_id, site_id, key, body.model_dump(mode="json")
    )
    return JSONResponse(view.settings, status_code=201 if created else 200)


@router.get("/{key}", response_model=ProjectDocument, summary="Read project settings")
def get_project(site_id: str, key: ProjectKey, who: Member, uow: Uow) -> dict[str, Any]:
    """The project's settings document, in the shape `PUT` takes, so a read, edit, write round trip works."""
    assert who.workspace_id is not None
    return projects.get_project(uow, who.workspace_id, site_id, key).settings


@router.delete("/{key}", status_code=204, summary="Delete project settings")
def delete_project(site_id: str, key: ProjectKey, who: Manager, uow: Uow, services: Services) -> Response:
    """The project goes back to no settings: no sync of statuses, assignees or comments, and no polling."""
    assert who.workspace_id is not None
    projects.delete_project(services, uow, who.workspace_id, site_id, key)
    return Response(status_code=204)
