"""docs/client.md's host integration, run as it stands with the sync `Client`, against real processes
over loopback (`jira-emulator serve`, `jirabridge serve`, `jirabridge worker`) and a real HTTP callback
receiver: a finding becomes a Jira ticket, a change made in Jira comes back through the event feed and
through signed callbacks, and a forged callback is refused."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench._stack import (
    BOT_EMAIL,
    BOT_TOKEN,
    PROJECT,
    SERVICE_TOKEN,
    STATUS_MAP,
    Stack,
    StackOptions,
    bench_seed,
)

from jirabridge.client import ApiTokenAuth, Client, Event

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
SECRET = "e2e-callback-secret-0123456789"
JANE = ("jane@bench.test", "jane-token")


def twenty_lines() -> str:
    """The first Python block of docs/client.md: the host integration."""
    found = re.search(r"## A host integration in twenty lines\n.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/client.md has no host integration block"
    return found.group(1)


class CallbackServer:
    """A real HTTP endpoint of the host that hands each POST to the documented `callback_received`."""

    def __init__(self, handle: Callable[[bytes, dict[str, str]], int]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = handle(body, dict(self.headers.items()))
                outer.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.statuses: list[int] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jira-events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    seed = bench_seed(["bench"])
    seed["users"].append({"email": JANE[0], "display_name": "Jane", "api_tokens": [{"token": JANE[1]}]})
    # The host's callback receiver listens on loopback over plain http: the operator allows it.
    allowed = {"JIRABRIDGE_ALLOWED_OUTBOUND": "127.0.0.1"}
    with Stack(StackOptions(latency_ms=0, rate_limit=1000, poll_s=0.05, extra_env=allowed)) as stack:
        stack.start_emulator(seed)
        stack.start_service()
        stack.start_worker()
        yield stack


def until(check: Callable[[], Any], what: str, limit_s: float = 30) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {limit_s} s")


def test_the_documented_host_integration_runs_as_written(stack: Stack) -> None:
    url = stack.service_url
    with Client(url, SERVICE_TOKEN) as service:
        workspace = service.create_workspace("Host")
        key = service.create_api_key(workspace.id, role="admin", name="host backend").key
    assert key is not None

    applied: dict[str, Event] = {}

    def apply_change(event: Event) -> None:
        applied.setdefault(event.id, event)  # the host deduplicates by event id

    host: dict[str, Any] = {
        "JIRABRIDGE_URL": url,
        "API_KEY": key,
        "CALLBACK_SECRET": SECRET,
        "apply_change": apply_change,
    }
    exec(compile(twenty_lines(), str(DOC), "exec"), host)
    receiver = CallbackServer(host["callback_received"])
    jb: Client = host["jb"]
    try:
        # The host's one-time set-up, with the same client.
        site = jb.connect_site(
            f"{stack.emulator_url}/sites/bench",
            ApiTokenAuth(email=BOT_EMAIL, api_token=BOT_TOKEN),
            default_project=PROJECT,
        )
        jb.put_project_settings(
            site.id,
            PROJECT,
            {"default_issue_type": "Task", "status_map": STATUS_MAP, "status_sync": "two_way"},
        )
        jb.put_settings({"callback": {"url": receiver.url, "secret": SECRET}})

        host["finding_saved"]({"id": "f-1", "title": "SQL injection in /search", "status": "Open"})
        issue_key = host["create_ticket_clicked"]("f-1") or until(
            lambda: jb.get_item("finding", "f-1").links[0].issue_key, "the ticket"
        )
        assert issue_key.startswith(f"{PROJECT}-")

        # Jane moves the issue in Jira; a poll, the feed and the callbacks bring it to the host.
        with httpx.Client(base_url=f"{stack.emulator_url}/sites/bench", auth=JANE, timeout=30) as jira:
            moves = jira.get(f"/rest/api/3/issue/{issue_key}/transitions").json()["transitions"]
            done = next(t["id"] for t in moves if t["to"]["name"] == "Done")
            assert jira.post(
                f"/rest/api/3/issue/{issue_key}/transitions", json={"transition": {"id": done}}
            ).is_success
        # No admin webhook is registered here: the host asks for a poll instead of waiting for one.
        assert jb.reconcile(site=site.id)["scheduled"]
        assert until(lambda: jb.get_item("finding", "f-1").status == "Fixed", "the status change")

        cursor = host["read_events"](None)
        feed = list(applied)
        changed = [e for e in applied.values() if e.type == "item.status_changed"]
        assert [e.data["to"] for e in changed] == ["Fixed"] and changed[0].issue_key == issue_key
        assert cursor is not None and host["read_events"](cursor) == cursor  # nothing new: same cursor

        # The same events arrived as callbacks, each verified (none refused); duplicates change nothing.
        until(lambda: len(receiver.statuses) >= len(feed), "the callbacks")
        assert set(receiver.statuses) == {200} and list(applied) == feed
        forged = httpx.post(
            receiver.url, content=b'{"id": "ev_forged"}', headers={"X-Jirabridge-Signature": "x"}
        )
        assert forged.status_code == 401 and "ev_forged" not in applied
    finally:
        receiver.close()
        jb.close()
