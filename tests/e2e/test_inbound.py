"""Inbound sync with every part in its own process over loopback: `jira-emulator serve`, `jirabridge
serve` and `jirabridge worker` on a SQLite file. A Jira user changes tickets; the host's items and
event feed follow — by webhook within seconds, by polling when a delivery is lost or the service was
down — and nothing jirabridge did itself comes back as a change."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from bench._stack import PROJECT, Stack, StackOptions, Tenant, bench_seed

pytestmark = pytest.mark.e2e

JANE = ("jane@bench.test", "jane-token")
SETTINGS = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
    "poll_interval_s": 30,
}


class Inbound:
    def __init__(self, stack: Stack, tenant: Tenant) -> None:
        self.stack, self.tenant = stack, tenant
        self.site_id = tenant.sites["bench"]
        self.api = stack.api(timeout_s=30)
        self.jane = httpx.Client(base_url=f"{stack.emulator_url}/sites/bench", auth=JANE, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.api.request(method, path, json=body, headers=self.tenant.headers)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def ticket(self, item_id: str) -> str:
        self.call("PUT", f"/api/v1/items/error/{item_id}", {"title": item_id, "status": "Open"})
        self.call("POST", f"/api/v1/items/error/{item_id}/tickets", {})
        key = self.until(lambda: self.item(item_id)["links"][0]["issue_key"], f"{item_id}'s ticket")
        self.stack.wait_drained(timeout_s=30)
        return str(key)

    def item(self, item_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.call("GET", f"/api/v1/items/error/{item_id}")
        return item

    def events(self, kind: str) -> list[dict[str, Any]]:
        feed = self.call("GET", "/api/v1/events?limit=500")["events"]
        return [e for e in feed if e["type"] == kind]

    def move(self, key: str, status: str) -> None:
        transitions = self.jane.get(f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
        chosen = next(t for t in transitions if t["to"]["name"] == status)
        answer = self.jane.post(
            f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": chosen["id"]}}
        )
        assert answer.status_code == 204, answer.text

    def jira_status(self, key: str) -> str:
        return str(
            self.jane.get(f"/rest/api/3/issue/{key}", params={"fields": "status"}).json()["fields"]["status"][
                "name"
            ]
        )

    def webhook_faults(self, **faults: Any) -> None:
        self.stack.emulator("POST", "/_emulator/webhooks/faults", faults)

    @staticmethod
    def until(probe: Callable[[], Any], what: str, timeout_s: float = 15) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = probe()
            except (KeyError, IndexError):
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen within {timeout_s:g} s")


@pytest.fixture(scope="module")
def inbound() -> Iterator[Inbound]:
    seed = bench_seed(["bench"])
    seed["users"].append({"email": JANE[0], "display_name": "Jane Jira", "api_tokens": [{"token": JANE[1]}]})
    with Stack(StackOptions(latency_ms=0, rate_limit=1000, concurrency=8, poll_s=0.05)) as stack:
        stack.start_emulator(seed)
        stack.start_service()
        tenant = stack.seed_tenant(["bench"], SETTINGS)
        stack.start_worker()
        world = Inbound(stack, tenant)
        hook = world.call("POST", f"/api/v1/sites/{world.site_id}/webhook-secret")
        stack.emulator(
            "POST",
            "/_emulator/sites/bench/webhooks",
            {
                "name": "jirabridge",
                "url": hook["url"],
                "secret": hook["secret"],
                "events": ["jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"],
                "filters": {"issue-related-events-section": f"project = {PROJECT}"},
            },
        )
        yield world
        world.api.close()
        world.jane.close()


def test_a_jira_change_reaches_the_feed_by_webhook_within_seconds(inbound: Inbound) -> None:
    key = inbound.ticket("w-1")
    started = time.monotonic()
    inbound.move(key, "In Progress")
    inbound.until(lambda: inbound.item("w-1")["status"] == "Acknowledged", "the webhook's status change")
    elapsed = time.monotonic() - started
    assert elapsed < 5  # far from the poll interval (30 s): it came by webhook
    [event] = [e for e in inbound.events("item.status_changed") if e["item"]["id"] == "w-1"]
    assert event["source"] == "jira" and event["data"]["jira_user"]["display_name"] == "Jane Jira"


def test_the_hosts_own_change_does_not_echo(inbound: Inbound) -> None:
    key = inbound.ticket("w-2")
    inbound.call("PUT", "/api/v1/items/error/w-2", {"title": "w-2", "status": "Fixed"})
    inbound.until(lambda: inbound.jira_status(key) == "Done", "Jira's move to Done")
    inbound.stack.emulator("POST", "/_emulator/webhooks/wait?timeout_s=10")
    inbound.stack.wait_drained(timeout_s=30)
    assert inbound.item("w-2")["status"] == "Fixed"
    assert [e for e in inbound.events("item.status_changed") if e["item"]["id"] == "w-2"] == []


def test_a_lost_delivery_is_caught_by_the_next_poll(inbound: Inbound) -> None:
    key = inbound.ticket("w-3")
    inbound.webhook_faults(drop_next=1)
    inbound.move(key, "In Progress")
    inbound.stack.emulator("POST", "/_emulator/webhooks/wait?timeout_s=10")
    time.sleep(0.5)
    assert inbound.item("w-3")["status"] == "Open"  # the delivery never came
    inbound.call("POST", "/api/v1/sync/reconcile", {})
    inbound.until(lambda: inbound.item("w-3")["status"] == "Acknowledged", "the poll's status change")


def test_deliveries_out_of_order_end_in_the_latest_state(inbound: Inbound) -> None:
    key = inbound.ticket("w-4")
    inbound.webhook_faults(reorder_next=2)
    inbound.move(key, "In Progress")
    inbound.move(key, "Done")
    inbound.stack.emulator("POST", "/_emulator/webhooks/wait?timeout_s=15")
    inbound.stack.wait_drained(timeout_s=30)
    assert inbound.item("w-4")["status"] == "Fixed"
    assert inbound.item("w-4")["links"][0]["jira_status"] == "Done"


def test_changes_while_the_service_was_down_are_caught_up(inbound: Inbound) -> None:
    key = inbound.ticket("w-5")
    service = next(p for p in inbound.stack.processes if p.name == "service")
    service.stop()
    inbound.move(key, "In Progress")  # every delivery attempt fails: nobody listens
    inbound.stack.processes.remove(service)
    inbound.stack.start_service()
    inbound.call("POST", "/api/v1/sync/reconcile", {})
    inbound.until(lambda: inbound.item("w-5")["status"] == "Acknowledged", "the catch-up after the outage")


def test_jira_comments_and_assignee_reach_the_item(inbound: Inbound) -> None:
    key = inbound.ticket("w-6")
    body = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "on it"}]}],
    }
    assert inbound.jane.post(f"/rest/api/3/issue/{key}/comment", json={"body": body}).status_code == 201
    listed = inbound.until(
        lambda: [
            c
            for c in inbound.call("GET", "/api/v1/items/error/w-6/comments")["comments"]
            if c["source"] == "jira"
        ],
        "the Jira comment on the item",
    )
    assert [c["body"] for c in listed] == ["on it"]
    me = inbound.jane.get("/rest/api/3/myself").json()
    assert (
        inbound.jane.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": me["accountId"]}).status_code
        == 204
    )
    [event] = inbound.until(
        lambda: [e for e in inbound.events("item.assignee_changed") if e["item"]["id"] == "w-6"],
        "the assignee event",
    )
    assert event["data"]["jira_user"]["account_id"] == me["accountId"] and event["data"]["unmapped"] is True


def test_the_hosts_own_assignee_and_comments_do_not_echo(inbound: Inbound) -> None:
    key = inbound.ticket("w-7")
    inbound.call(
        "POST",
        "/api/v1/users/u-jane/jira",
        {"auth": {"type": "api_token", "email": JANE[0], "api_token": JANE[1]}},
    )
    inbound.call("PUT", "/api/v1/items/error/w-7", {"title": "w-7", "status": "Open", "assignee": "u-jane"})
    posted = inbound.call("POST", "/api/v1/items/error/w-7/comments", {"body": "looking", "author": "u-jane"})
    me = inbound.jane.get("/rest/api/3/myself").json()

    def issue() -> dict[str, Any]:
        answer = inbound.jane.get(f"/rest/api/3/issue/{key}", params={"fields": "assignee,comment"})
        fields: dict[str, Any] = answer.json()["fields"]
        return fields

    inbound.until(lambda: (issue()["assignee"] or {}).get("accountId") == me["accountId"], "the assignment")
    inbound.until(lambda: issue()["comment"]["comments"], "the comment in Jira")
    inbound.call("PATCH", f"/api/v1/items/error/w-7/comments/{posted['id']}", {"body": "looking hard"})
    inbound.until(
        lambda: "looking hard" in str(issue()["comment"]["comments"][0]["body"]),
        "the edit of the same comment",
    )
    inbound.stack.emulator("POST", "/_emulator/webhooks/wait?timeout_s=10")
    inbound.stack.wait_drained(timeout_s=30)
    [comment] = issue()["comment"]["comments"]
    assert comment["author"]["accountId"] == me["accountId"]  # authored by the connected user
    listed = inbound.call("GET", "/api/v1/items/error/w-7/comments")["comments"]
    assert [(c["source"], c["body"]) for c in listed] == [("host", "looking hard")]
    assert inbound.item("w-7")["assignee"] == "u-jane"
    mine = [
        e
        for e in inbound.events("item.assignee_changed") + inbound.events("item.comment_added")
        if e["item"]["id"] == "w-7"
    ]
    assert mine == []
