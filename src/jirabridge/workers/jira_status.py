"""`issue.sync_status`: move a Jira issue to the status its linked items map to.

A step (`workers/steps.py`): `service/tickets/status_sync.py` loads every link of the issue with its item
and the project settings in the claim's transaction, this handler decides with Jira and touches no
storage, and `service/status_sync.apply` records its outcome. Decided when it runs, not when it was
queued, so a burst of changes ends in one move to the latest target. With the status, the links
record when jirabridge's transition happened (`IssueStatusSeen.at`, from
`domain.inbound.own_write_at`: the clock before the call, and just after the `updated` of the read
when there was one — Jira answers a transition with no body, and no call is added to learn more), so
a report of the issue as an earlier write left it, queued behind the transition, changes nothing:

- mode `two_way`/`outbound` only (anything else: done, nothing sent); one item: its outbound mapping;
  several (a grouped ticket): `domain.grouping.ticket_target`, with the issue's current status and
  the site's done statuses;
- one item whose link knows its Jira status and issue type, with a transition to the target
  remembered for that workflow (`transition_cache`), on the operation's first attempt: the transition
  is posted at once, one call (a later attempt reads the issue first: the earlier one may have moved
  it before its worker died);
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
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from jirabridge import jira
from jirabridge.domain import grouping, mappings
from jirabridge.domain import transition_fields as screens
from jirabridge.domain.inbound import own_write_at
from jirabridge.domain.outcomes import Done, Fail, IssueStatusSeen, Job, Outcome
from jirabridge.service.sites.project_rows import project_of
from jirabridge.service.tickets import status_sync
from jirabridge.service.tickets.issue_links import issue_not_found
from jirabridge.service.tickets.status_sync import StatusPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers.steps import Step
from jirabridge.workers.transition_cache import TransitionCache, screen_of

if TYPE_CHECKING:
    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")


class SyncStatus:
    def __init__(self, container: Container, pool: JiraPool) -> None:
        self.container = container
        self.pool = pool
        self.transitions = TransitionCache()

    async def __call__(self, job: Job, plan: StatusPlan) -> Outcome:
        site_id, key = plan.site_id, plan.issue_key
        if (unlinked := common.unless_linked(plan.links)) is not None:
            return unlinked
        if plan.mode not in common.PUSHING_MODES:
            return Done({"skipped": f"status_sync_{plan.mode or 'unset'}"})
        if not plan.item_statuses:
            return Done({"skipped": "no_items"})
        grouped = len(plan.item_statuses) > 1
        target = None if grouped else mappings.outbound_status(plan.mapping, plan.item_statuses[0])
        if not grouped and target is None:
            return Done({"skipped": "unmapped_status"})
        if target is not None:
            quick = await self._remembered(job, plan, target)
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
                read_at = issue.fields.updated
                current = issue.fields.status.name if issue.fields.status else None
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
                    # What was seen is right: the links take it, which clears an earlier failure.
                    seen = None
                    if status is not None:
                        category = status.status_category.key if status.status_category else None
                        seen = IssueStatusSeen(status.name, category, type_id, read_at)
                    return Done({"skipped": "already_in_status", "status": current}, value=seen)
                transition = next(
                    (t for t in issue.transitions or [] if mappings.same_name(t.to.name, target)), None
                )
                if transition is None:
                    detail = f"No transition from '{current}' to '{target}'"
                    return _failed(key, "transition_not_allowed", detail, **{"from": current, "to": target})
                filled = _filled(plan, screen_of(transition), target)
                if filled.missing:
                    return _field_required(key, current, target, filled.missing)
                before = self.container.clock.now()
                await client.issues.transition(
                    key, transition.id, fields=filled.fields or None, update=filled.update or None
                )
        except jira.NotFound:
            return issue_not_found(key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        to = transition.to
        category = to.status_category.key if to.status_category else None
        log.info("jira.transition.done issue=%s from=%s to=%s", key, current, to.name)
        seen = IssueStatusSeen(to.name, category, type_id, own_write_at(before, read_at))
        return Done({"from": current, "to": to.name}, value=seen)

    async def _remembered(self, job: Job, plan: StatusPlan, target: str) -> Outcome | None:
        """Post the transition remembered for the link's workflow and status; None: read the issue."""
        site_id, key = plan.site_id, plan.issue_key
        if (
            plan.issue_type_id is None
            or plan.link_status is None
            or mappings.same_name(plan.link_status, target)
        ):
            return None  # "already there" is always checked against Jira
        if job.attempts > 1:
            # An earlier attempt may have moved the issue and died before recording it: the link's
            # status is then stale, and a workflow whose target can be reached from anywhere would
            # take the same move twice. Read the issue first.
            return None
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
            return issue_not_found(key)
        except common.CALL_ERRORS as error:
            return common.classify(error)
        log.info(
            "jira.transition.done issue=%s from=%s to=%s remembered=true", key, plan.link_status, known.to
        )
        seen = IssueStatusSeen(known.to, known.category, plan.issue_type_id, own_write_at(before))
        return Done({"from": plan.link_status, "to": known.to}, value=seen)


def _field_required(key: str, current: str | None, target: str, missing: list[screens.MissingField]) -> Fail:
    detail = screens.missing_detail(missing, key, current, target)
    fields = [{"field": m.field_id, "name": m.name, "setting": m.setting} for m in missing]
    return _failed(
        key, "transition_field_required", detail, **{"from": current, "to": target, "fields": fields}
    )


def _failed(key: str, reason: str, detail: str, **data: object) -> Fail:
    """Jira is left alone: applied, the links show the failure and each linked item gets a
    `sync.failed` event (`service.tickets.issue_links.apply_failure`)."""
    log.info("jira.transition.failed issue=%s reason=%s", key, reason)
    return Fail(reason, detail, announced=True, data=data)


def _filled(plan: StatusPlan, screen: tuple[screens.ScreenField, ...] | None, target: str) -> screens.Filled:
    """The fields and updates `transition_fields[<target>]` of the project settings give this screen."""
    assert plan.item is not None  # a sync without items ends before any transition
    return screens.fill(screen, plan.transition_fields, target, plan.item)


def make_sync_status_handler(container: Container, pool: JiraPool) -> Step[StatusPlan]:
    return Step(load=status_sync.load, run=SyncStatus(container, pool), apply=status_sync.apply)
