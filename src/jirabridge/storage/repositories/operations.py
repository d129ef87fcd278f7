"""Queued outbox operations seen as a whole (the outbox itself, enqueue and claim, is storage/outbox.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update

from jirabridge.domain.operations import OperationState
from jirabridge.storage.outbox import FAILED
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Operation


class Operations(Repository[Operation]):
    def any_outstanding(self, ordering_key: str, outstanding: Collection[str]) -> bool:
        """Whether an operation under the ordering key is in one of the `outstanding` states."""
        query = select(
            exists().where(Operation.ordering_key == ordering_key, Operation.status.in_(outstanding))
        )
        return bool(self._session.scalar(query))

    def outstanding_payloads(
        self, ordering_key: str, kind: str, outstanding: Collection[str]
    ) -> list[dict[str, Any]]:
        """The payloads of the `kind` operations under the ordering key in an `outstanding` state."""
        query = select(Operation.payload).where(
            Operation.ordering_key == ordering_key, Operation.kind == kind, Operation.status.in_(outstanding)
        )
        return list(self._session.scalars(query))

    def failed_by_reason(self) -> list[tuple[str | None, int]]:
        """How many operations (of every workspace) failed for good, per reason."""
        query = (
            select(Operation.reason, func.count())
            .where(Operation.status == FAILED)
            .group_by(Operation.reason)
        )
        return [(reason, count) for reason, count in self._session.execute(query)]

    def fail_pending_for_site(
        self, site_id: str, *, keep_kind: str, reason: str, detail: str, now: datetime
    ) -> None:
        """End the site's pending operations as failed (except those of `keep_kind`)."""
        self._session.execute(
            update(Operation)
            .where(
                Operation.site_id == site_id,
                Operation.status == OperationState.PENDING,
                Operation.kind != keep_kind,
            )
            .values(status=OperationState.FAILED, reason=reason, detail=detail, updated_at=now)
        )
