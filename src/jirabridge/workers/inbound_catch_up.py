"""Catching up on Jira's statuses and assignees when a project's status or assignee sync is switched
(back) on.

    inbound.catch_up   enqueued by service/inbound/polling.py with the settings that switch status or
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

Running it again changes nothing more, so a retry, or two catch-ups after two saves, is harmless.

A step (`workers/steps.py`): `service/inbound/inbound_sync.py` reads, with the claim, the parts asked for
that are still switched on and the project's linked issues (`CatchUpPlan`); this handler reads them
from Jira and touches no storage; what it found (`IssuesCaughtUp`) is applied in the transaction
that completes the operation, so a catch-up that fails part-way applies nothing and runs again whole.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import inbound as domain
from jirabridge.domain.outcomes import Done, IssuesCaughtUp, Job, Outcome
from jirabridge.service.inbound import inbound_sync
from jirabridge.service.inbound.inbound_sync import CatchUpPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.inbound_poll import SiteClients, snapshot
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.catch_up")

FETCH_CHUNK = 100  # Jira's limit for one bulkfetch


class CatchUp:
    def __init__(self, pool: SiteClients) -> None:
        self.pool = pool

    async def __call__(self, job: Job, plan: CatchUpPlan) -> Outcome:
        site_id, keys, parts = plan.site_id, plan.keys, list(plan.parts)
        if not parts:
            return Done({"skipped": "inbound_off"})
        fields = ("updated", *parts)
        changes: list[domain.IssueSnapshot] = []
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                for start in range(0, len(keys), FETCH_CHUNK):
                    result = await client.issues.bulk_fetch(
                        list(keys[start : start + FETCH_CHUNK]), fields=fields
                    )
                    found = (_snapshot(issue, parts) for issue in result.issues)
                    changes.extend(change for change in found if change is not None)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        log.info(
            "inbound.catch_up.done site=%s project=%s linked=%d found=%d",
            site_id,
            plan.project,
            len(keys),
            len(changes),
        )
        return Done(
            {"linked": len(keys), "found": len(changes), "parts": parts},
            value=IssuesCaughtUp(tuple(changes)),
        )


def _snapshot(issue: jira.Issue, parts: list[str]) -> domain.IssueSnapshot | None:
    """The parts being caught up of the issue's current state (the others left out: None)."""
    seen = snapshot(issue, with_comments=False)
    if seen is None or ("status" in parts and seen.status is None):
        return None
    return replace(
        seen,
        status=seen.status if "status" in parts else None,
        status_category=seen.status_category if "status" in parts else None,
        has_assignee="assignee" in parts,
        assignee=seen.assignee if "assignee" in parts else None,
    )


def make_catch_up_handler(container: Container, pool: JiraPool) -> Step[CatchUpPlan]:
    return Step(load=inbound_sync.load_catch_up, run=CatchUp(pool), apply=inbound_sync.apply_catch_up)
