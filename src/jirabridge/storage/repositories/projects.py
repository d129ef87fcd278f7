"""Project settings: how one Jira project of a site syncs with the workspace's items."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import func, select

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import ProjectSettings

# Built once: a statement built on every call cost more than running it (cache key, coercions).
_TABLE = table(ProjectSettings)
_KEYS_ON_SITE = select(_TABLE.c.project_key).where(*matching(_TABLE, "workspace_id", "site_id"))
_SETTINGS = select(_TABLE.c.settings).where(*matching(_TABLE, "workspace_id", "site_id", "project_key"))


class Projects(Repository[ProjectSettings]):
    def get(self, workspace_id: str, site_id: str, project: str) -> ProjectSettings | None:
        return self._session.get(ProjectSettings, (workspace_id, site_id, project))

    def settings(self, workspace_id: str, site_id: str, project: str) -> dict[str, Any] | None:
        """The project's settings document as stored (None: the project is not configured)."""
        params = {"workspace_id": workspace_id, "site_id": site_id, "project_key": project}
        return cast("dict[str, Any] | None", self._session.execute(_SETTINGS, params).scalar())

    def on_site(self, workspace_id: str, site_id: str) -> list[ProjectSettings]:
        """The site's project settings, by project key."""
        query = (
            select(ProjectSettings)
            .where(ProjectSettings.workspace_id == workspace_id, ProjectSettings.site_id == site_id)
            .order_by(ProjectSettings.project_key)
        )
        return list(self._session.scalars(query))

    def count_on_site(self, workspace_id: str, site_id: str) -> int:
        query = (
            select(func.count())
            .select_from(ProjectSettings)
            .where(ProjectSettings.workspace_id == workspace_id, ProjectSettings.site_id == site_id)
        )
        return self._session.scalar(query) or 0

    def of_workspace(self, workspace_id: str) -> list[ProjectSettings]:
        return list(
            self._session.scalars(select(ProjectSettings).where(ProjectSettings.workspace_id == workspace_id))
        )

    def keys_by_site(self, workspace_id: str) -> dict[str, set[str]]:
        """The workspace's configured project keys, per site id (only the keys are read)."""
        keys: dict[str, set[str]] = {}
        query = select(ProjectSettings.site_id, ProjectSettings.project_key).where(
            ProjectSettings.workspace_id == workspace_id
        )
        for site_id, key in self._session.execute(query):
            keys.setdefault(site_id, set()).add(key)
        return keys

    def keys_on_site(self, workspace_id: str, site_id: str) -> set[str]:
        return set(self._session.scalars(_KEYS_ON_SITE, {"workspace_id": workspace_id, "site_id": site_id}))
