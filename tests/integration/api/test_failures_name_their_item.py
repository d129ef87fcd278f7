"""Every failure names what it failed for: a status move, a comment, an assignment and a worklog that
Jira refuses for good are listed in `GET /api/v1/sync/failures` with the host item and the issue key,
and each has a `sync.failed` event on the feed naming the same. End to end in process (the HTTP API,
a running worker, the emulator), on SQLite and PostgreSQL. Also: `max_attempts` applies to worklogs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container, handlers
from jirabridge.domain.backoff import Backoff
from jirabridge.workers.runner import SqlQueue, Worker, WorkerOptions
from support.host import ACME, Host, connect_host

ALICE = {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}
PROJECT = {
    "default_issue_type": "Task",
    "status_sync": "two_way",
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
    "status_map": {"Open": "To Do", "Acknowledged": "In Progress", "Fixed": "Done"},
}


class Failing(Host):
    async def item(self, item_id: str, **fields: Any) -> None:
        answer = await self.call("PUT", f"/api/v1/items/error/{item_id}", {"title": item_id} | fields)
        assert answer.status_code in (200, 201), answer.text

    async def ticket(self, item_id: str) -> str:
        answer = await self.call("POST", f"/api/v1/items/error/{item_id}/tickets", {})
        assert answer.status_code == 201, answer.text
        await self.settle()
        return str(answer.json()["issue_key"])

    async def refuse(self, method: str, path: str, status: int = 403) -> None:
        """Jira answers `status` to every `method` request whose path matches `path`, from now on."""
        rule = {"kind": "error", "status": status, "method": method, "path": path}
        await self.control("POST", "/faults", {"rules": [rule]})

    async def as_admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator),
            base_url=ACME,
            auth=("admin@acme.test", "admin-token"),
        ) as jira:
            answer = await jira.request(method, path, json=body)
            assert answer.is_success, answer.text
            return answer.json() if answer.content else None

    async def failures(self) -> list[dict[str, Any]]:
        answer = await self.call("GET", "/api/v1/sync/failures")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["failures"])

    async def failure_of(self, operation: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The one failure of `operation`, and the `sync.failed` events that name it."""
        [failure] = [f for f in await self.failures() if f["operation"] == operation]
        events = [
            e for e in await self.events("sync.failed") if e["data"].get("operation_id") == failure["id"]
        ]
        return failure, events


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Failing:
    failing = await connect_host(api, emulator, container, Failing)
    await failing.project("WEB", **PROJECT)
    return failing


def named(
    failure: dict[str, Any], events: list[dict[str, Any]], item: dict[str, str], key: str | None
) -> None:
    """The failure and every one of its events name `item` and `key`; there is at least one event."""
    assert (failure["item"], failure["issue_key"]) == (item, key), failure
    assert events, f"no sync.failed event for {failure}"
    for event in events:
        assert (event["item"], event["issue_key"]) == (item, key), event
        assert (event["data"]["operation"], event["data"]["reason"]) == (
            failure["operation"],
            failure["reason"],
        )


async def test_a_status_move_on_a_deleted_issue_names_its_item_and_issue(host: Failing) -> None:
    await host.item("e-1", status="Open")
    key = await host.ticket("e-1")
    await host.as_admin("DELETE", f"/rest/api/3/issue/{key}")
    await host.item("e-1", status="Acknowledged")
    await host.settle()

    failure, events = await host.failure_of("issue.sync_status")
    assert failure["reason"] == "issue_not_found"
    named(failure, events, {"type": "error", "id": "e-1"}, key)


async def test_a_refused_comment_names_its_item_and_issue(host: Failing) -> None:
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.refuse("POST", f"/issue/{key}/comment$")
    answer = await host.call(
        "POST", "/api/v1/items/error/e-1/comments", {"body": "Looking", "author": "Dana"}
    )
    assert answer.status_code == 201, answer.text
    await host.settle()

    failure, events = await host.failure_of("issue.comment")
    assert failure["reason"] == "forbidden"
    named(failure, events, {"type": "error", "id": "e-1"}, key)


async def test_a_refused_assignment_names_its_item_and_issue(host: Failing) -> None:
    answer = await host.call("POST", "/api/v1/users/u-alice/jira", {"auth": ALICE})
    assert answer.status_code == 201, answer.text
    await host.item("e-1")
    key = await host.ticket("e-1")
    await host.refuse("PUT", f"/issue/{key}/assignee$")
    await host.item("e-1", assignee="u-alice")
    await host.settle()

    failure, events = await host.failure_of("issue.assign")
    assert failure["reason"] == "forbidden"
    named(failure, events, {"type": "error", "id": "e-1"}, key)
    assert len(events) == 1  # the handler's own event, not a second one from the outbox


