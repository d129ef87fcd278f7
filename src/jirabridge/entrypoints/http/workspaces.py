"""Workspaces and API keys: service token only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from jirabridge.domain.access import Role
from jirabridge.entrypoints.http.deps import Services, ServiceToken, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.service.workspaces import workspaces
from jirabridge.storage.tables import ApiKey

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"])


class CreateWorkspace(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme"}]})

    name: str = Field(min_length=1, max_length=200)


class CreateApiKey(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"role": "admin", "name": "host backend"},
                {"role": "member", "name": "alice's browser", "user": "u-alice"},
            ]
        }
    )

    role: Literal["admin", "manager", "member"]
    name: str = Field(min_length=1, max_length=200)
    user: str | None = Field(default=None, min_length=1, max_length=200)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _key(record: ApiKey) -> dict[str, Any]:
    return {
        "id": record.id,
        "role": record.role,
        "name": record.name,
        "user": record.user_id,
        "created_at": _time(record.created_at),
        "revoked_at": _time(record.revoked_at),
    }


@router.post("", status_code=201, summary="Create a workspace")
def create_workspace(body: CreateWorkspace, _: ServiceToken, uow: Uow, services: Services) -> dict[str, Any]:
    """A new, empty workspace: the tenant that owns sites, items and settings. Needs the service token
    (`JIRABRIDGE_SERVICE_TOKEN`)."""
    workspace = workspaces.create_workspace(uow, services.clock, body.name)
    return {"id": workspace.id, "name": workspace.name, "created_at": _time(workspace.created_at)}


@router.post("/{workspace_id}/api-keys", status_code=201, summary="Issue an API key")
def create_api_key(
    workspace_id: str, body: CreateApiKey, _: ServiceToken, uow: Uow, services: Services
) -> dict[str, Any]:
    """A new API key of the workspace with a role (`admin`, `manager` or `member`), optionally bound to one
    host user. The key is in this answer only: it is stored as a hash. Needs the service token."""
    issued = workspaces.issue_api_key(
        uow, services.clock, workspace_id, role=Role(body.role), name=body.name, user_id=body.user
    )
    return _key(issued.record) | {"key": issued.key}


@router.get("/{workspace_id}/api-keys", summary="List API keys")
def list_api_keys(workspace_id: str, _: ServiceToken, uow: Uow) -> dict[str, Any]:
    """The workspace's API keys, revoked ones included, without the keys themselves. Needs the service
    token."""
    return {"api_keys": [_key(k) for k in workspaces.list_api_keys(uow, workspace_id)]}


@router.delete("/{workspace_id}/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_api_key(workspace_id: str, key_id: str, _: ServiceToken, uow: Uow, services: Services) -> Response:
    """The key stops working at once on the service that revoked it, and on every other serve process
    within `JIRABRIDGE_API_KEY_CACHE_S` (10 s by default); it stays listed with `revoked_at`. Needs the
    service token."""
    workspaces.revoke_api_key(uow, services.clock, workspace_id, key_id)
    services.key_cache.forget(key_id)  # after the commit: see KeyCache.put
    return Response(status_code=204)
