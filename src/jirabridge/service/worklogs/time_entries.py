"""Time entries and their worklogs (SPEC section 3, "Worklogs"): upsert, read, delete, and what each
change implies — a state with its reason, and `worklog.sync` work for the worker in the same
transaction. Jira is never called here.

`evaluate` is the one place that decides an entry's state from the entry, the workspace settings and
the user's connection. The host's changes, a user connecting, worklog sync being switched on and the
worker after each Jira write all call it, so an entry always ends in the state its facts imply.

Worklog work is one operation kind, `worklog.sync {entry_id, issue_key}`, ordered per Jira issue (the
ordering key of every operation on that issue): worklogs of one issue are written one at a time —
concurrent worklog writes corrupt Jira's time spent — and different issues proceed in parallel. An
operation reconciles its entry with Jira *on its issue only*: a changed key is a delete there, after
which the worker queues the create on the new issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jirabridge.domain import site_choice, worklogs
from jirabridge.domain.access import Principal, can_act_for
from jirabridge.domain.issue_keys import first_issue_key
from jirabridge.domain.operations import CheckWorklogDrift, SyncWorklog
from jirabridge.domain.settings import WorkspaceSettings, from_document
from jirabridge.domain.worklogs import State, Values, Wanted
from jirabridge.errors import Conflict, Forbidden, Invalid, NotFound
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import polling
from jirabridge.service.sites import site_projects
from jirabridge.service.sites.sites import connected_site
from jirabridge.service.sites.user_access import find_connection
from jirabridge.service.workspaces import settings as workspace_settings
from jirabridge.service.workspaces.events import rfc3339
from jirabridge.storage import outbox, schedules
from jirabridge.storage.events import lock_workspace as lock_workspace_row
from jirabridge.storage.events import record_event
from jirabridge.storage.tables import Site, TimeEntry
from jirabridge.storage.workspace_locks import workspace_locks_kept

ITEM_TYPE = "time_entry"  # how entries appear in events and failures
DELETING_REASON = "deleting the worklog in Jira"
DRIFT_SCHEDULE_PREFIX = polling.DRIFT_PREFIX  # `POST /api/v1/sync/reconcile` runs these too
NOT_ON_SITE = "project_not_on_site:"
SITE_GONE = "site_disconnected: the Jira site was disconnected; nothing was deleted in Jira"


def drift_schedule_key(site_id: str) -> str:
    return CheckWorklogDrift(site_id).schedule_key()


@dataclass(frozen=True)
class EntryInput:
    """A validated `PUT /api/v1/time-entries/{id}` body (`ended_at` already turned into a duration)."""

    user: str
    started_at: datetime
    duration_s: int | None
    running: bool
    description: str | None = None
    issue_key: str | None = None
    project: str | None = None
    task: str | None = None
    site: str | None = None
    resync: bool = False


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- reading ---------------------------------------------------------------------------------------


def find_entry(uow: UnitOfWork, workspace_id: str, entry_id: str) -> TimeEntry:
    entry = uow.time_entries.get(workspace_id, entry_id)
    if entry is None:
        raise NotFound(f"time entry {entry_id} does not exist")
    return entry


def check_owner(principal: Principal, entry: TimeEntry) -> None:
    """A member key bound to a user reads and changes only that user's entries."""
    if not can_act_for(principal, entry.user_id):
        raise Forbidden(f"this key acts only for user {principal.user_id}; entry {entry.id} is another's")


def entry_json(entry: TimeEntry) -> dict[str, Any]:
    """SPEC section 2, "time entry"."""
    started = _utc(entry.started_at)
    ended = started + timedelta(seconds=entry.duration_s) if entry.duration_s is not None else None
    return {
        "id": entry.id,
        "user": entry.user_id,
        "site": entry.site_id,
        "started_at": rfc3339(started),
        "duration_s": entry.duration_s,
        "ended_at": rfc3339(ended) if ended is not None and not entry.running else None,
        "running": entry.running,
        "description": entry.description,
        "issue_key": entry.issue_key,
        "key_source": entry.key_source,
        "project": entry.project,
        "task": entry.task,
        "deleted": entry.deleted_at is not None,
        "updated_at": rfc3339(entry.updated_at),
        "worklog": {
            "state": entry.state,
            "reason": entry.reason,
            "worklog_id": entry.worklog_id,
            "issue_key": entry.worklog_issue_key if entry.worklog_id is not None else None,
            "seconds": (entry.written or {}).get("seconds") if entry.worklog_id is not None else None,
            "synced_at": rfc3339(entry.synced_at) if entry.synced_at is not None else None,
            "drift": entry.drift,
        },
    }


