"""The inbound poller and deferred inbound changes.

    inbound.poll    one poll of one project (scheduled every `poll_interval_s`, see service/polling.py)
    inbound.apply   a change that arrived while outbound work on its issue was outstanding, applied
                    in order after that work (service/inbound.py)

A poll asks Jira for the project's issues updated since the watermark, oldest first, page by page
(`nextPageToken`), and hands each to `inbound.receive` — the same path as a webhook. The query uses
a relative date (`updated >= -12m`), so it does not depend on the time zone Jira reads absolute JQL
dates in, and it reaches back `OVERLAP` before the watermark: JQL dates have minute precision and
Jira's search index lags a little behind its writes. Changes seen twice are harmless (a change no
newer than the one applied is ignored; comments are recognised by id). The watermark moves to the
poll's start only after every page was applied, so a failed or interrupted poll is retried from the
old watermark and nothing changed during an outage, or while inbound sync was off, is missed.

A poll's cost is its pages of changed issues: links are looked up by issue key (an index), never
listed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import inbound as domain
from jirabridge.domain.operations import ApplyInbound, PollProject
from jirabridge.domain.outcomes import Done, Handler, Job, Outcome
from jirabridge.service import inbound
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import ProjectSettings, Site
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.poll")

OVERLAP = timedelta(minutes=2)
PAGE_SIZE = 100
# Issues applied per transaction. A page's 100 in one transaction held SQLite's write lock for long
# enough that the worker's other operations queued behind it and its Jira calls fell below the
# site's pace while a big poll ran (bench/outbound.py); applying a change twice is harmless.
APPLY_CHUNK = 10
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


class Poll:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(PollProject)
        site_id, project = op.site_id, op.project
        started = self.container.clock.now()

        def read(uow: UnitOfWork) -> tuple[datetime, domain.ProjectSync] | None:
            row = uow.session.get(ProjectSettings, (job.workspace_id, site_id, project))
            if row is None:
                return None
            since = row.polled_until or row.updated_at
            return _utc(since), domain.project_sync(row.settings or {})

        found = await run_db(self.container, read)
        if found is None:
            return Done({"skipped": "no_project_settings"})
        since, sync = found
        if not sync.any_inbound:
            return Done({"skipped": "inbound_off"})
        fields = [*FIELDS, "comment"] if sync.comment_inbound else list(FIELDS)
        query = jql(project, since, started)
        pages = issues = applied = 0
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                async for page in client.search.pages(query, fields=fields, max_results=PAGE_SIZE):
                    pages += 1
                    changes = [
                        s
                        for s in (snapshot(i, with_comments=sync.comment_inbound) for i in page.issues)
                        if s is not None
                    ]
                    issues += len(changes)
                    for start in range(0, len(changes), APPLY_CHUNK):
                        apply = self._applier(job.workspace_id, site_id, changes[start : start + APPLY_CHUNK])
                        applied += await run_db(self.container, apply)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        await run_db(
            self.container, lambda uow: self._advance(uow, job.workspace_id, site_id, project, started)
        )
        log.info(
            "inbound.poll.done site=%s project=%s pages=%d issues=%d applied=%d",
            site_id,
            project,
            pages,
            issues,
            applied,
        )
        return Done({"pages": pages, "issues": issues, "since": since.isoformat()})

    def _applier(
        self, workspace_id: str, site_id: str, changes: list[domain.IssueSnapshot]
    ) -> Callable[[UnitOfWork], int]:
        def apply(uow: UnitOfWork) -> int:
            site = uow.session.get(Site, site_id)
            if site is None or site.workspace_id != workspace_id:
                return 0
            now = self.container.clock.now()
            applied = sum(not inbound.receive(uow, now, site, c, source="poll").deferred for c in changes)
            uow.commit()
            return applied

        return apply

    def _advance(
        self, uow: UnitOfWork, workspace_id: str, site_id: str, project: str, moment: datetime
    ) -> None:
        row = uow.session.get(ProjectSettings, (workspace_id, site_id, project))
        if row is not None and (row.polled_until is None or _utc(row.polled_until) < moment):
            row.polled_until = moment
        uow.commit()


class ApplyDeferred:
    def __init__(self, container: Container) -> None:
        self.container = container

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(ApplyInbound)
        change, site_id, source = op.change, op.site_id, op.source

        def save(uow: UnitOfWork) -> bool:
            site = uow.session.get(Site, site_id)
            if site is None or site.workspace_id != job.workspace_id:
                return False
            inbound.apply(uow, self.container.clock.now(), site, change, source=source, catch_up=op.catch_up)
            uow.commit()
            return True

        applied = await run_db(self.container, save)
        return Done({"applied": applied})


def make_poll_handler(container: Container) -> Handler:
    return Poll(container)


def make_apply_handler(container: Container) -> Handler:
    return ApplyDeferred(container)


registry.register(PollProject, make_poll_handler)
registry.register(ApplyInbound, make_apply_handler)
