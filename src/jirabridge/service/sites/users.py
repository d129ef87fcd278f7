"""Host users and their own Jira identities (user connections), resolved to a Jira `accountId`."""

from __future__ import annotations

from dataclasses import dataclass

from jirabridge.domain.access import Principal, can_act_for
from jirabridge.errors import Forbidden, Invalid, NotFound
from jirabridge.ids import new_id, new_secret
from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import ConnectFailed, JiraAccount, Services, SiteAccess
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.sites import OAUTH_STATE_TTL, check_return_page, connected_site
from jirabridge.service.worklogs import time_entries
from jirabridge.storage.tables import HostUser, OAuthState, Site, UserConnection


def check_acts_for(principal: Principal, user_id: str) -> None:
    if not can_act_for(principal, user_id):
        raise Forbidden(f"this key acts only for user {principal.user_id}, not {user_id}")


def upsert_user(
    container: Services,
    uow: UnitOfWork,
    workspace_id: str,
    user_id: str,
    *,
    email: str | None,
    name: str | None,
) -> HostUser:
    user = uow.host_users.get(workspace_id, user_id)
    if user is None:
        user = uow.host_users.add(HostUser(workspace_id=workspace_id, id=user_id))
    user.email = email
    user.name = name
    user.updated_at = container.clock.now()
    uow.commit()
    return user


def _ensure_user(container: Services, uow: UnitOfWork, workspace_id: str, user_id: str) -> None:
    if uow.host_users.get(workspace_id, user_id) is None:
        uow.host_users.add(HostUser(workspace_id=workspace_id, id=user_id, updated_at=container.clock.now()))


@dataclass(frozen=True)
class PendingUserOAuth:
    site: Site
    authorize_url: str


async def connect_api_token(
    container: Services, workspace_id: str, user_id: str, *, site_id: str | None, email: str, api_token: str
) -> UserConnection:
    site = await run_db(container, lambda uow: connected_site(uow, workspace_id, site_id))
    access = SiteAccess(site.url, "api_token", {"email": email, "api_token": api_token})
    try:
        account = await container.connector.verify(access)
    except ConnectFailed as failed:
        raise Invalid.field("auth", f"{failed.code}: {failed.message}") from None

    def save(uow: UnitOfWork) -> UserConnection:
        current = connected_site(uow, workspace_id, site.id)
        _ensure_user(container, uow, workspace_id, user_id)
        sealed = container.secrets.seal({"email": email, "api_token": api_token})
        connection = save_connection(container, uow, current, user_id, "api_token", sealed, account)
        uow.commit()
        return connection

    return await run_db(container, save)


async def start_oauth(
    container: Services,
    workspace_id: str,
    user_id: str,
    *,
    site_id: str | None,
    return_page: str | None = None,
) -> PendingUserOAuth:
    if not container.settings.oauth_client_id:
        raise Invalid.field("auth.type", "OAuth is not configured (JIRABRIDGE_OAUTH_CLIENT_ID and _SECRET)")
    check_return_page(return_page)
    state = new_secret()

    def save(uow: UnitOfWork) -> Site:
        site = connected_site(uow, workspace_id, site_id)
        _ensure_user(container, uow, workspace_id, user_id)
        uow.oauth_states.add(
            OAuthState(
                state=state,
                workspace_id=workspace_id,
                site_id=site.id,
                user_id=user_id,
                expires_at=container.clock.now() + OAUTH_STATE_TTL,
                return_page=return_page,
            )
        )
        uow.commit()
        return site

    site = await run_db(container, save)
    return PendingUserOAuth(site, container.connector.authorize_url(state))


def list_connections(uow: UnitOfWork, workspace_id: str, user_id: str) -> list[UserConnection]:
    return uow.user_connections.of_user(workspace_id, user_id)


@dataclass(frozen=True)
class UserOverview:
    """A host user, who they are in Jira on each site, and which sites have their entries waiting."""

    id: str
    email: str | None
    name: str | None
    connections: list[UserConnection]
    waiting_entries: dict[str, int]  # site id → entries waiting for the user's connection there


def overview(uow: UnitOfWork, workspace_id: str) -> list[UserOverview]:
    """Every host user known to the workspace (stored, connected, or with time entries waiting for a
    connection), by id."""
    stored = {u.id: u for u in uow.host_users.of_workspace(workspace_id)}
    connections: dict[str, list[UserConnection]] = {}
    for connection in uow.user_connections.of_workspace(workspace_id):
        connections.setdefault(connection.user_id, []).append(connection)
    waiting: dict[str, dict[str, int]] = {}
    for (user_id, site_id), count in time_entries.waiting_per_user(uow, workspace_id).items():
        waiting.setdefault(user_id, {})[site_id] = count
    return [
        UserOverview(
            user_id,
            stored[user_id].email if user_id in stored else None,
            stored[user_id].name if user_id in stored else None,
            connections.get(user_id, []),
            waiting.get(user_id, {}),
        )
        for user_id in sorted({*stored, *connections, *waiting})
    ]


def disconnect(uow: UnitOfWork, workspace_id: str, user_id: str, site_id: str | None) -> None:
    """Forget the user's Jira identity (and its secrets). Nothing in Jira is deleted."""
    found = [c for c in list_connections(uow, workspace_id, user_id) if site_id in (None, c.site_id)]
    if not found:
        raise NotFound(f"user {user_id} has no Jira connection" + (f" on site {site_id}" if site_id else ""))
    for connection in found:
        uow.user_connections.remove(connection)
    uow.commit()


def save_connection(
    container: Services,
    uow: UnitOfWork,
    site: Site,
    user_id: str,
    auth_type: str,
    sealed: str,
    account: JiraAccount,
) -> UserConnection:
    connection = uow.user_connections.on_site(site.workspace_id, site.id, user_id)
    if connection is None:
        connection = UserConnection(
            id=new_id("uc"),
            workspace_id=site.workspace_id,
            site_id=site.id,
            user_id=user_id,
            created_at=container.clock.now(),
        )
        uow.user_connections.add(connection)
    connection.auth_type = auth_type
    connection.status = "connected"
    connection.account_id = account.account_id
    connection.account_email = account.email
    connection.display_name = account.display_name
    connection.credentials = sealed
    # The user's time entries that waited for this connection sync now (same transaction).
    time_entries.user_connected(uow, container.clock.now(), site.workspace_id, site.id, user_id)
    return connection