# -- deciding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    state: State
    reason: str | None
    work_on: str | None = None  # the issue a `worklog.sync` must run on, if any


def wanted(
    entry: TimeEntry, settings: WorkspaceSettings, user_connected: bool
) -> tuple[worklogs.Verdict, Wanted | None]:
    verdict = worklogs.eligibility(
        running=entry.running,
        duration_s=entry.duration_s,
        issue_key=entry.issue_key,
        user_connected=user_connected,
        settings=settings.worklogs,
    )
    if verdict.seconds is None or entry.issue_key is None or entry.deleted_at is not None:
        return verdict, None
    values = Values(verdict.seconds, _utc(entry.started_at), entry.description or "")
    return verdict, Wanted(entry.issue_key, values)


def _kept(entry: TimeEntry, why: str) -> str:
    return f"{why}; worklog {entry.worklog_id} on {entry.worklog_issue_key} stays in Jira as it is"


def evaluate(uow: UnitOfWork, entry: TimeEntry, settings: WorkspaceSettings) -> Decision:
    """The state the entry's facts imply, and the issue to run `worklog.sync` on when Jira must change."""
    has_worklog = entry.worklog_issue_key is not None  # confirmed, or a create whose answer is unknown
    if entry.deleted_at is not None and not (has_worklog and entry.delete_worklog):
        reason = (
            _kept(entry, "the entry was deleted (worklogs.delete_worklogs is off)") if has_worklog else None
        )
        return Decision(State.DELETED, reason)
    if entry.deleted_at is not None and entry.drift is not None:
        if entry.drift.get("deleted"):
            return Decision(State.DELETED, "the worklog had already been deleted by hand in Jira")
        return Decision(
            State.DELETED, _kept(entry, "the worklog was edited by hand in Jira, so it is not deleted")
        )
    site = uow.sites.get(entry.site_id)
    if site is None or site.status != "connected":
        return Decision(State.FAILED, SITE_GONE)
    if entry.deleted_at is None and entry.issue_key is not None and entry.worklog_issue_key is None:
        # Before the user's connection: "no Jira connection on the site" would send them to connect
        # to a site the issue is not on.
        wrong_site = _not_on_site(uow, site, entry.issue_key)
        if wrong_site is not None:
            return Decision(State.FAILED, wrong_site)
    connected = find_connection(uow, entry.workspace_id, entry.site_id, entry.user_id) is not None
    if entry.deleted_at is not None:
        if not settings.worklogs.enabled:
            return Decision(State.DELETED, _kept(entry, "worklog sync is switched off"))
        if not connected:
            return Decision(
                State.WAITING_FOR_USER_MAPPING, "deleting the worklog waits for the user to connect to Jira"
            )
        return Decision(State.PENDING, DELETING_REASON, entry.worklog_issue_key)
    if entry.drift is not None:
        return Decision(State.DRIFTED, worklogs.describe_drift(entry.drift))
    verdict, want = wanted(entry, settings, connected)
    if entry.create_marker is not None and entry.worklog_issue_key is not None:
        # A create's answer was lost: only the operation on that issue can say whether it exists.
        state = State.PENDING if want is not None else verdict.state
        work_on = entry.worklog_issue_key if settings.worklogs.enabled else None
        return Decision(state, verdict.reason if want is None else None, work_on)
    written = Values.from_json(entry.written)
    step = worklogs.next_step(
        worklog_issue=entry.worklog_issue_key, written=written, wanted=want, delete_worklog=False
    )
    if step is worklogs.Step.NOTHING:
        if want is not None:
            return Decision(State.SYNCED, None)
        return Decision(verdict.state, _kept(entry, verdict.reason or "") if has_worklog else verdict.reason)
    assert want is not None
    return Decision(State.PENDING, None, entry.worklog_issue_key or want.issue_key)


def _not_on_site(uow: UnitOfWork, site: Site, issue_key: str) -> str | None:
    here = site_projects.site_projects(uow, site)
    if not here.listed or site_choice.project_of(issue_key) in here.has:
        return None  # the usual case, without reading the other sites
    others = site_projects.connected_sites(uow, site.workspace_id, None)
    return site_choice.not_on_site(issue_key, here, others)


