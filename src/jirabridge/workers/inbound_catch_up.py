"""Catching up on Jira's statuses and assignees when a project's status or assignee sync is switched
(back) on.

    inbound.catch_up   enqueued by service/polling.py with the settings that switch status or
                       assignee sync to two_way or inbound; `parts`: what was switched on
                       (`status`, `assignee`; none given: `status`, as queued by earlier versions)

While status (assignee) sync did not take Jira's changes, the changes that arrived were recorded on
the links but not applied to the items, and a change made while jirabridge was down (or without a
webhook) may not have been seen at all. The watermark of the poller cannot tell which, so the
catch-up reads the current status and/or assignee of every linked issue of the project —
`POST /issue/bulkfetch`, 100 issues a call — and hands each to `inbound.receive` as a catch-up:
every item whose status does not correspond to its issue's takes the mapped one
(`domain.inbound.catch_up_status`), every item whose assignee is not the host user of the issue's
takes that user (none when the Jira account maps to nobody), with the usual `item.status_changed` /
`item.assignee_changed` event, unless the host changed it after Jira's last change. Issues Jira no
longer shows are left to the poller and the webhooks (a deletion breaks the links there).

Running it again changes nothing more, so a retry after a failed page, or two catch-ups after two
saves, is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import inbound as domain
from jirabridge.domain.operations import CatchUpStatuses
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service import inbound
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ProjectSettings, Site
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry
from jirabridge.workers.inbound_poll import APPLY_CHUNK

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.catch_up")

FETCH_CHUNK = 100  # Jira's limit for one bulkfetch
PARTS = ("status", "assignee")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CatchUp:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(CatchUpStatuses)
        site_id, project = op.site_id, op.project
        asked = [p for p in op.parts if p in PARTS]

        def read(uow: UnitOfWork) -> tuple[list[str], list[str]]:
            row = uow.session.get(ProjectSettings, (job.workspace_id, site_id, project))
            sync = domain.project_sync(row.settings or {}) if row is not None else None
            # A part switched off again (or settings deleted) before this ran: nothing to catch up.
            on = {"status": sync.status_inbound, "assignee": sync.assignee_inbound} if sync else {}
            parts = [p for p in asked if on.get(p)]
            return parts, inbound.linked_issue_keys(uow, job.workspace_id, site_id, project) if parts else []

        parts, keys = await run_db(self.container, read)
        if not parts:
            return Done({"skipped": "inbound_off"})
        fields = ("updated", *parts)
        found = applied = 0
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                for start in range(0, len(keys), FETCH_CHUNK):
                    chunk = keys[start : start + FETCH_CHUNK]
                    result = await client.issues.bulk_fetch(chunk, fields=fields)
                    changes = [
                        change for issue in result.issues if (change := _snapshot(issue, parts)) is not None
                    ]
                    found += len(changes)
                    for at in range(0, len(changes), APPLY_CHUNK):
                        apply = self._applier(job.workspace_id, site_id, changes[at : at + APPLY_CHUNK])
                        applied += await run_db(self.container, apply)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        log.info(
            "inbound.catch_up.done site=%s project=%s linked=%d found=%d applied=%d",
            site_id,
            project,
            len(keys),
            found,
            applied,
        )
        return Done({"linked": len(keys), "found": found, "parts": parts})

    def _applier(
        self, workspace_id: str, site_id: str, changes: list[domain.IssueSnapshot]
    ) -> Callable[[UnitOfWork], int]:
        def apply(uow: UnitOfWork) -> int:
            site = uow.session.get(Site, site_id)
            if site is None or site.workspace_id != workspace_id:
                return 0
            now = self.container.clock.now()
            applied = sum(
                not inbound.receive(uow, now, site, c, source="catch_up", catch_up=True).deferred
                for c in changes
            )
            uow.commit()
            return applied

        return apply


def _snapshot(issue: jira.Issue, parts: list[str]) -> domain.IssueSnapshot | None:
    """The parts being caught up of the issue's current state (the others left out: None)."""
    fields = issue.fields
    status = fields.status if "status" in parts else None
    if fields.updated is None or ("status" in parts and status is None):
        return None
    assignee = fields.assignee if "assignee" in parts else None
    return domain.IssueSnapshot(
        key=issue.key,
        id=issue.id,
        updated=_utc(fields.updated),
        status=status.name if status else None,
        status_category=status.status_category.key if status and status.status_category else None,
        has_assignee="assignee" in parts,
        assignee=(
            domain.JiraUser(assignee.account_id, assignee.display_name, assignee.email_address)
            if assignee
            else None
        ),
    )


def make_catch_up_handler(container: Container) -> Handler:
    return CatchUp(container)


registry.register(CatchUpStatuses, make_catch_up_handler)
