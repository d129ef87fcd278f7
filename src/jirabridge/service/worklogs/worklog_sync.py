"""`worklog.sync`, the service's side: what the handler needs, and what its outcome means to the entry.

`load` reads, in the claim's transaction, the entry as it is then, the workspace's worklog settings
and what the entry wants on the operation's issue, and decides the step (`domain.worklogs.next_step`)
into a `WorklogPlan`. What must be on the entry *before* Jira is called is written there too, and
commits with the claim: for a create, the worklog's issue and a fresh marker (the worklog property
the next attempt looks for when this one's answer is lost); for a create or an update, the values
being sent (`sending`), so a write whose answer was lost is not taken for a person's edit. A lost
answer, or a worker that died after the call, then never makes a second worklog.

The handler (`workers/jira_worklogs.py`) decides with Jira; `apply` records, in the transaction that
completes the operation, what each outcome means:

- `WorklogWritten` (created, adopted, updated): the entry records the worklog, what it holds and when;
  a `worklog.synced` event; its state is evaluated again, and more work queued if the entry changed
  meanwhile (or, after an adoption, still needs an update or a move);
- `WorklogDeleted`: the entry forgets the worklog; a `worklog.deleted` event; `deleted` (with why) or
  evaluated again (after a move, the create on the new issue is queued);
- `WorklogDrifted`: a person's edit, reported (`worklog_drift.mark_drifted`), never overwritten;
- `WorklogUnchanged`: the state follows from the entry's facts; a lost create not found in Jira is
  forgotten and queued again;
- `WorklogNotWritten`: a state only Jira's answer tells (failed, waiting, issue not found), kept only
  if the host has not changed the entry since it was read; a reserved create Jira surely did not
  apply is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from jirabridge.domain import worklogs
from jirabridge.domain.operations import SyncWorklog
from jirabridge.domain.outcomes import (
    Job,
    Outcome,
    WorklogDeleted,
    WorklogDrifted,
    WorklogNotWritten,
    WorklogUnchanged,
    WorklogWritten,
)
from jirabridge.domain.worklogs import State, Step, Values
from jirabridge.ids import new_id
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.worklogs import time_entries
from jirabridge.service.worklogs.worklog_drift import mark_drifted
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import TimeEntry

KIND = SyncWorklog.KIND
Estimate = Literal["auto", "leave"]


@dataclass(frozen=True)
class WorklogPlan:
    entry_id: str
    site_id: str
    issue_key: str
    skip: str | None = None  # nothing to do in Jira, and why (the operation's result says it)
    settle: bool = False  # with `skip`: the entry's state is evaluated again all the same
    user_id: str = ""
    version: int = 0  # the entry's, as read
    step: Step = Step.NOTHING
    # A create was sent and its answer never stored: the marker to look for on the issue first.
    unconfirmed: str | None = None
    marker: str | None = None  # the create's marker, reserved with the claim (step CREATE)
    worklog_id: str | None = None
    written: Values | None = None  # what jirabridge wrote, as it last knew
    sending: Values | None = None  # what an earlier write whose answer was lost was sending
    values: Values | None = None  # what the entry wants on this issue (CREATE, UPDATE)
    estimate: Estimate = "auto"


def load(uow: UnitOfWork, job: Job) -> WorklogPlan:
    op = job.operation_as(SyncWorklog)
    issue = op.issue_key
    plan = WorklogPlan(op.entry_id, op.site_id, issue)
    entry = uow.time_entries.loose(job.workspace_id, op.entry_id)  # read only: changes go by note_sending
    if entry is None:
        return _skip(plan, "entry_gone")
    settings = workspace_settings.load(uow, job.workspace_id)
    if entry.drift is not None or not settings.worklogs.enabled:
        return _skip(plan, "drifted" if entry.drift is not None else "worklog_sync_off", settle=True)
    _, want = time_entries.wanted(entry, settings, user_connected=True)
    if entry.worklog_issue_key not in (None, issue):
        return _skip(plan, "worklog_on_another_issue")
    if entry.worklog_issue_key is None and (want is None or want.issue_key != issue):
        return _skip(plan, "not_for_this_issue")
    written, sending = Values.from_json(entry.written), Values.from_json(entry.sending)
    unconfirmed = marker = None
    worklog_id = entry.worklog_id
    step = Step.NOTHING
    if entry.worklog_issue_key is not None and entry.worklog_id is None:
        unconfirmed = entry.create_marker or ""
    else:
        step = worklogs.next_step(
            worklog_issue=entry.worklog_issue_key,
            written=written,
            wanted=want,
            delete_worklog=entry.deleted_at is not None and entry.delete_worklog,
        )
        if step in (Step.CREATE, Step.UPDATE):  # before the call: see the module docstring
            assert want is not None
            if step is Step.CREATE:
                marker, worklog_id = new_id("wl"), None
            create = (issue, marker) if marker is not None else None
            uow.time_entries.note_sending(job.workspace_id, op.entry_id, want.values.to_json(), create=create)
    return WorklogPlan(
        op.entry_id,
        op.site_id,
        issue,
        user_id=entry.user_id,
        version=entry.version,
        step=step,
        unconfirmed=unconfirmed,
        marker=marker,
        worklog_id=worklog_id,
        written=written,
        sending=sending,
        values=want.values if want is not None and want.issue_key == issue else None,
        estimate="leave" if settings.worklogs.estimate == "leave" else "auto",
    )


def _skip(plan: WorklogPlan, why: str, *, settle: bool = False) -> WorklogPlan:
    return WorklogPlan(plan.entry_id, plan.site_id, plan.issue_key, skip=why, settle=settle)


def apply(uow: UnitOfWork, job: Job, outcome: Outcome, now: datetime) -> None:
    op = job.operation_as(SyncWorklog)
    # The workspace lock first, as the host's changes to an entry take it: the entry read below is
    # then the latest, and written whole, with one UPDATE, at the end (read as columns: a fifth of
    # the ORM's load and flush).
    time_entries.lock_workspace(uow, job.workspace_id)
    entry = uow.time_entries.loose(job.workspace_id, op.entry_id)
    if entry is None:
        return
    _apply(uow, entry, op.issue_key, outcome, now)
    uow.time_entries.replace(entry)


def _apply(uow: UnitOfWork, entry: TimeEntry, issue: str, outcome: Outcome, now: datetime) -> None:
    match outcome.value:
        case WorklogWritten() as written:
            _written(uow, entry, issue, written, now)
        case WorklogDeleted() as deleted:
            _deleted(uow, entry, issue, deleted, now)
        case WorklogDrifted(worklog_id=worklog_id, changes=changes) if entry.worklog_id == worklog_id:
            entry.sending = None  # nothing was sent: the edit stands
            if entry.deleted_at is None:
                mark_drifted(uow, entry, changes, now)
            else:  # a deleted entry stays deleted; its reason says why the worklog stays
                entry.drift = changes
                entry.version = (entry.version or 0) + 1
                time_entries.settle(uow, entry, now, source="jira", enqueue=False)
        case WorklogUnchanged(create_not_found=not_found):
            if not_found:
                _forget_create(entry)
            # It queues nothing unless the create is forgotten: the work a host change implies was
            # queued with that change, and an operation that did nothing must not queue itself again.
            time_entries.settle(uow, entry, now, source="jirabridge", enqueue=not_found)
        case WorklogNotWritten() as unwritten:
            _not_written(uow, entry, issue, unwritten, now)
        case _:
            pass


def _written(uow: UnitOfWork, entry: TimeEntry, issue: str, written: WorklogWritten, now: datetime) -> None:
    if written.action != "updated":
        entry.worklog_issue_key, entry.worklog_id, entry.create_marker = issue, written.worklog_id, None
    entry.written = written.values.to_json()
    entry.sending = None
    entry.synced_at = now
    _synced_event(uow, entry, now, written.action)
    # The entry may want more already (changed while this ran; an adopted worklog's update or move).
    # The settings as the event's lock read them (not the workspace row loaded again).
    settings = time_entries.lock_workspace(uow, entry.workspace_id)
    time_entries.settle(uow, entry, now, source="jirabridge", settings=settings)


def _deleted(uow: UnitOfWork, entry: TimeEntry, issue: str, deleted: WorklogDeleted, now: datetime) -> None:
    entry.worklog_issue_key = entry.worklog_id = entry.create_marker = None
    entry.written = entry.sending = None
    _worklog_event(
        uow,
        entry,
        now,
        "worklog.deleted",
        issue,
        {
            "worklog_id": deleted.worklog_id,
            "issue_key": issue,
            "why": "moved" if deleted.moved else "entry_deleted",
            "already_gone": deleted.already_gone,
        },
    )
    if entry.deleted_at is not None:
        reason = (
            f"worklog {deleted.worklog_id} on {issue} was already gone from Jira (404)"
            if deleted.already_gone
            else f"worklog {deleted.worklog_id} on {issue} was deleted in Jira"
        )
        time_entries.set_state(uow, entry, State.DELETED, reason, now, source="jirabridge")
    else:  # the settings as the event's lock read them, as in `_written`
        settings = time_entries.lock_workspace(uow, entry.workspace_id)
        time_entries.settle(uow, entry, now, source="jirabridge", settings=settings)


def _not_written(
    uow: UnitOfWork, entry: TimeEntry, issue: str, unwritten: WorklogNotWritten, now: datetime
) -> None:
    if unwritten.unsent_marker is not None and entry.create_marker == unwritten.unsent_marker:
        _forget_create(entry)
    if unwritten.state is None:
        return
    if unwritten.state is State.ISSUE_NOT_FOUND:
        keep = entry.issue_key == issue and entry.worklog_id is None
    else:
        keep = entry.version == unwritten.version
    if keep:
        time_entries.set_state(uow, entry, unwritten.state, unwritten.reason, now, source="jirabridge")


def _forget_create(entry: TimeEntry) -> None:
    """A create that is not in Jira: the entry has no worklog."""
    if entry.worklog_id is None:
        entry.worklog_issue_key = entry.create_marker = None
        entry.sending = entry.written = None


def _synced_event(uow: UnitOfWork, entry: TimeEntry, now: datetime, action: str) -> None:
    _worklog_event(
        uow,
        entry,
        now,
        "worklog.synced",
        entry.worklog_issue_key,
        {
            "worklog_id": entry.worklog_id,
            "issue_key": entry.worklog_issue_key,
            "seconds": (entry.written or {}).get("seconds"),
            "action": action,
        },
    )


def _worklog_event(
    uow: UnitOfWork, entry: TimeEntry, now: datetime, type: str, issue_key: str | None, data: dict[str, Any]
) -> None:
    """An event on the entry's feed about what its worklog became in Jira."""
    record_event(
        uow.session,
        workspace_id=entry.workspace_id,
        type=type,
        source="jirabridge",
        at=now,
        item=(time_entries.ITEM_TYPE, entry.id),
        issue_key=issue_key,
        data={"entry": entry.id, "user": entry.user_id, **data},
    )
