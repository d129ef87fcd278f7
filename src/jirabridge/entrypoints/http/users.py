"""Host users and their Jira identities. A member key bound to a user acts only for that user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.entrypoints.http.sites import ApiTokenAuth, OAuthAuth
from jirabridge.service.sites import users
from jirabridge.storage.tables import UserConnection

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=200)]


class UpsertUser(Request):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "alice@acme.example", "name": "Alice Analyst"}]}
    )

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(default=None, max_length=200)


class ConnectUser(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"auth": {"type": "api_token", "email": "alice@acme.example", "api_token": "ATATT3x…"}},
                {"site": "st_5f0c2d8e9a1b4c3d2e1f0a9b", "auth": {"type": "oauth"}},
            ]
        }
    )

    site: str | None = Field(default=None, min_length=1, max_length=40)
    auth: ApiTokenAuth | OAuthAuth = Field(discriminator="type")


def connection_json(connection: UserConnection) -> dict[str, Any]:
    return {
        "user": connection.user_id,
        "site": connection.site_id,
        "auth_type": connection.auth_type,
        "status": connection.status,
        "account_id": connection.account_id,
        "display_name": connection.display_name,
        "email": connection.account_email,
    }


@router.get("", summary="List host users and their Jira connections")
def list_users(who: Manager, uow: Uow) -> dict[str, Any]:
    """Every host user the workspace knows (stored, connected, or with time entries waiting): who
    they are in Jira on each site, and `waiting_entries`, per site, the number of their time entries
    that wait for them to connect there. Admins and managers."""
    assert who.workspace_id is not None
    return {"users": [overview_json(u) for u in users.overview(uow, who.workspace_id)]}


def overview_json(user: users.UserOverview) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "connections": [connection_json(c) for c in user.connections],
        "waiting_entries": dict(user.waiting_entries),
    }


@router.put("/{user_id}", summary="Create or update a host user")
def upsert_user(
    user_id: UserId, body: UpsertUser, who: Member, uow: Uow, services: Services
) -> dict[str, Any]:
    """A person of the host application, by the host's own id. A member key bound to a user may only act
    for that user."""
    assert who.workspace_id is not None
    users.check_acts_for(who, user_id)
    user = users.upsert_user(services, uow, who.workspace_id, user_id, email=body.email, name=body.name)
    return {"id": user.id, "email": user.email, "name": user.name}


@router.post(
    "/{user_id}/jira",
    status_code=201,
    responses={202: {"description": "OAuth: the connection waits for consent at `authorize_url`"}},
    summary="Connect a user's Jira account",
)
async def connect_user(user_id: UserId, body: ConnectUser, who: Member, services: Services) -> JSONResponse:
    """Lets jirabridge act as this person in Jira (their comments and worklogs are theirs). With an API
    token: checked and connected at once (201). With OAuth: 202 with `authorize_url` for the person to
    give consent. `site` defaults to the workspace's default site."""
    assert who.workspace_id is not None
    users.check_acts_for(who, user_id)
    if isinstance(body.auth, ApiTokenAuth):
        connection = await users.connect_api_token(
            services,
            who.workspace_id,
            user_id,
            site_id=body.site,
            email=body.auth.email,
            api_token=body.auth.api_token,
        )
        return JSONResponse(connection_json(connection), status_code=201)
    pending = await users.start_oauth(services, who.workspace_id, user_id, site_id=body.site)
    body_out = {
        "user": user_id,
        "site": pending.site.id,
        "status": "pending",
        "authorize_url": pending.authorize_url,
    }
    return JSONResponse(body_out, status_code=202)


@router.get("/{user_id}/jira", summary="Read a user's Jira connections")
def read_user_connections(user_id: UserId, who: Member, uow: Uow) -> dict[str, Any]:
    """The user's connection to each site, with the Jira account it maps to. No credential is ever
    returned."""
    assert who.workspace_id is not None
    users.check_acts_for(who, user_id)
    return {
        "connections": [connection_json(c) for c in users.list_connections(uow, who.workspace_id, user_id)]
    }


@router.delete("/{user_id}/jira", status_code=204, summary="Disconnect a user's Jira account")
def disconnect_user(
    user_id: UserId, who: Member, uow: Uow, site: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    """Forgets the user's Jira identity and its credentials on one site (`?site=`) or every site.
    Nothing in Jira is deleted."""
    assert who.workspace_id is not None
    users.check_acts_for(who, user_id)
    users.disconnect(uow, who.workspace_id, user_id, site)
    return Response(status_code=204)
