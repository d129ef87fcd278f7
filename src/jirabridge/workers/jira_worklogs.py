"""`worklog.sync`: time entries become Jira worklogs authored by their user.

`worklog.sync {entry_id, issue_key}` reconciles one entry with Jira on one issue, as the entry's user
(`JiraPool.client_as_user`), deciding when it runs from the entry as it is then
(`domain.worklogs.next_step`):

- create: the worklog carries the property `jirabridge` = `{"entry", "workspace", "marker"}`. The
  marker and the values are stored on the entry *before* the call; an attempt that finds a marker
  without a worklog id (the answer was lost) lists the issue's worklogs first and adopts the one with
  the marker, so a lost answer never makes a second worklog. (Worklogs are read directly, not through
  the search index: no lag to allow for.)
- update: the worklog is read first and compared with what jirabridge wrote (and what it was sending);
  a difference is a person's edit: the entry becomes `drifted` and nothing is written.
- move (the key changed): the same check, then delete on the old issue; the create on the new issue is
  queued behind that issue's other work.
- delete (the entry was deleted with `delete_worklogs` on): the same check (a worklog a person edited
  stays), then best effort. 404 means it is gone already; 403, a permission refusal (Jira says 400)
  or a closed issue (a non-editable status) is recorded on the entry with the reason, reported as a
  failure and not retried.

`adjustEstimate` is the workspace's `worklogs.estimate` (`auto` or `leave`) on every call.

`worklog.drift` (a person's edits found by a periodic check) is in jira_worklog_drift.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from jirabridge import jira
from jirabridge.adapters.jira_pool import UserNotConnected
from jirabridge.domain import worklogs
from jirabridge.domain.operations import CheckWorklogDrift
from jirabridge.domain.operations import SyncWorklog as SyncWorklogOp
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.domain.worklogs import State, Step, Values, Wanted
from jirabridge.ids import new_id
from jirabridge.service import settings as workspace_settings
from jirabridge.service import time_entries
from jirabridge.service.db import run_db
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import TimeEntry
from jirabridge.workers import jira_common as common
from jirabridge.workers import registry
from jirabridge.workers.jira_worklog_drift import make_drift_handler, mark_drifted, seen_values

if TYPE_CHECKING:
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.worker.jira")

PROPERTY_KEY = "jirabridge"
Estimate = Literal["auto", "leave"]


@dataclass(frozen=True)
class _Snapshot:
    """The entry as the operation found it (plain values: no session outside `run_db`)."""

    user_id: str
    version: int
    deleted: bool
    delete_worklog: bool
    drifted: bool
    worklog_issue: str | None
    worklog_id: str | None
    create_marker: str | None
    written: Values | None
    sending: Values | None
    wanted: Wanted | None
    enabled: bool
    estimate: str


def _load(uow: UnitOfWork, workspace_id: str, entry_id: str) -> _Snapshot | None:
    entry = uow.session.get(TimeEntry, (workspace_id, entry_id))
    if entry is None:
        return None
    settings = workspace_settings.load(uow, workspace_id)
    _, want = time_entries.wanted(entry, settings, user_connected=True)
    return _Snapshot(
        user_id=entry.user_id,
        version=entry.version,
        deleted=entry.deleted_at is not None,
        delete_worklog=entry.delete_worklog,
        drifted=entry.drift is not None,
        worklog_issue=entry.worklog_issue_key,
        worklog_id=entry.worklog_id,
        create_marker=entry.create_marker,
        written=Values.from_json(entry.written),
        sending=Values.from_json(entry.sending),
        wanted=want,
        enabled=settings.worklogs.enabled,
        estimate=settings.worklogs.estimate,
    )


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


class SyncWorklog:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.pool = common.pool_for(container)

    async def __call__(self, job: Job) -> Outcome:
        op = job.operation_as(SyncWorklogOp)
        entry_id, issue, site_id = op.entry_id, op.issue_key, op.site_id
        snap = await run_db(self.container, lambda uow: _load(uow, job.workspace_id, entry_id))
        if snap is None:
            return Done({"skipped": "entry_gone"})
        if snap.drifted or not snap.enabled:
            await self._settle(job, entry_id)
            return Done({"skipped": "drifted" if snap.drifted else "worklog_sync_off"})
        if snap.worklog_issue not in (None, issue):
            return Done({"skipped": "worklog_on_another_issue"})
        if snap.worklog_issue is None and (snap.wanted is None or snap.wanted.issue_key != issue):
            return Done({"skipped": "not_for_this_issue"})
        try:
            async with self.pool.client_as_user(
                site_id, snap.user_id, workspace_id=job.workspace_id
            ) as client:
                return await self._reconcile(client, job, entry_id, issue, snap)
        except UserNotConnected:
            await self._outcome(job, entry_id, snap, State.WAITING_FOR_USER_MAPPING, worklogs.WAITING_REASON)
            return Done({"state": State.WAITING_FOR_USER_MAPPING.value})
        except _Refused as refused:
            await self._outcome(job, entry_id, snap, State.FAILED, f"{refused.reason}: {refused.detail}")
            return Fail(refused.reason, refused.detail)
        except common.CALL_ERRORS as error:
            if isinstance(error, jira.JiraError) and (refusal := _refusal(error)) is not None:
                await self._outcome(job, entry_id, snap, State.FAILED, f"{refusal[0]}: {refusal[1]}")
                return Fail(*refusal)
            outcome = common.classify(error)
            gives_up = isinstance(outcome, Fail) or job.last_attempt
            if gives_up and isinstance(outcome, Fail | Retry):
                why = f"{outcome.reason}: {outcome.detail}" if outcome.detail else outcome.reason
                await self._outcome(job, entry_id, snap, State.FAILED, why)
            return outcome

    # -- Jira --------------------------------------------------------------------------------------

    async def _reconcile(
        self, client: jira.JiraClient, job: Job, entry_id: str, issue: str, snap: _Snapshot
    ) -> Outcome:
        worklog_issue, worklog_id, written = snap.worklog_issue, snap.worklog_id, snap.written
        if worklog_issue is not None and worklog_id is None:
            # A create was sent and its answer never stored: adopt what it made, if anything.
            marker = snap.create_marker or ""
            found = next((w for w in await client.worklogs.list(issue) if _carries(w, marker)), None)
            if found is not None:
                log.info("jira.worklog.adopted op=%s issue=%s worklog=%s", job.id, issue, found.id)
                worklog_id, written = found.id, snap.sending
                await self._created(job, entry_id, issue, found, snap.sending, adopted=True)
            else:
                worklog_issue = None
                await self._forget_create(job, entry_id)
            if worklog_issue is None and (snap.wanted is None or snap.wanted.issue_key != issue):
                await self._settle(job, entry_id, enqueue=True)  # the create on the new key, if any
                return Done({"skipped": "not_for_this_issue"})
        step = worklogs.next_step(
            worklog_issue=worklog_issue,
            written=written,
            wanted=snap.wanted,
            delete_worklog=snap.deleted and snap.delete_worklog,
        )
        estimate: Estimate = "leave" if snap.estimate == "leave" else "auto"
        if step is Step.NOTHING:
            await self._settle(job, entry_id)
            return Done({"step": step.value})
        if step is Step.CREATE:
            assert snap.wanted is not None
            return await self._create(client, job, entry_id, issue, snap.wanted.values, estimate)
        assert worklog_id is not None
        if step in (Step.UPDATE, Step.MOVE, Step.DELETE):  # never over (or away) a person's edit
            changes = await self._person_changed(client, issue, worklog_id, written, snap.sending)
            if changes is not None:
                await self._drifted(job, entry_id, issue, worklog_id, changes)
                return Done({"state": State.DRIFTED.value})
        if step is Step.UPDATE:
            assert snap.wanted is not None
            values = snap.wanted.values
            await self._sending(job, entry_id, values)
            updated = await client.worklogs.update(
                issue,
                worklog_id,
                started=values.started,
                time_spent_seconds=values.seconds,
                comment=values.comment or None,
                adjust_estimate=estimate,
            )
            await self._updated(job, entry_id, issue, updated, values)
            return Done({"step": step.value, "worklog_id": updated.id})
        # MOVE or DELETE: the worklog goes from this issue.
        try:
            await client.worklogs.delete(issue, worklog_id, adjust_estimate=estimate)
            gone_already = False
        except jira.NotFound:
            gone_already = True
        except jira.JiraError as error:
            refusal = _refusal(error)
            if refusal is None:
                raise
            what = "moved" if step is Step.MOVE else "deleted"
            raise _Refused(refusal[0], f"the worklog could not be {what}: {refusal[1]}") from None
        await self._deleted(
            job, entry_id, issue, worklog_id, moved=step is Step.MOVE, gone_already=gone_already
        )
        return Done({"step": step.value, "worklog_id": worklog_id})

    async def _create(
        self, client: jira.JiraClient, job: Job, entry_id: str, issue: str, values: Values, estimate: Estimate
    ) -> Outcome:
        marker = new_id("wl")
        await self._sending(job, entry_id, values, create_on=issue, marker=marker)
        try:
            created = await client.worklogs.add(
                issue,
                started=values.started,
                time_spent_seconds=values.seconds,
                comment=values.comment or None,
                adjust_estimate=estimate,
                properties={
                    PROPERTY_KEY: {"entry": entry_id, "workspace": job.workspace_id, "marker": marker}
                },
            )
        except jira.JiraError as error:
            if not jira.maybe_applied(error):
                await self._forget_create(job, entry_id)  # Jira said it was not applied
            if isinstance(error, jira.NotFound):
                await self._issue_not_found(job, entry_id, issue)
                return Done({"state": State.ISSUE_NOT_FOUND.value})
            raise
        await self._created(job, entry_id, issue, created, values, adopted=False)
        return Done({"step": Step.CREATE.value, "worklog_id": created.id})

    @staticmethod
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

    # -- database ----------------------------------------------------------------------------------

    async def _settle(self, job: Job, entry_id: str, *, enqueue: bool = False) -> None:
        """The entry's state after an operation that wrote nothing. It queues nothing unless asked:
        the work a host change implies was queued with that change."""

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is not None:
                time_entries.settle(
                    uow, entry, self.container.clock.now(), source="jirabridge", enqueue=enqueue
                )
                uow.commit()

        await run_db(self.container, save)

    async def _outcome(self, job: Job, entry_id: str, snap: _Snapshot, state: State, reason: str) -> None:
        """A state only Jira's answer tells (failed, waiting); kept only if the host has not changed the
        entry meanwhile — then the work its change queued decides."""
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None or entry.version != snap.version:
                return
            time_entries.set_state(uow, entry, state, reason, now, source="jirabridge")
            uow.commit()

        await run_db(self.container, save)

    async def _sending(
        self,
        job: Job,
        entry_id: str,
        values: Values,
        *,
        create_on: str | None = None,
        marker: str | None = None,
    ) -> None:
        """Written before the call: if its answer is lost, the next attempt knows what it may find."""

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None:
                return
            entry.sending = values.to_json()
            if create_on is not None:
                entry.worklog_issue_key, entry.worklog_id, entry.create_marker = create_on, None, marker
            uow.commit()

        await run_db(self.container, save)

    async def _forget_create(self, job: Job, entry_id: str) -> None:
        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None or entry.worklog_id is not None:
                return
            entry.worklog_issue_key = entry.create_marker = None
            entry.sending = entry.written = None
            uow.commit()

        await run_db(self.container, save)

    async def _created(
        self,
        job: Job,
        entry_id: str,
        issue: str,
        worklog: jira.Worklog,
        values: Values | None,
        *,
        adopted: bool,
    ) -> None:
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None:
                return
            entry.worklog_issue_key, entry.worklog_id, entry.create_marker = issue, worklog.id, None
            entry.written = (values or seen_values(worklog)).to_json()
            entry.sending = None
            entry.synced_at = now
            _synced_event(uow, entry, now, "adopted" if adopted else "created")
            # An adopted worklog may need more (an update, a move): this operation goes on with it.
            time_entries.settle(uow, entry, now, source="jirabridge", enqueue=not adopted)
            uow.commit()

        await run_db(self.container, save)

    async def _updated(
        self, job: Job, entry_id: str, issue: str, worklog: jira.Worklog, values: Values
    ) -> None:
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None:
                return
            entry.written, entry.sending, entry.synced_at = values.to_json(), None, now
            _synced_event(uow, entry, now, "updated")
            time_entries.settle(uow, entry, now, source="jirabridge")
            uow.commit()

        await run_db(self.container, save)

    async def _deleted(
        self, job: Job, entry_id: str, issue: str, worklog_id: str, *, moved: bool, gone_already: bool
    ) -> None:
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None:
                return
            entry.worklog_issue_key = entry.worklog_id = entry.create_marker = None
            entry.written = entry.sending = None
            record_event(
                uow.session,
                workspace_id=job.workspace_id,
                type="worklog.deleted",
                source="jirabridge",
                at=now,
                item=(time_entries.ITEM_TYPE, entry_id),
                issue_key=issue,
                data={
                    "entry": entry_id,
                    "user": entry.user_id,
                    "worklog_id": worklog_id,
                    "issue_key": issue,
                    "why": "moved" if moved else "entry_deleted",
                    "already_gone": gone_already,
                },
            )
            if entry.deleted_at is not None:
                reason = (
                    f"worklog {worklog_id} on {issue} was already gone from Jira (404)"
                    if gone_already
                    else f"worklog {worklog_id} on {issue} was deleted in Jira"
                )
                time_entries.set_state(uow, entry, State.DELETED, reason, now, source="jirabridge")
            else:
                time_entries.settle(uow, entry, now, source="jirabridge")
            uow.commit()

        await run_db(self.container, save)

    async def _issue_not_found(self, job: Job, entry_id: str, issue: str) -> None:
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None or entry.issue_key != issue or entry.worklog_id is not None:
                return
            reason = f"issue {issue} does not exist on the site (or the user cannot see it)"
            time_entries.set_state(uow, entry, State.ISSUE_NOT_FOUND, reason, now, source="jirabridge")
            uow.commit()

        await run_db(self.container, save)

    async def _drifted(
        self, job: Job, entry_id: str, issue: str, worklog_id: str, changes: dict[str, Any]
    ) -> None:
        now = self.container.clock.now()

        def save(uow: UnitOfWork) -> None:
            entry = uow.session.get(TimeEntry, (job.workspace_id, entry_id))
            if entry is None or entry.worklog_id != worklog_id:
                return
            if entry.deleted_at is None:
                mark_drifted(uow, entry, changes, now)
            else:  # a deleted entry stays deleted; its reason says why the worklog stays
                entry.drift = changes
                entry.version = (entry.version or 0) + 1
                time_entries.settle(uow, entry, now, source="jira", enqueue=False)
            uow.commit()

        await run_db(self.container, save)


def _synced_event(uow: UnitOfWork, entry: TimeEntry, now: datetime, action: str) -> None:
    record_event(
        uow.session,
        workspace_id=entry.workspace_id,
        type="worklog.synced",
        source="jirabridge",
        at=now,
        item=(time_entries.ITEM_TYPE, entry.id),
        issue_key=entry.worklog_issue_key,
        data={
            "entry": entry.id,
            "user": entry.user_id,
            "worklog_id": entry.worklog_id,
            "issue_key": entry.worklog_issue_key,
            "seconds": (entry.written or {}).get("seconds"),
            "action": action,
        },
    )


def make_sync_handler(container: Container) -> Handler:
    return SyncWorklog(container)


registry.register(SyncWorklogOp, make_sync_handler)
registry.register(CheckWorklogDrift, make_drift_handler)
