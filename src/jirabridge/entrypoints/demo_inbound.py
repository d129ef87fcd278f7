"""The demo's inbound part: a person changes a ticket "in Jira" and the host's item follows.

The site's admin webhook is set up the way an admin would (the URL and secret jirabridge shows,
pasted into Jira's webhook settings — here the emulator's control API), then Alice moves the
finding's ticket, comments on it and takes it, through the emulator's REST API as herself. The demo
prints how long each change took to reach the host's event feed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

INBOUND_SETTINGS = {"status_sync": "two_way", "assignee_sync": "two_way", "comment_sync": "two_way"}
ALICE = ("alice@acme.test", "alice-token")


async def play(
    api: httpx.AsyncClient, headers: dict[str, str], site_id: str, emulator: str, issue_key: str
) -> list[str]:
    async def call(method: str, path: str, body: Any = None) -> Any:
        answer = await api.request(method, path, json=body, headers=headers)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    project = issue_key.rsplit("-", 1)[0]
    current = await call("GET", f"/api/v1/sites/{site_id}/projects/{project}")
    await call("PUT", f"/api/v1/sites/{site_id}/projects/{project}", current | INBOUND_SETTINGS)
    hook = await call("POST", f"/api/v1/sites/{site_id}/webhook-secret")
    async with httpx.AsyncClient(base_url=emulator, timeout=30) as control:
        registered = await control.post(
            "/_emulator/sites/acme/webhooks",
            json={
                "name": "jirabridge",
                "url": hook["url"],
                "secret": hook["secret"],
                "events": ["jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated"],
                "filters": {"issue-related-events-section": f"project = {project}"},
            },
        )
        registered.raise_for_status()
    seen = {e["id"] for e in (await call("GET", "/api/v1/events?limit=500"))["events"]}
    lines = [f"Admin webhook registered in Jira: {hook['url']}"]
    async with httpx.AsyncClient(base_url=f"{emulator}/sites/acme", auth=ALICE, timeout=30) as alice:
        transitions = (await alice.get(f"/rest/api/3/issue/{issue_key}/transitions")).json()["transitions"]
        done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
        changes = (
            (
                "moved it to " + done["to"]["name"],
                "item.status_changed",
                alice.post(
                    f"/rest/api/3/issue/{issue_key}/transitions", json={"transition": {"id": done["id"]}}
                ),
            ),
            (
                "commented",
                "item.comment_added",
                alice.post(
                    f"/rest/api/3/issue/{issue_key}/comment", json={"body": _adf("Fixed in release 4.2")}
                ),
            ),
        )
        for what, kind, request in changes:
            started = time.monotonic()
            (await request).raise_for_status()
            event = await _wait_for(call, kind, seen)
            took = time.monotonic() - started
            lines.append(f"Alice {what} in Jira -> {kind} on the feed after {took:.2f} s  {_summary(event)}")
    return lines


async def _wait_for(call: Any, kind: str, seen: set[str], timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in (await call("GET", "/api/v1/events?limit=500"))["events"]:
            if event["id"] not in seen and event["type"] == kind:
                seen.add(event["id"])
                return dict(event)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no {kind} event within {timeout_s:g} s")


def _summary(event: dict[str, Any]) -> str:
    data = event["data"]
    item = f"{event['item']['type']} {event['item']['id']}"
    if event["type"] == "item.status_changed":
        return f"({item}: {data['from']} -> {data['to']})"
    return f'({item}: "{data.get("body", "")}")'


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }
