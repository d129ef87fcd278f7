"""What a handler tells the worker about one operation (Singer-SDK style: by what to do next)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from jirabridge.domain.inbound import IssueSnapshot
from jirabridge.domain.operations import Operation, Unknown
from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.domain.worklogs import State as WorklogState
from jirabridge.domain.worklogs import Values as WorklogValues

OpT = TypeVar("OpT", bound=Operation)

# How many attempts an operation gets before it fails for good, unless the worker is told otherwise
# (`jirabridge worker --max-attempts`). The outbox stamps the figure in force on every job it hands
# out (`Job.max_attempts`), so a handler asks the job, never this constant.
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Done:
    """The work is applied. `result` is stored on the operation for inspection; `value` is what the
    handler learnt that the service records (typed per kind, e.g. `StatusMoved`), or None."""

    result: dict[str, Any] | None = None
    value: object = None


@dataclass(frozen=True)
class Retry:
    """Try again later: after `after_s` seconds when Jira said so (Retry-After), else by backoff.
    `counted` False: the attempt made no call (its site is paused) and does not count towards the
    operation's attempts; `whole_site`: the site's other pending operations wait as long (they would
    only be claimed to find the same pause)."""

    reason: str
    detail: str = ""
    after_s: float | None = None
    counted: bool = True
    whole_site: bool = False
    # What the attempt learnt that the service records all the same (as `Done.value`), or None.
    value: object = None


@dataclass(frozen=True)
class Fail:
    """Failed for good: shown in `GET /api/v1/sync/failures` with the reason; retryable by hand."""

    reason: str
    detail: str = ""
    # True when the failure's `sync.failed` events are recorded by whoever applies it (one per linked
    # item, say); otherwise the outbox records one when it stores the failure.
    announced: bool = False
    # What the failure's events say besides reason and detail (the transition's from and to, ...).
    data: dict[str, Any] = field(default_factory=dict)
    # What the attempt learnt that the service records all the same (as `Done.value`), or None.
    value: object = None


Outcome = Done | Retry | Fail


@dataclass(frozen=True)
class Job:
    """The part of an outbox row a handler sees (a plain value: no session, no lazy loading)."""

    id: str
    workspace_id: str
    site_id: str | None
    kind: str
    operation: Operation  # the row's kind and payload, parsed (domain/operations.py)
    attempts: int
    issue_key: str | None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # the worker's figure, from the claim that made the job
    traceparent: str | None = None  # the request that queued it, when traced (jirabridge/telemetry.py)
    # What the operation's step read in the claim's transaction (`workers.steps.Step.load`); None for
    # a plain handler.
    context: Any = None

    @property
    def last_attempt(self) -> bool:
        """A `Retry` from this attempt fails the operation for good (the outbox gives up on it)."""
        return self.attempts >= self.max_attempts

    @property
    def item(self) -> tuple[str, str] | None:
        """The host item the operation is for (its failure names it)."""
        return self.operation.row_item()

    @property
    def unreadable(self) -> str | None:
        """Why the row's payload cannot be read as its kind's operation; None when it can."""
        op = self.operation
        return op.error if isinstance(op, Unknown) else None

    def operation_as(self, cls: type[OpT]) -> OpT:
        """The operation, as the handler of its kind expects it; a row this release could not read
        (`Unknown`) raises `UnreadableOperation`, which the worker turns into a failure for good."""
        op = self.operation
        if isinstance(op, cls):
            return op
        if isinstance(op, Unknown) and op.error:
            raise UnreadableOperation(op.error)
        raise UnreadableOperation(f"a {self.kind} operation is not a {cls.__name__}")


class UnreadableOperation(Exception):
    """The row's payload does not hold what its kind needs (it cannot succeed by retrying)."""


# A handler runs one job; it must be safe to run again after a crash (check before acting).
Handler = Callable[[Job], Awaitable[Outcome]]


@dataclass(frozen=True)
class IssueStatusSeen:
    """`Done.value` of a step that moved an issue, or found it where it should be: the status the
    issue is in now, which its links take."""

    status: str
    category: str | None
    issue_type_id: str | None = None
    # From when the links know it: Jira's report of the issue from before this is older than what
    # jirabridge did (`domain.inbound.own_write_at`), so it changes nothing when it arrives late.
    at: datetime | None = None


@dataclass(frozen=True)
class CommentsEdited:
    """`Done.value` of `issue.comment_update`: each Jira comment the step edited, with the `updated`
    Jira answered, which its ref records so that the `comment_updated` webhook of the edit is
    recognised as jirabridge's own. Comments that already said the text are not in it."""

    updated: tuple[tuple[str, datetime], ...] = ()  # (Jira comment id, its `updated`)


@dataclass(frozen=True)
class IssueAssigneeSeen:
    """`Done.value` of a step that assigned an issue, or found it assigned already: the Jira account
    the issue is assigned to now (None: unassigned), which its links take."""

    account_id: str | None
    # From when the links know it (`domain.inbound.own_write_at`), as `IssueStatusSeen.at`.
    at: datetime | None = None