def _chosen_site(uow: UnitOfWork, now: datetime, workspace_id: str, issue_key: str | None) -> str | None:
    """The site for an entry that names none: where its key's project is (domain/site_choice.py)."""
    if issue_key is None:
        return None  # the default site, as connected_site picks it
    default_site = uow.sites.default(workspace_id)
    default = default_site.id if default_site is not None else None
    choice = site_choice.choose_site(
        issue_key, default, site_projects.connected_sites(uow, workspace_id, now)
    )
    if choice.problem is not None:
        raise Invalid.field("site", choice.problem)
    return choice.site_id


def _movable(entry: TimeEntry) -> bool:
    """Nothing of the entry is in Jira or on its way there, so it may still change site."""
    return (
        entry.worklog_issue_key is None
        and entry.create_marker is None
        and entry.sending is None
        and entry.state != State.PENDING
    )


def settle(
    uow: UnitOfWork,
    entry: TimeEntry,
    now: datetime,
    *,
    source: str,
    enqueue: bool = True,
    settings: WorkspaceSettings | None = None,
    new: bool = False,
) -> Decision:
    """Evaluate the entry, store its state (with a `worklog.state_changed` event when it changes) and
    queue the Jira work it needs (unless `enqueue` is False: an operation that did nothing must not
    queue itself again). `settings`: the workspace's, when the caller read them in this transaction;
    `new`: the entry was created in this transaction. The caller commits."""
    if settings is None:
        settings = workspace_settings.load(uow, entry.workspace_id)
    decision = evaluate(uow, entry, settings)
    set_state(uow, entry, decision.state, decision.reason, now, source=source)
    if decision.work_on is not None and enqueue:
        enqueue_sync(uow, entry, decision.work_on, now, new=new)
    return decision