async def test_a_refused_worklog_names_its_time_entry_and_issue(host: Failing) -> None:
    # Alice may only browse the project LOCK: Jira refuses her worklog there.
    created = await host.as_admin(
        "POST",
        "/rest/api/3/issue",
        {"fields": {"project": {"key": "LOCK"}, "issuetype": {"name": "Task"}, "summary": "Locked"}},
    )
    answer = await host.call("POST", "/api/v1/users/u-alice/jira", {"auth": ALICE})
    assert answer.status_code == 201, answer.text
    entry = {"user": "u-alice", "started_at": "2024-01-15T09:00:00Z", "duration_s": 1800}
    answer = await host.call("PUT", "/api/v1/time-entries/te-1", entry | {"description": created["key"]})
    assert answer.status_code == 201, answer.text
    await host.settle()

    failure, events = await host.failure_of("worklog.sync")
    assert failure["reason"] == "forbidden"
    named(failure, events, {"type": "time_entry", "id": "te-1"}, created["key"])


# -- max attempts ------------------------------------------------------------------------------------


@pytest.fixture
async def worker(container: Container) -> AsyncIterator[Worker]:
    """A worker told to give up after 2 attempts (`jirabridge worker --max-attempts 2`), retrying at
    once instead of backing off."""
    queue = SqlQueue(container.sessions, max_attempts=2, backoff=Backoff(base_s=0.0, cap_s=0.0))
    running = Worker(queue, handlers(container), container.clock, WorkerOptions(poll_s=0.05))
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await task


async def test_a_worklog_jira_keeps_failing_fails_after_the_workers_max_attempts(host: Failing) -> None:
    created = await host.as_admin(
        "POST",
        "/rest/api/3/issue",
        {"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Slow"}},
    )
    key = created["key"]
    await host.refuse("POST", f"/issue/{key}/worklog$", status=503)
    answer = await host.call("POST", "/api/v1/users/u-alice/jira", {"auth": ALICE})
    assert answer.status_code == 201, answer.text
    entry = {"user": "u-alice", "started_at": "2024-01-15T09:00:00Z", "duration_s": 1800}
    answer = await host.call("PUT", "/api/v1/time-entries/te-1", entry | {"description": key})
    assert answer.status_code == 201, answer.text
    await host.settle()

    shown = (await host.call("GET", "/api/v1/time-entries/te-1")).json()["worklog"]
    assert shown["state"] == "failed", shown  # not left pending
    failure, events = await host.failure_of("worklog.sync")
    assert (failure["reason"], failure["attempts"]) == ("max_attempts", 2)
    named(failure, events, {"type": "time_entry", "id": "te-1"}, key)
    hits = (await host.control("GET", "/faults"))["rules"][0]["hits"]
    assert hits == 2


async def test_a_refused_create_remote_link_and_comment_edit_name_their_item(host: Failing) -> None:
    item = {"type": "error", "id": "e-1"}
    await host.item("e-1", url="https://host.example/errors/1")
    await host.refuse("POST", "/issue/[A-Z]+-[0-9]+/remotelink$")
    key = await host.ticket("e-1")
    failure, events = await host.failure_of("issue.remote_link")
    named(failure, events, item, key)

    answer = await host.call("POST", "/api/v1/items/error/e-1/comments", {"body": "First", "author": "Dana"})
    assert answer.status_code == 201, answer.text
    await host.settle()
    await host.refuse("PUT", f"/issue/{key}/comment/[0-9]+$")
    edited = await host.call(
        "PATCH", f"/api/v1/items/error/e-1/comments/{answer.json()['id']}", {"body": "Second"}
    )
    assert edited.status_code == 200, edited.text
    await host.settle()
    failure, events = await host.failure_of("issue.comment_update")
    named(failure, events, item, key)

    await host.item("e-2")
    await host.refuse("POST", "^/rest/api/3/issue(/bulk)?$", status=400)
    await host.call("POST", "/api/v1/items/error/e-2/tickets", {})
    await host.settle()
    failure, events = await host.failure_of("issue.create")
    named(failure, events, {"type": "error", "id": "e-2"}, None)  # the issue never existed
