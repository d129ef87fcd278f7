"""Queued outbox operations seen as a whole (the outbox itself, enqueue and claim, is storage/outbox.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Operation


class Operations(Repository[Operation]):
    def fail_pending_for_site(
        self, site_id: str, *, keep_kind: str, reason: str, detail: str, now: datetime
    ) -> None:
        """End the site's pending operations as failed (except those of `keep_kind`)."""
        self._session.execute(
            update(Operation)
            .where(Operation.site_id == site_id, Operation.status == "pending", Operation.kind != keep_kind)
            .values(status="failed", reason=reason, detail=detail, updated_at=now)
        )
