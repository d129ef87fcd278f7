"""Idempotency keys: a request's fingerprint and, once it finished, its answer."""

from __future__ import annotations

from sqlalchemy import delete

from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import IdempotencyKey


class IdempotencyKeys(Repository[IdempotencyKey]):
    def get(self, workspace_id: str, key: str) -> IdempotencyKey | None:
        return self._session.get(IdempotencyKey, (workspace_id, key))

    def forget(self, workspace_id: str, key: str) -> None:
        self._session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.workspace_id == workspace_id, IdempotencyKey.key == key
            )
        )
