"""Calling Jira as a host user: their user connection's decrypted access (API token or OAuth), with
OAuth refreshes written back to that connection at once (refresh tokens rotate)."""

from __future__ import annotations

from jirabridge.service.core.ports import Services, SiteAccess
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.credentials import credentials_saver
from jirabridge.storage.tables import Site, UserConnection


def find_connection(uow: UnitOfWork, workspace_id: str, site_id: str, user_id: str) -> UserConnection | None:
    """The user's connected Jira identity on the site, if any: a row of no session holding what
    calling Jira as the user needs (its id, auth type, status and sealed credentials), which outlives
    the transaction (a session's row expires when it commits)."""
    return uow.user_connections.connected_on_site(workspace_id, site_id, user_id)


def user_access(container: Services, site: Site, connection: UserConnection) -> SiteAccess:
    """Decrypted access for calls as the connection's user; never log it."""
    credentials = container.secrets.open(connection.credentials)
    cloud_id = credentials.pop("cloud_id", None)
    connection_id = connection.id

    return SiteAccess(
        site.url,
        connection.auth_type,
        credentials,
        cloud_id=cloud_id if isinstance(cloud_id, str) else site.cloud_id,
        save_credentials=credentials_saver(container, lambda uow: uow.user_connections.get(connection_id)),
    )
