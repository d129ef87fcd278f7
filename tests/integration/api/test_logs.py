"""Logs as JSON lines: a request's and a worker operation's records carry what they are about (time,
level, event, workspace, site, item, operation id, request id) and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jirabridge import logs
from jirabridge.bootstrap import Container
from jirabridge.workers.runner import Worker
from support.host import BOT, Host, connect_host

ADMIN = {"type": "api_token", "email": "admin@acme.test", "api_token": "admin-token"}


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == event]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The JSON handler `jirabridge serve` and `worker` install, on the root logger, into a buffer."""
    found = Captured()
    handler = logging.StreamHandler(found.stream)
    handler.setFormatter(logs.JsonLogFormatter())
    handler.addFilter(logs.ContextFilter())
    root, ours = logging.getLogger(), logging.getLogger("jirabridge")
    level = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.INFO)
    yield found
    root.removeHandler(handler)
    ours.setLevel(level)


async def test_a_requests_log_lines_say_which_request_workspace_and_site(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, captured: Captured
) -> None:
    host = await connect_host(api, emulator, container, Host)
    answer = await api.post(
        f"/api/v1/sites/{host.site_id}/webhook-secret",
        headers={**host.tenant.headers(), "X-Request-ID": "req-logs-1"},
    )
    assert answer.status_code == 200
    [line] = captured.events("webhook.secret_rotated")
    assert line["level"] == "info" and line["logger"] == "jirabridge.webhooks"
    assert line["time"].startswith("20")  # ISO 8601
    assert (line["request_id"], line["workspace"], line["site"]) == (
        "req-logs-1",
        host.tenant.workspace_id,
        host.site_id,
    )
    text = captured.stream.getvalue()
    assert answer.json()["secret"] not in text and BOT["api_token"] not in text


async def test_a_worker_operations_log_lines_say_which_operation(
    api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container, captured: Captured
) -> None:
    host = await connect_host(api, emulator, container, Host)
    await host.project("WEB", default_issue_type="Task", status_sync="outbound")
    answer = await host.call("PUT", "/api/v1/items/error/e-1", {"title": "e-1", "status": "Open"})
    assert answer.status_code in (200, 201), answer.text
    answer = await host.call("POST", "/api/v1/items/error/e-1/tickets", {})
    assert answer.status_code in (201, 202), answer.text
    await host.settle()
    # The handler's own line (written before the outcome is recorded, which settle() waits for).
    [line] = captured.events("jira.create.done")
    assert line["level"] == "info" and line["kind"] == "issue.create" and line["issue"] == "WEB-1"
    assert line["operation"] == line["op"]
    assert line["operation"].startswith("op_")
    assert (line["workspace"], line["site"], line["item"]) == (
        host.tenant.workspace_id,
        host.site_id,
        "error/e-1",
    )
    assert line.get("request_id") is None  # the worker serves no request


def test_secret_fields_are_redacted_from_the_line() -> None:
    record = logging.LogRecord(
        "jirabridge.test", logging.INFO, __file__, 1, "x.y site=%s api_token=%s", ("st_1", "s3cr3t"), None
    )
    record.webhook_secret = "hush"
    line = json.loads(logs.JsonLogFormatter().format(record))
    assert line["event"] == "x.y" and line["site"] == "st_1"
    assert line["api_token"] == "[redacted]" and line["webhook_secret"] == "[redacted]"
    assert "s3cr3t" not in json.dumps(line) and "hush" not in json.dumps(line)


@pytest.mark.parametrize("level", ["info", "warning"])
def test_httpx_lines_per_request_are_left_out_unless_debugging(level: str) -> None:
    """A worker at INFO writes its own lines, not httpx's "HTTP Request: …" for each Jira call."""
    try:
        logs.configure(level, "json")
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        logs.configure("debug", "json")
        assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert logging.getLogger("jirabridge.jira").isEnabledFor(logging.DEBUG)
    finally:
        logging.getLogger().handlers.clear()
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger().setLevel(logging.WARNING)
