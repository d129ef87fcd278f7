"""`issue.create`, the service's side: what the handler needs, and what its outcome means.

`load` reads, in the claim's transaction, the operation's link (whether it still exists, and its
issue when an earlier attempt already finished) and, on a retry, when the create was last sent
(`CreatePlan`); the handler (`workers/jira_create.py`) finds or makes the issue in Jira; `apply`
records, in the transaction that completes the operation:

- the issue (`IssueCreated`): the link takes its key, id, issue type, status and the assignee it was
  created with, and is `synced`; a `ticket.created` event; the item's `on_create_status`
  (`ticket_queue.status_on_create`); and, queued behind it, `issue.sync_status` (when the project
  pushes statuses and the item's status maps to another Jira status than the one the issue starts
  in) and `issue.remote_link` when the handler could not make the web link back to the item's URL
  in its own attempt (`backlink`: it tries once, right after the create, which spares a ticket one
  operation to claim, run and record);
- a failure for good: the link, still without an issue, is `failed` with the reason (the outbox
  records the `sync.failed` event).

One write happens outside those two transactions, on purpose: before each create is sent, the
moment is written on its operation (`sent_notes`, one transaction for every create of a bulk call),
so that a worker killed mid-call still leaves it, and the next attempt waits for Jira's search index
before it trusts "no issue carries the marker" — the guarantee that one link never gets two issues.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirabridge.domain import mappings
from jirabridge.domain import operations as ops
from jirabridge.domain.inbound import project_sync
from jirabridge.domain.items import LinkState
from jirabridge.domain.outcomes import Done, Fail, IssueCreated, Job, Outcome
from jirabridge.service.core.db import run_db
from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.sites.project_rows import project_of, project_settings
from jirabridge.service.tickets.items import STATUS_MODES_THAT_PUSH
from jirabridge.service.tickets.ticket_queue import status_on_create
from jirabridge.storage import outbox
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Link

log = logging.getLogger("jirabridge.worker.jira")

KIND = ops.CreateIssue.KIND

# Write on operations that their create is sent at a moment (None: certainly not applied).
NoteSent = Callable[[Sequence[str], datetime | None], Awaitable[None]]


@dataclass(frozen=True)
class CreatePlan:
    linked: bool  # the link exists (in the operation's workspace); False: it was removed
    issue_key: str | None  # the link's issue, when an earlier attempt already finished
    create_sent_at: datetime | None  # a retry: when an earlier attempt last sent the create
    item: ops.ItemRef | None = None  # the link's item (what the issue's web link points back to)


def load(uow: UnitOfWork, job: Job) -> CreatePlan:
    op = job.operation_as(ops.CreateIssue)
    link = _link(uow, job, op, only_read=True)
    if link is None:
        return CreatePlan(linked=False, issue_key=None, create_sent_at=None)
    sent = uow.operations.create_sent_at(job.id) if job.attempts > 1 else None
    item = (link.item_type, link.item_id)
    return CreatePlan(linked=True, issue_key=link.issue_key, create_sent_at=sent, item=item)


def backlink(job: Job, op: ops.CreateIssue, item: ops.ItemRef, issue_key: str) -> ops.AddRemoteLink | None:
    """The web link from the issue back to the item, when the item has a URL: what the handler
    upserts right after the create, and what `apply` queues when that failed."""
    remote = op.remote_link
    if remote is None or not remote.url:
        return None
    return ops.AddRemoteLink(
        op.site_id,
        issue_key,
        global_id=ops.remote_link_global_id(job.workspace_id, *item),
        url=remote.url,
        title=str(remote.title or f"{item[0]} {item[1]}")[:255],
        item=item,
    )


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    op = job.operation_as(ops.CreateIssue)
    match outcome:
        case Done(value=IssueCreated() as created):
            _created(uow, job, op, created, now)
        case Fail(reason=reason, detail=detail):
            link = _link(uow, job, op)
            if link is not None and link.issue_key is None:
                link.sync_state = LinkState.FAILED
                link.last_error = f"{reason}: {detail}" if detail else reason
        case _:
            pass


def note_sent(uow: UnitOfWork, op_ids: Sequence[str], moment: datetime | None) -> None:
    uow.operations.note_create_sent(op_ids, moment)
    uow.commit()


def sent_notes(services: Services) -> NoteSent:
    """How the handler writes, before it sends creates, that they are being sent (see above)."""

    async def note(op_ids: Sequence[str], moment: datetime | None) -> None:
        await run_db(services, lambda uow: note_sent(uow, op_ids, moment))

    return note


def _link(uow: UnitOfWork, job: Job, op: ops.CreateIssue, *, only_read: bool = False) -> Link | None:
    """The operation's link, if it is still the workspace's. `only_read`: read as columns, a row of
    no session."""
    link = (uow.links.loose if only_read else uow.links.get)(op.link_id)
    return link if link is not None and link.workspace_id == job.workspace_id else None


def _created(uow: UnitOfWork, job: Job, op: ops.CreateIssue, issue: IssueCreated, now: datetime) -> None:
    link = _link(uow, job, op, only_read=True)
    if link is None:  # unlinked while the create ran: the issue stays in Jira, unlinked
        log.warning("jira.create.link_removed op=%s issue=%s", job.id, issue.key)
        return
    issue_type = op.fields.get("issuetype")
    type_id = str(issue_type["id"]) if isinstance(issue_type, dict) and issue_type.get("id") else None
    # What the issue was created with, so Jira reporting it back is no change (no echo).
    assignee = op.fields.get("assignee")
    uow.links.take_issue(
        link.id,
        issue_key=issue.key,
        issue_id=issue.id,
        issue_type_id=type_id,
        status=issue.status,
        category=issue.category,
        assignee=str(assignee["accountId"]) if isinstance(assignee, dict) else None,
    )
    link.issue_key = issue.key  # as just written
    item_ref = (link.item_type, link.item_id)
    site_url = uow.sites.urls([op.site_id]).get(op.site_id, "")
    url = f"{site_url.rstrip('/')}/browse/{issue.key}"
    record_event(
        uow.session,
        workspace_id=job.workspace_id,
        type="ticket.created",
        source="jirabridge",
        at=now,
        item=item_ref,
        issue_key=issue.key,
        data={"issue_key": issue.key, "issue_url": url},
    )
    # The project's settings, read once for the item's on-create status and the first status push.
    settings = project_settings(uow, job.workspace_id, op.site_id, project_of(issue.key))
    item_status = status_on_create(uow, now, link, settings)
    backlink_later = None if issue.backlinked else backlink(job, op, item_ref, issue.key)
    if backlink_later is not None:
        outbox.enqueue(uow.session, backlink_later, workspace_id=job.workspace_id, now=now)
    if _pushes_status(settings, item_status, issue):
        sync = ops.SyncStatus(op.site_id, issue.key, item=item_ref)
        outbox.enqueue(uow.session, sync, workspace_id=job.workspace_id, now=now)


def _pushes_status(settings: dict[str, Any], item_status: str | None, issue: IssueCreated) -> bool:
    """The new issue may need a transition at once: the item's status (after its on-create status)
    may map to another Jira status than the one the issue starts in."""
    sync = project_sync(settings)
    if not settings or sync.status_sync not in STATUS_MODES_THAT_PUSH or not item_status:
        return False
    target = mappings.outbound_status(sync.mapping, item_status)
    return target is not None and not mappings.same_name(target, issue.status)
