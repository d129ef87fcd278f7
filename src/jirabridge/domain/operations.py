"""Every operation the outbox runs, declared once as a frozen typed value.

A producer (the service, a handler, a schedule) builds one of these and hands it to
`storage.outbox.enqueue`, which stores `kind_of(op)` and `to_payload(op)` in the row and takes the
ordering key, site and issue key from the value. A claim parses the row back with `from_row`, and the
handler receives the value as `Job.operation`. Nothing else builds or reads an operation's payload.

    issue.create            CreateIssue              the issue of a pending link (never twice)
    issue.remote_link       AddRemoteLink            a web link from the issue back to the item
    issue.sync_status       SyncStatus               move the issue to its items' mapped status
    issue.comment           AddComment               a host comment posted to the issue
    issue.comment_update    UpdateComment            an edited host comment edited in Jira
    issue.assign            AssignIssue              the issue's assignee follows the item's
    worklog.sync            SyncWorklog              a time entry's worklog on one issue
    worklog.drift           CheckWorklogDrift        (scheduled) worklogs edited by hand in Jira
    inbound.poll            PollProject              (scheduled) a project's changes, by JQL
    inbound.apply           ApplyInbound             a Jira change queued behind outbound work
    inbound.catch_up        CatchUpStatuses          a project's statuses once status sync is on
    webhooks.sync           SyncDynamicWebhooks      (scheduled) an OAuth site's dynamic webhook
    webhooks.admin_sync     SyncAdminWebhooks        (scheduled) an API-token site's admin webhook
    webhooks.admin_remove   RemoveAdminWebhooks      delete the admin webhook of a removed site
    site.projects           ListSiteProjects         (scheduled) the projects a site has
    callback.deliver        DeliverCallback          an event posted, signed, to the host

The payload JSON is the one earlier releases wrote, key for key, so a worker of this release runs
the operations an older service queued (tests/unit/domain/test_operations.py keeps examples).
Conventions of the serialiser, which apply to every class alike:

- a field is stored under its own name, as JSON (`item` as `{"type", "id"}`; a nested value as an
  object; `change` as `encode_change` writes it);
- a field holding its default is left out (`rule_id`, `catch_up`, a comment's `author`...), unless
  it is marked `always`;
- a field marked `column` is not in the payload but in the row's own column of that name (a
  callback's workspace and issue key);
- `site_id` and `issue_key` missing from an old payload are taken from the row's columns, and
  `item` also from the older `item_type` / `item_id` keys.

Why frozen dataclasses rather than pydantic models: the domain stays standard library only, like its
other values (`outcomes`, `inbound`); the payloads are written by jirabridge itself, so parsing needs
no validation beyond "the keys are there", and a worker parses one per operation on its hot path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from jirabridge.domain.inbound import Change, decode_change, encode_change, issue_key_of

ItemRef = tuple[str, str]  # (item type, item id) of a host item
SCHEDULE_PREFIX = "schedule:"  # the ordering key of a scheduled operation is this + its schedule key


class OperationState(StrEnum):
    """An outbox row's `status` (see storage/outbox.py for the life of an operation)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def issue_ordering_key(site_id: str, issue_key: str) -> str:
    """Operations on one Jira issue run one at a time, in order: they share this key."""
    return f"issue:{site_id}:{issue_key}"


def callback_ordering_key(workspace_id: str, item: ItemRef | None, issue_key: str | None) -> str:
    """Deliveries of one item are made one at a time in feed order; those of different items are not
    ordered with each other, so one item's failing delivery never holds back another's. An event
    without an item is ordered with the other events of its issue, one with neither with the other
    events of the workspace that have neither."""
    if item is not None:
        return f"callback:{workspace_id}:item:{item[0]}:{item[1]}"
    if issue_key is not None:
        return f"callback:{workspace_id}:issue:{issue_key}"
    return f"callback:{workspace_id}"


