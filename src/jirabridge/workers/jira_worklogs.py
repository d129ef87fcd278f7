"""`worklog.sync`: time entries become Jira worklogs authored by their user.

`worklog.sync {entry_id, issue_key}` reconciles one entry with Jira on one issue, as the entry's user
(`JiraPool.client_as_user`), deciding when it runs from the entry as it is then
(`domain.worklogs.next_step`):

- create: the worklog carries the property `jirabridge` = `{"entry", "workspace", "marker"}`. The
  marker and the values are stored on the entry *before* the call (with the claim); an attempt that
  finds a marker without a worklog id (the answer was lost) lists the issue's worklogs first and
  adopts the one with the marker, so a lost answer never makes a second worklog. (Worklogs are read
  directly, not through the search index: no lag to allow for.)
- update: the worklog is read first and compared with what jirabridge wrote (and what it was sending);
  a difference is a person's edit: the entry becomes `drifted` and nothing is written.
- move (the key changed): the same check, then delete on the old issue; the create on the new issue is
  queued behind that issue's other work (by `apply`).
- delete (the entry was deleted with `delete_worklogs` on): the same check (a worklog a person edited
  stays), then best effort. 404 means it is gone already; 403, a permission refusal (Jira says 400)
  or a closed issue (a non-editable status) is recorded on the entry with the reason, reported as a
  failure and not retried.

`adjustEstimate` is the workspace's `worklogs.estimate` (`auto` or `leave`) on every call.

A step (`workers/steps.py`): `service/worklogs/worklog_sync.py` loads the entry and decides the step in the
claim's transaction — writing there what must be on the entry before the call (the create's issue and
marker, the values being sent) — this handler talks to Jira as the entry's user and touches no
storage, and `service/worklog_sync.apply` records its outcome with the operation. A create whose
answer was lost is looked for first, and that attempt ends there: adopted, or forgotten and queued
again (the next operation reserves a new marker before creating).

`worklog.drift` (a person's edits found by a periodic check) is in jira_worklog_drift.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jirabridge import jira
from jirabridge.adapters.jira_pool import JiraPool, UserNotConnected
from jirabridge.domain import worklogs
from jirabridge.domain.outcomes import (
    Done,
    Fail,
    Job,
    Outcome,
    Retry,
    WorklogDeleted,
    WorklogDrifted,
    WorklogNotWritten,
    WorklogUnchanged,
    WorklogWritten,
)
from jirabridge.domain.worklogs import State, Step, Values
from jirabridge.service.worklogs import worklog_sync
from jirabridge.service.worklogs.worklog_sync import WorklogPlan
from jirabridge.workers import jira_common as common
from jirabridge.workers import steps
from jirabridge.workers.jira_worklog_drift import seen_values

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

PROPERTY_KEY = "jirabridge"


def _carries(worklog: jira.Worklog, marker: str) -> bool:
    for prop in worklog.properties or []:
        if prop.key == PROPERTY_KEY and isinstance(prop.value, dict) and prop.value.get("marker") == marker:
            return True
    return False


def _refusal(error: jira.JiraError) -> tuple[str, str] | None:
    """Refusals a person must resolve (never retried): reason and detail, or None."""
    detail = common.describe(error)
    if isinstance(error, jira.TokenExpired):
        return (
            "user_token_expired",
            "the user's Jira authorisation expired or was revoked: they must connect again",
        )
    if isinstance(error, jira.Unauthorized | jira.OAuthError):
        return "user_unauthorized", "Jira rejected the user's credentials (401): they must connect again"
    if isinstance(error, jira.Forbidden):
        return "forbidden", detail
    if isinstance(error, jira.BadRequest):
        words = " ".join([*error.messages, *map(str, error.field_errors.values())]).lower()
        if "non-editable" in words:
            return "issue_closed", detail  # Jira: "…as it is in a non-editable workflow state."
        if "permission" in words:
            return "forbidden", detail  # Jira refuses worklog permissions with 400, not 403
        return "bad_request", detail
    return None


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _unwritten(
    plan: WorklogPlan, state: State | None, reason: str | None, *, unsent: bool
) -> WorklogNotWritten:
    """Nothing written; `unsent`: the create this attempt reserved (if any) surely never reached Jira."""
    return WorklogNotWritten(state, reason, plan.version, plan.marker if unsent else None)


class SyncWorklog:
    def __init__(self, pool: JiraPool) -> None:
        self.pool = pool

    async def __call__(self, job: Job, plan: WorklogPlan) -> Outcome:
        if plan.skip is not None:
            return Done({"skipped": plan.skip}, value=WorklogUnchanged() if plan.settle else None)
        try:
            async with self.pool.client_as_user(
                plan.site_id, plan.user_id, workspace_id=job.workspace_id
            ) as client:
                if plan.unconfirmed is not None:
                    return await self._look_for_create(client, job, plan, plan.unconfirmed)
                return await self._reconcile(client, job, plan)
        except UserNotConnected:
            waiting = State.WAITING_FOR_USER_MAPPING
            return Done(
                {"state": waiting.value},
                value=_unwritten(plan, waiting, worklogs.WAITING_REASON, unsent=True),
            )
        except _Refused as refused:
            why = f"{refused.reason}: {refused.detail}"
            return Fail(
                refused.reason, refused.detail, value=_unwritten(plan, State.FAILED, why, unsent=True)
            )
        except common.CALL_ERRORS as error:
            unsent = not jira.maybe_applied(error)
            if isinstance(error, jira.JiraError) and (refusal := _refusal(error)) is not None:
                why = f"{refusal[0]}: {refusal[1]}"
                return Fail(*refusal, value=_unwritten(plan, State.FAILED, why, unsent=unsent))
            outcome = common.classify(error)
            state = reason = None
            # The attempt gives up: a failure, or a counted retry on the last attempt (an uncounted
            # one, such as a paused site's, made no call and leaves the operation pending).
            last = isinstance(outcome, Retry) and outcome.counted and job.last_attempt
            if isinstance(outcome, Fail | Retry) and (isinstance(outcome, Fail) or last):
                state = State.FAILED
                reason = f"{outcome.reason}: {outcome.detail}" if outcome.detail else outcome.reason
            return replace(outcome, value=_unwritten(plan, state, reason, unsent=unsent))

    async def _look_for_create(
        self, client: jira.JiraClient, job: Job, plan: WorklogPlan, marker: str
    ) -> Outcome:
        """A create was sent and its answer never stored: adopt what it made, if anything. Either way
        the attempt ends; `apply` queues what the entry still needs (an update, a move, the create)."""
        issue = plan.issue_key
        found = next((w for w in await client.worklogs.list(issue) if _carries(w, marker)), None)
        if found is None:
            log.info("jira.worklog.create_not_found op=%s issue=%s", job.id, issue)
            return Done({"skipped": "create_not_found"}, value=WorklogUnchanged(create_not_found=True))
        log.info("jira.worklog.adopted op=%s issue=%s worklog=%s", job.id, issue, found.id)
        values = plan.sending or seen_values(found)
        return Done(
            {"step": "adopt", "worklog_id": found.id}, value=WorklogWritten("adopted", found.id, values)
        )

    async def _reconcile(self, client: jira.JiraClient, job: Job, plan: WorklogPlan) -> Outcome:
        step, issue = plan.step, plan.issue_key
        if step is Step.NOTHING:
            return Done({"step": step.value}, value=WorklogUnchanged())
        if step is Step.CREATE:
            return await self._create(client, job, plan)
        worklog_id = plan.worklog_id
        assert worklog_id is not None
        # Never over (or away) a person's edit.
        changes = await _person_changed(client, issue, worklog_id, plan.written, plan.sending)
        if changes is not None:
            return Done({"state": State.DRIFTED.value}, value=WorklogDrifted(worklog_id, changes))
        if step is Step.UPDATE:
            values = plan.values
            assert values is not None
            updated = await client.worklogs.update(
                issue,
                worklog_id,
                started=values.started,
                time_spent_seconds=values.seconds,
                comment=values.comment or None,
                adjust_estimate=plan.estimate,
            )
            return Done(
                {"step": step.value, "worklog_id": updated.id},
                value=WorklogWritten("updated", updated.id, values),
            )
        # MOVE or DELETE: the worklog goes from this issue.
        try:
            await client.worklogs.delete(issue, worklog_id, adjust_estimate=plan.estimate)
            gone_already = False
        except jira.NotFound:
            gone_already = True
        except jira.JiraError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            what = "moved" if step is Step.MOVE else "deleted"
            raise _Refused(refusal[0], f"the worklog could not be {what}: {refusal[1]}") from None
        return Done(
            {"step": step.value, "worklog_id": worklog_id},
            value=WorklogDeleted(worklog_id, moved=step is Step.MOVE, already_gone=gone_already),
        )

    async def _create(self, client: jira.JiraClient, job: Job, plan: WorklogPlan) -> Outcome:
        values, marker, issue = plan.values, plan.marker, plan.issue_key
        assert values is not None and marker is not None
        try:
            created = await client.worklogs.add(
                issue,
                started=values.started,
                time_spent_seconds=values.seconds,
                comment=values.comment or None,
                adjust_estimate=plan.estimate,
                properties={
                    PROPERTY_KEY: {"entry": plan.entry_id, "workspace": job.workspace_id, "marker": marker}
                },
            )
        except jira.NotFound:
            reason = f"issue {issue} does not exist on the site (or the user cannot see it)"
            return Done(
                {"state": State.ISSUE_NOT_FOUND.value},
                value=_unwritten(plan, State.ISSUE_NOT_FOUND, reason, unsent=True),
            )
        return Done(
            {"step": Step.CREATE.value, "worklog_id": created.id},
            value=WorklogWritten("created", created.id, values),
        )


async def _person_changed(
    client: jira.JiraClient, issue: str, worklog_id: str, written: Values | None, sending: Values | None
) -> dict[str, Any] | None:
    """What a person changed in the worklog since jirabridge wrote it (None: nothing)."""
    if written is None:
        return None  # the host asked to resync: write over whatever is there
    try:
        seen: Values | None = seen_values(await client.worklogs.get(issue, worklog_id))
    except jira.NotFound:
        seen = None
    changes = worklogs.drift(written, seen)
    if changes is not None and sending is not None and worklogs.drift(sending, seen) is None:
        return None  # what Jira shows is what jirabridge was writing when its answer was lost
    return changes


def make_sync_handler(container: Container, pool: JiraPool) -> steps.Step[WorklogPlan]:
    return steps.Step(
        load=worklog_sync.load,
        run=SyncWorklog(pool),
        apply=worklog_sync.apply,
        acts_as=lambda plan: (plan.site_id, plan.user_id) if plan.skip is None and plan.user_id else None,
    )
