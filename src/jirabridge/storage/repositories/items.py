"""The host's items (error, ticket, … of the workspace), keyed by workspace, type and id."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.core_writes import forget_loaded
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Item

_ITEMS = table(Item)
_FIELDS = select(
    *(
        _ITEMS.c[name]
        for name in ("type", "id", "title", "description", "status", "severity", "assignee", "attributes")
    ),
    _ITEMS.c.url,
    _ITEMS.c.updated_at,
).where(*matching(_ITEMS, "workspace_id", "type", "id"))


_KEY = ("workspace_id", "type", "id")
_EXISTS = select(_ITEMS.c.id).where(*matching(_ITEMS, *_KEY))
_WHOLE = select(_ITEMS).where(*matching(_ITEMS, *_KEY))
_REPLACE = (
    update(_ITEMS)
    .where(*matching(_ITEMS, *_KEY, prefix="w_"))
    .values({c.name: bindparam(f"v_{c.name}", type_=c.type) for c in _ITEMS.c if c.name not in _KEY})
)


class ItemFields(NamedTuple):
    """An item's fields as the host last set them, read as columns."""

    type: str
    id: str
    title: str
    description: str | None
    status: str | None
    severity: str | None
    assignee: str | None
    attributes: dict[str, Any] | None
    url: str | None
    updated_at: datetime


class Items(Repository[Item]):
    def get(self, workspace_id: str, item_type: str, item_id: str) -> Item | None:
        return self._session.get(Item, (workspace_id, item_type, item_id))

    def exists(self, workspace_id: str, item_type: str, item_id: str) -> bool:
        key = {"workspace_id": workspace_id, "type": item_type, "id": item_id}
        return self._session.execute(_EXISTS, key).first() is not None

    def loose(self, workspace_id: str, item_type: str, item_id: str) -> Item | None:
        """The item read as columns, as a row of no session: change it and `replace` it."""
        key = {"workspace_id": workspace_id, "type": item_type, "id": item_id}
        row = self._session.execute(_WHOLE, key).first()
        return Item(**row._mapping) if row is not None else None

    def replace(self, item: Item) -> None:
        """Write every column of an existing item, at once (a Core UPDATE)."""
        values = {f"w_{name}": getattr(item, name) for name in _KEY}
        values |= {f"v_{c.name}": getattr(item, c.name) for c in _ITEMS.c if c.name not in _KEY}
        self._session.execute(_REPLACE, values)
        forget_loaded(self._session, Item, (item.workspace_id, item.type, item.id))

    def fields(self, workspace_id: str, item_type: str, item_id: str) -> ItemFields | None:
        row = self._session.execute(_FIELDS, {"workspace_id": workspace_id, "type": item_type, "id": item_id})
        found = row.first()
        return ItemFields._make(found) if found is not None else None