class Operation:
    """What every operation answers. `KIND` is the row's `kind`; the rest fills the row's columns."""

    __slots__ = ()
    KIND: ClassVar[str]

    def kind(self) -> str:
        return self.KIND

    def ordering_key(self) -> str:
        raise NotImplementedError

    def row_site_id(self) -> str | None:
        """The site the operation works on (the row's `site_id`), if any."""
        return None

    def row_issue_key(self) -> str | None:
        """The Jira issue it is about (the row's `issue_key`, named by its failure), if any."""
        return None

    def row_item(self) -> ItemRef | None:
        """The host item it is for (its failure's `sync.failed` event names it), if any."""
        return None


class OnIssue(Operation):
    """An operation on one Jira issue: ordered with the others of that issue."""

    __slots__ = ()
    site_id: str
    issue_key: str
    item: ItemRef | None

    def ordering_key(self) -> str:
        return issue_ordering_key(self.site_id, self.issue_key)

    def row_site_id(self) -> str | None:
        return self.site_id

    def row_issue_key(self) -> str | None:
        return self.issue_key

    def row_item(self) -> ItemRef | None:
        return self.item


class Scheduled(Operation):
    """An operation a schedule enqueues (storage/schedules.py): one round at a time per schedule."""

    __slots__ = ()
    site_id: str

    def schedule_key(self) -> str:
        raise NotImplementedError

    def ordering_key(self) -> str:
        return SCHEDULE_PREFIX + self.schedule_key()

    def row_site_id(self) -> str | None:
        return self.site_id


def _column() -> dict[str, bool]:
    return {"column": True}


# -- tickets ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteLinkTarget:
    """The web link a created issue gets back to its item."""

    url: str
    title: str | None = None


def _remote_link(value: Mapping[str, Any]) -> RemoteLinkTarget:
    return RemoteLinkTarget(url=str(value.get("url") or ""), title=value.get("title"))


@dataclass(frozen=True, slots=True)
class CreateIssue(Operation):
    """Create the issue of the pending link `link_id` with `fields` (carrying the `marker` label)."""

    KIND: ClassVar[str] = "issue.create"
    link_id: str
    site_id: str
    fields: Mapping[str, Any]
    marker: str
    remote_link: RemoteLinkTarget | None = field(metadata={"decode": _remote_link})
    rule_id: str | None = None  # the routing rule that asked for it
    item: ItemRef | None = None

    def ordering_key(self) -> str:
        return f"link:{self.link_id}"  # no issue key yet: ordered with the link's later work

    def row_site_id(self) -> str | None:
        return self.site_id

    def row_item(self) -> ItemRef | None:
        return self.item


def remote_link_global_id(workspace_id: str, item_type: str, item_id: str) -> str:
    """The `globalId` of an item's web link on its issue: adding it again replaces it."""
    return f"jirabridge:{workspace_id}:{item_type}:{item_id}"


@dataclass(frozen=True, slots=True)
class AddRemoteLink(OnIssue):
    KIND: ClassVar[str] = "issue.remote_link"
    site_id: str
    issue_key: str
    global_id: str
    url: str
    title: str
    item: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus(OnIssue):
    KIND: ClassVar[str] = "issue.sync_status"
    site_id: str
    issue_key: str
    item: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class AddComment(OnIssue):
    """Post a host comment; `marker` (the comment's id) makes it exactly-once. `author` and `text` are
    what the comment said when queued; `body` is what the site posts if it is gone by then."""

    KIND: ClassVar[str] = "issue.comment"
    site_id: str
    issue_key: str
    body: Mapping[str, Any]
    marker: str | None = None
    author: str | None = None
    text: str | None = None
    item: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class UpdateComment(OnIssue):
    KIND: ClassVar[str] = "issue.comment_update"
    site_id: str
    issue_key: str
    item_comment_id: str
    item: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class AssignIssue(OnIssue):
    KIND: ClassVar[str] = "issue.assign"
    # Its payload also names the item as `item_type` and `item_id`, as releases before `item` did.
    LEGACY_ITEM_KEYS: ClassVar[bool] = True
    site_id: str
    issue_key: str
    item: ItemRef | None


# -- worklogs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncWorklog(OnIssue):
    KIND: ClassVar[str] = "worklog.sync"
    entry_id: str
    issue_key: str
    site_id: str
    item: ItemRef | None = None


