"""Host users and their Jira identities (user connections)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, select

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import HostUser, UserConnection

# Built once: a statement built on every call cost more than running it (cache key, coercions).
_CONNECTIONS = table(UserConnection)
_COPIED = ("id", "workspace_id", "site_id", "user_id", "auth_type", "status", "credentials")
_USER_ON_SITE = matching(_CONNECTIONS, "workspace_id", "site_id", "user_id")
_CONNECTED_COPY = select(*(_CONNECTIONS.c[name] for name in _COPIED)).where(
    *_USER_ON_SITE, _CONNECTIONS.c.status == "connected", _CONNECTIONS.c.credentials.is_not(None)
)
_ACCOUNT_ON_SITE = select(_CONNECTIONS.c.account_id).where(
    *_USER_ON_SITE, _CONNECTIONS.c.account_id.is_not(None)
)
_USERS = table(HostUser)
_NAME = select(_USERS.c.name).where(*matching(_USERS, "workspace_id", "id"))


class HostUsers(Repository[HostUser]):
    def get(self, workspace_id: str, user_id: str) -> HostUser | None:
        return self._session.get(HostUser, (workspace_id, user_id))

    def name(self, workspace_id: str, user_id: str) -> str | None:
        """The user's name (None: no such user, or no name)."""
        params = {"workspace_id": workspace_id, "id": user_id}
        return cast("str | None", self._session.execute(_NAME, params).scalar())

    def of_workspace(self, workspace_id: str) -> list[HostUser]:
        return list(self._session.scalars(select(HostUser).where(HostUser.workspace_id == workspace_id)))

    def ids_by_email(self, workspace_id: str, email: str) -> list[str]:
        """The ids of the workspace's users with this email, compared without case."""
        query = select(HostUser.id).where(
            HostUser.workspace_id == workspace_id, func.lower(HostUser.email) == email.strip().lower()
        )
        return list(self._session.scalars(query))


class UserConnections(Repository[UserConnection]):
    def get(self, connection_id: str) -> UserConnection | None:
        return self._session.get(UserConnection, connection_id)

    def of_workspace(self, workspace_id: str) -> list[UserConnection]:
        """Every user's connections, oldest first."""
        query = (
            select(UserConnection)
            .where(UserConnection.workspace_id == workspace_id)
            .order_by(UserConnection.created_at)
        )
        return list(self._session.scalars(query))

    def of_user(self, workspace_id: str, user_id: str) -> list[UserConnection]:
        """The user's connections on every site, oldest first."""
        query = (
            select(UserConnection)
            .where(UserConnection.workspace_id == workspace_id, UserConnection.user_id == user_id)
            .order_by(UserConnection.created_at)
        )
        return list(self._session.scalars(query))

    def user_of_account(self, workspace_id: str, site_id: str, account_id: str) -> str | None:
        """The host user whose connection on the site is this Jira account, if any."""
        return self._session.scalar(
            select(UserConnection.user_id).where(
                UserConnection.workspace_id == workspace_id,
                UserConnection.site_id == site_id,
                UserConnection.account_id == account_id,
            )
        )

    def account_on_site(self, workspace_id: str, site_id: str, user_id: str) -> str | None:
        """The Jira account id of the user's connection on the site, when it has one."""
        params = {"workspace_id": workspace_id, "site_id": site_id, "user_id": user_id}
        return cast("str | None", self._session.execute(_ACCOUNT_ON_SITE, params).scalar())

    def on_site(self, workspace_id: str, site_id: str, user_id: str) -> UserConnection | None:
        """The user's connection on the site, in whatever state."""
        return self._session.scalar(
            select(UserConnection).where(
                UserConnection.workspace_id == workspace_id,
                UserConnection.site_id == site_id,
                UserConnection.user_id == user_id,
            )
        )

    def connected_on_site(self, workspace_id: str, site_id: str, user_id: str) -> UserConnection | None:
        """The user's connection on the site if it is connected and holds credentials: a row of no
        session, with what calling Jira as the user needs (its id, auth type, status and sealed
        credentials)."""
        where = {"workspace_id": workspace_id, "site_id": site_id, "user_id": user_id}
        row = self._session.execute(_CONNECTED_COPY, where).first()
        return UserConnection(**dict(zip(_COPIED, row, strict=True))) if row is not None else None
