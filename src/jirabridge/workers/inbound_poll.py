"""The inbound poller and deferred inbound changes.

    inbound.poll    one poll of one project (scheduled every `poll_interval_s`, see
                    service/inbound/polling.py)
    inbound.apply   a change that arrived while outbound work on its issue was outstanding, applied
                    in order after that work (service/inbound/inbound.py)

A poll asks Jira for the project's issues updated since the watermark, oldest first, page by page
(`nextPageToken`), and each becomes a poll's change for `inbound.receive` — the same path as a
webhook. The query uses a relative date (`updated >= -12m`), so it does not depend on the time zone
Jira reads absolute JQL dates in, and it reaches back `OVERLAP` before the watermark: JQL dates have
minute precision and Jira's search index lags a little behind its writes. Changes seen twice are
harmless (a change no newer than the one applied is ignored; comments are recognised by id).

Both are steps (`workers/steps.py`): `service/inbound/inbound_sync.py` reads the watermark and the project's
sync settings with the claim (`PollPlan`); this handler only reads Jira and touches no storage; the
changes it found (`ProjectPolled`) are applied, and the watermark moved to the poll's start, in the
transaction that completes the operation. A failed or interrupted poll therefore leaves the old
watermark, is retried from there, and nothing changed during an outage, or while inbound sync was
off, is missed. `inbound.apply` has nothing to ask Jira: its change is applied with its record.

A poll's cost is its pages of changed issues: links are looked up by issue key (an index), never
listed.
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from jirabridge import jira
from jirabridge.clock import Clock
from jirabridge.domain import inbound as domain
from jirabridge.domain.outcomes import Done, Job, Outcome, ProjectPolled
from jirabridge.service.inbound import inbound_sync
from jirabridge.service.inbound.inbound_sync import PollPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.poll")

OVERLAP = timedelta(minutes=2)
PAGE_SIZE = 100
FIELDS = ("status", "assignee", "updated")


def jql(project: str, since: datetime, now: datetime) -> str:
    """Issues of `project` updated since `since` (less the overlap), oldest first."""
    minutes = max(1, math.ceil((now - since + OVERLAP).total_seconds() / 60))
    return f'project = "{project}" AND updated >= -{minutes}m ORDER BY updated ASC'


def snapshot(issue: jira.Issue, *, with_comments: bool) -> domain.IssueSnapshot | None:
    fields = issue.fields
    if fields.updated is None:
        return None
    status = fields.status
    comments = None
    if with_comments:
        raw = fields.get("comment") or {}
        comments = tuple(
            _comment(jira.Comment.model_validate(c)) for c in raw.get("comments", []) if isinstance(c, dict)
        )
    return domain.IssueSnapshot(
        key=issue.key,
        id=issue.id,
        updated=_utc(fields.updated),
        status=status.name if status else None,
        status_category=status.status_category.key if status and status.status_category else None,
        has_assignee=True,
        assignee=_user(fields.assignee),
        comments=comments,
    )


def _comment(comment: jira.Comment) -> domain.CommentSnapshot:
    body = comment.body if isinstance(comment.body, str) else jira.adf.to_text(comment.body)
    return domain.CommentSnapshot(
        id=comment.id,
        body=body,
        author=_user(comment.author),
        created=_utc(comment.created),
        updated=_utc(comment.updated),
    )


def _user(user: jira.User | None) -> domain.JiraUser | None:
    if user is None:
        return None
    return domain.JiraUser(user.account_id, user.display_name or None, user.email_address)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SiteClients(Protocol):
    """What the inbound handlers need of the worker's `JiraPool`: a client for the site."""

    def client(
        self, site_id: str, *, workspace_id: str | None = None
    ) -> AbstractAsyncContextManager[jira.JiraClient]: ...


class Poll:
    def __init__(self, clock: Clock, pool: SiteClients, *, page_size: int = PAGE_SIZE) -> None:
        self.clock, self.pool, self.page_size = clock, pool, page_size

    async def __call__(self, job: Job, plan: PollPlan) -> Outcome:
        site_id, project = plan.site_id, plan.project
        started = self.clock.now()
        if plan.since is None or plan.sync is None:
            return Done({"skipped": "no_project_settings"})
        if not plan.sync.any_inbound:
            return Done({"skipped": "inbound_off"})
        with_comments = plan.sync.comment_inbound
        fields = [*FIELDS, "comment"] if with_comments else list(FIELDS)
        query = jql(project, plan.since, started)
        pages = 0
        changes: list[domain.IssueSnapshot] = []
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                async for page in client.search.pages(query, fields=fields, max_results=self.page_size):
                    pages += 1
                    found = (snapshot(i, with_comments=with_comments) for i in page.issues)
                    changes.extend(s for s in found if s is not None)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        log.info(
            "inbound.poll.done site=%s project=%s pages=%d issues=%d", site_id, project, pages, len(changes)
        )
        return Done(
            {"pages": pages, "issues": len(changes), "since": plan.since.isoformat()},
            value=ProjectPolled(tuple(changes), until=started),
        )


async def run_deferred(job: Job, site_known: bool) -> Outcome:
    """`inbound.apply` needs no Jira: the change it carries is applied with the operation's record
    (`service.inbound.inbound_sync.apply_deferred`)."""
    return Done({"applied": site_known})


def make_poll_handler(container: Container, pool: JiraPool) -> Step[PollPlan]:
    return Step(load=inbound_sync.load_poll, run=Poll(container.clock, pool), apply=inbound_sync.apply_poll)


def make_apply_handler(container: Container, pool: JiraPool) -> Step[bool]:
    return Step(load=inbound_sync.load_deferred, run=run_deferred, apply=inbound_sync.apply_deferred)
