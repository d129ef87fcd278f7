"""Catching up on Jira's statuses when a project's status sync is switched (back) on.

    inbound.catch_up   enqueued by service/polling.py with the settings that switch status sync to
                       two_way or inbound

While status sync was outbound, comment or off, Jira's status changes were recorded on the links but
not applied to the items, and a change made while jirabridge was down (or without a webhook) may not
have been seen at all. The watermark of the poller cannot tell which, so the catch-up reads the
current status of every linked issue of the project — `POST /issue/bulkfetch`, 100 issues a call —
and hands each to `inbound.receive` as a catch-up: every item whose status does not correspond to
its issue's takes the mapped one (`domain.inbound.catch_up_status`), with the usual
`item.status_changed` event, unless the host changed it after Jira's last change. Issues Jira no
longer shows are left to the poller and the webhooks (a deletion breaks the links there).

Running it again changes nothing more, so a retry after a failed page, or two catch-ups after two
saves, is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jirabridge.domain import inbound as domain
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service import inbound
from jirabridge.service.db import run_db
from jirabridge.service.polling import CATCH_UP_KIND
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ProjectSettings, Site
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry
from jirabridge.workers.inbound_poll import APPLY_CHUNK

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.catch_up")

FETCH_CHUNK = 100  # Jira's limit for one bulkfetch
FIELDS = ("status", "updated")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CatchUp:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        site_id, project = str(job.payload["site_id"]), str(job.payload["project"])

        def read(uow: UnitOfWork) -> list[str] | None:
            row = uow.session.get(ProjectSettings, (job.workspace_id, site_id, project))
            if row is None or not domain.project_sync(row.settings or {}).status_inbound:
                return None  # switched off again (or deleted) before this ran: nothing to catch up
            return inbound.linked_issue_keys(uow, job.workspace_id, site_id, project)

        keys = await run_db(self.container, read)
        if keys is None:
            return Done({"skipped": "status_inbound_off"})
        found = applied = 0
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                for start in range(0, len(keys), FETCH_CHUNK):
                    chunk = keys[start : start + FETCH_CHUNK]
                    result = await client.issues.bulk_fetch(chunk, fields=FIELDS)
                    changes = [
                        domain.IssueSnapshot(
                            key=issue.key,
                            id=issue.id,
                            updated=_utc(issue.fields.updated),
                            status=issue.fields.status.name,
                            status_category=(
                                issue.fields.status.status_category.key
                                if issue.fields.status.status_category
                                else None
                            ),
                        )
                        for issue in result.issues
                        if issue.fields.updated is not None and issue.fields.status is not None
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
        return Done({"linked": len(keys), "found": found})

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


def make_catch_up_handler(container: Container) -> Handler:
    return CatchUp(container)


registry.register(CATCH_UP_KIND, make_catch_up_handler)
