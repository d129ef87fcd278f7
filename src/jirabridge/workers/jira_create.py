"""`issue.create` and `issue.remote_link`: the Jira issue of a pending link, and its link back to the item.

`issue.create` never makes a second issue for one link. Its fields carry a marker label
(`jb-<12 hex>`); before it sends the create again (any attempt after the first) it searches
`labels = "<marker>"` and adopts what it finds. Jira's search index lags behind writes, so "nothing
found" is trusted only once `create_verify_grace_s` has passed since the last create was sent (the
moment is written on the operation, `result.create_sent_at`, before each send, so a worker killed
mid-call leaves it too); until then the operation waits and looks again. A first attempt is sent
together with the other creates due at the same moment for its site, in one bulk call
(workers/bulk_create.py); retries go alone.

On success, in one transaction: the link gets the key, id and status (`synced`), a `ticket.created`
event is recorded, and `issue.remote_link` (when the item has a URL) and `issue.sync_status` (when
the project pushes statuses and the item's status maps to another Jira status than the new issue's)
are queued behind it.

Jira's create answer carries no status, and a new issue starts in its workflow's initial status, the
same for every issue of a project and issue type. So the first create of each (site, project, issue
type) reads the issue back and the status is remembered for `INITIAL_STATUS_TTL`; later creates cost
one call instead of two (bench/outbound.py counts them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jirabridge import jira
from jirabridge.domain import mappings
from jirabridge.domain import operations as ops
from jirabridge.domain.inbound import project_sync
from jirabridge.domain.items import LinkState
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.service.db import read_db, run_db
from jirabridge.service.project_rows import project_of, project_settings
from jirabridge.service.ticket_queue import status_on_create
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Item, Link, Operation, Site
from jirabridge.workers import jira_common as common
from jirabridge.workers.bulk_create import Answer, BulkCreates, note_sent

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

INITIAL_STATUS_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class _Pending:
    issue_key: str | None  # set when an earlier run already finished
    site_url: str
    create_sent_at: datetime | None


@dataclass(frozen=True)
class _Found:
    key: str
    id: str
    status: str | None
    category: str | None


class CreateIssue:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)
        self.bulk = BulkCreates(container, self.pool)
        # (site id, project key, issue type id) -> (until, status name, status category)
        self._initial: dict[tuple[str, str, str], tuple[datetime, str, str | None]] = {}

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(ops.CreateIssue)
        link_id, site_id, marker = op.link_id, op.site_id, op.marker
        pending = await read_db(self.container, lambda uow: self._pending(uow, job, link_id, site_id))
        if pending is None:
            return Done({"skipped": "link_removed"})
        if pending.issue_key is not None:
            return Done({"issue_key": pending.issue_key})
        sending = False  # True while the create call is out: its failure says whether it applied
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                found = await self._find(client, marker) if job.attempts > 1 else None
                if found is None and pending.create_sent_at is not None:
                    waited = (self.container.clock.now() - pending.create_sent_at).total_seconds()
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
                        if isinstance(created, Fail):
                            await run_db(self.container, lambda uow: self._failed(uow, link_id, created))
                        return created
                    found = await self._status_of_new(client, site_id, op.fields, created)
                else:
                    log.info("jira.create.adopted op=%s issue=%s", job.id, found.key)
                    found = await self._read(client, found.key)
        except common.CALL_ERRORS as error:
            outcome = common.classify(error)
            if sending and not jira.maybe_applied(error):
                # Jira said the create was not applied: the next attempt need not wait for the index.
                await run_db(self.container, lambda uow: note_sent(uow, [job.id], None))
            if isinstance(outcome, Fail):
                await run_db(self.container, lambda uow: self._failed(uow, link_id, outcome))
            return outcome
        url = f"{pending.site_url.rstrip('/')}/browse/{found.key}"
        await run_db(self.container, lambda uow: self._created(uow, job, link_id, site_id, found, url))
        log.info("jira.create.done op=%s issue=%s", job.id, found.key)
        return Done({"issue_key": found.key, "issue_id": found.id})

    # -- Jira --------------------------------------------------------------------------------------

    async def _send(self, client: jira.JiraClient, job: Job, site_id: str) -> Answer:
        """A first attempt joins the creates due with it in one bulk call; a retry (which has just
        looked for its issue by marker) sends its create alone."""
        fields = job.operation_as(ops.CreateIssue).fields
        if job.attempts == 1:
            return await self.bulk.create(job, site_id, fields)
        now = self.container.clock.now()
        await run_db(self.container, lambda uow: note_sent(uow, [job.id], now))
        return await client.issues.create(fields)

    @staticmethod
    async def _find(client: jira.JiraClient, marker: str) -> _Found | None:
        page = await client.search.page(f'labels = "{marker}"', fields=("status",), max_results=10)
        if not page.issues:
            return None
        first = min(page.issues, key=lambda issue: int(issue.id) if issue.id.isdigit() else 0)
        return _Found(first.key, first.id, None, None)

    async def _status_of_new(
        self, client: jira.JiraClient, site_id: str, fields: Any, created: jira.CreatedIssue
    ) -> _Found:
        """The new issue with its status: the initial status of its workflow when known, else read."""
        project = project_of(created.key)
        issue_type = fields.get("issuetype") if isinstance(fields, dict) else None
        type_ref = str((issue_type or {}).get("id") or (issue_type or {}).get("name") or "")
        key = (site_id, project, type_ref)
        now = self.container.clock.now()
        known = self._initial.get(key)
        if known is not None and known[0] > now and type_ref:
            return _Found(created.key, created.id, known[1], known[2])
        found = await self._read(client, created.key)
        if found.status is not None and type_ref:
            if len(self._initial) > 1000:  # a bound, not a tuning knob
                self._initial.clear()
            self._initial[key] = (now + INITIAL_STATUS_TTL, found.status, found.category)
        return found

    @staticmethod
    async def _read(client: jira.JiraClient, key: str) -> _Found:
        issue = await client.issues.get(key, fields=["status"])
        status = issue.fields.status
        category = status.status_category.key if status and status.status_category else None
        return _Found(issue.key, issue.id, status.name if status else None, category)

    # -- database ----------------------------------------------------------------------------------

    @staticmethod
    def _pending(uow: UnitOfWork, job: Job, link_id: str, site_id: str) -> _Pending | None:
        link = uow.session.get(Link, link_id)
        site = uow.session.get(Site, site_id)
        if link is None or link.workspace_id != job.workspace_id:
            return None
        result = uow.session.scalar(select(Operation.result).where(Operation.id == job.id))
        sent = (result or {}).get("create_sent_at") if job.attempts > 1 else None
        return _Pending(
            issue_key=link.issue_key,
            site_url=site.url if site is not None else "",
            create_sent_at=_parse_time(sent) if isinstance(sent, str) else None,
        )

    @staticmethod
    def _failed(uow: UnitOfWork, link_id: str, outcome: Fail) -> None:
        link = uow.session.get(Link, link_id)
        if link is not None and link.issue_key is None:
            link.sync_state = LinkState.FAILED
            link.last_error = f"{outcome.reason}: {outcome.detail}" if outcome.detail else outcome.reason
            uow.commit()

    def _created(
        self, uow: UnitOfWork, job: Job, link_id: str, site_id: str, found: _Found, url: str
    ) -> None:
        link = uow.session.get(Link, link_id)
        if link is None:
            log.warning("jira.create.link_removed op=%s issue=%s", job.id, found.key)
            return
        now = self.container.clock.now()
        link.issue_key = found.key
        link.issue_id = found.id
        op = job.operation_as(ops.CreateIssue)
        issue_type = op.fields.get("issuetype")
        if isinstance(issue_type, dict) and issue_type.get("id"):
            link.issue_type_id = str(issue_type["id"])
        link.jira_status = found.status
        link.jira_status_category = found.category
        # What the issue was created with, so Jira reporting it back is no change (no echo).
        assignee = op.fields.get("assignee")
        link.jira_assignee = str(assignee["accountId"]) if isinstance(assignee, dict) else None
        link.sync_state = LinkState.SYNCED
        link.last_error = None
        item_ref = (link.item_type, link.item_id)
        record_event(
            uow.session,
            workspace_id=job.workspace_id,
            type="ticket.created",
            source="jirabridge",
            at=now,
            item=item_ref,
            issue_key=found.key,
            data={"issue_key": found.key, "issue_url": url},
        )
        status_on_create(uow, now, link)
        remote = op.remote_link
        if remote is not None and remote.url:
            backlink = ops.AddRemoteLink(
                site_id,
                found.key,
                global_id=ops.remote_link_global_id(job.workspace_id, *item_ref),
                url=remote.url,
                title=str(remote.title or f"{item_ref[0]} {item_ref[1]}")[:255],
                item=item_ref,
            )
            outbox.enqueue(uow.session, backlink, workspace_id=job.workspace_id, now=now)
        if _pushes_status(uow, job.workspace_id, site_id, found, item_ref):
            sync = ops.SyncStatus(site_id, found.key, item=item_ref)
            outbox.enqueue(uow.session, sync, workspace_id=job.workspace_id, now=now)
        uow.commit()


def _pushes_status(
    uow: UnitOfWork, workspace_id: str, site_id: str, issue: _Found, item: tuple[str, str]
) -> bool:
    """The new issue may need a transition at once: the item may be in a status that maps to another
    Jira status than the one the issue starts in."""
    settings = project_settings(uow, workspace_id, site_id, project_of(issue.key))
    sync = project_sync(settings)
    if not settings or sync.status_sync not in common.PUSHING_MODES:
        return False
    found = uow.session.get(Item, (workspace_id, *item))
    if found is None or not found.status:
        return False
    target = mappings.outbound_status(sync.mapping, found.status)
    return target is not None and not mappings.same_name(target, issue.status)


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class AddRemoteLink:
    """`issue.remote_link`: upserted by `globalId`, so running it twice leaves one link."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(ops.AddRemoteLink)
        site_id, key = op.site_id, op.issue_key
        links = await common.links_of(self.container, job.workspace_id, site_id, key)
        if not links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(links):
            return common.LINK_BROKEN
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                ref = await client.remote_links.upsert(
                    key, global_id=op.global_id, url=op.url, title=op.title
                )
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        return Done({"remote_link_id": ref.id})


def make_create_handler(container: Container) -> Handler:
    return CreateIssue(container)


def make_remote_link_handler(container: Container) -> Handler:
    return AddRemoteLink(container)
