"""`worklog.drift`, the service's side: what the check needs, and what a person's edit means to an
entry.

`load` reads, in the claim's transaction, whether the site is still connected and how far its
worklog change feeds were read (`DriftPlan`); the handler (`workers/jira_worklog_drift.py`) reads
the feeds and the worklogs they list; `apply` records, in the transaction that completes the
operation:

- the worklogs seen (`WorklogsSeen`): each synced entry whose worklog is among them is compared with
  what jirabridge wrote (`domain.worklogs.drift`, so jirabridge's own writes never count) and marked
  `drifted` with what changed; the watermarks move on;
- a site no longer connected (`WorklogDriftEnded`): its schedule ends.

`mark_drifted` is also what `worklog.sync` applies when it finds a person's edit before writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jirabridge.domain import worklogs
from jirabridge.domain.operations import CheckWorklogDrift
from jirabridge.domain.outcomes import Done, Job, Outcome, WorklogDriftEnded, WorklogsSeen
from jirabridge.domain.worklogs import State, Values
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.worklogs import time_entries
from jirabridge.storage import schedules
from jirabridge.storage.tables import TimeEntry

KIND = CheckWorklogDrift.KIND


@dataclass(frozen=True)
class DriftPlan:
    site_id: str
    connected: bool
    # How far the feeds were read (epoch ms); None before the site's first check.
    updated_since_ms: int | None = None
    deleted_since_ms: int | None = None


def load(uow: UnitOfWork, job: Job) -> DriftPlan:
    site_id = job.operation_as(CheckWorklogDrift).site_id
    site = uow.sites.get(site_id)
    if site is None or site.workspace_id != job.workspace_id or site.status != "connected":
        return DriftPlan(site_id, connected=False)
    mark = uow.time_entries.drift_watermark(site_id)
    if mark is None:
        return DriftPlan(site_id, connected=True)
    return DriftPlan(site_id, True, mark.updated_since_ms, mark.deleted_since_ms)


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    site_id = job.operation_as(CheckWorklogDrift).site_id
    match outcome:
        case Done(value=WorklogDriftEnded()):
            schedules.remove(uow.session, time_entries.drift_schedule_key(site_id))
        case Done(value=WorklogsSeen() as seen):
            mark_changed(uow, job.workspace_id, site_id, seen, now)
            uow.time_entries.advance_drift_watermark(
                job.workspace_id, site_id, seen.updated_until_ms, seen.deleted_until_ms, now
            )
        case _:
            pass


def mark_changed(uow: UnitOfWork, workspace_id: str, site_id: str, seen: WorklogsSeen, now: datetime) -> int:
    """Mark `drifted` the synced entries whose worklog a person changed or deleted; how many."""
    marked = 0
    for entry in uow.time_entries.synced_with_worklogs(workspace_id, site_id, [*seen.updated, *seen.deleted]):
        written = Values.from_json(entry.written)
        if written is None or entry.worklog_id is None:
            continue
        if entry.synced_at is not None and _utc(entry.synced_at) > seen.read_at:
            # Written since Jira was read: what was seen may be older than jirabridge's own write.
            # (A site's work runs on the worker holding its lease, so both times are one clock.)
            continue
        gone = entry.worklog_id in seen.deleted
        changes = worklogs.drift(written, None if gone else seen.updated.get(entry.worklog_id))
        if changes is not None:
            mark_drifted(uow, entry, changes, now)
            marked += 1
    return marked


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


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
