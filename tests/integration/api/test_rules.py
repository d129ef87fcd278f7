"""Routing rules end to end through the HTTP API (SPEC section 3, "Rules"): the service, a worker and the
emulator, on SQLite and PostgreSQL. Every assertion is about what a host or a Jira user would see."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jira_emulator.state import Issue
from jirabridge.bootstrap import Container, handlers
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.host import Host, connect_host

SEVERITY = "customfield_10051"


class Routing(Host):
    def tickets(self) -> list[Issue]:
        """Issues jirabridge created (they carry its marker label)."""
        return [i for i in self.jira.issues.values() if any(lb.startswith("jb-") for lb in i.labels)]

    async def rules(self, *rules: dict[str, Any]) -> list[dict[str, Any]]:
        answer = await self.call("PUT", "/api/v1/rules", {"rules": list(rules)})
        assert answer.status_code == 200, answer.text
        stored: list[dict[str, Any]] = answer.json()["rules"]
        return stored

    async def item(self, item_id: str, expect: int | None = None, **fields: Any) -> dict[str, Any]:
        answer = await self.call(
            "PUT", f"/api/v1/items/error/{item_id}", {"title": f"error {item_id}"} | fields
        )
        assert answer.status_code in ((expect,) if expect else (200, 201)), answer.text
        return dict(answer.json())

    async def get_item(self, item_id: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/v1/items/error/{item_id}")).json())

    def count(self, table: str, where: str = "") -> int:
        with self.container.engine.connect() as connection:
            found = connection.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
            return int(found)


async def _host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Routing:
    host = await connect_host(api, emulator, container, Routing)
    await host.project("WEB", default_issue_type="Bug", priority_map={"critical": "Highest"})
    await host.call("PUT", "/api/v1/settings", {"link_cardinality": {"error": "many_to_one"}})
    return host


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Routing:
    return await _host(api, emulator, container)


@pytest.fixture
async def idle_host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Routing:
    """No worker runs: the test starts (and restarts) its own."""
    return await _host(api, emulator, container)


def issue_type(host: Routing, issue: Issue) -> str:
    found = host.jira.projects[issue.project_key].issue_type(issue.issue_type_id)
    assert found is not None
    return found.name


def web_rule(**changes: Any) -> dict[str, Any]:
    return {
        "name": "web store",
        "query": "service:web-store AND team:Shopist",
        "destination": {"project": "WEB", "issue_type": "Bug", "fields": {"labels": ["errors"]}},
        "auto_create": True,
    } | changes


def security_rule(**changes: Any) -> dict[str, Any]:
    return {
        "name": "security team",
        "query": "team:security severity:(critical OR high)",
        "destination": {
            "project": "SEC",
            "issue_type": "bug",
            "fields": {SEVERITY: {"value": "High"}, "labels": ["svc-{attributes.service}"]},
        },
    } | changes


# -- GET / PUT ---------------------------------------------------------------------------------------


async def test_the_ordered_list_round_trips_and_keeps_its_ids(host: Routing) -> None:
    assert (await host.call("GET", "/api/v1/rules", role="member")).json() == {"rules": []}
    first = await host.rules(web_rule(), security_rule(enabled=False))
    assert [r["name"] for r in first] == ["web store", "security team"]
    assert all(r["id"].startswith("r_") for r in first)
    # Defaults are filled in with Jira's spelling: the site, the issue type's name.
    assert first[1]["destination"] == {
        "site": host.site_id,
        "project": "SEC",
        "issue_type": "Bug",
        "fields": {SEVERITY: {"value": "High"}, "labels": ["svc-{attributes.service}"]},
    }
    assert (first[0]["enabled"], first[0]["auto_create"], first[1]["enabled"]) == (True, True, False)
    assert (await host.call("GET", "/api/v1/rules", role="member")).json() == {"rules": first}

    # Reordered, one edited, one new: the ids sent back are kept, the new rule gets one.
    edited = first[0] | {"query": "service:web-store"}
    second = await host.rules(first[1], edited, {"name": "catch-all", "query": "*"})
    assert [r["id"] for r in second[:2]] == [first[1]["id"], first[0]["id"]]
    assert second[1]["query"] == "service:web-store"
    assert second[2]["id"] not in (first[0]["id"], first[1]["id"])
    assert second[2]["destination"]["project"] == "WEB" and second[2]["destination"]["issue_type"] == "Bug"

    denied = await host.call("PUT", "/api/v1/rules", {"rules": []}, role="member")
    assert denied.status_code == 403
    assert len((await host.call("GET", "/api/v1/rules")).json()["rules"]) == 3


async def test_a_bad_query_answers_422_with_the_rule_and_the_position(host: Routing) -> None:
    before = await host.rules(web_rule())
    answer = await host.call(
        "PUT", "/api/v1/rules", {"rules": [web_rule(), web_rule(query="service:web-store && team:x")]}
    )
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "rules[1].query" and error["position"] == 18
    assert "AND instead of &&" in error["message"] and "position 18" in error["message"]
    unclosed = await host.call("PUT", "/api/v1/rules", {"rules": [web_rule(query="severity:(high OR")]})
    assert [(e["field"], e["position"]) for e in unclosed.json()["errors"]] == [("rules[0].query", 17)]
    assert (await host.call("GET", "/api/v1/rules")).json()["rules"] == before


async def test_unknown_destinations_are_named_by_rule_and_nothing_is_saved(host: Routing) -> None:
    answer = await host.call(
        "PUT",
        "/api/v1/rules",
        {
            "rules": [
                web_rule(destination={"project": "NOPE"}),
                web_rule(destination={"project": "WEB", "issue_type": "Epic"}),
                web_rule(destination={"site": "st_000000000000000000000000"}),
                web_rule(destination={"project": "WEB", "fields": {"customfield_10052": "x"}}),
                web_rule(id="r_000000000000000000000000"),
                web_rule(destination={"fields": {"summary": "{title}"}}),
                web_rule(enabled="yes"),
            ]
        },
    )
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["rules[6].enabled"]  # the shape is checked first, named the same way
    answer = await host.call(
        "PUT",
        "/api/v1/rules",
        {
            "rules": [
                web_rule(destination={"project": "NOPE"}),
                web_rule(destination={"project": "WEB", "issue_type": "Epic"}),
                web_rule(destination={"site": "st_000000000000000000000000"}),
                web_rule(destination={"project": "WEB", "fields": {"customfield_10052": "x"}}),
                web_rule(id="r_000000000000000000000000"),
                web_rule(destination={"fields": {"summary": "{title}"}}),
            ]
        },
    )
    assert answer.status_code == 422
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert set(errors) == {
        "rules[0].destination.project",
        "rules[1].destination.issue_type",
        "rules[2].destination.site",
        "rules[3].destination.fields.customfield_10052",
        "rules[4].id",
        "rules[5].destination.fields.summary",
    }
    assert "NOPE" in errors["rules[0].destination.project"]
    assert (
        "'Epic'" in errors["rules[1].destination.issue_type"]
        and "'Bug'" in errors["rules[1].destination.issue_type"]
    )
    assert (await host.call("GET", "/api/v1/rules")).json() == {"rules": []}


async def test_required_fields_of_the_create_screen_must_be_covered(host: Routing) -> None:
    lacking = security_rule(destination={"project": "SEC", "issue_type": "Bug"})
    answer = await host.call("PUT", "/api/v1/rules", {"rules": [web_rule(), lacking]})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == f"rules[1].destination.fields.{SEVERITY}" and "Severity" in error["message"]
    await host.rules(web_rule(), security_rule())  # covered by the rule's fields
    await host.project("SEC", field_defaults={"Bug": {SEVERITY: {"value": "Medium"}}})
    await host.rules(lacking)  # or by the project's field defaults


# -- preview -----------------------------------------------------------------------------------------


async def test_preview_answers_the_rule_and_ticket_with_no_side_effect(idle_host: Routing) -> None:
    host = idle_host  # no worker either: nothing else calls Jira meanwhile
    web, security = await host.rules(web_rule(auto_create=False), security_rule(auto_create=True))
    await host.item(
        "e-1",
        title="KeyError in cart",
        severity="critical",
        attributes={"service": "web-store", "team": "shopist"},
    )
    counts = {table: host.count(table) for table in ("operations", "events", "links", "items")}
    # Jira is down: a preview never calls it, so this changes nothing.
    await host.control("POST", "/faults", {"rules": [{"kind": "error", "status": 500}]})

    stored = await host.call(
        "POST", "/api/v1/rules/preview", {"item": {"type": "error", "id": "e-1"}}, role="member"
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "rule": {"id": web["id"], "name": "web store", "position": 0},
        "auto_create": False,
        "would_create": {
            "site": host.site_id,
            "project": "WEB",
            "issue_type": "Bug",
            "summary": "KeyError in cart",
            "priority": "Highest",
            "labels": ["errors"],
            "fields": {},
        },
        "problems": [],
    }
    inline = {
        "type": "error",
        "title": "Leaked token in logs",
        "severity": "High",
        "attributes": {"team": "Security", "service": "auth"},
    }
    answer = (await host.call("POST", "/api/v1/rules/preview", {"item": inline})).json()
    assert answer["rule"] == {"id": security["id"], "name": "security team", "position": 1}
    assert answer["auto_create"] is True
    assert answer["would_create"]["project"] == "SEC" and answer["would_create"]["labels"] == ["svc-auth"]
    assert answer["would_create"]["fields"] == {SEVERITY: {"value": "High"}}
    nothing = await host.call("POST", "/api/v1/rules/preview", {"item": inline | {"severity": "low"}})
    assert nothing.json() == {"rule": None, "auto_create": False, "would_create": None, "problems": []}

    missing = await host.call("POST", "/api/v1/rules/preview", {"item": {"type": "error", "id": "e-404"}})
    assert missing.status_code == 404
    untitled = await host.call(
        "POST", "/api/v1/rules/preview", {"item": {"type": "error", "severity": "high"}}
    )
    assert untitled.status_code == 422 and untitled.json()["errors"][0]["field"] == "item.title"

    assert (await host.control("GET", "/faults"))["hits"] == []  # no call reached Jira
    assert {table: host.count(table) for table in counts} == counts
    assert host.tickets() == []


# -- evaluation and auto-create ------------------------------------------------------------------------


async def test_auto_create_makes_one_ticket_even_when_pushed_again_and_the_worker_restarts(
    idle_host: Routing,
) -> None:
    host = idle_host
    [rule] = await host.rules(web_rule())
    # The first create reaches Jira but its answer is lost, as when a worker dies mid-call.
    await host.control(
        "POST",
        "/faults",
        {
            "rules": [
                {
                    "kind": "lost_answer",
                    "method": "POST",
                    "path": "/rest/api/3/issue$",
                    "count": 1,
                    "hang_s": 0.05,
                }
            ]
        },
    )
    attributes = {"service": "web-store", "team": "Shopist"}
    created = await host.item("e-1", 201, attributes=attributes, url="https://host.example/e/1")
    assert [(lk["issue_key"], lk["sync_state"]) for lk in created["links"]] == [(None, "pending")]
    await host.item("e-1", 200, attributes=attributes)  # the host pushes it again, or retries the PUT
    await host.item("e-1", 200, attributes=attributes, status="Open")

    first = Worker(
        SqlQueue(host.container.sessions),
        handlers(host.container),
        host.container.clock,
        WorkerOptions(once=True, poll_s=0.05),
    )
    await first.run()
    assert len(host.tickets()) == 1  # created in Jira, not recorded
    assert (await host.get_item("e-1"))["links"][0]["issue_key"] is None

    restarted = Worker(
        SqlQueue(host.container.sessions),
        handlers(host.container),
        host.container.clock,
        WorkerOptions(poll_s=0.05),
    )
    task = asyncio.create_task(restarted.run())
    try:
        await host.item("e-1", 200, attributes=attributes, status="Open")
        await host.settle()
    finally:
        restarted.stop()
        await task

    [issue] = host.tickets()
    item = await host.get_item("e-1")
    assert [(lk["issue_key"], lk["sync_state"], lk["created_by_jirabridge"]) for lk in item["links"]] == [
        (issue.key, "synced", True)
    ]
    assert issue.project_key == "WEB" and issue.summary == "error e-1" and "errors" in issue.labels
    assert [r.object["url"] for r in issue.remote_links] == ["https://host.example/e/1"]
    matched = await host.events("rule.matched")
    assert [(e["item"]["id"], e["data"]["rule"]["id"], e["data"]["auto_create"]) for e in matched] == [
        ("e-1", rule["id"], "queued")
    ]
    assert [e["issue_key"] for e in await host.events("ticket.created")] == [issue.key]
    assert host.count("operations", "WHERE kind = 'issue.create'") == 1


async def test_order_decides_and_disabled_rules_are_skipped(host: Routing) -> None:
    stored = await host.rules(
        {
            "name": "paused catch-all",
            "query": "*",
            "enabled": False,
            "auto_create": True,
            "destination": {"project": "SEC", "issue_type": "Task"},
        },
        web_rule(name="shopist", query="team:shopist"),
        web_rule(
            name="web store", query="service:web-store", destination={"project": "SEC", "issue_type": "Task"}
        ),
        {"name": "everything else", "query": "*", "destination": {"project": "WEB", "issue_type": "Task"}},
    )
    await host.item(
        "e-1", attributes={"service": "web-store", "team": "Shopist"}
    )  # both match: the first wins
    await host.item("e-2", attributes={"service": "web-store", "team": "Payments"})
    await host.item("e-3", attributes={"service": "search"})
    await host.settle()

    matched = {e["item"]["id"]: e["data"] for e in await host.events("rule.matched")}
    assert {i: (d["rule"]["name"], d["auto_create"]) for i, d in matched.items()} == {
        "e-1": ("shopist", "queued"),
        "e-2": ("web store", "queued"),
        "e-3": ("everything else", "off"),
    }
    tickets = {i.summary: (i.project_key, issue_type(host, i)) for i in host.tickets()}
    assert tickets == {"error e-1": ("WEB", "Bug"), "error e-2": ("SEC", "Task")}
    e3 = await host.get_item("e-3")
    assert e3["links"] == [] and e3["rule_id"] == stored[3]["id"]


async def test_a_hand_created_ticket_defaults_to_the_rules_destination(host: Routing) -> None:
    await host.rules(security_rule())
    await host.item("e-1", severity="critical", attributes={"team": "security", "service": "auth"})
    await host.item("e-2", severity="low", attributes={"team": "security", "service": "auth"})

    routed = await host.call("POST", "/api/v1/items/error/e-1/tickets", {}, role="member")
    assert routed.status_code == 201, routed.text
    issue = host.jira.issue_by_ref(routed.json()["issue_key"])
    assert issue is not None and issue.project_key == "SEC"
    assert issue.custom[SEVERITY] == "High" and "svc-auth" in issue.labels

    unrouted = await host.call("POST", "/api/v1/items/error/e-2/tickets", {})
    assert unrouted.status_code == 201 and unrouted.json()["issue_key"].startswith("WEB-")

    # Naming another project overrides the rule's destination (and its fields).
    await host.item("e-3", severity="high", attributes={"team": "security", "service": "auth"})
    elsewhere = await host.call("POST", "/api/v1/items/error/e-3/tickets", {"project": "WEB"})
    assert elsewhere.status_code == 201 and elsewhere.json()["issue_key"].startswith("WEB-")


async def test_an_auto_created_ticket_counts_against_the_link_cardinality(host: Routing) -> None:
    await host.rules(web_rule())
    await host.item("e-1", attributes={"service": "web-store", "team": "Shopist"})
    await host.settle()
    [link] = (await host.get_item("e-1"))["links"]
    assert link["sync_state"] == "synced"
    # Errors are many_to_one here: the item already has its ticket.
    again = await host.call("POST", "/api/v1/items/error/e-1/tickets", {})
    assert again.status_code == 409
    assert len(host.tickets()) == 1


async def test_auto_create_is_skipped_with_the_reason_when_the_item_cannot_fill_a_required_field(
    host: Routing,
) -> None:
    await host.project("SEC", field_defaults={"Bug": {SEVERITY: {"value": "{attributes.level}"}}})
    await host.rules(security_rule(destination={"project": "SEC", "issue_type": "Bug"}, auto_create=True))
    await host.item("e-1", severity="high", attributes={"team": "security"})  # no level
    await host.item("e-2", severity="high", attributes={"team": "security", "level": "Low"})
    await host.settle()
    matched = {e["item"]["id"]: e["data"] for e in await host.events("rule.matched")}
    assert (matched["e-1"]["auto_create"], matched["e-1"]["reason"]) == ("skipped", "missing_required_fields")
    assert SEVERITY in matched["e-1"]["detail"]
    assert matched["e-2"]["auto_create"] == "queued"
    assert [i.custom[SEVERITY] for i in host.tickets()] == ["Low"]
    assert (await host.get_item("e-1"))["links"] == []
