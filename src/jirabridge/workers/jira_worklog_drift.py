"""`worklog.drift {site_id}`: worklogs a person edited or deleted in Jira, reported, never overwritten.

A schedule per site (service/time_entries.py) runs it. It reads the site's `/worklog/updated` and
`/worklog/deleted` feeds since its watermark, reads the worklogs of synced entries among them, and
marks those a person changed or deleted `drifted`, with what changed. It compares with what
jirabridge wrote, so its own writes never count, and only changes an entry nothing touched meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jirabridge import jira
from jirabridge.domain import worklogs
from jirabridge.domain.operations import CheckWorklogDrift
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.domain.worklogs import State, Values
from jirabridge.service import time_entries
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage import schedules
from jirabridge.storage.tables import Site, TimeEntry, WorklogWatermark
from jirabridge.workers import jira_common as common

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

FIRST_LOOK_BACK_MS = 10 * 60 * 1000  # the first watermark: a little before the check started


def seen_values(worklog: jira.Worklog) -> Values:
    """What a worklog holds now, in the terms jirabridge wrote it."""
    comment = worklog.comment if isinstance(worklog.comment, dict | str) else None
    return Values(worklog.time_spent_seconds, worklog.started, jira.adf.to_text(comment))


def mark_drifted(uow: UnitOfWork, entry: TimeEntry, changes: dict[str, Any], now: datetime) -> None:
    """A person changed the worklog in Jira: report it on the entry and the feed. The caller commits."""
    entry.drift = changes
    entry.version = (entry.version or 0) + 1
    time_entries.set_state(
        uow,
        entry,
        State.DRIFTED,
        worklogs.describe_drift(changes),
        now,
        source="jira",
        data={"worklog_id": entry.worklog_id, "issue_key": entry.worklog_issue_key, "changes": changes},
    )


# -- drift ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Watched:
    entry_id: str
    version: int
    worklog_id: str
    written: Values


class CheckDrift:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        site_id = job.operation_as(CheckWorklogDrift).site_id
        marks = await run_db(self.container, lambda uow: self._watermark(uow, job.workspace_id, site_id))
        if marks is None:
            return Done({"skipped": "site_disconnected"})
        updated_since, deleted_since = marks
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                updated, updated_until = await _feed(client.worklogs.updated_page, updated_since)
                deleted, deleted_until = await _feed(client.worklogs.deleted_page, deleted_since)
                watched = await run_db(
                    self.container, lambda uow: _watched(uow, job.workspace_id, site_id, updated | deleted)
                )
                changed = [w for w in watched if w.worklog_id in updated and w.worklog_id not in deleted]
                found = await client.worklogs.by_ids([int(w.worklog_id) for w in changed]) if changed else []
        except common.CALL_ERRORS as error:
            return common.classify(error)
        seen = {w.id: seen_values(w) for w in found}
        drifts: dict[str, tuple[int, dict[str, Any]]] = {}
        for w in watched:
            if w.worklog_id in deleted or w.worklog_id in updated:
                changes = worklogs.drift(
                    w.written, None if w.worklog_id in deleted else seen.get(w.worklog_id)
                )
                if changes is not None:
                    drifts[w.entry_id] = (w.version, changes)
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> int:
            marked = 0
            for entry_id, (version, changes) in drifts.items():
                entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
                # Only an entry nothing touched since it was read: a write of ours in flight is not drift.
                if entry is not None and entry.version == version and entry.state == State.SYNCED.value:
                    mark_drifted(uow, entry, changes, now)
                    marked += 1
            mark = uow.session.get(WorklogWatermark, site_id)
            if mark is not None:
                mark.updated_since_ms = max(mark.updated_since_ms, updated_until)
                mark.deleted_since_ms = max(mark.deleted_since_ms, deleted_until)
                mark.checked_at = now
            uow.commit()
            return marked

        marked = await run_db(self.container, save)
        log.info("jira.worklog.drift site=%s changed=%d drifted=%d", site_id, len(watched), marked)
        return Done({"drifted": marked, "updated_since": updated_until, "deleted_since": deleted_until})

    def _watermark(self, uow: UnitOfWork, workspace_id: str, site_id: str) -> tuple[int, int] | None:
        """The feeds' watermarks (created at the first run); None when the site is gone, whose schedule
        then ends."""
        site = uow.session.get(Site, site_id)
        if site is None or site.workspace_id != workspace_id or site.status != "connected":
            schedules.remove(uow.session, time_entries.drift_schedule_key(site_id))
            uow.commit()
            return None
        mark = uow.session.get(WorklogWatermark, site_id)
        if mark is None:
            now = self.container.clock.now()
            start = int(now.timestamp() * 1000) - FIRST_LOOK_BACK_MS
            mark = WorklogWatermark(
                site_id=site_id,
                workspace_id=workspace_id,
                updated_since_ms=start,
                deleted_since_ms=start,
                checked_at=now,
            )
            uow.session.add(mark)
            uow.commit()
        return mark.updated_since_ms, mark.deleted_since_ms


async def _feed(read: Any, since: int) -> tuple[set[str], int]:
    """Every worklog id a change feed lists since `since`, and the watermark to read from next."""
    ids: set[str] = set()
    while True:
        page: jira.WorklogChanges = await read(since)
        ids.update(str(change.worklog_id) for change in page.values)
        if page.last_page or page.until <= since:
            return ids, max(since, page.until)
        since = page.until


def _watched(uow: UnitOfWork, workspace_id: str, site_id: str, worklog_ids: set[str]) -> list[_Watched]:
    """The synced entries whose worklog is among `worklog_ids`."""
    if not worklog_ids:
        return []
    found: list[_Watched] = []
    ids = sorted(worklog_ids)
    for start in range(0, len(ids), 500):
        rows = uow.session.scalars(
            select(TimeEntry).where(
                TimeEntry.workspace_id == workspace_id,
                TimeEntry.site_id == site_id,
                TimeEntry.worklog_id.in_(ids[start : start + 500]),
                TimeEntry.state == State.SYNCED.value,
            )
        )
        for entry in rows:
            written = Values.from_json(entry.written)
            if written is not None and entry.worklog_id is not None:
                found.append(_Watched(entry.id, entry.version, entry.worklog_id, written))
    return found


def make_drift_handler(container: Container) -> Handler:
    return CheckDrift(container)
