"""Jira sites of a workspace and the OAuth states of connections in progress."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update

from jirabridge.storage.core_reads import table
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import OAuthState, Site, UserConnection

# Built once: a statement built on every call cost more than running it (cache key, coercions).
_SITES = table(Site)
_URLS = select(_SITES.c.id, _SITES.c.url).where(_SITES.c.id.in_(bindparam("ids", expanding=True)))
_ACCESS = select(
    *(_SITES.c[name] for name in ("id", "workspace_id", "url", "auth_type", "cloud_id", "status")),
    _SITES.c.credentials,
).where(_SITES.c.id == bindparam("site_id"))


class SiteForCalls(NamedTuple):
    """What calling a site takes: where it is, how to sign in, and whether it is connected."""

    id: str
    workspace_id: str
    url: str
    auth_type: str
    cloud_id: str | None
    status: str
    credentials: str | None  # sealed


class Sites(Repository[Site]):
    def get(self, site_id: str) -> Site | None:
        return self._session.get(Site, site_id)

    def access(self, site_id: str) -> SiteForCalls | None:
        found = self._session.execute(_ACCESS, {"site_id": site_id}).first()
        return SiteForCalls._make(found) if found is not None else None

    def hold(self, site_id: str) -> None:
        """Take a shared lock on the site's row until the transaction ends (PostgreSQL; SQLite's
        writers are serialised anyway), so two writers that count what belongs to it take turns."""
        self._session.execute(select(Site.id).where(Site.id == site_id).with_for_update(key_share=True))

    def listed(self, workspace_id: str) -> list[Site]:
        """The workspace's sites that are not disconnected, oldest first."""
        query = (
            select(Site)
            .where(Site.workspace_id == workspace_id, Site.status != "disconnected")
            .order_by(Site.created_at)
        )
        return list(self._session.scalars(query))

    def connected(self, workspace_id: str) -> list[Site]:
        """The workspace's connected sites, by id."""
        query = (
            select(Site)
            .where(Site.workspace_id == workspace_id, Site.status == "connected")
            .order_by(Site.id)
        )
        return list(self._session.scalars(query))

    def with_credentials(self) -> list[Site]:
        """Every site of every workspace that holds sealed credentials."""
        return list(self._session.scalars(select(Site).where(Site.credentials.is_not(None))))

    def default(self, workspace_id: str) -> Site | None:
        """The workspace's default site, when it is connected."""
        return self._session.scalar(
            select(Site).where(
                Site.workspace_id == workspace_id, Site.is_default.is_(True), Site.status == "connected"
            )
        )

    def other_default(self, site: Site) -> str | None:
        """Another connected site of the workspace that is its default, if any (its id)."""
        return self._session.scalar(
            select(Site.id).where(
                Site.workspace_id == site.workspace_id,
                Site.is_default.is_(True),
                Site.id != site.id,
                Site.status == "connected",
            )
        )

    def oldest_connected(self, workspace_id: str) -> Site | None:
        return self._session.scalar(
            select(Site)
            .where(Site.workspace_id == workspace_id, Site.status == "connected")
            .order_by(Site.created_at)
        )

    def by_url(self, workspace_id: str, url: str) -> str | None:
        """The id of the workspace's site at `url` that is not disconnected, if any."""
        return self._session.scalar(
            select(Site.id).where(
                Site.workspace_id == workspace_id, Site.url == url, Site.status != "disconnected"
            )
        )

    def urls(self, site_ids: Iterable[str]) -> dict[str, str]:
        """The address of each of the sites, by id."""
        ids = set(site_ids)
        if not ids:
            return {}
        return {site_id: url for site_id, url in self._session.execute(_URLS, {"ids": sorted(ids)})}

    def by_webhook_token(self, token: str) -> Site | None:
        return self._session.scalar(select(Site).where(Site.webhook_token == token))

    def connected_by_webhook_status(self) -> list[tuple[str | None, int]]:
        """How many connected sites (of every workspace) are in each webhook status."""
        query = (
            select(Site.webhook_status, func.count())
            .where(Site.status == "connected")
            .group_by(Site.webhook_status)
        )
        return [(status, count) for status, count in self._session.execute(query)]

    def count_connected_with_webhook(self, webhook_status: str) -> int:
        """How many connected sites (of every workspace) are in the webhook status."""
        query = (
            select(func.count())
            .select_from(Site)
            .where(Site.status == "connected", Site.webhook_status == webhook_status)
        )
        return int(self._session.scalar(query) or 0)

    def make_default(self, site: Site) -> None:
        """The site becomes its workspace's only default."""
        self._session.execute(
            update(Site)
            .where(Site.workspace_id == site.workspace_id, Site.id != site.id)
            .values(is_default=False)
        )
        site.is_default = True

    def forget_users(self, site: Site, now: datetime) -> None:
        """Delete the users' connections to the site (and their secrets), and end the OAuth states in
        flight for it."""
        for connection in self._session.scalars(
            select(UserConnection).where(UserConnection.site_id == site.id)
        ):
            self._session.delete(connection)
        self._session.execute(update(OAuthState).where(OAuthState.site_id == site.id).values(expires_at=now))


class OAuthStates(Repository[OAuthState]):
    def get(self, state: str) -> OAuthState | None:
        return self._session.get(OAuthState, state)
