"""`inbound.poll`, `inbound.catch_up` and `inbound.apply`, the service's side: what each handler
needs, and what its outcome means. What a change does to links, items and the feed is
`service/inbound/inbound.py`'s, the same for a webhook; this module feeds it what the workers read from Jira.

- `inbound.poll` (workers/inbound_poll.py): `load_poll` reads the project's watermark and sync
  settings (`PollPlan`) in the claim's transaction; the handler searches Jira for the issues changed
  since then; `apply_poll` hands each (`ProjectPolled`) to `inbound.receive` as a poll's change and
  moves the watermark to the poll's start, in the transaction that completes the operation. The
  changes and the watermark are stored together or not at all: a poll that fails or dies is run
  again from the old watermark, and nothing it read is lost.
- `inbound.catch_up` (workers/inbound_catch_up.py): `load_catch_up` reads which parts are still
  switched on and the project's linked issues (`CatchUpPlan`); the handler reads their current state
  from Jira; `apply_catch_up` hands each (`IssuesCaughtUp`) to `inbound.receive` as a catch-up.
- `inbound.apply`: a change that arrived while outbound work on its issue was outstanding, applied
  by `apply_deferred` once that work is done (`inbound.apply`), with the operation's completion.

A change on a site that is gone (or is another workspace's) is not applied. Failures need nothing
here: the outbox records them (and their `sync.failed` event).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from jirabridge.domain import inbound as domain
from jirabridge.domain.operations import ApplyInbound, CatchUpStatuses, PollProject
from jirabridge.domain.outcomes import Done, IssuesCaughtUp, Job, Outcome, ProjectPolled
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import inbound
from jirabridge.storage.tables import Site

log = logging.getLogger("jirabridge.inbound")

CATCH_UP_PARTS = ("status", "assignee")  # what a catch-up can read from Jira and apply


# -- inbound.poll ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPlan:
    site_id: str
    project: str
    # Changes since when (the watermark, else when the settings were saved), and what the project
    # takes from Jira. None: the project's settings are gone.
    since: datetime | None
    sync: domain.ProjectSync | None


def load_poll(uow: UnitOfWork, job: Job) -> PollPlan:
    op = job.operation_as(PollProject)
    row = uow.projects.get(job.workspace_id, op.site_id, op.project)
    if row is None:
        return PollPlan(op.site_id, op.project, None, None)
    since = _utc(row.polled_until or row.updated_at)
    return PollPlan(op.site_id, op.project, since, domain.project_sync(row.settings or {}))


def apply_poll(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    if not isinstance(outcome, Done) or not isinstance(outcome.value, ProjectPolled):
        return
    op = job.operation_as(PollProject)
    polled = outcome.value
    applied = _receive(uow, job, op.site_id, polled.changes, now, source="poll")
    row = uow.projects.get(job.workspace_id, op.site_id, op.project)
    if row is not None and (row.polled_until is None or _utc(row.polled_until) < polled.until):
        row.polled_until = polled.until
    log.info(
        "inbound.poll.applied site=%s project=%s issues=%d applied=%d",
        op.site_id,
        op.project,
        len(polled.changes),
        applied,
    )


# -- inbound.catch_up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatchUpPlan:
    site_id: str
    project: str
    parts: tuple[str, ...]  # asked for and still switched on; none: nothing to catch up
    keys: tuple[str, ...]  # the project's linked issues (broken links aside)


def load_catch_up(uow: UnitOfWork, job: Job) -> CatchUpPlan:
    op = job.operation_as(CatchUpStatuses)
    row = uow.projects.get(job.workspace_id, op.site_id, op.project)
    sync = domain.project_sync(row.settings or {}) if row is not None else None
    # A part switched off again (or settings deleted) before this ran: nothing to catch up.
    on = {"status": sync.status_inbound, "assignee": sync.assignee_inbound} if sync else {}
    parts = tuple(p for p in op.parts if p in CATCH_UP_PARTS and on.get(p))
    keys = inbound.linked_issue_keys(uow, job.workspace_id, op.site_id, op.project) if parts else []
    return CatchUpPlan(op.site_id, op.project, parts, tuple(keys))


def apply_catch_up(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    if not isinstance(outcome, Done) or not isinstance(outcome.value, IssuesCaughtUp):
        return
    op = job.operation_as(CatchUpStatuses)
    changes = outcome.value.changes
    applied = _receive(uow, job, op.site_id, changes, now, source="catch_up", catch_up=True)
    log.info(
        "inbound.catch_up.applied site=%s project=%s found=%d applied=%d",
        op.site_id,
        op.project,
        len(changes),
        applied,
    )


# -- inbound.apply ---------------------------------------------------------------------------------


def load_deferred(uow: UnitOfWork, job: Job) -> bool:
    """Whether the change's site is still the workspace's (else it is not applied)."""
    return _site(uow, job, job.operation_as(ApplyInbound).site_id) is not None


def apply_deferred(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    if not isinstance(outcome, Done):
        return
    op = job.operation_as(ApplyInbound)
    site = _site(uow, job, op.site_id)
    if site is not None:
        inbound.apply(uow, now, site, op.change, source=op.source, catch_up=op.catch_up)


# -- helpers ---------------------------------------------------------------------------------------


def _receive(
    uow: UnitOfWork,
    job: Job,
    site_id: str,
    changes: tuple[domain.IssueSnapshot, ...],
    now: datetime,
    *,
    source: str,
    catch_up: bool = False,
) -> int:
    """Hand each change to inbound sync, oldest first; how many were applied (not queued behind
    outbound work on their issue)."""
    site = _site(uow, job, site_id)
    if site is None:
        return 0
    return inbound.receive_many(uow, now, site, changes, source=source, catch_up=catch_up)


def _site(uow: UnitOfWork, job: Job, site_id: str) -> Site | None:
    site = uow.sites.get(site_id)
    return site if site is not None and site.workspace_id == job.workspace_id else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
