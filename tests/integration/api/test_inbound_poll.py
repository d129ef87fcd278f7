"""Inbound sync by polling, end to end in process: the HTTP API, a running worker and the emulator,
on SQLite and PostgreSQL. Jira users change tickets through the emulator's REST API; the host sees
the items and the event feed follow, and nothing jirabridge did itself comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import Host, connect_host

STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done", "Ignored": "Won't Do"}
INBOUND = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": STATUS_MAP,
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
    "poll_interval_s": 30,
}

MakeUser = Callable[[str, str], httpx.AsyncClient]


class Inbound(Host):
    async def project(self, key: str = "WEB", **document: Any) -> None:
        await super().project(key, **(INBOUND | document))
        await self.settle()  # the first poll of a new schedule runs at once

    async def item(self, item_id: str, item_type: str = "error", **fields: Any) -> dict[str, Any]:
        answer = await self.call(
            "PUT", f"/api/v1/items/{item_type}/{item_id}", {"title": f"{item_type} {item_id}"} | fields
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def get(self, item_id: str, item_type: str = "error") -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/v1/items/{item_type}/{item_id}")).json())

    async def ticket(self, item_id: str, item_type: str = "error") -> str:
        answer = await self.call("POST", f"/api/v1/items/{item_type}/{item_id}/tickets", {})
        assert answer.status_code == 201, answer.text
        await self.settle()
        return str(answer.json()["issue_key"])

    async def reconcile(self) -> None:
        answer = await self.call("POST", "/api/v1/sync/reconcile", {})
        assert answer.status_code == 202, answer.text
        await self.settle()


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Inbound:
    return await connect_host(api, emulator, container, Inbound)


@pytest.fixture
def alice(as_user: MakeUser) -> httpx.AsyncClient:
    return as_user("alice@acme.test", "alice-token")


async def move(jira: httpx.AsyncClient, key: str, status: str) -> None:
    transitions = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    chosen = next(t for t in transitions if t["to"]["name"] == status)
    answer = await jira.post(
        f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}}
    )
    assert answer.status_code == 204, answer.text


async def test_a_status_change_in_jira_reaches_the_item_and_the_feed(
    host: Inbound, alice: httpx.AsyncClient
) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await move(alice, key, "In Progress")
    await host.reconcile()
    item = await host.get("e-1")
    assert item["status"] == "Acknowledged" and item["links"][0]["jira_status"] == "In Progress"
    [event] = await host.events("item.status_changed")
    assert event["source"] == "jira" and event["issue_key"] == key
    assert event["data"]["from"] == "Open" and event["data"]["to"] == "Acknowledged"
    # Nothing moved Jira back: the host's change came from Jira.
    assert host.jira.issue_by_ref(key).status == "In Progress"  # type: ignore[union-attr]


async def test_a_poll_applies_every_change_it_found(host: Inbound, alice: httpx.AsyncClient) -> None:
    # Many changes in one poll: each is applied, with the watermark, when the poll is recorded, and
    # every item follows its ticket.
    await host.project()
    count = 23
    keys = []
    for n in range(count):
        await host.item(f"e-{n}", status="Open")
        keys.append(await host.ticket(f"e-{n}"))
    for key in keys:
        await move(alice, key, "In Progress")
    await host.reconcile()
    statuses = [(await host.get(f"e-{n}"))["status"] for n in range(count)]
    assert statuses == ["Acknowledged"] * count
    assert len(await host.events("item.status_changed")) == count


async def test_done_category_without_a_mapping_takes_the_resolved_status(
    host: Inbound, alice: httpx.AsyncClient
) -> None:
    await host.project(status_map={"Open": "To Do"}, resolved_status="Resolved")
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await move(alice, key, "Won't Do")
    await host.reconcile()
    assert (await host.get("e-1"))["status"] == "Resolved"


async def test_the_hosts_own_status_change_does_not_come_back(host: Inbound) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await host.item("e-1", status="Ignored")
    await host.settle()
    assert host.jira.issue_by_ref(key).status == "Won't Do"  # type: ignore[union-attr]
    await host.reconcile()
    assert (await host.get("e-1"))["status"] == "Ignored"
    assert await host.events("item.status_changed") == []


async def test_a_grouped_ticket_moves_every_item(host: Inbound, alice: httpx.AsyncClient) -> None:
    await host.call("PUT", "/api/v1/settings", {"link_cardinality": {"error": "many_to_one"}})
    await host.project()
    await host.item("e-1", status="Open")
    await host.item("e-2", status="Open")
    key = await host.ticket("e-1")
    assert (await host.call("POST", "/api/v1/items/error/e-2/links", {"issue": key})).status_code == 201
    await move(alice, key, "In Progress")
    await host.reconcile()
    assert [(await host.get(i))["status"] for i in ("e-1", "e-2")] == ["Acknowledged", "Acknowledged"]
    assert sorted(e["item"]["id"] for e in await host.events("item.status_changed")) == ["e-1", "e-2"]


async def test_inbound_status_is_not_applied_when_the_mode_is_outbound(
    host: Inbound, alice: httpx.AsyncClient
) -> None:
    await host.project(status_sync="outbound", assignee_sync="inbound")
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await move(alice, key, "In Progress")
    await host.reconcile()
    item = await host.get("e-1")
    assert item["status"] == "Open" and item["links"][0]["jira_status"] == "In Progress"


async def test_a_change_during_an_outage_is_caught_up_once_jira_answers(
    host: Inbound, alice: httpx.AsyncClient, jira: httpx.AsyncClient
) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    rule = {"kind": "error", "status": 503, "path": "/search/jql"}
    assert (await jira.post("/_emulator/faults", json={"rules": [rule]})).status_code in (200, 201)
    await move(alice, key, "In Progress")
    await host.call("POST", "/api/v1/sync/reconcile", {})
    await host.wait_for_retry("inbound.poll")
    assert (await host.get("e-1"))["status"] == "Open"
    assert (await jira.delete("/_emulator/faults")).status_code in (200, 204)
    with host.container.engine.begin() as connection:  # the retry is due now
        connection.execute(text("UPDATE operations SET run_after = created_at WHERE status = 'pending'"))
    await host.settle()
    assert (await host.get("e-1"))["status"] == "Acknowledged"


async def test_a_poll_that_fails_part_way_applies_nothing_until_it_runs_again_whole(
    host: Inbound, alice: httpx.AsyncClient, jira: httpx.AsyncClient
) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await move(alice, key, "In Progress")  # on the poll's first page: the oldest change
    for _ in range(2):  # and a hundred newer ones, for a second page
        fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "other"}
        made = await alice.post("/rest/api/3/issue/bulk", json={"issueUpdates": [{"fields": fields}] * 50})
        assert made.status_code == 201, made.text
    rule = {"kind": "error", "status": 503, "path": "/search/jql", "after": 1}  # the second page fails
    assert (await jira.post("/_emulator/faults", json={"rules": [rule]})).status_code in (200, 201)
    await host.call("POST", "/api/v1/sync/reconcile", {})
    await host.wait_for_retry("inbound.poll")
    assert (await host.get("e-1"))["status"] == "Open"  # read, but the poll did not finish
    assert await host.events("item.status_changed") == []
    assert (await jira.delete("/_emulator/faults")).status_code in (200, 204)
    with host.container.engine.begin() as connection:  # the retry is due now
        connection.execute(text("UPDATE operations SET run_after = created_at WHERE status = 'pending'"))
    await host.settle()
    assert (await host.get("e-1"))["status"] == "Acknowledged"
    assert len(await host.events("item.status_changed")) == 1


async def test_changes_made_while_inbound_sync_was_off_are_caught_up(
    host: Inbound, alice: httpx.AsyncClient
) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await host.project(status_sync="outbound", assignee_sync="outbound", comment_sync="off")
    await move(alice, key, "In Progress")
    no_poll = await host.call("POST", "/api/v1/sync/reconcile", {})
    assert no_poll.status_code == 404  # nothing polls while inbound sync is off
    await host.project(status_sync="two_way")  # back on: the first poll catches up
    assert (await host.get("e-1"))["status"] == "Acknowledged"


async def test_assignee_changes_in_jira_map_to_host_users(host: Inbound, alice: httpx.AsyncClient) -> None:
    await host.project()
    connected = await host.call(
        "POST",
        "/api/v1/users/u-alice/jira",
        {"auth": {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}},
    )
    assert connected.status_code == 201, connected.text
    bob_id = next(
        u.account_id for u in host.emulator.state.emulator.accounts.values() if u.email == "bob@acme.test"
    )
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    alice_id = connected.json()["account_id"]
    assert (
        await alice.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": alice_id})
    ).status_code == 204
    await host.reconcile()
    assert (await host.get("e-1"))["assignee"] == "u-alice"
    # Bob has no connection and the host knows no user with his email: reported, never guessed.
    assert (
        await alice.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": bob_id})
    ).status_code == 204
    await host.reconcile()
    assert (await host.get("e-1"))["assignee"] is None
    changes = await host.events("item.assignee_changed")
    assert [(e["data"]["to"], e["data"].get("unmapped", False)) for e in changes] == [
        ("u-alice", False),
        (None, True),
    ]
    assert changes[1]["data"]["jira_user"]["account_id"] == bob_id


async def test_jira_comments_appear_on_the_item_and_edits_follow(
    host: Inbound, alice: httpx.AsyncClient
) -> None:
    await host.project()
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    posted = await host.call("POST", "/api/v1/items/error/e-1/comments", {"body": "from the host"})
    assert posted.status_code == 201
    await host.settle()
    answer = await alice.post(
        f"/rest/api/3/issue/{key}/comment",
        json={
            "body": {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "seen in prod"}]}],
            }
        },
    )
    comment_id = answer.json()["id"]
    await host.reconcile()
    await host.reconcile()  # seen twice: still once
    listed = (await host.call("GET", "/api/v1/items/error/e-1/comments")).json()["comments"]
    assert [(c["source"], c["body"]) for c in listed] == [("host", "from the host"), ("jira", "seen in prod")]
    await alice.put(
        f"/rest/api/3/issue/{key}/comment/{comment_id}",
        json={
            "body": {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "seen in prod twice"}]}
                ],
            }
        },
    )
    await host.reconcile()
    listed = (await host.call("GET", "/api/v1/items/error/e-1/comments")).json()["comments"]
    assert [c["body"] for c in listed if c["source"] == "jira"] == ["seen in prod twice"]
    assert len(await host.events("item.comment_added")) == 1
    assert len(await host.events("item.comment_updated")) == 1
    # The host comment went to Jira once and never came back as a Jira comment.
    bodies = [str(c.body) for c in host.jira.issue_by_ref(key).comments]  # type: ignore[union-attr]
    assert sum("from the host" in b for b in bodies) == 1