@dataclass(frozen=True, slots=True)
class CheckWorklogDrift(Scheduled):
    KIND: ClassVar[str] = "worklog.drift"
    SCHEDULE_PREFIX: ClassVar[str] = "worklogs:drift:"
    site_id: str

    def schedule_key(self) -> str:
        return f"{self.SCHEDULE_PREFIX}{self.site_id}"


# -- inbound ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollProject(Scheduled):
    KIND: ClassVar[str] = "inbound.poll"
    site_id: str
    project: str

    def schedule_key(self) -> str:
        return f"poll:{self.site_id}:{self.project}"


@dataclass(frozen=True, slots=True)
class ApplyInbound(Operation):
    """A change from Jira (`source`: webhook or poll) applied once outbound work on its issue is done."""

    KIND: ClassVar[str] = "inbound.apply"
    site_id: str
    source: str
    change: Change = field(metadata={"encode": encode_change, "decode": decode_change})
    catch_up: bool = False

    def ordering_key(self) -> str:
        return issue_ordering_key(self.site_id, issue_key_of(self.change))

    def row_site_id(self) -> str | None:
        return self.site_id

    def row_issue_key(self) -> str | None:
        return issue_key_of(self.change)


def _parts(value: Any) -> tuple[str, ...]:
    return tuple(str(part) for part in value) or ("status",)


@dataclass(frozen=True, slots=True)
class CatchUpStatuses(Operation):
    """Read a project's linked issues and apply what inbound sync now takes (`parts`: status,
    assignee, comments...). Operations queued before `parts` existed caught up the status only."""

    KIND: ClassVar[str] = "inbound.catch_up"
    site_id: str
    project: str
    parts: tuple[str, ...] = field(
        default=("status",), metadata={"encode": list, "decode": _parts, "always": True}
    )

    def ordering_key(self) -> str:
        return f"catch_up:{self.site_id}:{self.project}"

    def row_site_id(self) -> str | None:
        return self.site_id


# -- sites -----------------------------------------------------------------------------------------


def webhooks_schedule_key(site_id: str) -> str:
    return f"webhooks:{site_id}"


@dataclass(frozen=True, slots=True)
class SyncDynamicWebhooks(Scheduled):
    KIND: ClassVar[str] = "webhooks.sync"
    site_id: str

    def schedule_key(self) -> str:
        return webhooks_schedule_key(self.site_id)


@dataclass(frozen=True, slots=True)
class SyncAdminWebhooks(Scheduled):
    KIND: ClassVar[str] = "webhooks.admin_sync"
    site_id: str

    def schedule_key(self) -> str:
        return webhooks_schedule_key(self.site_id)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in value)


@dataclass(frozen=True, slots=True)
class RemoveAdminWebhooks(Operation):
    KIND: ClassVar[str] = "webhooks.admin_remove"
    site_id: str
    webhook_ids: tuple[int, ...] = field(metadata={"encode": list, "decode": _ints})

    def ordering_key(self) -> str:
        return f"webhooks:{self.site_id}:remove"

    def row_site_id(self) -> str | None:
        return self.site_id


@dataclass(frozen=True, slots=True)
class ListSiteProjects(Scheduled):
    KIND: ClassVar[str] = "site.projects"
    site_id: str

    def schedule_key(self) -> str:
        return f"projects:{self.site_id}"


# -- callbacks -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliverCallback(Operation):
    """Post the event `event_id` to the workspace's callback URL. Its failure is not an event: that
    would only queue another callback."""

    KIND: ClassVar[str] = "callback.deliver"
    event_id: str
    workspace_id: str = field(metadata=_column())
    item: ItemRef | None = None
    issue_key: str | None = field(default=None, metadata=_column())

    def ordering_key(self) -> str:
        return callback_ordering_key(self.workspace_id, self.item, self.issue_key)

    def row_issue_key(self) -> str | None:
        return self.issue_key

    def row_item(self) -> ItemRef | None:
        return self.item


