"""The repositories' queries that are more than a lookup by key, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from jirabridge.domain.operations import AddComment, AssignIssue, CreateIssue
from jirabridge.domain.worklogs import State
from jirabridge.storage import outbox
from jirabridge.storage.db import make_engine, session_factory
from jirabridge.storage.tables import Base, Link, TimeEntry
from jirabridge.storage.unit_of_work import ConstraintViolated, UnitOfWork
from support.rows import (
    T0,
    a_host_user,
    a_link,
    a_pending_link,
    a_site,
    a_time_entry,
    a_user_connection,
    a_workspace,
    an_item,
)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = session_factory(engine)
    with factory() as session:
        session.add_all([a_workspace("ws_a"), a_workspace("ws_b")])
        session.flush()
        for n, (ws, status) in enumerate(
            [("ws_a", "connected"), ("ws_a", "connected"), ("ws_a", "disconnected"), ("ws_b", "connected")]
        ):
            url, token, at = f"https://s{n}.atlassian.net", f"token-{n}", T0 + timedelta(minutes=n)
            session.add(a_site(ws, f"st_{n}", url=url, status=status, webhook_token=token, at=at))
        session.commit()
    yield factory
    engine.dispose()


def every_column(row: Base) -> tuple[object, ...]:
    """The row's values, column by column: a row read as columns compares with one the ORM loaded."""
    return tuple(getattr(row, column.name) for column in row.__table__.c)


def link(
    n: int, issue_key: str | None, *, site: str = "st_0", item: str = "e-1", state: str = "synced"
) -> Link:
    """Link lk_{n}, made n seconds after T0, of item `item` (not stored: no query here reads items)."""
    of, at = an_item("ws_a", item), T0 + timedelta(seconds=n)
    if issue_key is None:
        return a_pending_link(of, id=f"lk_{n:02d}", site_id=site, at=at)
    return a_link(of, id=f"lk_{n:02d}", site_id=site, issue_key=issue_key, state=state, at=at)


def entry(
    entry_id: str, state: State, *, user: str = "alice", site: str = "st_0", **extra: object
) -> TimeEntry:
    return a_time_entry("ws_a", entry_id, state, user_id=user, site_id=site, **extra)


