"""The typed operations and their one serialiser: what a worker of this release reads from the rows an
older release queued, and what it writes for the next one."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jirabridge.domain import inbound
from jirabridge.domain import operations as ops

ITEM = {"type": "error", "id": "e-1"}
ADF = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
}
SNAPSHOT = inbound.IssueSnapshot(
    key="WEB-7",
    id="10007",
    updated=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    status="Done",
    status_category="done",
    actor=inbound.JiraUser("acc-1", "Alice"),
)

# Payloads exactly as the release before typed operations wrote them (service/ and workers/ built
# these dicts by hand), with the row's columns, the operation they are, and its ordering key.
QUEUED_BY_THE_PREVIOUS_RELEASE: list[tuple[str, dict[str, Any], dict[str, Any], ops.Operation, str]] = [
    (
        "issue.create",
        {
            "link_id": "lk_1",
            "site_id": "st_1",
            "fields": {"project": {"key": "WEB"}, "summary": "Boom", "labels": ["errors", "jb-1"]},
            "marker": "jb-1",
            "remote_link": {"url": "https://host.example/e/1", "title": "error e-1: Boom"},
            "rule_id": "ru_1",
            "item": ITEM,
        },
        {"site_id": "st_1"},
        ops.CreateIssue(
            link_id="lk_1",
            site_id="st_1",
            fields={"project": {"key": "WEB"}, "summary": "Boom", "labels": ["errors", "jb-1"]},
            marker="jb-1",
            remote_link=ops.RemoteLinkTarget("https://host.example/e/1", "error e-1: Boom"),
            rule_id="ru_1",
            item=("error", "e-1"),
        ),
        "link:lk_1",
    ),
    (
        "issue.create",
        {
            "link_id": "lk_2",
            "site_id": "st_1",
            "fields": {"summary": "No URL", "labels": ["jb-2"]},
            "marker": "jb-2",
            "remote_link": None,
            "item": ITEM,
        },
        {"site_id": "st_1"},
        ops.CreateIssue(
            "lk_2", "st_1", {"summary": "No URL", "labels": ["jb-2"]}, "jb-2", None, item=("error", "e-1")
        ),
        "link:lk_2",
    ),
    (
        "issue.remote_link",
        {
            "site_id": "st_1",
            "issue_key": "WEB-7",
            "global_id": "jirabridge:ws_1:error:e-1",
            "url": "https://host.example/e/1",
            "title": "error e-1: Boom",
            "item": ITEM,
        },
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.AddRemoteLink(
            "st_1",
            "WEB-7",
            global_id=ops.remote_link_global_id("ws_1", "error", "e-1"),
            url="https://host.example/e/1",
            title="error e-1: Boom",
            item=("error", "e-1"),
        ),
        "issue:st_1:WEB-7",
    ),
    (
        "issue.sync_status",
        {"site_id": "st_1", "issue_key": "WEB-7", "item": ITEM},
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.SyncStatus("st_1", "WEB-7", item=("error", "e-1")),
        "issue:st_1:WEB-7",
    ),
    (  # a status comment (`comment` mode): no author, no text
        "issue.comment",
        {"site_id": "st_1", "issue_key": "WEB-7", "body": ADF, "marker": "cm_status_1", "item": ITEM},
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.AddComment("st_1", "WEB-7", ADF, marker="cm_status_1", item=("error", "e-1")),
        "issue:st_1:WEB-7",
    ),
    (  # a host comment
        "issue.comment",
        {
            "site_id": "st_1",
            "issue_key": "WEB-7",
            "marker": "cm_1",
            "author": "u-alice",
            "text": "Hi",
            "body": ADF,
            "item": ITEM,
        },
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.AddComment(
            "st_1", "WEB-7", ADF, marker="cm_1", author="u-alice", text="Hi", item=("error", "e-1")
        ),
        "issue:st_1:WEB-7",
    ),
    (
        "issue.comment_update",
        {"site_id": "st_1", "issue_key": "WEB-7", "item_comment_id": "cm_1", "item": ITEM},
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.UpdateComment("st_1", "WEB-7", "cm_1", item=("error", "e-1")),
        "issue:st_1:WEB-7",
    ),
    (
        "issue.assign",
        {"site_id": "st_1", "issue_key": "WEB-7", "item_type": "error", "item_id": "e-1", "item": ITEM},
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.AssignIssue("st_1", "WEB-7", item=("error", "e-1")),
        "issue:st_1:WEB-7",
    ),
    (
        "worklog.sync",
        {
            "entry_id": "te_1",
            "issue_key": "WEB-7",
            "site_id": "st_1",
            "item": {"type": "time_entry", "id": "te_1"},
        },
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.SyncWorklog("te_1", "WEB-7", "st_1", item=("time_entry", "te_1")),
        "issue:st_1:WEB-7",
    ),
    (
        "worklog.drift",
        {"site_id": "st_1"},
        {"site_id": "st_1"},
        ops.CheckWorklogDrift("st_1"),
        "schedule:worklogs:drift:st_1",
    ),
    (
        "inbound.poll",
        {"site_id": "st_1", "project": "WEB"},
        {"site_id": "st_1"},
        ops.PollProject("st_1", "WEB"),
        "schedule:poll:st_1:WEB",
    ),
    (
        "inbound.apply",
        {
            "site_id": "st_1",
            "source": "poll",
            "change": {
                "kind": "IssueSnapshot",
                "key": "WEB-7",
                "id": "10007",
                "updated": "2026-03-01T12:00:00+00:00",
                "status": "Done",
                "status_category": "done",
                "has_assignee": False,
                "assignee": None,
                "comments": None,
                "actor": {"account_id": "acc-1", "display_name": "Alice", "email": None},
            },
            "catch_up": True,
        },
        {"site_id": "st_1", "issue_key": "WEB-7"},
        ops.ApplyInbound("st_1", "poll", SNAPSHOT, catch_up=True),
        "issue:st_1:WEB-7",
    ),
    (
        "inbound.catch_up",
        {"site_id": "st_1", "project": "WEB", "parts": ["status", "assignee"]},
        {"site_id": "st_1"},
        ops.CatchUpStatuses("st_1", "WEB", parts=("status", "assignee")),
        "catch_up:st_1:WEB",
    ),
    (
        "webhooks.sync",
        {"site_id": "st_1"},
        {"site_id": "st_1"},
        ops.SyncDynamicWebhooks("st_1"),
        "schedule:webhooks:st_1",
    ),
    (
        "webhooks.admin_sync",
        {"site_id": "st_1"},
        {"site_id": "st_1"},
        ops.SyncAdminWebhooks("st_1"),
        "schedule:webhooks:st_1",
    ),
    (
        "webhooks.admin_remove",
        {"site_id": "st_1", "webhook_ids": [10001]},
        {"site_id": "st_1"},
        ops.RemoveAdminWebhooks("st_1", (10001,)),
        "webhooks:st_1:remove",
    ),
    (
        "site.projects",
        {"site_id": "st_1"},
        {"site_id": "st_1"},
        ops.ListSiteProjects("st_1"),
        "schedule:projects:st_1",
    ),
    (
        "callback.deliver",
        {"event_id": "ev_1", "item": ITEM},
        {"workspace_id": "ws_1", "issue_key": "WEB-7"},
        ops.DeliverCallback("ev_1", "ws_1", item=("error", "e-1"), issue_key="WEB-7"),
        "callback:ws_1:item:error:e-1",
    ),
    (
        "callback.deliver",
        {"event_id": "ev_2"},
        {"workspace_id": "ws_1"},
        ops.DeliverCallback("ev_2", "ws_1"),
        "callback:ws_1",
    ),
]


@pytest.mark.parametrize(
    ("kind", "payload", "columns", "expected", "ordering_key"),
    QUEUED_BY_THE_PREVIOUS_RELEASE,
    ids=[f"{row[0]}-{n}" for n, row in enumerate(QUEUED_BY_THE_PREVIOUS_RELEASE)],
)
def test_a_row_the_previous_release_queued_is_read_and_written_back_key_for_key(
    kind: str, payload: dict[str, Any], columns: dict[str, Any], expected: ops.Operation, ordering_key: str
) -> None:
    parsed = ops.from_row(kind, payload, **columns)
    assert parsed == expected
    assert ops.to_payload(parsed) == payload  # a worker of the previous release reads ours alike
    assert (parsed.kind(), parsed.ordering_key()) == (kind, ordering_key)
    assert parsed.row_site_id() == columns.get("site_id")
    assert parsed.row_issue_key() == columns.get("issue_key")


def test_every_declared_kind_has_an_example_of_the_previous_release() -> None:
    assert {row[0] for row in QUEUED_BY_THE_PREVIOUS_RELEASE} == set(ops.BY_KIND)


def test_older_payloads_take_the_site_and_item_from_where_they_kept_them() -> None:
    # No `site_id` in the payload: the row's column names the site.
    assert ops.from_row("issue.sync_status", {"issue_key": "WEB-7"}, site_id="st_1") == ops.SyncStatus(
        "st_1", "WEB-7"
    )
    # A catch-up queued before it named its parts caught up the status only.
    old_catch_up = ops.from_row("inbound.catch_up", {"site_id": "st_1", "project": "WEB"})
    assert old_catch_up == ops.CatchUpStatuses("st_1", "WEB", parts=("status",))
    # An assignment queued before every operation carried `item`.
    old = {"site_id": "st_1", "issue_key": "WEB-7", "item_type": "error", "item_id": "e-1"}
    assert ops.from_row("issue.assign", old) == ops.AssignIssue("st_1", "WEB-7", item=("error", "e-1"))


def test_a_kind_this_release_does_not_know_and_a_payload_missing_a_key_are_unknown() -> None:
    future = ops.from_row("issue.archive", {"issue_key": "WEB-7"}, site_id="st_1", issue_key="WEB-7")
    assert future == ops.Unknown("issue.archive", {"issue_key": "WEB-7"}, site_id="st_1", issue_key="WEB-7")
    assert future.error is None and future.kind() == "issue.archive"
    broken = ops.from_row("issue.comment_update", {"site_id": "st_1", "issue_key": "WEB-7"})
    assert isinstance(broken, ops.Unknown) and broken.error is not None
    assert "item_comment_id" in broken.error
    # A value that is not what its kind needs is no exception either: a claim must not stop on it.
    garbled = ops.from_row("inbound.apply", {"site_id": "st_1", "source": "poll", "change": {"key": "WEB-7"}})
    assert isinstance(garbled, ops.Unknown) and garbled.error is not None
    assert isinstance(
        ops.from_row("webhooks.admin_remove", {"site_id": "st_1", "webhook_ids": ["x"]}), ops.Unknown
    )


def test_every_operation_on_an_issue_has_the_issue_ordering_key() -> None:
    on_issue = [op for *_, op, _ in QUEUED_BY_THE_PREVIOUS_RELEASE if op.row_issue_key() and op.row_site_id()]
    assert on_issue and all(
        op.ordering_key() == ops.issue_ordering_key(str(op.row_site_id()), str(op.row_issue_key()))
        for op in on_issue
    )


# -- every operation round-trips -------------------------------------------------------------------

TEXT = st.text(min_size=1, max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(st.text(max_size=8), JSON, max_size=4)
ITEMS = st.tuples(TEXT, TEXT)
MOMENTS = st.datetimes(timezones=st.just(UTC))
USERS = st.none() | st.builds(inbound.JiraUser, TEXT, st.none() | TEXT, st.none() | TEXT)
COMMENTS = st.builds(inbound.CommentSnapshot, TEXT, st.text(max_size=20), USERS, MOMENTS, MOMENTS)
CHANGES = st.one_of(
    st.builds(
        inbound.IssueSnapshot,
        key=TEXT,
        id=st.none() | TEXT,
        updated=MOMENTS,
        status=st.none() | TEXT,
        status_category=st.none() | TEXT,
        has_assignee=st.booleans(),
        assignee=USERS,
        comments=st.none() | st.lists(COMMENTS, max_size=2).map(tuple),
        actor=USERS,
    ),
    st.builds(inbound.IssueDeleted, TEXT, st.none() | TEXT),
    st.builds(inbound.CommentChanged, TEXT, st.none() | TEXT, COMMENTS),
)
BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "fields": OBJECTS,
    "body": OBJECTS,
    "change": CHANGES,
    "webhook_ids": st.lists(st.integers(min_value=1, max_value=2**40), max_size=3).map(tuple),
    "remote_link": st.none() | st.builds(ops.RemoteLinkTarget, TEXT, st.none() | TEXT),
    "parts": st.lists(TEXT, min_size=1, max_size=3).map(tuple),
}
BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "str": TEXT,
    "str | None": st.none() | TEXT,
    "bool": st.booleans(),
    "ItemRef | None": st.none() | ITEMS,
}


def operations() -> st.SearchStrategy[ops.Operation]:
    def of(cls: type[ops.Operation]) -> st.SearchStrategy[ops.Operation]:
        assert dataclasses.is_dataclass(cls)
        fields = {
            f.name: BY_NAME[f.name] if f.name in BY_NAME else BY_TYPE[str(f.type)]
            for f in dataclasses.fields(cls)
        }
        if cls is ops.AssignIssue:
            fields["item"] = ITEMS  # the handler needs the item
        return st.builds(cls, **fields)

    return st.one_of([of(cls) for cls in ops.OPERATIONS])


@given(operations())
def test_every_operation_round_trips_through_the_row(op: ops.Operation) -> None:
    stored = json.loads(json.dumps(ops.to_payload(op)))  # what the database keeps
    columns = {"workspace_id": getattr(op, "workspace_id", ""), "site_id": op.row_site_id()}
    parsed = ops.from_row(op.kind(), stored, issue_key=op.row_issue_key(), **columns)
    assert parsed == op
    assert parsed.ordering_key() == op.ordering_key()
