"""The demo's time-tracking session (`jirabridge demo`): two people log time against Jira issue keys;
Alice is connected to Jira from the start, Bob only later. Timers run and stop, an entry is edited,
another deleted, and the worklogs and remaining estimates are read back from the emulator.

Everything goes through the HTTP API as a time tracker would use it; what Jira shows is read from the
emulator's REST API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

SETTLE_S = 15.0
PEOPLE = {"u-alice": ("alice@acme.test", "alice-token"), "u-bob": ("bob@acme.test", "bob-token")}


async def play(api: httpx.AsyncClient, headers: dict[str, str], site_id: str, emulator: str) -> list[str]:
    """Run the session and describe what Jira shows afterwards, one line each."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        answer = await api.request(method, path, json=body, headers=headers)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    async def entry(entry_id: str, user: str, description: str, **fields: Any) -> None:
        body = {
            "user": user,
            "started_at": "2024-01-15T09:00:00Z",
            "duration_s": 1800,
            "description": description,
        }
        await call("PUT", f"/api/v1/time-entries/{entry_id}", body | fields)

    async def connect(user: str) -> None:
        email, token = PEOPLE[user]
        auth = {"type": "api_token", "email": email, "api_token": token}
        await call("POST", f"/api/v1/users/{user}/jira", {"site": site_id, "auth": auth})

    settings = await call("GET", "/api/v1/settings")
    settings["worklogs"] |= {"estimate": "auto", "delete_worklogs": True, "rounding_minutes": 5}
    settings["callback"].pop("secret_set", None)
    await call("PUT", "/api/v1/settings", settings)

    async with httpx.AsyncClient(
        base_url=f"{emulator}/sites/acme", auth=("admin@acme.test", "admin-token")
    ) as jira:
        login = await _issue(jira, "Login fails on Safari", "4h")
        checkout = await _issue(jira, "Checkout total is off by one cent", "2h")

        await connect("u-alice")
        await entry("te-1", "u-alice", f"Reproduce {login} on Safari 17", duration_s=2700)
        await entry("te-2", "u-alice", f"Fix rounding {checkout}", running=True, duration_s=None)
        await entry("te-3", "u-bob", f"Review the fix for {login}", duration_s=1500)
        await entry("te-4", "u-alice", "Team standup (no issue key)", duration_s=900)
        await entry("te-5", "u-alice", f"Pairing on {checkout}", started_at="2024-01-15T14:00:00Z")
        await _settle(call, ["te-1", "te-3", "te-5"])
        before = {
            e: (await call("GET", f"/api/v1/time-entries/{e}"))["worklog"]["state"] for e in ("te-2", "te-3")
        }

        await entry("te-2", "u-alice", f"Fix rounding {checkout}", duration_s=3300)  # the timer stops
        await entry("te-1", "u-alice", f"Reproduce {login} on Safari 17 and 16", duration_s=3600)  # edited
        await call("DELETE", "/api/v1/time-entries/te-5")
        await connect("u-bob")  # Bob's waiting entry syncs now
        await _settle(call, ["te-1", "te-2", "te-3", "te-5"])

        lines = [
            f"te-2 was {before['te-2']} and te-3 (Bob, not connected yet) {before['te-3']}; then:",
        ]
        for entry_id in ("te-1", "te-2", "te-3", "te-4", "te-5"):
            shown = await call("GET", f"/api/v1/time-entries/{entry_id}")
            worklog = shown["worklog"]
            where = (
                f"-> {worklog['issue_key']} worklog {worklog['worklog_id']}" if worklog["worklog_id"] else ""
            )
            if worklog["reason"]:
                where = f"{where} ({worklog['reason']})".strip()
            lines.append(f"{entry_id} {shown['user']:<8} {worklog['state']:<13} {where}".rstrip())
        for key in (login, checkout):
            lines.append(await _jira_view(jira, key))
    return lines


async def _issue(jira: httpx.AsyncClient, summary: str, estimate: str) -> str:
    fields = {
        "project": {"key": "WEB"},
        "issuetype": {"name": "Task"},
        "summary": summary,
        "timetracking": {"originalEstimate": estimate, "remainingEstimate": estimate},
    }
    answer = await jira.post("/rest/api/3/issue", json={"fields": fields})
    answer.raise_for_status()
    return str(answer.json()["key"])


async def _settle(call: Any, entry_ids: list[str]) -> None:
    """Until none of the entries waits for the worker (or the demo gives up waiting)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while asyncio.get_running_loop().time() < deadline:
        states = [(await call("GET", f"/api/v1/time-entries/{e}"))["worklog"]["state"] for e in entry_ids]
        if "pending" not in states:
            return
        await asyncio.sleep(0.2)


async def _jira_view(jira: httpx.AsyncClient, key: str) -> str:
    worklogs = (await jira.get(f"/rest/api/3/issue/{key}/worklog")).json()["worklogs"]
    fields = (await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "timetracking"})).json()["fields"]
    logged = ", ".join(f"{w['author']['displayName']} {w['timeSpent']}" for w in worklogs) or "none"
    remaining = fields["timetracking"].get("remainingEstimate", "none")
    return f"{key:<7} worklogs: {logged}; remaining estimate {remaining}"
