"""Idempotency keys: a request's fingerprint and, once it finished, its answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select

from jirabridge.storage.core_reads import matching, table
from jirabridge.storage.core_writes import insert_new
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import IdempotencyKey

_TABLE = table(IdempotencyKey)
_INSERT = insert(_TABLE)
_STORED = select(_TABLE.c.request_hash, _TABLE.c.status_code, _TABLE.c.body).where(
    *matching(_TABLE, "workspace_id", "key")
)


class Stored(NamedTuple):
    """What a key holds: its request's fingerprint and the answer (or the in-progress mark)."""

    request_hash: str
    status_code: int
    body: dict[str, Any]


class IdempotencyKeys(Repository[IdempotencyKey]):
    def get(self, workspace_id: str, key: str) -> IdempotencyKey | None:
        return self._session.get(IdempotencyKey, (workspace_id, key))

    def stored(self, workspace_id: str, key: str) -> Stored | None:
        """The key's fingerprint and answer (checked on every request that has a key)."""
        row = self._session.execute(_STORED, {"workspace_id": workspace_id, "key": key}).first()
        return Stored(*row) if row is not None else None

    def record(
        self,
        workspace_id: str,
        key: str,
        *,
        request_hash: str,
        status_code: int,
        body: dict[str, Any],
        created_at: datetime,
    ) -> None:
        """Store a new key at once (a Core INSERT); ConstraintViolated when another request stored it
        first."""
        row = {
            "workspace_id": workspace_id,
            "key": key,
            "request_hash": request_hash,
            "status_code": status_code,
            "body": body,
            "created_at": created_at,
        }
        insert_new(self._session, _INSERT, row)

    def forget(self, workspace_id: str, key: str) -> None:
        self._session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key == key
            )
        )
