"""The host's items (error, ticket, … of the workspace), keyed by workspace, type and id."""

from __future__ import annotations

from sqlalchemy import select

from jirabridge.storage.core_reads import loose, matching, table
from jirabridge.storage.core_writes import replace_row
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Item

_ITEMS = table(Item)
_EXISTS = select(_ITEMS.c.id).where(*matching(_ITEMS, "workspace_id", "type", "id"))


class Items(Repository[Item]):
    def get(self, workspace_id: str, item_type: str, item_id: str) -> Item | None:
        return self._session.get(Item, (workspace_id, item_type, item_id))

    def exists(self, workspace_id: str, item_type: str, item_id: str) -> bool:
        key = {"workspace_id": workspace_id, "type": item_type, "id": item_id}
        return self._session.execute(_EXISTS, key).first() is not None

    def loose(self, workspace_id: str, item_type: str, item_id: str) -> Item | None:
        """The item read as columns, as a row of no session: change it and `replace` it."""
        return loose(self._session, Item, workspace_id=workspace_id, type=item_type, id=item_id)

    def replace(self, item: Item) -> None:
        """Write every column of an existing item, at once (a Core UPDATE)."""
        replace_row(self._session, item)
