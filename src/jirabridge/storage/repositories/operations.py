"""Queued outbox operations seen as a whole (the outbox itself, enqueue and claim, is storage/outbox.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, select, update

from jirabridge.domain.operations import OperationState
from jirabridge.storage.outbox import FAILED
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Operation

# Where an `issue.create` operation keeps when its create was last sent (in its `result`, which a
# retry leaves alone and its success replaces).
CREATE_SENT_AT = "create_sent_at"
KEYS_PER_QUERY = 500  # ordering keys in one IN (...): well under the databases' parameter limits


class Operations(Repository[Operation]):
    def create_sent_at(self, op_id: str) -> datetime | None:
        """When the `issue.create` operation last sent its create, if an attempt did (and Jira did
        not answer that it was not applied)."""
        result = self._session.scalar(select(Operation.result).where(Operation.id == op_id))
        sent = (result or {}).get(CREATE_SENT_AT)
        if not isinstance(sent, str):
            return None
        try:
            moment = datetime.fromisoformat(sent)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def note_create_sent(self, op_ids: Collection[str], moment: datetime | None) -> None:
        """Write on the `issue.create` operations that their create is being sent at `moment`; None:
        Jira answered that it was certainly not applied (nothing to wait for)."""
        result = {CREATE_SENT_AT: moment.astimezone(UTC).isoformat()} if moment is not None else None
        self._session.execute(
            update(Operation)
            .where(Operation.id.in_(list(op_ids)))
            .values(result=result)
            .execution_options(synchronize_session=False)
        )

    def any_outstanding(self, ordering_key: str, outstanding: Collection[str]) -> bool:
        """Whether an operation under the ordering key is in one of the `outstanding` states."""
        query = select(
            exists().where(Operation.ordering_key == ordering_key, Operation.status.in_(outstanding))
        )
        return bool(self._session.scalar(query))

    def outstanding_keys(self, ordering_keys: Collection[str], outstanding: Collection[str]) -> set[str]:
        """Which of the ordering keys have an operation in one of the `outstanding` states (`any_outstanding`
        for a poll's worth of issues in a few queries)."""
        keys = sorted(set(ordering_keys))
        found: set[str] = set()
        for start in range(0, len(keys), KEYS_PER_QUERY):
            query = (
                select(Operation.ordering_key)
                .where(
                    Operation.ordering_key.in_(keys[start : start + KEYS_PER_QUERY]),
                    Operation.status.in_(outstanding),
                )
                .distinct()
            )
            found.update(self._session.scalars(query))
        return found

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
