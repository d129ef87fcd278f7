"""`issue.create` and `issue.remote_link`: the Jira issue of a pending link, and its link back to the item.

`issue.create` never makes a second issue for one link. Its fields carry a marker label
(`jb-<12 hex>`); before it sends the create again (any attempt after the first) it searches
`labels = "<marker>"` and adopts what it finds. Jira's search index lags behind writes, so "nothing
found" is trusted only once `create_verify_grace_s` has passed since the last create was sent (the
moment is written on the operation, `result.create_sent_at`, before each send, so a worker killed
mid-call leaves it too); until then the operation waits and looks again. A first attempt is sent
together with the other creates due at the same moment for its site, in one bulk call
(workers/bulk_create.py); retries go alone.

Both kinds are steps (`workers/steps.py`): the service reads what the handler needs in the claim's
transaction (`service/tickets/create_sync.py`, `service/tickets/remote_link_sync.py`), the handlers
here talk to Jira and touch no storage, and the service applies their outcome in the transaction that
completes the operation. On success the create returns the issue (`IssueCreated`) and, in that transaction,
the link gets the key, id and status (`synced`), a `ticket.created` event is recorded, and
`issue.sync_status` (when the project pushes statuses and the item's status maps to another Jira
status than the new issue's) is queued behind it. The web link from the issue back to the item
(when the item has a URL) is upserted in the create's own attempt, right after the issue is made or
adopted: one operation fewer per ticket to claim, run and record. When that call fails, the create
still succeeds and `issue.remote_link` is queued behind it instead, to retry on its own; upserted by
`globalId`, a link made twice is one link. The moment a create is sent is the one write made while
the handler runs, through the service (`create_sync.sent_notes`), because a worker killed mid-call
must leave it.

Jira's create answer carries no status, and a new issue starts in its workflow's initial status, the
same for every issue of a project and issue type. So the first create of each (site, project, issue
type) reads the issue back and the status is remembered for `INITIAL_STATUS_TTL`; later creates cost
one call instead of two (bench/outbound.py counts them).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.domain import operations as ops
from jirabridge.domain.outcomes import Done, IssueCreated, Job, Outcome, Retry
from jirabridge.service.sites.project_rows import project_of
from jirabridge.service.tickets import create_sync, remote_link_sync
from jirabridge.service.tickets.create_sync import CreatePlan, NoteSent
from jirabridge.service.tickets.issue_links import issue_not_found
from jirabridge.service.tickets.remote_link_sync import RemoteLinkPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.bulk_create import Answer, BulkCreates
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

INITIAL_STATUS_TTL = timedelta(minutes=5)


class CreateIssue:
    def __init__(self, container: Container, pool: JiraPool, note_sent: NoteSent) -> None:
        self.container = container
        self.pool = pool
        self.note_sent = note_sent
        self.bulk = BulkCreates(self.pool, container.clock, note_sent)
        # (site id, project key, issue type id) -> (until, status name, status category)
        self._initial: dict[tuple[str, str, str], tuple[datetime, str, str | None]] = {}

    async def __call__(self, job: Job, plan: CreatePlan) -> Outcome:
        op = job.operation_as(ops.CreateIssue)
        site_id, marker = op.site_id, op.marker
        if not plan.linked:
            return Done({"skipped": "link_removed"})
        if plan.issue_key is not None:
            return Done({"issue_key": plan.issue_key})
        sending = False  # True while the create call is out: its failure says whether it applied
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                found = await self._find(client, marker) if job.attempts > 1 else None
                if found is None and plan.create_sent_at is not None:
                    waited = (self.container.clock.now() - plan.create_sent_at).total_seconds()
                    grace = self.container.settings.create_verify_grace_s
                    if waited < grace:
                        # The issue may exist but not be searchable yet: look again later.
                        return Retry(
                            "create_unconfirmed",
                            f"no issue with label {marker} yet; Jira's search may lag behind",
                            after_s=grace - waited,
                        )
                if found is None:
                    sending = True
                    created = await self._send(client, job, site_id)
                    sending = False
                    if not isinstance(created, jira.CreatedIssue):  # Jira refused it in a bulk call
                        return created  # a failure's side on the link: create_sync.apply
                    found = await self._status_of_new(client, site_id, op.fields, created)
                else:
                    log.info("jira.create.adopted op=%s issue=%s", job.id, found.key)
                    found = await self._read(client, found.key)
                backlinked = await self._backlink(client, job, plan, found.key)
        except common.CALL_ERRORS as error:
            outcome = common.classify(error)
            if sending and not jira.maybe_applied(error):
                # Jira said the create was not applied: the next attempt need not wait for the index.
                await self.note_sent([job.id], None)
            return outcome
        log.info("jira.create.done op=%s issue=%s", job.id, found.key)
        made = replace(found, backlinked=backlinked)
        return Done({"issue_key": made.key, "issue_id": made.id}, value=made)

    @staticmethod
    async def _backlink(client: jira.JiraClient, job: Job, plan: CreatePlan, key: str) -> bool:
        """The web link from the issue back to its item, in the create's own attempt. False when it
        could not be made now: the create still succeeded, and its apply queues the link as
        `issue.remote_link`, which retries on its own."""
        op = job.operation_as(ops.CreateIssue)
        link = create_sync.backlink(job, op, plan.item, key) if plan.item is not None else None
        if link is None:
            return True
        try:
            await client.remote_links.upsert(key, global_id=link.global_id, url=link.url, title=link.title)
        except common.CALL_ERRORS as error:
            log.info("jira.create.backlink_queued op=%s issue=%s error=%s", job.id, key, type(error).__name__)
            return False
        return True

    async def _send(self, client: jira.JiraClient, job: Job, site_id: str) -> Answer:
        """A first attempt joins the creates due with it in one bulk call; a retry (which has just
        looked for its issue by marker) sends its create alone."""
        fields = job.operation_as(ops.CreateIssue).fields
        if job.attempts == 1:
            return await self.bulk.create(job, site_id, fields)
        await self.note_sent([job.id], self.container.clock.now())
        return await client.issues.create(fields)

    @staticmethod
    async def _find(client: jira.JiraClient, marker: str) -> IssueCreated | None:
        page = await client.search.page(f'labels = "{marker}"', fields=("status",), max_results=10)
        if not page.issues:
            return None
        first = min(page.issues, key=lambda issue: int(issue.id) if issue.id.isdigit() else 0)
        return IssueCreated(first.key, first.id, None, None)

    async def _status_of_new(
        self, client: jira.JiraClient, site_id: str, fields: Any, created: jira.CreatedIssue
    ) -> IssueCreated:
        """The new issue with its status: the initial status of its workflow when known, else read."""
        project = project_of(created.key)
        issue_type = fields.get("issuetype") if isinstance(fields, dict) else None
        type_ref = str((issue_type or {}).get("id") or (issue_type or {}).get("name") or "")
        key = (site_id, project, type_ref)
        now = self.container.clock.now()
        known = self._initial.get(key)
        if known is not None and known[0] > now and type_ref:
            return IssueCreated(created.key, created.id, known[1], known[2])
        found = await self._read(client, created.key)
        if found.status is not None and type_ref:
            if len(self._initial) > 1000:  # a bound, not a tuning knob
                self._initial.clear()
            self._initial[key] = (now + INITIAL_STATUS_TTL, found.status, found.category)
        return found

    @staticmethod
    async def _read(client: jira.JiraClient, key: str) -> IssueCreated:
        issue = await client.issues.get(key, fields=["status"])
        status = issue.fields.status
        category = status.status_category.key if status and status.status_category else None
        return IssueCreated(issue.key, issue.id, status.name if status else None, category)


class AddRemoteLink:
    """`issue.remote_link`: upserted by `globalId`, so running it twice leaves one link."""

    def __init__(self, container: Container, pool: JiraPool) -> None:
        self.container = container
        self.pool = pool

    async def __call__(self, job: Job, plan: RemoteLinkPlan) -> Outcome:
        op = job.operation_as(ops.AddRemoteLink)
        site_id, key = op.site_id, op.issue_key
        if (unlinked := common.unless_linked(plan.links)) is not None:
            return unlinked
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                ref = await client.remote_links.upsert(
                    key, global_id=op.global_id, url=op.url, title=op.title
                )
        except jira.NotFound:
            return issue_not_found(key)  # its links break: remote_link_sync.apply
        except common.CALL_ERRORS as error:
            return common.classify(error)
        return Done({"remote_link_id": ref.id})


def make_create_handler(container: Container, pool: JiraPool) -> Step[CreatePlan]:
    run = CreateIssue(container, pool, create_sync.sent_notes(container))
    return Step(load=create_sync.load, run=run, apply=create_sync.apply)


def make_remote_link_handler(container: Container, pool: JiraPool) -> Step[RemoteLinkPlan]:
    return Step(load=remote_link_sync.load, run=AddRemoteLink(container, pool), apply=remote_link_sync.apply)