def set_state(
    uow: UnitOfWork,
    entry: TimeEntry,
    state: State,
    reason: str | None,
    now: datetime,
    *,
    source: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Store a state; a change is on the event feed (`worklog.state_changed`; `from` is null for a
    new entry)."""
    before = entry.state or None
    entry.state = state.value
    entry.reason = reason
    if before != state.value:
        record_event(
            uow.session,
            workspace_id=entry.workspace_id,
            type="worklog.state_changed",
            source=source,
            at=now,
            item=(ITEM_TYPE, entry.id),
            issue_key=entry.worklog_issue_key or entry.issue_key,
            data={
                "entry": entry.id,
                "user": entry.user_id,
                "from": before,
                "to": state.value,
                "reason": reason,
            }
            | (data or {}),
        )


def enqueue_sync(
    uow: UnitOfWork, entry: TimeEntry, issue_key: str, now: datetime, *, new: bool = False
) -> None:
    """Queue `worklog.sync` for the entry on `issue_key`, unless one is already waiting there: it
    decides when it runs, from the entry as it is then, so one is enough. `new`: the entry was
    created in this transaction, so none of its operations can be waiting (not looked for)."""
    sync = SyncWorklog(entry.id, issue_key, entry.site_id, item=(ITEM_TYPE, entry.id))
    key = sync.ordering_key()
    if not new and uow.time_entries.sync_waiting(
        entry.workspace_id, key, SyncWorklog.KIND, entry.id, outbox.PENDING
    ):
        return
    outbox.enqueue(uow.session, sync, workspace_id=entry.workspace_id, now=now)


def ensure_drift_check(uow: UnitOfWork, workspace_id: str, site: Site, now: datetime, every_s: float) -> None:
    """The site's periodic drift check (workers/jira_worklogs.py), from its first time entry on.

    A drift check is removed only once its site is disconnected (`site_disconnected`, or the check
    itself finding the site gone), and a disconnected site never connects again (connecting its
    address again makes a new site): while the site is connected, a check this process saw is
    still there, so it is not read again on every push."""
    key = drift_schedule_key(site.id)
    connected = site.status == "connected"
    if connected and schedules.seen_before(uow.session, key, every_s):
        return
    existing = schedules.get(uow.session, key)
    if existing is not None and existing.every_s == every_s:
        if connected:
            schedules.remember_seen(uow.session, key, every_s)
        return
    schedules.ensure(
        uow.session, CheckWorklogDrift(site.id), workspace_id=workspace_id, every_s=every_s, now=now
    )


# -- host changes ----------------------------------------------------------------------------------


def lock_workspace(uow: UnitOfWork, workspace_id: str) -> WorkspaceSettings:
    """Take the workspace row lock `record_event` takes, first, so concurrent pushes of one workspace
    queue up from the start (see storage/events.py), and answer the settings as of the lock. Inside
    `workspace_locks_kept`, the event's `record_event` then neither locks nor reads the row again."""
    try:
        stored = lock_workspace_row(uow.session, workspace_id)
    except ValueError:
        raise NotFound(f"workspace {workspace_id} does not exist") from None
    return from_document(stored or {})


def upsert_entry(
    uow: UnitOfWork,
    now: datetime,
    principal: Principal,
    workspace_id: str,
    entry_id: str,
    data: EntryInput,
    *,
    drift_every_s: float,
) -> tuple[TimeEntry, bool]:
    """Create or replace an entry (a deleted one comes back). Returns it and whether it is new."""
    if not can_act_for(principal, data.user):
        raise Forbidden(f"this key acts only for user {principal.user_id}, not {data.user}")
    with workspace_locks_kept(uow.session):  # one read of the workspace row, for its lock and settings
        return _upsert_entry(uow, now, principal, workspace_id, entry_id, data, drift_every_s=drift_every_s)


def _upsert_entry(
    uow: UnitOfWork,
    now: datetime,
    principal: Principal,
    workspace_id: str,
    entry_id: str,
    data: EntryInput,
    *,
    drift_every_s: float,
) -> tuple[TimeEntry, bool]:
    settings = lock_workspace(uow, workspace_id)
    # Read as columns after the lock, and written whole with one statement at the end (a fifth of
    # the ORM's load and flush): nothing below reads the entry's row back.
    entry = uow.time_entries.loose(workspace_id, entry_id)
    created = entry is None
    issue_key = data.issue_key or first_issue_key(data.description)
    if entry is None:
        site = connected_site(uow, workspace_id, data.site or _chosen_site(uow, now, workspace_id, issue_key))
        entry = TimeEntry(
            workspace_id=workspace_id,
            id=entry_id,
            user_id=data.user,
            site_id=site.id,
            state="",  # none yet: its first state is on the feed too
            version=0,
            delete_worklog=False,
            created_at=now,
        )
    else:
        check_owner(principal, entry)
        if entry.user_id != data.user:
            raise Conflict(
                f"time entry {entry_id} belongs to user {entry.user_id}; a worklog's author cannot change "
                "(delete the entry and push a new one)"
            )
        wanted_site = data.site
        if wanted_site is None and _movable(entry):
            wanted_site = _chosen_site(uow, now, workspace_id, issue_key)
        if wanted_site is not None and wanted_site != entry.site_id:
            if not _movable(entry):
                raise Conflict(
                    f"time entry {entry_id} syncs to site {entry.site_id}; its site cannot change once "
                    "its worklog is in Jira or on its way"
                )
            entry.site_id = connected_site(uow, workspace_id, wanted_site).id
    entry.started_at = _utc(data.started_at)
    entry.duration_s = data.duration_s
    entry.running = data.running
    entry.description = data.description
    entry.explicit_key = data.issue_key
    entry.issue_key = issue_key
    entry.key_source = None if entry.issue_key is None else ("explicit" if data.issue_key else "description")
    entry.project = data.project
    entry.task = data.task
    entry.deleted_at = None
    entry.delete_worklog = False
    entry.updated_at = now
    entry.version = (entry.version or 0) + 1
    if entry.drift is not None:
        _after_drift(entry, settings, resync=data.resync)
    entry_site = uow.sites.get(entry.site_id)  # held: `evaluate` and the drift check find it loaded
    settle(uow, entry, now, source="host", settings=settings, new=created)
    if created:
        uow.time_entries.insert(entry)
    else:
        uow.time_entries.replace(entry)
    if entry_site is not None:
        ensure_drift_check(uow, workspace_id, entry_site, now, drift_every_s)
    return entry, created


def _after_drift(entry: TimeEntry, settings: WorkspaceSettings, *, resync: bool) -> None:
    """A drifted entry stays drifted (jirabridge never overwrites a person's edit) unless the host
    asks to `resync` it, or its new content is what Jira now shows (the host took the edit over)."""
    assert entry.drift is not None
    if resync:
        if entry.drift.get("deleted"):
            entry.worklog_issue_key = entry.worklog_id = None
        entry.written = None  # nothing to compare with: the next write goes through
        entry.drift = None
        return
    seen = _seen_in_jira(entry)
    _, want = wanted(entry, settings, user_connected=True)
    if (
        seen is not None
        and want is not None
        and want.issue_key == entry.worklog_issue_key
        and seen.as_jira_keeps_it() == want.values.as_jira_keeps_it()
    ):
        entry.written = want.values.to_json()
        entry.drift = None


def _seen_in_jira(entry: TimeEntry) -> Values | None:
    """The worklog as Jira showed it when the drift was found."""
    written = Values.from_json(entry.written)
    drift = entry.drift or {}
    if written is None or drift.get("deleted"):
        return None
    seconds = drift.get("seconds", {}).get("jira", written.seconds)
    started = drift.get("started", {}).get("jira")
    comment = drift.get("comment", {}).get("jira", written.comment)
    return Values(
        int(seconds),
        datetime.fromisoformat(started) if isinstance(started, str) else written.started,
        str(comment or ""),
    )


def delete_entry(
    uow: UnitOfWork, now: datetime, principal: Principal, workspace_id: str, entry_id: str
) -> TimeEntry:
    """Delete an entry: its worklog goes too only with `worklogs.delete_worklogs` on (decided now).
    The row stays, `deleted`, so the outcome can be read; deleting again changes nothing."""
    settings = lock_workspace(uow, workspace_id)
    entry = find_entry(uow, workspace_id, entry_id)
    check_owner(principal, entry)
    if entry.deleted_at is not None:
        return entry
    entry.deleted_at = now
    entry.delete_worklog = settings.worklogs.delete_worklogs
    entry.updated_at = now
    entry.version = (entry.version or 0) + 1
    settle(uow, entry, now, source="host", settings=settings)
    uow.commit()
    return entry


# -- what else changes an entry's fate -------------------------------------------------------------


def user_connected(uow: UnitOfWork, now: datetime, workspace_id: str, site_id: str, user_id: str) -> int:
    """A user connected (or reconnected) to Jira: their entries that waited for it, or failed,
    sync now. Called in the transaction that saves the connection; the caller commits."""
    uow.flush()
    found = uow.time_entries.to_retry_for_user(workspace_id, site_id, user_id)
    count = 0
    for entry in found:
        entry.version = (entry.version or 0) + 1
        settle(uow, entry, now, source="jirabridge")
        count += 1
    return count


def waiting_per_user(uow: UnitOfWork, workspace_id: str) -> dict[tuple[str, str], int]:
    """How many entries wait for their user's connection, per (user, site)."""
    return uow.time_entries.waiting_per_user(workspace_id)


def worklog_sync_switched_on(uow: UnitOfWork, now: datetime, workspace_id: str) -> int:
    """`worklogs.enabled` went from off to on: the entries held back meanwhile sync now."""
    found = uow.time_entries.held_back(workspace_id)
    count = 0
    for entry in found:
        settle(uow, entry, now, source="jirabridge")
        count += 1
    return count


def site_disconnected(uow: UnitOfWork, now: datetime, workspace_id: str, site_id: str) -> None:
    """The site was disconnected: its drift check stops and entries still waiting to sync say why.
    Nothing is deleted in Jira. The caller commits."""
    schedules.remove(uow.session, drift_schedule_key(site_id))
    found = uow.time_entries.unsynced_on_site(workspace_id, site_id)
    for entry in found:
        set_state(uow, entry, State.FAILED, SITE_GONE, now, source="host")


def validate_times(
    started_at: datetime, duration_s: int | None, ended_at: datetime | None, running: bool
) -> int | None:
    """The duration from `duration_s` or `ended_at` (never both); Invalid names the field."""
    if duration_s is not None and ended_at is not None:
        raise Invalid.field("ended_at", "give duration_s or ended_at, not both")
    if ended_at is not None:
        seconds = (_utc(ended_at) - _utc(started_at)).total_seconds()
        if seconds < 0:
            raise Invalid.field("ended_at", "is before started_at")
        duration_s = int(seconds)
    if duration_s is None and not running:
        raise Invalid.field("duration_s", "a stopped entry needs duration_s or ended_at")
    return duration_s
