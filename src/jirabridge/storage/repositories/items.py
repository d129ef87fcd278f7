"""The host's items (error, ticket, … of the workspace), keyed by workspace, type and id."""

from __future__ import annotations

from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Item


class Items(Repository[Item]):
    def get(self, workspace_id: str, item_type: str, item_id: str) -> Item | None:
        return self._session.get(Item, (workspace_id, item_type, item_id))
