"""Workspaces and their API keys."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import ApiKey, Workspace

_TABLE = table(Workspace)
_SETTINGS = select(_TABLE.c.settings).where(*matching(_TABLE, "id"))


class Workspaces(Repository[Workspace]):
    def get(self, workspace_id: str) -> Workspace | None:
        return self._session.get(Workspace, workspace_id)

    def settings(self, workspace_id: str) -> dict[str, Any] | None:
        """The workspace's stored settings document (None: no such workspace)."""
        row = self._session.execute(_SETTINGS, {"id": workspace_id}).first()
        return None if row is None else cast("dict[str, Any]", row[0] or {})

    def every(self) -> list[Workspace]:
        return list(self._session.scalars(select(Workspace)))

    def settings_changed(self, workspace: Workspace) -> None:
        """Mark the settings document changed after an edit inside it, which the ORM does not see."""
        flag_modified(workspace, "settings")

    def exists(self, workspace_id: str) -> bool:
        return self._session.get(Workspace, workspace_id) is not None

    def hold(self, workspace_id: str) -> None:
        """Take a shared lock on the workspace's row until the transaction ends (PostgreSQL; no-op on
        SQLite, whose writers are serialised anyway): a concurrent delete of the workspace waits, and
        two writers of a row that belongs to it do not both insert it."""
        if self._session.get_bind().dialect.name == "sqlite":
            return  # not even the statement: SQLite has no row locks, and its writers take turns
        self._session.execute(
            select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
        )


class ApiKeys(Repository[ApiKey]):
    def get(self, key_id: str) -> ApiKey | None:
        return self._session.get(ApiKey, key_id)

    def of_workspace(self, workspace_id: str) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.created_at)
        return list(self._session.scalars(query))

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return self._session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
