"""`worklog.drift {site_id}`: worklogs a person edited or deleted in Jira, reported, never overwritten.

A schedule per site (service/worklogs/time_entries.py) runs it. A step (`workers/steps.py`):
`service/worklogs/worklog_drift.py` loads the site's watermarks in the claim's transaction; this handler reads
the site's `/worklog/updated` and `/worklog/deleted` feeds since them and the worklogs the updated
feed lists (one `/worklog/list` call per 1000), and touches no storage; `service/worklog_drift.apply`
compares each synced entry among them with what jirabridge wrote — so its own writes never count —
marks those a person changed or deleted `drifted`, with what changed, and moves the watermarks on,
in the transaction that completes the operation. Jira is only read.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.adapters.jira_pool import JiraPool
from jirabridge.clock import Clock
from jirabridge.domain.outcomes import Done, Job, Outcome, WorklogDriftEnded, WorklogsSeen
from jirabridge.domain.worklogs import Values
from jirabridge.service.worklogs import worklog_drift
from jirabridge.service.worklogs.worklog_drift import DriftPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

FIRST_LOOK_BACK_MS = 10 * 60 * 1000  # the first watermark: a little before the check started


def seen_values(worklog: jira.Worklog) -> Values:
    """What a worklog holds now, in the terms jirabridge wrote it."""
    comment = worklog.comment if isinstance(worklog.comment, dict | str) else None
    return Values(worklog.time_spent_seconds, worklog.started, jira.adf.to_text(comment))


class CheckDrift:
    def __init__(self, pool: JiraPool, clock: Clock) -> None:
        self.pool = pool
        self.clock = clock

    async def __call__(self, job: Job, plan: DriftPlan) -> Outcome:
        if not plan.connected:
            return Done({"skipped": "site_disconnected"}, value=WorklogDriftEnded())
        start = int(self.clock.now().timestamp() * 1000) - FIRST_LOOK_BACK_MS
        updated_since = plan.updated_since_ms if plan.updated_since_ms is not None else start
        deleted_since = plan.deleted_since_ms if plan.deleted_since_ms is not None else start
        try:
            async with self.pool.client(plan.site_id, workspace_id=job.workspace_id) as client:
                updated, updated_until = await _feed(client.worklogs.updated_page, updated_since)
                deleted, deleted_until = await _feed(client.worklogs.deleted_page, deleted_since)
                changed = sorted(updated - deleted, key=int)
                read_at = self.clock.now()
                found = await client.worklogs.by_ids([int(i) for i in changed]) if changed else []
        except common.CALL_ERRORS as error:
            return common.classify(error)
        seen = {w.id: seen_values(w) for w in found}
        log.info("jira.worklog.drift site=%s updated=%d deleted=%d", plan.site_id, len(changed), len(deleted))
        return Done(
            {
                "updated": len(changed),
                "deleted": len(deleted),
                "updated_since": updated_until,
                "deleted_since": deleted_until,
            },
            value=WorklogsSeen(
                updated={worklog_id: seen.get(worklog_id) for worklog_id in changed},
                deleted=frozenset(deleted),
                updated_until_ms=updated_until,
                deleted_until_ms=deleted_until,
                read_at=read_at,
            ),
        )


async def _feed(read: Any, since: int) -> tuple[set[str], int]:
    """Every worklog id a change feed lists since `since`, and the watermark to read from next."""
    ids: set[str] = set()
    while True:
        page: jira.WorklogChanges = await read(since)
        ids.update(str(change.worklog_id) for change in page.values)
        if page.last_page or page.until <= since:
            return ids, max(since, page.until)
        since = page.until


def make_drift_handler(container: Container, pool: JiraPool) -> Step[DriftPlan]:
    return Step(
        load=worklog_drift.load,
        run=CheckDrift(pool, container.clock),
        apply=worklog_drift.apply,
    )
