"""Assignee and comments, outbound, end to end in process: the HTTP API, a running worker and the
emulator, on SQLite and PostgreSQL. The host changes an item's assignee and writes and edits
comments; a Jira user sees the issue follow — assigned to the right person, comments authored by the
connected user where possible — and nothing jirabridge did comes back to the host as a Jira change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator.state import Comment as EmulatedComment
from jira_emulator.state import Issue as EmulatedIssue
from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import Host, connect_host
from support.service import SERVICE_TOKEN, bearer

ALICE = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}
TWO_WAY = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
    "poll_interval_s": 30,
}


class Outbound(Host):
    def issue(self, key: str) -> EmulatedIssue:
        issue = self.jira.issue_by_ref(key)
        assert issue is not None
        return issue

    async def project(self, key: str = "WEB", **document: Any) -> None:
        await super().project(key, **(TWO_WAY | document))
        await self.settle()

    async def user(self, user_id: str, **fields: Any) -> None:
        answer = await self.call("PUT", f"/api/v1/users/{user_id}", fields)
        assert answer.status_code == 200, answer.text

    async def connect(self, user_id: str, auth: dict[str, str]) -> None:
        answer = await self.call("POST", f"/api/v1/users/{user_id}/jira", {"auth": auth})
        assert answer.status_code == 201, answer.text

    async def bound_key(self, user_id: str) -> str:
        answer = await self.api.post(
            f"/api/v1/workspaces/{self.tenant.workspace_id}/api-keys",
            json={"role": "member", "name": user_id, "user": user_id},
            headers=bearer(SERVICE_TOKEN),
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["key"])

    async def item(self, item_id: str, **fields: Any) -> dict[str, Any]:
        answer = await self.call(
            "PUT", f"/api/v1/items/error/{item_id}", {"title": f"error {item_id}"} | fields
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def get(self, item_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/v1/items/error/{item_id}")).json())

    async def ticket(self, item_id: str) -> str:
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/tickets", {})
        assert answer.status_code == 201, answer.text
        await self.settle()
        return str(answer.json()["issue_key"])

    async def comment(self, item_id: str, body: str, author: str | None = None) -> str:
        document = {"body": body} | ({"author": author} if author else {})
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/comments", document)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def comments(self, item_id: str) -> list[dict[str, Any]]:
        answer = await self.call("GET", f"/api/v1/items/error/{item_id}/comments")
        return list(answer.json()["comments"])

    async def edit(self, item_id: str, comment_id: str, body: Any, key: str | None = None) -> httpx.Response:
        return await self.call(
            "PATCH", f"/api/v1/items/error/{item_id}/comments/{comment_id}", {"body": body}, key=key
        )

    async def reconcile(self) -> None:
        answer = await self.call("POST", "/api/v1/sync/reconcile", {})
        assert answer.status_code == 202, answer.text
        await self.settle()

    async def fault(self, rule: dict[str, Any]) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url="http://emulator"
        ) as client:
            answer = await client.post("/_emulator/faults", json={"rules": [rule]})
            assert answer.is_success, answer.text

    async def revoke(self, email: str, token: str) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator), base_url="http://emulator"
        ) as client:
            answer = await client.post(
                f"/_emulator/accounts/{email}/api-tokens", json={"action": "revoke", "token": token}
            )
            assert answer.is_success, answer.text


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Outbound:
    return await connect_host(api, emulator, container, Outbound)


def text_of(comment: EmulatedComment) -> str:
    return str(comment.body)


def assignee_changes(issue: EmulatedIssue) -> int:
    return sum(1 for history in issue.changelog for item in history.items if item.field_id == "assignee")


# -- assignee ----------------------------------------------------------------------------------------


async def test_the_items_assignee_is_assigned_in_jira_through_the_users_connection(host: Outbound) -> None:
    await host.project()
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.item("e-1", assignee="u-alice")
    await host.settle()
    assert host.issue(key).assignee == host.account("alice@acme.test")
    await host.reconcile()  # Jira's report of jirabridge's own change changes nothing
    assert (await host.get("e-1"))["assignee"] == "u-alice"

    await host.item("e-1")  # no assignee: unassigned in Jira
    await host.settle()
    assert host.issue(key).assignee is None
    await host.reconcile()
    assert (await host.get("e-1"))["assignee"] is None
    assert await host.events("item.assignee_changed") == []
    assert await host.events("sync.failed") == []


async def test_a_host_user_without_a_connection_is_found_by_email(host: Outbound) -> None:
    await host.project()
    await host.user("u-al", email="Alice@Acme.test", name="Alice")
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.item("e-1", assignee="u-al")
    await host.settle()
    assert host.issue(key).assignee == host.account("alice@acme.test")
    await host.reconcile()
    assert (await host.get("e-1"))["assignee"] == "u-al"


async def test_an_unmapped_user_is_reported_by_name_and_jira_is_left_alone(host: Outbound) -> None:
    await host.project(assignee_sync="outbound")
    await host.connect("u-alice", ALICE)
    await host.user("u-bob", email="bob@acme.test")  # Bob hides his email in Jira
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.item("e-1", assignee="u-alice")
    await host.settle()
    before = assignee_changes(host.issue(key))

    await host.item("e-1", assignee="u-bob")
    await host.settle()
    await host.item("e-1", assignee="u-nobody")  # no connection, no email
    await host.settle()

    assert host.issue(key).assignee == host.account("alice@acme.test")  # never a guess
    assert assignee_changes(host.issue(key)) == before
    failed = await host.events("sync.failed")
    assert [(e["data"]["reason"], e["data"]["user"], e["issue_key"]) for e in failed] == [
        ("user_not_mapped", "u-bob", key),
        ("user_not_mapped", "u-nobody", key),
    ]
    assert all(e["item"]["id"] == "e-1" for e in failed)
    failures = (await host.call("GET", "/api/v1/sync/failures")).json()
    assert [f["reason"] for f in failures["failures"]] == ["user_not_mapped", "user_not_mapped"]


async def test_an_issue_already_assigned_to_that_person_gets_no_call(host: Outbound, as_user: Any) -> None:
    await host.project(assignee_sync="outbound", status_sync="outbound", comment_sync="off")
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    alice: httpx.AsyncClient = as_user("alice@acme.test", "alice-token")
    answer = await alice.put(
        f"/rest/api/3/issue/{key}/assignee", json={"accountId": host.account("alice@acme.test")}
    )
    assert answer.status_code == 204, answer.text
    assert assignee_changes(host.issue(key)) == 1

    await host.item("e-1", assignee="u-alice")
    await host.settle()
    assert assignee_changes(host.issue(key)) == 1
    assert host.issue(key).assignee == host.account("alice@acme.test")


async def test_nothing_is_assigned_when_the_project_does_not_push_assignees(host: Outbound) -> None:
    await host.project(assignee_sync="inbound")
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.item("e-1", assignee="u-alice")
    await host.settle()
    assert host.issue(key).assignee is None


# -- comments ----------------------------------------------------------------------------------------


async def test_a_connected_users_comment_is_theirs_in_jira_and_others_are_posted_by_the_site(
    host: Outbound,
) -> None:
    await host.project()
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.comment("e-1", "Looking into it", author="u-alice")
    await host.comment("e-1", "Seen it too", author="Dana")
    await host.settle()

    by_alice, by_site = host.issue(key).comments
    assert by_alice.author == host.account("alice@acme.test")
    assert "Looking into it" in text_of(by_alice) and "u-alice" not in text_of(by_alice)
    assert by_site.author == host.account("bot@acme.test") and "Dana: Seen it too" in text_of(by_site)
    await host.reconcile()  # neither comes back as a Jira comment
    assert [(c["source"], c["body"]) for c in await host.comments("e-1")] == [
        ("host", "Looking into it"),
        ("host", "Seen it too"),
    ]
    assert await host.events("item.comment_added") == []


async def test_when_jira_refuses_the_users_credentials_the_site_posts_with_their_name(host: Outbound) -> None:
    await host.project()
    await host.user("u-alice", name="Alice A.")
    await host.connect("u-alice", ALICE)
    await host.revoke("alice@acme.test", "alice-token")
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.comment("e-1", "Still on it", author="u-alice")
    await host.settle()
    [comment] = host.issue(key).comments
    assert comment.author == host.account("bot@acme.test") and "Alice A.: Still on it" in text_of(comment)


async def test_a_lost_answer_never_makes_a_second_comment_as_the_user(host: Outbound) -> None:
    await host.project()
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.fault(
        {
            "kind": "lost_answer",
            "method": "POST",
            "path": "/rest/api/3/issue/[^/]+/comment$",
            "count": 1,
            "hang_s": 0.05,
        }
    )
    await host.comment("e-1", "Once only", author="u-alice")
    await host.settle()
    [comment] = host.issue(key).comments
    assert comment.author == host.account("alice@acme.test")


# -- comment edits -------------------------------------------------------------------------------------


async def test_an_edit_updates_the_same_jira_comment_as_its_author(host: Outbound) -> None:
    await host.project()
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    mine = await host.comment("e-1", "Looking into it", author="u-alice")
    theirs = await host.comment("e-1", "Seen it too", author="Dana")
    await host.settle()
    before = [(c.id, c.author) for c in host.issue(key).comments]

    answer = await host.edit("e-1", mine, "Fixed in 1.2.3")
    assert answer.status_code == 200, answer.text
    assert answer.json()["body"] == "Fixed in 1.2.3"
    assert (await host.edit("e-1", theirs, "Seen it twice")).status_code == 200
    await host.settle()

    comments = host.issue(key).comments
    assert [(c.id, c.author) for c in comments] == before  # the same comments, the same authors
    assert "Fixed in 1.2.3" in text_of(comments[0]) and "Looking into it" not in text_of(comments[0])
    assert comments[0].update_author == host.account("alice@acme.test")
    assert "Dana: Seen it twice" in text_of(comments[1])
    assert [c["body"] for c in await host.comments("e-1")] == ["Fixed in 1.2.3", "Seen it twice"]
    updated = await host.events("item.comment_updated")
    assert [(e["source"], e["data"]["comment_id"]) for e in updated] == [("host", mine), ("host", theirs)]

    await host.reconcile()  # the edits do not come back from Jira
    assert [c["source"] for c in await host.comments("e-1")] == ["host", "host"]
    assert len(await host.events("item.comment_updated")) == 2


async def test_an_edit_before_the_comment_reached_jira_posts_the_latest_text(host: Outbound) -> None:
    await host.project()
    await host.connect("u-alice", ALICE)
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.fault(
        {
            "kind": "error",
            "status": 503,
            "method": "POST",
            "path": "/rest/api/3/issue/[^/]+/comment$",
            "count": 1,
        }
    )
    comment_id = await host.comment("e-1", "first draft", author="u-alice")
    await host.wait_for_retry("issue.comment")
    assert (await host.edit("e-1", comment_id, "final text")).status_code == 200
    await host.settle()
    [comment] = host.issue(key).comments
    assert "final text" in text_of(comment) and comment.author == host.account("alice@acme.test")


async def test_who_may_edit_which_comment(host: Outbound, as_user: Any) -> None:
    await host.project()
    await host.item("e-1")
    key = await host.ticket("e-1")
    alices_key, bobs_key = await host.bound_key("u-alice"), await host.bound_key("u-bob")
    answer = await host.call("POST", "/api/v1/items/error/e-1/comments", {"body": "mine"}, key=alices_key)
    assert answer.status_code == 201 and answer.json()["author"] == "u-alice"
    mine = answer.json()["id"]
    impersonating = {"body": "not mine", "author": "u-alice"}
    assert (
        await host.call("POST", "/api/v1/items/error/e-1/comments", impersonating, key=bobs_key)
    ).status_code == 403

    assert (await host.edit("e-1", mine, "by bob", key=bobs_key)).status_code == 403
    assert (await host.edit("e-1", mine, "still mine", key=alices_key)).status_code == 200
    assert (await host.edit("e-1", mine, "by the backend", key=host.tenant.keys["member"])).status_code == 200
    assert (await host.edit("e-1", "cm_missing", "x")).status_code == 404
    assert (await host.edit("e-1", mine, "")).status_code == 422
    assert (await host.edit("e-1", mine, 42)).status_code == 422

    alice: httpx.AsyncClient = as_user("alice@acme.test", "alice-token")
    posted = await alice.post(f"/rest/api/3/issue/{key}/comment", json={"body": _adf("from Jira")})
    assert posted.status_code == 201, posted.text
    await host.reconcile()
    from_jira = next(c for c in await host.comments("e-1") if c["source"] == "jira")
    conflict = await host.edit("e-1", from_jira["id"], "rewritten")
    assert conflict.status_code == 409
    assert [c["body"] for c in await host.comments("e-1")] == ["by the backend", "from Jira"]
    await host.settle()
    texts = [text_of(c) for c in host.issue(key).comments]
    assert sum("u-alice: by the backend" in t for t in texts) == 1 and len(texts) == 2


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


async def test_a_status_comment_is_not_copied_back_to_the_item(host: Outbound) -> None:
    await host.call("PUT", "/api/v1/settings", {"host_name": "Qualytics"})
    await host.project(status_sync="comment")
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await host.item("e-1", status="Fixed")
    await host.settle()
    [comment] = host.issue(key).comments
    assert "Status: Fixed" in text_of(comment)
    await host.reconcile()
    assert await host.comments("e-1") == []
    assert await host.events("item.comment_added") == []


async def test_a_comment_on_an_item_that_does_not_exist_is_404_and_stores_nothing(host: Outbound) -> None:
    await host.project()
    await host.item("e-1")
    await host.ticket("e-1")
    answer = await host.call("POST", "/api/v1/items/error/e-404/comments", {"body": "lost"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "error/e-404" in answer.json()["detail"]
    assert (await host.call("GET", "/api/v1/items/error/e-404/comments")).status_code == 404
    await host.settle()
    assert all(c.body != "lost" for issue in host.jira.issues.values() for c in issue.comments)
