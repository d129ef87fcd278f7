"""Webhook payloads as the emulator really sends them (captured from its deliveries), turned into
the inbound changes jirabridge applies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from jira_emulator import create_app
from jira_emulator.webhooks import drain
from jirabridge.domain import inbound
from jirabridge.service.inbound.webhook_payloads import HANDLED_EVENTS, MalformedPayload, parse

ACME = "https://acme.atlassian.net"
ALICE_EMAIL = "alice@acme.test"


@dataclass
class Capture:
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def hook(path: str, request: Request) -> Response:
            self.bodies.append(json.loads(await request.body()))
            return Response(status_code=200)

        return app


@dataclass
class Jira:
    app: FastAPI
    capture: Capture
    ada: httpx.AsyncClient

    async def delivered(self) -> list[dict[str, Any]]:
        await drain(self.app)
        bodies, self.capture.bodies = self.capture.bodies, []
        return bodies

    async def new_issue(self, summary: str = "Checkout fails") -> dict[str, Any]:
        body = {"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}}
        answer = await self.ada.post("/rest/api/3/issue", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def account(self, email: str) -> str:
        found = (await self.ada.get("/rest/api/3/user/search", params={"query": email})).json()
        return str(found[0]["accountId"])


@pytest.fixture
async def jira() -> AsyncIterator[Jira]:
    capture = Capture()
    app = create_app(webhook_transport=httpx.ASGITransport(app=capture.app()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ACME, auth=("admin@acme.test", "admin-token")
    ) as ada:
        hook = {
            "name": "jirabridge",
            "url": "https://bridge.test/webhooks/jira/t",
            "events": [*HANDLED_EVENTS, "worklog_created"],
        }
        assert (await ada.post("/rest/webhooks/1.0/webhook", json=hook)).status_code == 201
        yield Jira(app, capture, ada)
        await drain(app)


async def test_issue_created_and_moved_become_snapshots_with_status_actor_and_time(jira: Jira) -> None:
    created = await jira.new_issue()
    [payload] = await jira.delivered()
    snapshot = parse(payload)
    assert isinstance(snapshot, inbound.IssueSnapshot)
    assert (snapshot.key, snapshot.id) == (created["key"], created["id"])
    assert (snapshot.status, snapshot.status_category) == ("To Do", "new")
    assert snapshot.actor is not None and snapshot.actor.display_name == "Ada Admin"
    assert snapshot.has_assignee is True and snapshot.assignee is None
    assert snapshot.comments is None  # a webhook says nothing about the issue's comments
    issue = (await jira.ada.get(f"/rest/api/3/issue/{created['key']}?fields=updated")).json()
    assert snapshot.updated == datetime.fromisoformat(issue["fields"]["updated"]).astimezone(UTC)

    transitions = (await jira.ada.get(f"/rest/api/3/issue/{created['key']}/transitions")).json()
    start = next(t for t in transitions["transitions"] if t["to"]["name"] == "In Progress")
    await jira.ada.post(f"/rest/api/3/issue/{created['key']}/transitions", json={"transition": start})
    [moved] = await jira.delivered()
    later = parse(moved)
    assert isinstance(later, inbound.IssueSnapshot)
    assert (later.status, later.status_category) == ("In Progress", "indeterminate")
    assert later.updated >= snapshot.updated


async def test_assignee_change_names_the_jira_user(jira: Jira) -> None:
    key = (await jira.new_issue())["key"]
    await jira.delivered()
    alice = await jira.account(ALICE_EMAIL)
    answer = await jira.ada.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": alice})
    assert answer.status_code == 204, answer.text
    [payload] = await jira.delivered()
    snapshot = parse(payload)
    assert isinstance(snapshot, inbound.IssueSnapshot)
    assert snapshot.has_assignee is True
    assert snapshot.assignee is not None and snapshot.assignee.account_id == alice
    assert snapshot.assignee.display_name


async def test_comment_created_and_edited_carry_the_plain_text_and_author(jira: Jira) -> None:
    key = (await jira.new_issue())["key"]
    await jira.delivered()
    adf = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Seen on prod"}]}],
    }
    comment = (await jira.ada.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf})).json()
    [created] = await jira.delivered()
    change = parse(created)
    assert isinstance(change, inbound.CommentChanged)
    assert change.issue_key == key and change.comment.id == comment["id"]
    assert change.comment.body == "Seen on prod"
    assert change.comment.author is not None and change.comment.author.display_name == "Ada Admin"

    edited_adf = adf | {
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Seen on prod and staging"}]}]
    }
    answer = await jira.ada.put(f"/rest/api/3/issue/{key}/comment/{comment['id']}", json={"body": edited_adf})
    assert answer.status_code == 200, answer.text
    [edited] = await jira.delivered()
    again = parse(edited)
    assert isinstance(again, inbound.CommentChanged)
    assert again.comment.id == comment["id"] and again.comment.body == "Seen on prod and staging"
    assert again.comment.updated >= again.comment.created


async def test_deleted_issue_and_unused_events(jira: Jira) -> None:
    created = await jira.new_issue()
    await jira.ada.post(f"/rest/api/3/issue/{created['key']}/worklog", json={"timeSpentSeconds": 3600})
    [_, worklog] = await jira.delivered()
    assert worklog["webhookEvent"] == "worklog_created"
    assert parse(worklog) is None  # answered and ignored
    assert (await jira.ada.delete(f"/rest/api/3/issue/{created['key']}")).status_code == 204
    [deleted] = await jira.delivered()
    assert parse(deleted) == inbound.IssueDeleted(key=created["key"], id=created["id"])


def test_a_payload_without_what_the_change_needs_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="issue"):
        parse({"webhookEvent": "jira:issue_updated"})
    with pytest.raises(MalformedPayload, match="key"):
        parse({"webhookEvent": "jira:issue_deleted", "issue": {"id": "1"}})
    with pytest.raises(MalformedPayload, match="updated"):
        parse({"webhookEvent": "jira:issue_updated", "issue": {"key": "WEB-1", "fields": {"updated": "x"}}})
    with pytest.raises(MalformedPayload, match="comment"):
        parse({"webhookEvent": "comment_created", "issue": {"key": "WEB-1"}})
    # Fields filtered out: no assignee key means "not reported", not "unassigned".
    partial = parse(
        {
            "webhookEvent": "jira:issue_updated",
            "timestamp": 1_700_000_000_000,
            "issue": {"key": "W-1", "fields": {}},
        }
    )
    assert isinstance(partial, inbound.IssueSnapshot) and partial.has_assignee is False
    assert partial.updated == datetime.fromtimestamp(1_700_000_000, UTC)
