"""Every moment the API shows is RFC 3339 with an offset — on the answer that created a record and on
every later read of it (SQLite hands back datetimes without their zone; the storage layer restores UTC).

A realistic flow (a site, project settings, a user, an item with a ticket, a comment, a time entry
synced as a worklog, a change made in Jira and reconciled), then every GET operation of the service's
own OpenAPI description is called, and every JSON answer is walked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import Host, connect_host
from support.service import SERVICE_TOKEN, bearer

MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
# GET operations this flow does not call, and why.
NOT_CALLED = {"/oauth/callback": "answers a person coming back from Atlassian's consent page"}


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Host:
    return await connect_host(api, emulator, container, Host)


def moments(document: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from moments(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from moments(value, f"{path}[{index}]")
    elif isinstance(document, str) and MOMENT.match(document):
        yield path, document


async def test_every_moment_in_every_answer_has_an_offset(host: Host, api: httpx.AsyncClient) -> None:
    answers: dict[str, Any] = {}

    async def call(method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        answer = await host.call(method, path, body, **kwargs)
        assert answer.is_success, f"{method} {path}: {answer.text}"
        if answer.headers.get("content-type", "").startswith("application/json"):
            answers[f"{method} {path}"] = answer.json()
        return answer.json() if answer.content else None

    await host.project(
        default_issue_type="Task", status_map={"Open": "To Do", "Fixed": "Done"}, status_sync="two_way"
    )
    await call("PUT", "/api/v1/users/u-alice", {"email": "alice@acme.test", "name": "Alice"})
    await call(
        "POST",
        "/api/v1/users/u-alice/jira",
        {"auth": {"type": "api_token", "email": "alice@acme.test", "api_token": "alice-token"}},
    )
    await call("PUT", "/api/v1/items/error/e-1", {"title": "TypeError in checkout", "status": "Open"})
    ticket = await call("POST", "/api/v1/items/error/e-1/tickets", {})
    comment = await call("POST", "/api/v1/items/error/e-1/comments", {"body": "Looking", "author": "u-alice"})
    await call(
        "PUT",
        "/api/v1/time-entries/te-1",
        {
            "user": "u-alice",
            "started_at": "2024-01-15T09:00:00+01:00",
            "duration_s": 1800,
            "description": f"Fix {ticket['issue_key']}",
        },
    )
    await host.settle()
    await call("POST", "/api/v1/sync/reconcile", {})
    await host.settle()

    spec = (await api.get("/openapi.json")).json()
    values = {
        "workspace_id": host.tenant.workspace_id,
        "site_id": host.site_id,
        "key": "WEB",
        "user_id": "u-alice",
        "item_type": "error",
        "item_id": "e-1",
        "comment_id": comment["id"],
        "entry_id": "te-1",
        "project": "WEB",
        "issue_type": "Task",
    }
    called = set()
    for template, operations in spec["paths"].items():
        if "get" not in operations or template in NOT_CALLED:
            continue
        query = [
            p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query" and p["required"]
        ]
        unknown = (set(re.findall(r"{(\w+)}", template)) | set(query)) - set(values)
        assert not unknown, f"GET {template}: give this test a value for {unknown} (or list it in NOT_CALLED)"
        path = template.format(**values)
        if query:
            path += "?" + "&".join(f"{name}={values[name]}" for name in query)
        headers = (
            bearer(SERVICE_TOKEN) if template.startswith("/api/v1/workspaces/") else host.tenant.headers()
        )
        answer = await api.get(path, headers=headers)
        assert answer.status_code == 200, f"GET {path}: {answer.text}"
        if answer.headers["content-type"].startswith("application/json"):
            answers[f"GET {path}"] = answer.json()
        called.add(template)

    found = [
        (where + path, value) for where, document in answers.items() for path, value in moments(document)
    ]
    assert [(where, value) for where, value in found if not OFFSET.search(value)] == []
    shown = {where.split(".")[-1] for where, _ in found}
    assert {"created_at", "updated_at", "linked_at", "started_at", "at"} <= shown
    assert answers[f"GET /api/v1/sites/{host.site_id}"]["created_at"].endswith("Z")
    assert "/api/v1/time-entries/{entry_id}" in called and "/api/v1/events" in called
