"""`POST /api/v1/ui-sessions`: a one-time link to the pages, for a host's front end to open."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import ConfigDict, Field

from jirabridge.domain.access import Principal, Role
from jirabridge.domain.ui_sessions import ACCOUNT, SETTINGS, Scope
from jirabridge.entrypoints.http.deps import Services, Uow, principal
from jirabridge.entrypoints.http.models import Request
from jirabridge.errors import Invalid
from jirabridge.service.tickets.items import iso_time
from jirabridge.service.workspaces import ui_sessions

router = APIRouter(prefix="/api/v1/ui-sessions", tags=["pages"])


class ItemScope(Request):
    item_type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,99}$")
    item_id: str = Field(min_length=1, max_length=200)


class CreateUiSession(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u-7",
                    "role": "member",
                    "scope": {"item_type": "anomaly", "item_id": "an-42"},
                    "return_url": "https://app.example.com/anomalies/42",
                },
                {"user_id": "u-1", "role": "admin", "scope": "settings"},
                {"user_id": "u-7", "role": "member", "scope": "account"},
            ]
        }
    )

    workspace: str | None = Field(
        default=None, max_length=40, description="The workspace; only with the service token."
    )
    user_id: str = Field(min_length=1, max_length=200, description="The host user the pages act for.")
    role: Literal["admin", "manager", "member"]
    scope: Literal["settings", "account"] | ItemScope = Field(
        description='"settings" for the settings pages (admin, manager), "account" for the person\'s '
        "own Jira identity (any role), or an item for its ticket panel."
    )
    return_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Where the pages' Done link leads; on an origin of settings ui.allowed_origins.",
    )


@router.post(
    "",
    status_code=201,
    summary="Open the pages for a host user",
    description="A one-time URL, valid for five minutes, that opens the settings pages or an item's "
    "ticket panel as `user_id` with `role` (never more than the calling key's role). Admin or "
    "manager key of the workspace, or the service token with `workspace`.",
)
def create_ui_session(
    body: CreateUiSession,
    who: Annotated[Principal, Depends(principal)],
    uow: Uow,
    services: Services,
) -> dict[str, Any]:
    if who.is_service:
        if body.workspace is None:
            raise Invalid.field("workspace", "is required with the service token")
        workspace_id = body.workspace
    else:
        assert who.workspace_id is not None
        if body.workspace not in (None, who.workspace_id):
            raise Invalid.field("workspace", "an API key opens sessions of its own workspace only")
        workspace_id = who.workspace_id
    if body.scope == "settings":
        scope = SETTINGS
    elif body.scope == "account":
        scope = ACCOUNT
    else:
        scope = _item_scope(body.scope)
    issued = ui_sessions.issue(
        uow,
        services.clock.now(),
        who,
        workspace_id,
        user_id=body.user_id,
        role=Role(body.role),
        scope=scope,
        return_url=body.return_url,
    )
    url = ui_sessions.link_url(services.settings.public_url, issued.link_token)
    return {"url": url, "expires_at": iso_time(issued.expires_at)}


def _item_scope(scope: ItemScope | str) -> Scope:
    assert isinstance(scope, ItemScope)
    return Scope(scope.item_type, scope.item_id)
