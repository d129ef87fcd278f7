"""Tickets end to end through the HTTP API: the service, a running worker and the emulator, on SQLite
and PostgreSQL. Every assertion is about what a host or a Jira user would see."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import ACME, Host, connect_host
from support.service import make_tenant

STATUS_MAP = {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done", "Ignored": "Won't Do"}
GROUP_MAP = {"Open": "To Do", "In Progress": "In Progress", "Resolved": "Done", "For Review": "To Do"}


class Tickets(Host):
    async def item(self, item_type: str, item_id: str, **fields: Any) -> dict[str, Any]:
        answer = await self.call(
            "PUT", f"/api/v1/items/{item_type}/{item_id}", {"title": f"{item_type} {item_id}"} | fields
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    def status(self, key: str) -> str:
        issue = self.jira.issue_by_ref(key)
        assert issue is not None
        return issue.status


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Tickets:
    return await connect_host(api, emulator, container, Tickets)


async def test_a_ticket_with_the_seven_fields_is_created_and_linked(host: Tickets) -> None:
    await host.project(default_issue_type="Task", priority_map={"high": "High"})
    alice = await host.call(
        "POST",
        "/api/v1/users/u-alice/jira",
        {"auth": {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}},
    )
    assert alice.status_code == 201
    await host.item(
        "anomaly",
        "an-42",
        severity="high",
        status="Active",
        url="https://host.example/anomalies/42",
        attributes={"service": "billing"},
    )
    answer = await host.call(
        "POST",
        "/api/v1/items/anomaly/an-42/tickets",
        {
            "summary": "Null rate spike",
            "description": "Rows lost since 10:00",
            "labels": ["dq"],
            "assignee": "u-alice",
        },
        role="member",
    )
    assert answer.status_code == 201, answer.text
    link = answer.json()
    assert link["issue_key"] == "WEB-1" and link["sync_state"] == "synced" and link["jira_status"] == "To Do"
    assert link["issue_url"] == f"{ACME}/browse/WEB-1" and link["created_by_jirabridge"] is True
    await host.settle()
    issue = host.jira.issue_by_ref("WEB-1")
    assert issue is not None
    assert issue.summary == "Null rate spike"
    assert host.jira.priority_by_ref(issue.priority or "").name == "High"  # type: ignore[union-attr]
    assert "dq" in issue.labels and any(label.startswith("jb-") for label in issue.labels)
    assert issue.assignee == alice.json()["account_id"]
    text = str(issue.description)
    assert (
        "Rows lost since 10:00" in text and "billing" in text and "https://host.example/anomalies/42" in text
    )
    assert [r.object["url"] for r in issue.remote_links] == ["https://host.example/anomalies/42"]
    item = (await host.call("GET", "/api/v1/items/anomaly/an-42")).json()
    assert [(lk["issue_key"], lk["sync_state"]) for lk in item["links"]] == [("WEB-1", "synced")]
    assert [e["issue_key"] for e in await host.events("ticket.created")] == ["WEB-1"]


async def test_a_missing_required_field_is_named_and_nothing_is_created(host: Tickets) -> None:
    await host.project("SEC", default_issue_type="Bug")
    await host.item("vulnerability", "v-1", severity="critical")
    answer = await host.call("POST", "/api/v1/items/vulnerability/v-1/tickets", {"project": "SEC"})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["fields.customfield_10051"]
    assert "Severity" in answer.json()["errors"][0]["message"]
    assert not host.jira.issues
    ok = await host.call(
        "POST",
        "/api/v1/items/vulnerability/v-1/tickets",
        {"project": "SEC", "fields": {"customfield_10051": {"value": "Critical"}}},
    )
    assert ok.status_code == 201, ok.text


async def test_field_defaults_fill_custom_fields_from_the_item(host: Tickets) -> None:
    await host.project(
        "SEC",
        default_issue_type="Bug",
        field_defaults={
            "Bug": {
                "customfield_10051": {"value": "{attributes.level}"},
                "labels": ["svc-{attributes.service}"],
            }
        },
    )
    await host.item("vulnerability", "v-2", attributes={"level": "High", "service": "api"})
    answer = await host.call("POST", "/api/v1/items/vulnerability/v-2/tickets", {"project": "SEC"})
    assert answer.status_code == 201, answer.text
    issue = host.jira.issue_by_ref(answer.json()["issue_key"])
    assert issue is not None and issue.custom["customfield_10051"] == "High" and "svc-api" in issue.labels


async def test_linking_verifies_the_issue_and_respects_cardinality(host: Tickets) -> None:
    await host.call("PUT", "/api/v1/settings", {"link_cardinality": {"vulnerability": "one_to_one"}})
    for key in ("WEB-1", "WEB-2"):
        await host.item("seed", key)
        assert (
            await host.call("POST", f"/api/v1/items/seed/{key}/tickets", {"issue_type": "Task"})
        ).status_code == 201
    await host.item("vulnerability", "v-1")
    await host.item("vulnerability", "v-2")
    changelog_before = len(host.jira.issue_by_ref("WEB-1").changelog)  # type: ignore[union-attr]
    missing = await host.call("POST", "/api/v1/items/vulnerability/v-1/links", {"issue": "WEB-99"})
    assert missing.status_code == 404
    by_url = await host.call(
        "POST", "/api/v1/items/vulnerability/v-1/links", {"issue": f"{ACME}/browse/WEB-1"}, role="member"
    )
    assert by_url.status_code == 201 and by_url.json()["issue_key"] == "WEB-1"
    assert (
        await host.call("POST", "/api/v1/items/vulnerability/v-1/links", {"issue": "WEB-2"})
    ).status_code == 409
    assert (
        await host.call("POST", "/api/v1/items/vulnerability/v-2/links", {"issue": "web-1"})
    ).status_code == 409
    assert len(host.jira.issue_by_ref("WEB-1").changelog) == changelog_before  # type: ignore[union-attr]
    assert not host.jira.issue_by_ref("WEB-1").remote_links  # type: ignore[union-attr]
    assert (await host.call("DELETE", "/api/v1/items/vulnerability/v-1/links/WEB-1")).status_code == 204
    assert (
        await host.call("POST", "/api/v1/items/vulnerability/v-2/links", {"issue": "WEB-1", "backlink": True})
    ).status_code == 201
    await host.settle()
    assert (await host.call("GET", "/api/v1/items/vulnerability/v-2")).json()["links"][0][
        "issue_key"
    ] == "WEB-1"


async def test_status_changes_move_the_ticket_through_allowed_transitions(host: Tickets) -> None:
    await host.project(default_issue_type="Bug", status_map=STATUS_MAP)
    await host.item("vulnerability", "v-1", status="Open")
    key = (await host.call("POST", "/api/v1/items/vulnerability/v-1/tickets", {})).json()["issue_key"]
    await host.item("vulnerability", "v-1", status="Acknowledged")
    await host.settle()
    assert host.status(key) == "In Progress"
    await host.item("vulnerability", "v-1", status="Fixed")
    await host.settle()
    assert host.status(key) == "Done"
    history = len(host.jira.issue_by_ref(key).changelog)  # type: ignore[union-attr]
    await host.item("vulnerability", "v-1", status="Ignored")  # Done -> Won't Do: not a transition
    await host.settle()
    assert host.status(key) == "Done"
    assert len(host.jira.issue_by_ref(key).changelog) == history
    failures = (await host.call("GET", "/api/v1/sync/failures")).json()["failures"]
    assert [f["reason"] for f in failures] == ["transition_not_allowed"]
    assert [e["data"].get("reason") for e in await host.events("sync.failed")] == ["transition_not_allowed"]


async def test_comment_mode_posts_a_timestamped_comment_and_never_moves_the_ticket(host: Tickets) -> None:
    await host.call("PUT", "/api/v1/settings", {"host_name": "Qualytics"})
    await host.project("DQ", default_issue_type="Task", status_sync="comment", comment_sync="outbound")
    await host.item("anomaly", "an-1", status="Active")
    key = (await host.call("POST", "/api/v1/items/anomaly/an-1/tickets", {"project": "DQ"})).json()[
        "issue_key"
    ]
    await host.item("anomaly", "an-1", status="Acknowledged")
    await host.call(
        "POST", "/api/v1/items/anomaly/an-1/comments", {"body": "Looking into it", "author": "Dana"}
    )
    await host.settle()
    issue = host.jira.issue_by_ref(key)
    assert issue is not None and issue.status == "To Do"
    texts = [str(c.body) for c in issue.comments]
    assert len(texts) == 2
    assert "Qualytics Anomaly Status: Acknowledged" in texts[0] and " UTC] " in texts[0]
    assert "Dana: Looking into it" in texts[1]
    listed = (await host.call("GET", "/api/v1/items/anomaly/an-1/comments")).json()["comments"]
    assert [c["body"] for c in listed] == ["Looking into it"]


async def _group(host: Tickets, statuses: list[str], ticket: str) -> str:
    """A grouped ticket (many_to_one) in `ticket` status with one linked error per status."""
    await host.call("PUT", "/api/v1/settings", {"link_cardinality": {"error": "many_to_one"}})
    await host.project(default_issue_type="Bug", status_map=GROUP_MAP)
    await host.item("error", "e-0", status=statuses[0])
    key = (await host.call("POST", "/api/v1/items/error/e-0/tickets", {})).json()["issue_key"]
    for n, status in enumerate(statuses[1:], start=1):
        await host.item("error", f"e-{n}", status=status)
        assert (
            await host.call("POST", f"/api/v1/items/error/e-{n}/links", {"issue": key})
        ).status_code == 201
    await host.settle()
    _force(host, key, ticket)
    return key


def _force(host: Tickets, key: str, status: str) -> None:
    issue = host.jira.issue_by_ref(key)
    assert issue is not None
    issue.status = status


async def _statuses(host: Tickets, count: int) -> list[str]:
    return [(await host.call("GET", f"/api/v1/items/error/e-{n}")).json()["status"] for n in range(count)]


async def test_grouped_ticket_reopens_when_one_resolved_item_goes_back_to_review(host: Tickets) -> None:
    key = await _group(host, ["Resolved", "Resolved", "Resolved"], "Done")
    await host.item("error", "e-1", status="For Review")
    await host.settle()
    assert host.status(key) == "To Do"
    assert await _statuses(host, 3) == ["Resolved", "For Review", "Resolved"]


async def test_grouped_ticket_stays_open_until_every_item_is_resolved(host: Tickets) -> None:
    key = await _group(host, ["For Review", "For Review", "For Review"], "To Do")
    await host.item("error", "e-1", status="Resolved")
    await host.settle()
    assert host.status(key) == "To Do"
    assert await _statuses(host, 3) == ["For Review", "Resolved", "For Review"]


async def test_linking_an_open_item_to_a_done_ticket_resolves_the_item(host: Tickets) -> None:
    key = await _group(host, ["Resolved"], "Done")
    await host.item("error", "e-9", status="For Review")
    assert (await host.call("POST", "/api/v1/items/error/e-9/links", {"issue": key})).status_code == 201
    await host.settle()
    assert host.status(key) == "Done"
    assert (await host.call("GET", "/api/v1/items/error/e-9")).json()["status"] == "Resolved"


async def test_linking_a_resolved_item_to_an_open_ticket_changes_neither(host: Tickets) -> None:
    key = await _group(host, ["For Review"], "To Do")
    await host.item("error", "e-9", status="Resolved")
    assert (await host.call("POST", "/api/v1/items/error/e-9/links", {"issue": key})).status_code == 201
    await host.settle()
    assert host.status(key) == "To Do"
    assert (await host.call("GET", "/api/v1/items/error/e-9")).json()["status"] == "Resolved"


async def test_on_link_status_marks_the_item(host: Tickets) -> None:
    await host.project(default_issue_type="Bug", on_link_status="Reviewed")
    await host.item("error", "e-1", status="New")
    await host.item("seed", "s")
    key = (await host.call("POST", "/api/v1/items/seed/s/tickets", {})).json()["issue_key"]
    assert (await host.call("POST", "/api/v1/items/error/e-1/links", {"issue": key})).status_code == 201
    assert (await host.call("GET", "/api/v1/items/error/e-1")).json()["status"] == "Reviewed"


async def test_an_issue_deleted_in_jira_breaks_its_links(host: Tickets) -> None:
    await host.project(default_issue_type="Bug", status_map=STATUS_MAP)
    await host.item("vulnerability", "v-1", status="Open")
    key = (await host.call("POST", "/api/v1/items/vulnerability/v-1/tickets", {})).json()["issue_key"]
    await host.settle()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.emulator),
        base_url=ACME,
        auth=("admin@acme.test", "admin-token"),
    ) as jira:
        assert (await jira.delete(f"/rest/api/3/issue/{key}")).status_code == 204
    await host.item("vulnerability", "v-1", status="Acknowledged")
    await host.settle()
    link = (await host.call("GET", "/api/v1/items/vulnerability/v-1")).json()["links"][0]
    assert (link["sync_state"], link["jira_status"]) == ("broken", "unknown")
    await host.item("vulnerability", "v-1", status="Fixed")
    await host.settle()
    reasons = sorted(
        f["reason"] for f in (await host.call("GET", "/api/v1/sync/failures")).json()["failures"]
    )
    assert reasons == ["issue_not_found", "link_broken"]  # recorded once, not retried forever
    assert (await host.call("DELETE", f"/api/v1/items/vulnerability/v-1/links/{key}")).status_code == 204


async def test_bad_ticket_requests_answer_4xx_and_write_nothing(host: Tickets) -> None:
    await host.item("anomaly", "an-1")
    cases = [
        ({"labels": ["has space"]}, 422),
        ({"project": "lower"}, 422),
        ({"colour": "red"}, 422),
        ({"issue_type": "Task", "assignee": "u-nobody"}, 422),
        ({"issue_type": "Epic"}, 422),
    ]
    for body, status in cases:
        assert (await host.call("POST", "/api/v1/items/anomaly/an-1/tickets", body)).status_code == status, (
            body
        )
    assert (
        await host.call("POST", "/api/v1/items/anomaly/missing/tickets", {"issue_type": "Task"})
    ).status_code == 404
    assert not host.jira.issues
    assert (await host.call("GET", "/api/v1/items/anomaly/an-1")).json()["links"] == []


async def test_another_workspace_never_sees_or_changes_an_item(host: Tickets) -> None:
    await host.item("anomaly", "an-1", status="Open")
    other = await make_tenant(host.api, "Globex")
    as_other = other.headers()
    assert (await host.api.get("/api/v1/items/anomaly/an-1", headers=as_other)).status_code == 404
    assert (await host.api.delete("/api/v1/items/anomaly/an-1", headers=as_other)).status_code == 404
    linked = await host.api.post(
        "/api/v1/items/anomaly/an-1/links", json={"issue": "WEB-1"}, headers=as_other
    )
    assert linked.status_code in (404, 422)  # no such item there (and no site either)
    own = await host.api.put("/api/v1/items/anomaly/an-1", json={"title": "theirs"}, headers=as_other)
    assert own.status_code == 201
    mine = (await host.call("GET", "/api/v1/items/anomaly/an-1")).json()
    assert (mine["title"], mine["status"]) == ("anomaly an-1", "Open")


async def test_a_retried_post_with_the_same_idempotency_key_creates_one_ticket(host: Tickets) -> None:
    await host.item("anomaly", "an-1")
    headers = host.tenant.headers() | {"Idempotency-Key": "req-1"}
    first = await host.api.post(
        "/api/v1/items/anomaly/an-1/tickets", json={"issue_type": "Task"}, headers=headers
    )
    again = await host.api.post(
        "/api/v1/items/anomaly/an-1/tickets", json={"issue_type": "Task"}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(host.jira.issues) == 1
    other_body = await host.api.post(
        "/api/v1/items/anomaly/an-1/tickets", json={"issue_type": "Bug"}, headers=headers
    )
    assert other_body.status_code == 409
    # A refused request frees its key: the corrected request may use it.
    bad = host.tenant.headers() | {"Idempotency-Key": "req-2"}
    refused = await host.api.post(
        "/api/v1/items/anomaly/an-1/tickets", json={"issue_type": "Epic"}, headers=bad
    )
    assert refused.status_code == 422
    fixed = await host.api.post("/api/v1/items/anomaly/an-1/tickets", json={"issue_type": "Bug"}, headers=bad)
    assert fixed.status_code == 201 and len(host.jira.issues) == 2
    fresh = await host.call("POST", "/api/v1/items/anomaly/an-1/tickets", {"issue_type": "Task"})
    assert fresh.status_code == 201 and len(host.jira.issues) == 3  # no key: another ticket, as asked


async def test_concurrent_posts_with_one_idempotency_key_do_the_work_once(host: Tickets) -> None:
    """Retries that overlap the first request (a client that timed out and tried again at once) on
    each database: one comment and one ticket, and every answer is that one's, or 409 while it is
    still in progress."""
    await host.project("DQ", default_issue_type="Task", comment_sync="outbound")
    await host.item("anomaly", "an-1")
    key = (await host.call("POST", "/api/v1/items/anomaly/an-1/tickets", {"project": "DQ"})).json()[
        "issue_key"
    ]
    for path, body, idem in (
        ("/api/v1/items/anomaly/an-1/comments", {"body": "Once"}, "comment-1"),
        ("/api/v1/items/anomaly/an-1/tickets", {"project": "DQ", "summary": "Once"}, "ticket-1"),
    ):
        headers = host.tenant.headers() | {"Idempotency-Key": idem}
        answers = await asyncio.gather(*(host.api.post(path, json=body, headers=headers) for _ in range(4)))
        done = [a for a in answers if a.status_code != 409]
        assert done and all(a.status_code == 201 for a in done), [a.text for a in answers]
        assert all(a.json() == done[0].json() for a in done)
        again = await host.api.post(path, json=body, headers=headers)
        assert again.status_code == 201 and again.json() == done[0].json()
    await host.settle()
    comments = (await host.call("GET", "/api/v1/items/anomaly/an-1/comments")).json()["comments"]
    assert [c["body"] for c in comments] == ["Once"]
    issue = host.jira.issue_by_ref(key)
    assert issue is not None and len(issue.comments) == 1
    assert [i.summary for i in host.jira.issues.values()].count("Once") == 1


async def test_a_retried_comment_with_the_same_idempotency_key_is_posted_once(host: Tickets) -> None:
    await host.project("DQ", default_issue_type="Task", comment_sync="outbound")
    await host.item("anomaly", "an-1")
    key = (await host.call("POST", "/api/v1/items/anomaly/an-1/tickets", {"project": "DQ"})).json()[
        "issue_key"
    ]
    headers = host.tenant.headers() | {"Idempotency-Key": "comment-1"}
    for _ in range(2):
        answer = await host.api.post(
            "/api/v1/items/anomaly/an-1/comments", json={"body": "Once"}, headers=headers
        )
        assert answer.status_code == 201
    await host.settle()
    assert len((await host.call("GET", "/api/v1/items/anomaly/an-1/comments")).json()["comments"]) == 1
    issue = host.jira.issue_by_ref(key)
    assert issue is not None and len(issue.comments) == 1