def test_issue_keys_of_a_project_are_its_own_distinct_unbroken_ones(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        for row in [
            link(1, "WEB-10"),
            link(2, "WEB-2", item="e-2"),
            link(3, "WEB-2", item="e-3"),  # two items on one issue: the key once
            link(4, "WEBX-1"),  # another project whose key starts alike
            link(5, "WE-1"),
            link(6, "WEB-3", state="broken"),
            link(7, "WEB-4", site="st_1"),  # another site
            link(8, None),  # still being created
        ]:
            uow.links.add(row)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        keys = uow.links.issue_keys_in_project("ws_a", "st_0", "WEB", except_state="broken")
    assert keys == ["WEB-10", "WEB-2"]


def test_links_of_an_item_and_of_an_issue_come_oldest_first(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        for row in [
            link(3, "WEB-1", item="e-2"),
            link(2, "WEB-2"),
            link(1, "WEB-1"),
            link(4, "WEB-1", site="st_1"),
        ]:
            uow.links.add(row)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert [lk.id for lk in uow.links.for_item("ws_a", "error", "e-1")] == ["lk_01", "lk_02", "lk_04"]
        assert [lk.id for lk in uow.links.by_issue("ws_a", "st_0", "WEB-1")] == ["lk_01", "lk_03"]
        # Read as columns: the same rows, in the same order, with every column.
        loose = [every_column(lk) for lk in uow.links.loose_for_item("ws_a", "error", "e-1")]
        assert loose == [every_column(lk) for lk in uow.links.for_item("ws_a", "error", "e-1")]
        assert uow.links.by_issue("ws_b", "st_0", "WEB-1") == []


def test_links_of_many_issues_at_once_are_grouped_by_issue_oldest_first(
    sessions: sessionmaker[Session],
) -> None:
    with UnitOfWork(sessions) as uow:
        for row in [
            link(3, "WEB-1", item="e-2"),
            link(2, "WEB-2"),
            link(1, "WEB-1"),
            link(4, "WEB-1", site="st_1"),  # another site
            link(5, "WEB-9"),  # not asked for
        ]:
            uow.links.add(row)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        found = uow.links.by_issues("ws_a", "st_0", ["WEB-2", "WEB-1", "WEB-3", "WEB-1"])
        assert {key: [lk.id for lk in links] for key, links in found.items()} == {
            "WEB-1": ["lk_01", "lk_03"],
            "WEB-2": ["lk_02"],
        }
        assert uow.links.by_issues("ws_b", "st_0", ["WEB-1"]) == {}
        assert uow.links.by_issues("ws_a", "st_0", []) == {}

    # The same links as plain values (a step's load), in the same order, with what they saw in Jira.
    with UnitOfWork(sessions) as uow:
        seen = uow.links.seen_by_issue("ws_a", "st_0", "WEB-1")
        assert [row.id for row in seen] == ["lk_01", "lk_03"]
        assert seen == [
            (lk.id, lk.item_type, lk.item_id, lk.sync_state, lk.jira_status, lk.issue_type_id)
            for lk in uow.links.by_issue("ws_a", "st_0", "WEB-1")
        ]
        assert seen[0][:4] == ("lk_01", "error", "e-1", "synced")


def test_reads_of_a_few_columns_see_what_their_transaction_changed(sessions: sessionmaker[Session]) -> None:
    # Core reads of columns (not ORM loads): changes made to loaded rows and rows added, not yet
    # written, are what they read, as an ORM query would.
    with UnitOfWork(sessions) as uow:
        uow.links.add(link(1, "WEB-1"))
        uow.host_users.add(a_host_user("ws_a", "alice", name="Alice"))
        uow.commit()
    with UnitOfWork(sessions) as uow:
        row = uow.links.get("lk_01")
        assert row is not None
        row.sync_state = "broken"
        uow.links.add(link(2, "WEB-1", item="e-2"))
        user = uow.host_users.get("ws_a", "alice")
        assert user is not None
        user.name = "Alice B."
        workspace = uow.workspaces.get("ws_a")
        assert workspace is not None
        workspace.settings = {"host_name": "Acme"}
        assert [row[:4] for row in uow.links.seen_by_issue("ws_a", "st_0", "WEB-1")] == [
            ("lk_01", "error", "e-1", "broken"),
            ("lk_02", "error", "e-2", "synced"),
        ]
        assert uow.host_users.name("ws_a", "alice") == "Alice B."
        assert uow.workspaces.settings("ws_a") == {"host_name": "Acme"}
        assert uow.workspaces.settings("ws_nope") is None
        assert uow.host_users.name("ws_a", "bob") is None


def test_links_take_a_status_seen_unless_broken_and_keep_the_newer_moment(
    sessions: sessionmaker[Session],
) -> None:
    later = T0 + timedelta(minutes=5)
    with UnitOfWork(sessions) as uow:
        uow.links.add(link(1, "WEB-1"))  # never saw a moment
        uow.links.add(link(2, "WEB-1", item="e-2", state="failed"))
        uow.links.add(link(3, "WEB-1", item="e-3", state="broken"))
        uow.links.add(link(4, "WEB-2", item="e-4"))  # another issue
        uow.commit()
    with UnitOfWork(sessions) as uow:
        second = uow.links.get("lk_02")
        assert second is not None
        second.jira_status_at, second.issue_type_id, second.last_error = later, "10001", "boom"
        loaded = uow.links.get("lk_01")
        assert loaded is not None and loaded.jira_status == "To Do"
        uow.links.take_status(
            "ws_a", "st_0", "WEB-1", status="Done", category="done", issue_type_id=None, at=T0
        )
        assert loaded.jira_status == "Done"  # the copy the session had loaded reads the row again
        uow.commit()
    with UnitOfWork(sessions) as uow:
        rows = {lk.id: lk for lk in uow.links.by_issue("ws_a", "st_0", "WEB-1")}
        first, second, broken = rows["lk_01"], rows["lk_02"], rows["lk_03"]
        assert (first.jira_status, first.jira_status_category, first.sync_state) == ("Done", "done", "synced")
        assert first.jira_status_at == T0
        # A newer moment stays; the issue type stays when none was seen; the failure is cleared.
        assert (second.jira_status, second.sync_state, second.last_error) == ("Done", "synced", None)
        assert (second.jira_status_at, second.issue_type_id) == (later, "10001")
        assert (broken.sync_state, broken.jira_status) == ("broken", "To Do")
        other = uow.links.get("lk_04")
        assert other is not None and other.jira_status == "To Do"
    with UnitOfWork(sessions) as uow:
        uow.links.take_status(
            "ws_a",
            "st_0",
            "WEB-1",
            status="In Progress",
            category="indeterminate",
            issue_type_id="10002",
            at=later + timedelta(seconds=1),
        )
        uow.commit()
    with UnitOfWork(sessions) as uow:
        second = uow.links.get("lk_02")
        assert second is not None
        assert (second.jira_status_at, second.issue_type_id) == (later + timedelta(seconds=1), "10002")


def test_a_pending_link_takes_its_created_issue(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        uow.links.add(link(1, None))
        uow.links.add(link(2, None, item="e-2"))
        uow.commit()
    with UnitOfWork(sessions) as uow:
        read, pending = uow.links.loose("lk_01"), uow.links.get("lk_01")
        assert read is not None and pending is not None and read is not pending
        assert every_column(read) == every_column(pending) and read.issue_key is None
        assert uow.links.loose("lk_nope") is None
        pending.issue_type_id, pending.jira_assignee, pending.sync_state = "10001", "acc-old", "failed"
        pending.last_error = "bad_request: nope"
        uow.links.take_issue(
            "lk_01",
            issue_key="WEB-7",
            issue_id="10070",
            issue_type_id=None,
            status="To Do",
            category="new",
            assignee=None,
        )
        assert pending.issue_key == "WEB-7"  # the copy the session had loaded reads the row again
        uow.links.take_issue(
            "lk_02",
            issue_key="WEB-8",
            issue_id="10080",
            issue_type_id="10002",
            status="Open",
            category="new",
            assignee="acc-1",
        )
        uow.commit()
    with UnitOfWork(sessions) as uow:
        first, second = uow.links.get("lk_01"), uow.links.get("lk_02")
        assert first is not None and second is not None
        assert (first.issue_key, first.issue_id, first.issue_type_id) == ("WEB-7", "10070", "10001")
        assert (first.jira_status, first.jira_status_category, first.jira_assignee) == ("To Do", "new", None)
        assert (first.sync_state, first.last_error) == ("synced", None)
        assert (second.issue_key, second.issue_type_id, second.jira_assignee) == ("WEB-8", "10002", "acc-1")
        read = uow.links.loose("lk_02")
        assert read is not None and (read.id, read.issue_key, read.sync_state) == ("lk_02", "WEB-8", "synced")


def test_an_item_read_loose_is_replaced_whole(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        uow.items.add(an_item("ws_a", "e-1", status="Open", attributes={"team": "a"}))
        uow.commit()
    with UnitOfWork(sessions) as uow:
        loaded = uow.items.get("ws_a", "error", "e-1")
        assert loaded is not None and loaded.status == "Open"
        loose = uow.items.loose("ws_a", "error", "e-1")
        assert loose is not None and loose is not loaded
        assert every_column(loose) == every_column(loaded) and loose.attributes == {"team": "a"}
        assert uow.items.loose("ws_a", "error", "e-2") is None
        loose.status, loose.attributes, loose.assignee = "Closed", {"team": "b"}, "alice"
        loose.updated_at = T0 + timedelta(hours=1)
        uow.items.replace(loose)
        assert loaded.status == "Closed"  # the copy the session had loaded reads the row again
        uow.commit()
    with UnitOfWork(sessions) as uow:
        again = uow.items.get("ws_a", "error", "e-1")
        assert again is not None
        assert (again.status, again.attributes, again.assignee) == ("Closed", {"team": "b"}, "alice")
        assert again.updated_at == T0 + timedelta(hours=1)
        assert again.title == loaded.title


def test_an_idempotency_key_taken_by_another_request_is_a_constraint_violation(
    sessions: sessionmaker[Session],
) -> None:
    stored = {"request_hash": "h1", "status_code": 201, "body": {"id": "x"}, "created_at": T0}
    with UnitOfWork(sessions) as uow:
        uow.idempotency_keys.record("ws_a", "key-1", **stored)
        uow.commit()
    with UnitOfWork(sessions) as uow, pytest.raises(ConstraintViolated):
        uow.idempotency_keys.record("ws_a", "key-1", **(stored | {"request_hash": "h2"}))
    with UnitOfWork(sessions) as uow:
        uow.idempotency_keys.record("ws_b", "key-1", **stored)  # a key is per workspace
        uow.commit()
        assert uow.idempotency_keys.stored("ws_a", "key-1") == ("h1", 201, {"id": "x"})


def test_a_saved_comment_ref_is_created_then_replaced_and_a_loaded_copy_reads_it_again(
    sessions: sessionmaker[Session],
) -> None:
    # `save` is a Core upsert: it must create the row, replace every column of an existing one, and
    # leave no copy the session had loaded with the old values.
    with UnitOfWork(sessions) as uow:
        uow.jira_comment_refs.save(
            "st_0",
            "10001",
            workspace_id="ws_a",
            issue_key="WEB-1",
            item_comment_id=None,
            source="jira",
            jira_updated_at=None,
        )
        uow.commit()
    with UnitOfWork(sessions) as uow:
        loaded = uow.jira_comment_refs.get("st_0", "10001")
        assert loaded is not None and loaded.source == "jira"
        uow.jira_comment_refs.save(
            "st_0",
            "10001",
            workspace_id="ws_a",
            issue_key="WEB-2",
            item_comment_id="cm_1",
            source="jirabridge",
            jira_updated_at=T0,
        )
        assert (loaded.issue_key, loaded.item_comment_id, loaded.source) == ("WEB-2", "cm_1", "jirabridge")
        uow.commit()
    with UnitOfWork(sessions) as uow:
        again = uow.jira_comment_refs.get("st_0", "10001")
        assert again is not None
        assert (again.workspace_id, again.issue_key, again.item_comment_id, again.source) == (
            "ws_a",
            "WEB-2",
            "cm_1",
            "jirabridge",
        )
        assert again.jira_updated_at == T0


def test_the_default_site_moves_to_one_site_only(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        assert uow.sites.default("ws_a") is None
        first = uow.sites.get("st_0")
        assert first is not None
        uow.sites.make_default(first)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        second = uow.sites.get("st_1")
        assert second is not None
        assert uow.sites.other_default(second) == "st_0"
        uow.sites.make_default(second)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        default = uow.sites.default("ws_a")
        assert default is not None and default.id == "st_1"
        assert [s.id for s in uow.sites.listed("ws_a")] == ["st_0", "st_1"]  # not the disconnected one
        assert uow.sites.urls(["st_0", "st_3"]) == {
            "st_0": "https://s0.atlassian.net",
            "st_3": "https://s3.atlassian.net",
        }
        assert uow.sites.by_url("ws_a", "https://s2.atlassian.net") is None  # disconnected: free again


def test_host_users_are_found_by_email_without_case(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        uow.host_users.add(a_host_user("ws_a", "alice", email="Alice@Example.com"))
        uow.host_users.add(a_host_user("ws_b", "alice-b", email="alice@example.com"))
        uow.user_connections.add(a_user_connection("ws_a", "alice", site_id="st_0", account_id="acc-1"))
        uow.user_connections.add(
            a_user_connection(
                "ws_a",
                "bob",
                id="uc_bob",
                site_id="st_0",
                account_id="acc-2",
                credentials="sealed",
                auth_type="oauth",
            )
        )
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert uow.host_users.ids_by_email("ws_a", " alice@EXAMPLE.com ") == ["alice"]
        assert uow.user_connections.user_of_account("ws_a", "st_0", "acc-1") == "alice"
        assert uow.user_connections.on_site("ws_a", "st_0", "alice") is not None
        # Without credentials a connection cannot act for the user.
        assert uow.user_connections.connected_on_site("ws_a", "st_0", "alice") is None
        bob = uow.user_connections.connected_on_site("ws_a", "st_0", "bob")
        assert bob is not None
        assert (bob.id, bob.user_id, bob.auth_type, bob.credentials) == ("uc_bob", "bob", "oauth", "sealed")


def test_time_entries_by_what_they_wait_for(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        for row in [
            entry("t1", State.WAITING_FOR_USER_MAPPING),
            entry("t2", State.WAITING_FOR_USER_MAPPING),
            entry("t3", State.WAITING_FOR_USER_MAPPING, user="bob", site="st_1"),
            entry("t4", State.FAILED),
            entry("t5", State.PENDING),
            entry("t6", State.SYNCED, create_marker="m-1"),
            entry("t7", State.DELETED, delete_worklog=True, worklog_issue_key="WEB-1"),
            entry("t8", State.DELETED, delete_worklog=True),  # nothing in Jira to delete
            entry("t9", State.SYNCED),
        ]:
            uow.time_entries.add(row)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        entries = uow.time_entries
        assert entries.waiting_per_user("ws_a") == {("alice", "st_0"): 2, ("bob", "st_1"): 1}
        assert sorted(e.id for e in entries.to_retry_for_user("ws_a", "st_0", "alice")) == ["t1", "t2", "t4"]
        assert sorted(e.id for e in entries.held_back("ws_a")) == ["t5", "t6", "t7"]
        assert sorted(e.id for e in entries.unsynced_on_site("ws_a", "st_0")) == ["t1", "t2", "t5"]


def test_synced_entries_by_their_worklogs_on_a_site(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        for row in [
            entry("t1", State.SYNCED, worklog_id="101"),
            entry("t2", State.SYNCED, worklog_id="102"),
            entry("t3", State.PENDING, worklog_id="103"),  # not synced
            entry("t4", State.SYNCED, worklog_id="101", site="st_1"),  # another site's worklog 101
            entry("t5", State.SYNCED, worklog_id="105"),  # not asked for
        ]:
            uow.time_entries.add(row)
        uow.commit()
    many = [str(n) for n in range(1000, 2200)]  # more than one query's worth of ids
    with UnitOfWork(sessions) as uow:
        found = uow.time_entries.synced_with_worklogs("ws_a", "st_0", ["101", "102", "103", *many])
        assert sorted(e.id for e in found) == ["t1", "t2"]
        assert uow.time_entries.synced_with_worklogs("ws_a", "st_0", []) == []


def test_a_drift_watermark_is_created_then_only_moves_forward(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        assert uow.time_entries.drift_watermark("st_0") is None
        uow.time_entries.advance_drift_watermark("ws_a", "st_0", 500, 600, T0)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        uow.time_entries.advance_drift_watermark("ws_a", "st_0", 400, 700, T0 + timedelta(minutes=5))
        uow.commit()
    with UnitOfWork(sessions) as uow:
        mark = uow.time_entries.drift_watermark("st_0")
        assert mark is not None
        assert (mark.updated_since_ms, mark.deleted_since_ms) == (500, 700)


def test_outstanding_operations_under_an_ordering_key(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        for op in [
            AddComment("st_0", "WEB-1", {}, marker="cm_1"),
            AssignIssue("st_0", "WEB-1", item=("error", "e-2")),
            AddComment("st_0", "WEB-2", {}, marker="cm_3"),
        ]:
            outbox.enqueue(uow.session, op, workspace_id="ws_a", now=T0)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        operations = uow.operations
        assert operations.any_outstanding("issue:st_0:WEB-1", outbox.OUTSTANDING)
        assert not operations.any_outstanding("issue:st_0:WEB-9", outbox.OUTSTANDING)
        assert operations.outstanding_keys(
            ["issue:st_0:WEB-1", "issue:st_0:WEB-2", "issue:st_0:WEB-9"], outbox.OUTSTANDING
        ) == {"issue:st_0:WEB-1", "issue:st_0:WEB-2"}
        assert operations.outstanding_keys([], outbox.OUTSTANDING) == set()
        payloads = operations.outstanding_payloads("issue:st_0:WEB-1", "issue.comment", outbox.OUTSTANDING)
        assert [p["marker"] for p in payloads] == ["cm_1"]
        operations.fail_pending_for_site(
            "st_0", keep_kind="issue.assign", reason="site_disconnected", detail="gone", now=T0
        )
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert not uow.operations.any_outstanding("issue:st_0:WEB-2", outbox.OUTSTANDING)
        assert uow.operations.any_outstanding("issue:st_0:WEB-1", outbox.OUTSTANDING)  # the kept kind
        assert uow.operations.outstanding_keys(["issue:st_0:WEB-2"], outbox.OUTSTANDING) == set()


def test_when_a_create_was_sent_is_kept_on_its_operation_until_cleared(
    sessions: sessionmaker[Session],
) -> None:
    def create(n: int) -> CreateIssue:
        return CreateIssue(
            link_id=f"lk_{n}", site_id="st_0", fields={}, marker=f"jb-00000000000{n}", remote_link=None
        )

    with UnitOfWork(sessions) as uow:
        ids = [outbox.enqueue(uow.session, create(n), workspace_id="ws_a", now=T0) for n in range(3)]
        uow.commit()
    sent = T0 + timedelta(seconds=5)
    with UnitOfWork(sessions) as uow:
        uow.operations.note_create_sent(ids[:2], sent)  # one bulk call's creates, in one statement
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert [uow.operations.create_sent_at(op_id) for op_id in ids] == [sent, sent, None]
        uow.operations.note_create_sent([ids[0]], None)  # certainly not applied
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert [uow.operations.create_sent_at(op_id) for op_id in ids] == [None, sent, None]
        assert uow.operations.create_sent_at("op_missing") is None


def test_a_webhook_delivery_is_taken_once(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        assert uow.webhook_deliveries.take("st_0", "d-1", T0)
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert uow.webhook_deliveries.seen("st_0", "d-1")
        assert not uow.webhook_deliveries.take("st_0", "d-1", T0)
    with UnitOfWork(sessions) as uow:
        uow.webhook_deliveries.forget_before(T0 + timedelta(seconds=1))
        uow.commit()
    with UnitOfWork(sessions) as uow:
        assert not uow.webhook_deliveries.seen("st_0", "d-1")


def test_a_duplicate_key_at_commit_is_a_constraint_violation(sessions: sessionmaker[Session]) -> None:
    with UnitOfWork(sessions) as uow:
        uow.workspaces.add(a_workspace("ws_a", name="again"))
        with pytest.raises(ConstraintViolated):
            uow.commit()
    with UnitOfWork(sessions) as uow:
        found = uow.workspaces.get("ws_a")
        assert found is not None and found.name == "ws_a"
