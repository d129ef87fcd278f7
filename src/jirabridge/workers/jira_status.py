"""`issue.sync_status`: move a Jira issue to the status its linked items map to (SPEC section 3).

Decided when it runs, not when it was queued, so a burst of changes ends in one move to the latest
target. Every link of the issue in the workspace is loaded with its item and the project settings:

- mode `two_way`/`outbound` only (anything else: done, nothing sent); one item: its outbound mapping;
  several (a grouped ticket): `domain.grouping.ticket_target`, with the issue's current status and
  the site's done statuses;
- one item whose link knows its Jira status and issue type, with a transition to the target
  remembered for that workflow (`transition_cache`): the transition is posted at once, one call;
  refused (the issue moved in Jira meanwhile): on as below;
- the issue is read with its transitions; already in the target: done, nothing sent;
- a transition to the target: sent with the fields its screen shows that the project settings'
  `transition_fields[<target>]` fill, rendered over the item (`domain.transition_fields`); the links
  take the new status;
- none: failed `transition_not_allowed` with a `sync.failed` event per linked item; Jira unchanged;
- a required screen field nothing fills: failed `transition_field_required` the same way, naming the
  Jira field and the setting that would fill it; nothing is sent (Jira would refuse it with 400);
- 404: the links break (`link.broken`) and the operation fails `issue_not_found`; a link already
  broken fails `link_broken` without calling Jira.

With the status, the links record when jirabridge's transition happened (`Link.jira_status_at`,
`domain.inbound.own_write_at`: the clock before the call, and just after the `updated` of the read
when there was one — Jira answers a transition with no body, and no call is added to learn more), so a
report of the issue as an earlier write left it, queued behind the transition, changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.domain import grouping, mappings
from jirabridge.domain import transition_fields as screens
from jirabridge.domain.inbound import newest, own_write_at, project_sync
from jirabridge.domain.items import Item as DomainItem
from jirabridge.domain.items import LinkState
from jirabridge.domain.operations import SyncStatus as SyncStatusOp
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome
from jirabridge.service.db import read_db, run_db
from jirabridge.service.items import as_domain
from jirabridge.service.project_rows import project_of, project_settings
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.tables import Item
from jirabridge.workers import jira_common as common
from jirabridge.workers.transition_cache import TransitionCache, screen_of

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


@dataclass(frozen=True)
class _Plan:
    links: list[common.LinkRef]
    mode: str | None
    mapping: mappings.StatusMapping
    item_statuses: list[str | None]  # one per distinct item, in link order
    changed: int | None  # the item updated last: the one whose change queued this, most likely
    transition_fields: dict[str, Any] = field(default_factory=dict)
    link_status: str | None = None  # the Jira status the links last saw (when they agree)
    issue_type_id: str | None = None
    item: DomainItem | None = None  # the item whose change queued this: transition field templates use it


def _plan(uow: UnitOfWork, workspace_id: str, site_id: str, key: str) -> _Plan:
    links = common.issue_links(uow, workspace_id, site_id, key)
    settings = project_settings(uow, workspace_id, site_id, project_of(key))  # {}: not configured
    sync = project_sync(settings)
    items: list[Item] = []
    seen: set[tuple[str, str]] = set()
    for link in links:
        ref = (link.item_type, link.item_id)
        item = uow.session.get(Item, (workspace_id, *ref))
        if item is not None and ref not in seen:
            seen.add(ref)
            items.append(item)
    changed = max(range(len(items)), key=lambda i: items[i].updated_at) if items else None
    live = [link for link in links if link.sync_state != LinkState.BROKEN]
    seen_statuses = {link.jira_status for link in live}
    seen_types = {link.issue_type_id for link in live}
    return _Plan(
        links=common.refs(links),
        mode=sync.status_sync if settings else None,
        mapping=sync.mapping,
        item_statuses=[item.status for item in items],
        changed=changed,
        transition_fields=dict(settings.get("transition_fields") or {}),
        link_status=seen_statuses.pop() if len(seen_statuses) == 1 else None,
        issue_type_id=seen_types.pop() if len(seen_types) == 1 else None,
        item=as_domain(items[changed]) if changed is not None else None,
    )


@dataclass(frozen=True)
class _Seen:
    """The issue's status as the handler left it (or found it), and from when the links know it: a
    status Jira reports from before `at` is older (`jirabridge.service.inbound.apply`)."""

    status: str
    category: str | None
    type_id: str | None
    at: datetime | None


class SyncStatus:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)
        self.transitions = TransitionCache()

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(SyncStatusOp)
        site_id, key = op.site_id, op.issue_key
        plan = await read_db(self.container, lambda uow: _plan(uow, job.workspace_id, site_id, key))
        if not plan.links:
            return Done({"skipped": "not_linked"})
        if common.all_broken(plan.links):
            return common.LINK_BROKEN
        if plan.mode not in common.PUSHING_MODES:
            return Done({"skipped": f"status_sync_{plan.mode or 'unset'}"})
        if not plan.item_statuses:
            return Done({"skipped": "no_items"})
        grouped = len(plan.item_statuses) > 1
        target = None if grouped else mappings.outbound_status(plan.mapping, plan.item_statuses[0])
        if not grouped and target is None:
            return Done({"skipped": "unmapped_status"})
        if target is not None:
            quick = await self._remembered(job, site_id, key, plan, target)
            if quick is not None:
                return quick
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                # `transitions.fields` describes each transition's screen; `transitions` is asked too so
                # the list never depends on Jira honouring the finer expand.
                issue = await client.issues.get(
                    key,
                    fields=["status", "issuetype", "updated"],
                    expand=["transitions", "transitions.fields"],
                )
                current = issue.fields.status.name if issue.fields.status else None
                read_at = issue.fields.updated
                type_id = issue.fields.issuetype.id if issue.fields.issuetype else None
                if current is not None and type_id and issue.transitions is not None:
                    now = self.container.clock.now()
                    project = project_of(key)
                    self.transitions.remember(site_id, project, type_id, current, issue.transitions, now)
                if grouped:
                    done = await self.pool.done_statuses(site_id, client, self.container.clock.now())
                    target = grouping.ticket_target(
                        plan.item_statuses, plan.changed, plan.mapping, set(done), ticket_status=current
                    )
                    if target is None:
                        return Done({"skipped": "group_stays", "status": current})
                assert target is not None
                if mappings.same_name(current, target):
                    log.info("jira.transition.skipped issue=%s reason=already_in_status", key)
                    status = issue.fields.status
                    if status is not None:  # what was seen is right: clear an earlier failure
                        category = status.status_category.key if status.status_category else None
                        seen = _Seen(status.name, category, type_id, read_at)
                        await run_db(self.container, lambda uow: self._moved(uow, job, site_id, key, seen))
                    return Done({"skipped": "already_in_status", "status": current})
                transition = next(
                    (t for t in issue.transitions or [] if mappings.same_name(t.to.name, target)), None
                )
                if transition is None:
                    return await self._not_allowed(job, site_id, key, plan, current, target)
                filled = _filled(plan, screen_of(transition), target)
                if filled.missing:
                    return await self._field_required(job, site_id, key, current, target, filled.missing)
                before = self.container.clock.now()
                await client.issues.transition(
                    key, transition.id, fields=filled.fields or None, update=filled.update or None
                )
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        to = transition.to
        category = to.status_category.key if to.status_category else None
        moved = _Seen(to.name, category, type_id, own_write_at(before, read_at))
        await run_db(self.container, lambda uow: self._moved(uow, job, site_id, key, moved))
        log.info("jira.transition.done issue=%s from=%s to=%s", key, current, to.name)
        return Done({"from": current, "to": to.name})

    async def _remembered(self, job: Job, site_id: str, key: str, plan: _Plan, target: str) -> Outcome | None:
        """Post the transition remembered for the link's workflow and status; None: read the issue."""
        if (
            plan.issue_type_id is None
            or plan.link_status is None
            or mappings.same_name(plan.link_status, target)
        ):
            return None  # "already there" is always checked against Jira
        project = project_of(key)
        now = self.container.clock.now()
        known = self.transitions.find(site_id, project, plan.issue_type_id, plan.link_status, target, now)
        if known is None:
            return None
        filled = _filled(plan, known.screen, target)
        if filled.missing:
            return None  # decided on a fresh read of the screen, not on a remembered one
        before = self.container.clock.now()
        try:
            async with self.pool.client(site_id, workspace_id=job.workspace_id) as client:
                await client.issues.transition(
                    key, known.id, fields=filled.fields or None, update=filled.update or None
                )
        except jira.BadRequest:
            log.info("jira.transition.remembered_refused issue=%s from=%s", key, plan.link_status)
            return None  # the issue is not where the link says: read it and decide
        except jira.NotFound:
            return await common.issue_not_found(self.container, job.workspace_id, site_id, key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        moved = _Seen(known.to, known.category, plan.issue_type_id, own_write_at(before))
        await run_db(self.container, lambda uow: self._moved(uow, job, site_id, key, moved))
        log.info(
            "jira.transition.done issue=%s from=%s to=%s remembered=true", key, plan.link_status, known.to
        )
        return Done({"from": plan.link_status, "to": known.to})

    def _moved(self, uow: UnitOfWork, job: Job, site_id: str, key: str, seen: _Seen) -> None:
        for link in common.issue_links(uow, job.workspace_id, site_id, key):
            if link.sync_state == LinkState.BROKEN:
                continue
            if seen.type_id:
                link.issue_type_id = seen.type_id
            link.jira_status = seen.status
            link.jira_status_category = seen.category
            link.jira_status_at = newest((link.jira_status_at, seen.at))
            link.sync_state = LinkState.SYNCED
            link.last_error = None
        uow.commit()

    async def _not_allowed(
        self, job: Job, site_id: str, key: str, plan: _Plan, current: str | None, target: str
    ) -> Fail:
        detail = f"No transition from '{current}' to '{target}'"
        return await self._failed(
            job, site_id, key, "transition_not_allowed", detail, **{"from": current, "to": target}
        )

    async def _field_required(
        self,
        job: Job,
        site_id: str,
        key: str,
        current: str | None,
        target: str,
        missing: list[screens.MissingField],
    ) -> Fail:
        detail = screens.missing_detail(missing, key, current, target)
        fields = [{"field": m.field_id, "name": m.name, "setting": m.setting} for m in missing]
        return await self._failed(
            job,
            site_id,
            key,
            "transition_field_required",
            detail,
            **{"from": current, "to": target, "fields": fields},
        )

    async def _failed(
        self, job: Job, site_id: str, key: str, reason: str, detail: str, **data: object
    ) -> Fail:
        """Jira is left alone: the links show the failure, each linked item gets a `sync.failed`."""
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            links = common.issue_links(uow, job.workspace_id, site_id, key)
            items: list[tuple[str, str]] = []
            for link in links:
                link.sync_state = LinkState.FAILED
                link.last_error = f"{reason}: {detail}"
                if (link.item_type, link.item_id) not in items:
                    items.append((link.item_type, link.item_id))
            for item in items:
                common.record_sync_failed(uow, job, now, item, key, reason, detail, **data)
            uow.commit()

        await run_db(self.container, save)
        log.info("jira.transition.failed issue=%s reason=%s", key, reason)
        return Fail(reason, detail, announced=True)  # one event per linked item


def _filled(plan: _Plan, screen: tuple[screens.ScreenField, ...] | None, target: str) -> screens.Filled:
    """The fields and updates `transition_fields[<target>]` of the project settings give this screen."""
    assert plan.item is not None  # a sync without items ends before any transition
    return screens.fill(screen, plan.transition_fields, target, plan.item)


def make_sync_status_handler(container: Container) -> Handler:
    return SyncStatus(container)