# -- an operation this release does not declare ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unknown(Operation):
    """A row this release cannot read as one of the operations above: a kind it does not declare
    (queued by a newer release, or a test's own kind), or a payload missing what its kind needs
    (`error` says what). The worker fails it for good unless a handler is registered for its kind.
    Nothing in jirabridge enqueues one; tests of the outbox itself do."""

    KIND: ClassVar[str] = ""
    name: str
    payload: Mapping[str, Any]
    ordering: str = ""
    site_id: str | None = None
    issue_key: str | None = None
    error: str | None = None

    def kind(self) -> str:
        return self.name

    def ordering_key(self) -> str:
        return self.ordering

    def row_site_id(self) -> str | None:
        return self.site_id

    def row_issue_key(self) -> str | None:
        return self.issue_key

    def row_item(self) -> ItemRef | None:
        return item_of(self.payload)


OPERATIONS: tuple[type[Operation], ...] = (
    CreateIssue,
    AddRemoteLink,
    SyncStatus,
    AddComment,
    UpdateComment,
    AssignIssue,
    SyncWorklog,
    CheckWorklogDrift,
    PollProject,
    ApplyInbound,
    CatchUpStatuses,
    SyncDynamicWebhooks,
    SyncAdminWebhooks,
    RemoveAdminWebhooks,
    ListSiteProjects,
    DeliverCallback,
)
BY_KIND: dict[str, type[Operation]] = {op.KIND: op for op in OPERATIONS}


# -- the serialiser --------------------------------------------------------------------------------


def kind_of(op: Operation) -> str:
    return op.kind()


def item_of(payload: Mapping[str, Any]) -> ItemRef | None:
    """`{"item": {"type", "id"}}` of an operation's payload as `(type, id)`; operations queued before
    every kind carried it name their item as `item_type` and `item_id`."""
    item = payload.get("item")
    if isinstance(item, dict):
        kind, ident = item.get("type"), item.get("id")
    else:
        kind, ident = payload.get("item_type"), payload.get("item_id")
    if isinstance(kind, str) and isinstance(ident, str) and kind and ident:
        return kind, ident
    return None


def to_payload(op: Operation) -> dict[str, Any]:
    """The JSON an outbox row (or a schedule) stores for `op`."""
    if isinstance(op, Unknown):
        return dict(op.payload)
    assert dataclasses.is_dataclass(op)
    payload: dict[str, Any] = {}
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        if f.metadata.get("column"):
            continue
        if not f.metadata.get("always") and f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.name == "item":
            if value is None:
                continue
            payload["item"] = {"type": value[0], "id": value[1]}
            if getattr(op, "LEGACY_ITEM_KEYS", False):
                payload["item_type"], payload["item_id"] = value
            continue
        encode: Callable[[Any], Any] | None = f.metadata.get("encode")
        payload[f.name] = _json(encode(value) if encode else value)
    return payload


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value


def from_row(
    kind: str,
    payload: Mapping[str, Any] | None,
    *,
    workspace_id: str = "",
    site_id: str | None = None,
    issue_key: str | None = None,
) -> Operation:
    """The operation a row (kind, payload and its columns) holds; `Unknown` when it cannot be read."""
    payload = payload or {}
    cls = BY_KIND.get(kind)
    if cls is None:
        return Unknown(kind, dict(payload), site_id=site_id, issue_key=issue_key)
    columns: dict[str, Any] = {"workspace_id": workspace_id, "site_id": site_id, "issue_key": issue_key}
    try:
        return cls(**_values(cls, payload, columns))
    # A key its kind needs is missing, or a value is not what it should be. A claim must never fail
    # on one row (it would stop every claim after it), so the row becomes `Unknown` and fails alone.
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        detail = f"{kind} payload not readable: {type(error).__name__}: {error}"
        return Unknown(kind, dict(payload), site_id=site_id, issue_key=issue_key, error=detail)


def _values(cls: type[Operation], payload: Mapping[str, Any], columns: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    assert dataclasses.is_dataclass(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("column"):
            values[f.name] = columns[f.name]
        elif f.name == "item":
            values["item"] = item_of(payload)
        elif f.name in payload and payload[f.name] is not None:
            decode: Callable[[Any], Any] | None = f.metadata.get("decode")
            values[f.name] = decode(payload[f.name]) if decode else payload[f.name]
        elif f.name in payload:
            values[f.name] = None
        elif columns.get(f.name) is not None:  # an old payload without it: the row's column says
            values[f.name] = columns[f.name]
    return values
