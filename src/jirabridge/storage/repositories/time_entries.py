"""Time entries: the host's worklogs, each synced to one Jira worklog."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from jirabridge.domain.worklogs import State
from jirabridge.storage.core_reads import loose, matching, table
from jirabridge.storage.core_writes import forget_loaded, insert_row, replace_row
from jirabridge.storage.repositories._base import Repository
from jirabridge.storage.tables import Operation, TimeEntry, WorklogWatermark

# Built once: a statement built on every call cost more than running it (cache key, coercions).
_OPS = table(Operation)
_SYNC_PAYLOADS = select(_OPS.c.payload).where(
    *matching(_OPS, "ordering_key", "kind", "status", "workspace_id")
)
_ENTRIES = table(TimeEntry)
_ONE_ENTRY = update(_ENTRIES).where(*matching(_ENTRIES, "workspace_id", "id", prefix="w_"))
_NEW_SENDING = bindparam("new_sending", type_=_ENTRIES.c.sending.type)
_SENDING = _ONE_ENTRY.values(sending=_NEW_SENDING)
_CREATING = _ONE_ENTRY.values(
    sending=_NEW_SENDING,
    worklog_issue_key=bindparam("new_issue"),
    worklog_id=None,
    create_marker=bindparam("new_marker"),
)


class TimeEntries(Repository[TimeEntry]):
    def get(self, workspace_id: str, entry_id: str) -> TimeEntry | None:
        return self._session.get(TimeEntry, (workspace_id, entry_id))

    def loose(self, workspace_id: str, entry_id: str) -> TimeEntry | None:
        """The entry read as columns, as a row of no session: change it and `replace` it."""
        return loose(self._session, TimeEntry, workspace_id=workspace_id, id=entry_id)

    def replace(self, entry: TimeEntry) -> None:
        """Write every column of an existing entry, at once (a Core UPDATE)."""
        replace_row(self._session, entry)

    def insert(self, entry: TimeEntry) -> None:
        """A new entry, written at once (a Core INSERT): `entry` stays out of the session, as built."""
        insert_row(self._session, entry)

    def note_sending(
        self, workspace_id: str, entry_id: str, sending: dict[str, Any], *, create: tuple[str, str] | None
    ) -> None:
        """The entry is sending `sending` to Jira; `create`: as a new worklog on that issue, with that
        marker (the entry then has no worklog id). One UPDATE."""
        values: dict[str, Any] = {"w_workspace_id": workspace_id, "w_id": entry_id, "new_sending": sending}
        if create is None:
            self._session.execute(_SENDING, values)
        else:
            values["new_issue"], values["new_marker"] = create
            self._session.execute(_CREATING, values)
        forget_loaded(self._session, TimeEntry, (workspace_id, entry_id))

    def to_retry_for_user(self, workspace_id: str, site_id: str, user_id: str) -> list[TimeEntry]:
        """The user's entries on the site that wait for their connection, or failed."""
        query = select(TimeEntry).where(
            TimeEntry.workspace_id == workspace_id,
            TimeEntry.user_id == user_id,
            TimeEntry.site_id == site_id,
            TimeEntry.state.in_((State.WAITING_FOR_USER_MAPPING.value, State.FAILED.value)),
        )
        return list(self._session.scalars(query))

    def waiting_per_user(self, workspace_id: str) -> dict[tuple[str, str], int]:
        """How many entries wait for their user's connection, per (user, site)."""
        query = (
            select(TimeEntry.user_id, TimeEntry.site_id, func.count())
            .where(
                TimeEntry.workspace_id == workspace_id,
                TimeEntry.state == State.WAITING_FOR_USER_MAPPING.value,
            )
            .group_by(TimeEntry.user_id, TimeEntry.site_id)
        )
        return {(user, site): count for user, site, count in self._session.execute(query)}

    def held_back(self, workspace_id: str) -> list[TimeEntry]:
        """Entries with work for Jira that waited while worklog sync was off: pending, created but
        not confirmed (a create marker), or deleted with a worklog to delete."""
        held = (
            (TimeEntry.state == State.PENDING.value)
            | TimeEntry.create_marker.is_not(None)
            | (
                (TimeEntry.state == State.DELETED.value)
                & TimeEntry.delete_worklog.is_(True)
                & TimeEntry.worklog_issue_key.is_not(None)
            )
        )
        return list(
            self._session.scalars(select(TimeEntry).where(TimeEntry.workspace_id == workspace_id, held))
        )

    def unsynced_on_site(self, workspace_id: str, site_id: str) -> list[TimeEntry]:
        """The site's entries still waiting to sync (pending, or waiting for their user)."""
        query = select(TimeEntry).where(
            TimeEntry.workspace_id == workspace_id,
            TimeEntry.site_id == site_id,
            TimeEntry.state.in_((State.PENDING.value, State.WAITING_FOR_USER_MAPPING.value)),
        )
        return list(self._session.scalars(query))

    def not_on_site(self, workspace_id: str, site_id: str, reason_prefix: str) -> list[TimeEntry]:
        """The site's entries that failed because their project was not on the site (their reason
        starts with `reason_prefix`)."""
        query = select(TimeEntry).where(
            TimeEntry.workspace_id == workspace_id,
            TimeEntry.site_id == site_id,
            TimeEntry.reason.startswith(reason_prefix, autoescape=True),
        )
        return list(self._session.scalars(query))

    def sync_waiting(
        self, workspace_id: str, ordering_key: str, kind: str, entry_id: str, pending: str
    ) -> bool:
        """Whether a `kind` operation for the entry waits (in state `pending`) under the ordering key."""
        where = {"ordering_key": ordering_key, "kind": kind, "status": pending, "workspace_id": workspace_id}
        payloads: list[dict[str, Any] | None] = list(self._session.scalars(_SYNC_PAYLOADS, where))
        return any((payload or {}).get("entry_id") == entry_id for payload in payloads)

    def synced_with_worklogs(
        self, workspace_id: str, site_id: str, worklog_ids: Collection[str]
    ) -> list[TimeEntry]:
        """The site's synced entries whose worklog is one of `worklog_ids` (read 500 ids at a time:
        a site's change feed can list thousands)."""
        ids = sorted(set(worklog_ids))
        found: list[TimeEntry] = []
        for start in range(0, len(ids), 500):
            query = select(TimeEntry).where(
                TimeEntry.workspace_id == workspace_id,
                TimeEntry.site_id == site_id,
                TimeEntry.worklog_id.in_(ids[start : start + 500]),
                TimeEntry.state == State.SYNCED.value,
            )
            found.extend(self._session.scalars(query))
        return found

    def drift_watermark(self, site_id: str) -> WorklogWatermark | None:
        """How far the site's drift check has read Jira's worklog change feeds."""
        return self._session.get(WorklogWatermark, site_id)

    def advance_drift_watermark(
        self, workspace_id: str, site_id: str, updated_ms: int, deleted_ms: int, now: datetime
    ) -> WorklogWatermark:
        """The site's feeds are read up to these marks (the first check creates its row); a mark
        never moves back."""
        mark = self.drift_watermark(site_id)
        if mark is None:
            mark = WorklogWatermark(
                site_id=site_id,
                workspace_id=workspace_id,
                updated_since_ms=updated_ms,
                deleted_since_ms=deleted_ms,
                checked_at=now,
            )
            self._session.add(mark)
            return mark
        mark.updated_since_ms = max(mark.updated_since_ms, updated_ms)
        mark.deleted_since_ms = max(mark.deleted_since_ms, deleted_ms)
        mark.checked_at = now
        return mark