@dataclass(frozen=True)
class IssueCreated:
    """`Done.value` of `issue.create`: the issue its link takes — made by this attempt, or found by its
    marker label when an earlier one made it — and the status it is in (None: not known)."""

    key: str
    id: str
    status: str | None
    category: str | None
    backlinked: bool = False  # the web link back to the item is made (or none was asked for)


@dataclass(frozen=True)
class SiteProjectsListed:
    """`Done.value` of `site.projects`: the keys of every project the site's account can browse,
    which the site records (`service.sites.site_projects.apply`)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class DynamicWebhooksSynced:
    """`Done.value` of `webhooks.sync`: the OAuth site's dynamic webhooks with the right filter as
    Jira lists them after the run (none: no project takes Jira's changes), and the soonest expiry."""

    webhook_ids: tuple[int, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class AdminWebhookSeen:
    """`Done.value` of `webhooks.admin_sync`: where the API-token site's admin webhook stands now.
    `webhook_ids` is what jirabridge registered (kept as it was when NOT_REGISTERED); `reason` and
    `action` say why it is not registered and the step a person must take."""

    status: WebhookStatus
    webhook_ids: tuple[int, ...] = ()
    reason: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class AdminWebhooksRemoved:
    """`Done.value` of `webhooks.admin_remove`: the webhooks are gone from Jira (or were already), so
    the credentials the disconnect kept for the removal go."""

    webhook_ids: tuple[int, ...]


@dataclass(frozen=True)
class ProjectPolled:
    """`Done.value` of `inbound.poll`: the project's issues Jira changed since the watermark (less the
    overlap), oldest first, each applied as a poll's change; and when the poll started, which becomes
    the project's watermark once they are applied."""

    changes: tuple[IssueSnapshot, ...]
    until: datetime


@dataclass(frozen=True)
class IssuesCaughtUp:
    """`Done.value` of `inbound.catch_up`: the current state of the project's linked issues (the parts
    being caught up only), each applied as a catch-up."""

    changes: tuple[IssueSnapshot, ...]


@dataclass(frozen=True)
class CallbackAnswered:
    """`Done.value` of `callback.deliver`: the host took the event (its 2xx status), so an endpoint
    that was backing off works again."""

    status: int


@dataclass(frozen=True)
class CommentPosted:
    """`Done.value` of `issue.comment`: the Jira comment that carries the operation's marker — posted
    by this attempt, or found from an earlier one whose answer was lost — which a ref records as
    jirabridge's own, so inbound sync never copies it back and an edit finds it."""

    jira_comment_id: str
    updated: datetime  # Jira's `updated` of the comment, which the ref records (`jira_updated_at`)


@dataclass(frozen=True)
class WorklogWritten:
    """`Done.value` of `worklog.sync` that created, adopted (a create whose answer was lost, found by
    its marker) or updated the entry's worklog on the operation's issue: the entry records the
    worklog and what it holds as jirabridge wrote it (`service.worklogs.worklog_sync.apply`)."""

    action: str  # "created" | "adopted" | "updated"
    worklog_id: str
    values: WorklogValues


@dataclass(frozen=True)
class WorklogDeleted:
    """`Done.value` of `worklog.sync` that deleted the entry's worklog from the operation's issue
    (the entry was deleted, or its key moved), or found it gone already (404)."""

    worklog_id: str
    moved: bool
    already_gone: bool


@dataclass(frozen=True)
class WorklogDrifted:
    """`Done.value` of `worklog.sync` that read the worklog before writing and found a person's edit:
    nothing was written; the entry reports what changed (`domain.worklogs.drift`)."""

    worklog_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class WorklogUnchanged:
    """`Done.value` of `worklog.sync` that wrote nothing in Jira: the entry's state is evaluated again
    from its facts. `create_not_found`: a create whose answer was lost is not in Jira (its marker is
    on none of the issue's worklogs), so the entry forgets it and its work is queued again."""

    create_not_found: bool = False


@dataclass(frozen=True)
class WorklogNotWritten:
    """The value of a `worklog.sync` attempt that wrote nothing and ends with a state only Jira's
    answer (or the user's missing connection) tells — `failed`, `waiting_for_user_mapping`,
    `issue_not_found` — or with no state (a retry). `version`: the entry's as the attempt read it;
    the state is kept only while the host has not changed the entry since (then the work its change
    queued decides). `unsent_marker`: the create this attempt reserved and Jira surely did not apply,
    which the entry forgets."""

    state: WorklogState | None
    reason: str | None
    version: int
    unsent_marker: str | None = None


@dataclass(frozen=True)
class WorklogsSeen:
    """`Done.value` of `worklog.drift`: the site's worklogs its change feeds list since the
    watermarks, as Jira showed them when read (`read_at`; None: Jira no longer returned it), those
    deleted, and the watermarks to read from next. The service compares them with what each synced
    entry's worklog was written with (`service.worklogs.worklog_drift.apply`)."""

    updated: dict[str, WorklogValues | None]
    deleted: frozenset[str]
    updated_until_ms: int
    deleted_until_ms: int
    read_at: datetime


@dataclass(frozen=True)
class WorklogDriftEnded:
    """`Done.value` of `worklog.drift` on a site no longer connected: its periodic check ends."""
