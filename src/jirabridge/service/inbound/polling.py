"""Which projects are polled, and `POST /api/v1/sync/reconcile`.

A project with any inbound sync (status, assignee or comments taking Jira's changes) has a schedule
`poll:{site}:{project}` running `inbound.poll` every `poll_interval_s` (workers/inbound_poll.py). It is
kept in step with the project settings in the same transaction that stores them. Switching inbound
sync off removes the schedule but keeps the watermark, so switching it on again catches up on
everything changed meanwhile.

The watermark alone does not catch up on status or assignee: while status (assignee) sync was not
inbound, Jira's changes that did arrive (by webhook, or by a poll for the other parts) were recorded
on the links without being applied, and a change made while jirabridge was down may never arrive. So
when status or assignee sync is switched (back) on, an `inbound.catch_up` operation reads the current
status and/or assignee of every linked issue of the project from Jira (workers/inbound_catch_up.py)
and the items converge on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jirabridge.domain.inbound import catch_up_parts, project_sync
from jirabridge.domain.operations import CatchUpStatuses, CheckWorklogDrift, PollProject
from jirabridge.errors import NotFound
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage import outbox, schedules
from jirabridge.storage.tables import ProjectSettings

DEFAULT_INTERVAL_S = 300
DRIFT_PREFIX = CheckWorklogDrift.SCHEDULE_PREFIX  # service/worklogs/time_entries.py: the sites' drift checks


def schedule_key(site_id: str, project: str) -> str:
    return PollProject(site_id, project).schedule_key()


def follow_settings(
    uow: UnitOfWork, now: datetime, row: ProjectSettings, previous: Mapping[str, Any] | None = None
) -> None:
    """Add, change or remove the project's poll schedule to match its settings, and catch up on
    Jira's statuses and assignees when status or assignee sync is switched on (`previous`: the
    settings replaced, None for new ones). The caller commits."""
    key = schedule_key(row.site_id, row.project_key)
    settings = dict(row.settings or {})
    parts = catch_up_parts(previous, settings)
    if parts:
        catch_up = CatchUpStatuses(row.site_id, row.project_key, parts=tuple(parts))
        outbox.enqueue(uow.session, catch_up, workspace_id=row.workspace_id, now=now)
    if not project_sync(settings).any_inbound:
        schedules.remove(uow.session, key)
        return
    if row.polled_until is None:
        row.polled_until = now  # from now on; history before the settings existed is not a change
    schedules.ensure(
        uow.session,
        PollProject(row.site_id, row.project_key),
        workspace_id=row.workspace_id,
        every_s=float(settings.get("poll_interval_s") or DEFAULT_INTERVAL_S),
        now=now,
    )


def forget_project(uow: UnitOfWork, site_id: str, project: str) -> None:
    schedules.remove(uow.session, schedule_key(site_id, project))


def forget_site(uow: UnitOfWork, site_id: str) -> None:
    schedules.remove_prefix(uow.session, f"poll:{site_id}:")


def reconcile(
    uow: UnitOfWork, now: datetime, workspace_id: str, site_id: str | None, project: str | None
) -> list[dict[str, str]]:
    """Make the matching projects' polls due now, and the matching sites' worklog drift checks (a
    reconcile covers both directions Jira can change behind jirabridge's back). Returns what was
    scheduled; nothing matching: NotFound."""
    prefix = "poll:" + (f"{site_id}:" if site_id else "") + (project.upper() if site_id and project else "")
    keys = schedules.run_now(uow.session, workspace_id=workspace_id, key_prefix=prefix, now=now)
    polled = [dict(zip(("site", "project"), key.split(":", 2)[1:], strict=True)) for key in keys]
    if project and not site_id:
        polled = [p for p in polled if p["project"] == project.upper()]
    scheduled = [{"kind": "poll", **p} for p in polled]
    if project is None:
        drift = schedules.run_now(
            uow.session, workspace_id=workspace_id, key_prefix=DRIFT_PREFIX + (site_id or ""), now=now
        )
        scheduled += [{"kind": "worklog_drift", "site": key.removeprefix(DRIFT_PREFIX)} for key in drift]
    if not scheduled:
        raise NotFound(
            "nothing to reconcile: no project syncs inbound (status, assignee or comment sync inbound or "
            "two_way in its project settings) and no time entry was synced"
        )
    uow.commit()
    return scheduled
