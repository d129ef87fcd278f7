"""Time entries become Jira worklogs (the time-tracking profile), end to end through the HTTP API with
a running worker and the emulator, on SQLite and PostgreSQL. Every assertion is about what a host or a
Jira user would see: the entry's worklog state, the event feed, and the worklogs and estimates in Jira."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from jira_emulator import create_app
from jira_emulator.state import Issue as EmulatedIssue
from jira_emulator.state import Worklog as EmulatedWorklog
from jirabridge.bootstrap import Container
from jirabridge.service.worklogs import time_entries
from jirabridge.storage import schedules
from jirabridge.storage.tables import UserConnection
from jirabridge.workers.runner import Worker
from support.host import ACME, BOT, Host, connect_host
from support.service import SERVICE_TOKEN, bearer, make_tenant

PEOPLE = {"u-alice": ("alice@acme.test", "alice-token"), "u-bob": ("bob@acme.test", "bob-token")}
START = "2024-01-15T09:00:00Z"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class WorklogWrites:
    """ASGI middleware around the emulator: how many worklog writes are in flight, per issue and in all."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.most_overall = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        parts = path.split("/")
        writes = scope.get("method") != "GET" and "issue" in parts and "worklog" in parts[-2:]
        if scope["type"] != "http" or not writes:
            await self.app(scope, receive, send)
            return
        issue = parts[parts.index("issue") + 1]
        self.now[issue] = self.now.get(issue, 0) + 1
        self.most[issue] = max(self.most.get(issue, 0), self.now[issue])
        self.most_overall = max(self.most_overall, sum(self.now.values()))
        try:
            await self.app(scope, receive, send)
        finally:
            self.now[issue] -= 1


@pytest.fixture
def emulator() -> FastAPI:
    """The emulator, behind a middleware that watches worklog writes (it changes nothing else)."""
    app = create_app()
    app.add_middleware(WorklogWrites)
    return app


@pytest.fixture
async def host(api: httpx.AsyncClient, worker: Worker, emulator: FastAPI, container: Container) -> Timesheet:
    return await connect_host(api, emulator, container, Timesheet)


class Timesheet(Host):
    def writes(self) -> WorklogWrites:
        stack: Any = self.emulator.middleware_stack
        while not isinstance(stack, WorklogWrites):
            stack = stack.app
        return stack

    async def settings(self, **worklogs: Any) -> None:
        answer = await self.call("PUT", "/api/v1/settings", {"worklogs": worklogs})
        assert answer.status_code == 200, answer.text

    async def connect(self, user: str) -> None:
        email, token = PEOPLE[user]
        answer = await self.call(
            "POST",
            f"/api/v1/users/{user}/jira",
            {"auth": {"type": "api_token", "email": email, "api_token": token}},
        )
        assert answer.status_code == 201, answer.text

    async def put(self, entry_id: str, role: str = "admin", **fields: Any) -> httpx.Response:
        body = {"user": "u-alice", "started_at": START, "duration_s": 1800} | fields
        return await self.call("PUT", f"/api/v1/time-entries/{entry_id}", body, role=role)

    async def entry(self, entry_id: str, **fields: Any) -> dict[str, Any]:
        answer = await self.put(entry_id, **fields)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    async def get(self, entry_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/v1/time-entries/{entry_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def worklog(self, entry_id: str) -> dict[str, Any]:
        return dict((await self.get(entry_id))["worklog"])

    async def issue(self, summary: str = "Login fails", estimate: str | None = "4h") -> str:
        fields: dict[str, Any] = {
            "project": {"key": "WEB"},
            "issuetype": {"name": "Task"},
            "summary": summary,
        }
        if estimate:
            fields["timetracking"] = {"originalEstimate": estimate, "remainingEstimate": estimate}
        created = await self.as_admin("POST", "/rest/api/3/issue", {"fields": fields})
        return str(created["key"])

    def jira_issue(self, key: str) -> EmulatedIssue:
        issue = self.jira.issue_by_ref(key)
        assert issue is not None
        return issue

    def worklogs(self, key: str) -> list[EmulatedWorklog]:
        return list(self.jira_issue(key).worklogs)

    def remaining(self, key: str) -> int | None:
        return self.jira_issue(key).remaining_estimate_seconds

    async def as_admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.emulator),
            base_url=ACME,
            auth=("admin@acme.test", "admin-token"),
        ) as jira:
            answer = await jira.request(method, path, json=body)
            assert answer.is_success, answer.text
            return answer.json() if answer.content else None

    async def states(self, entry_id: str) -> list[str]:
        """The entry's states in the order the event feed reported them."""
        return [
            e["data"]["to"]
            for e in await self.events("worklog.state_changed")
            if e["data"]["entry"] == entry_id
        ]

    async def failures(self) -> list[dict[str, Any]]:
        return list((await self.call("GET", "/api/v1/sync/failures")).json()["failures"])

    async def check_drift_now(self) -> None:
        with self.container.uow() as uow:
            schedules.run_now(
                uow.session,
                workspace_id=self.tenant.workspace_id,
                key_prefix=time_entries.DRIFT_SCHEDULE_PREFIX,
                now=self.container.clock.now(),
            )
            uow.commit()
        await self.settle()


def text_of(worklog: EmulatedWorklog) -> str:
    return " ".join(
        str(node.get("text", ""))
        for block in (worklog.comment or {}).get("content", [])
        for node in block.get("content", [])
    )


# -- a finished entry becomes a worklog ---------------------------------------------------------------


async def test_a_finished_entry_becomes_a_worklog_authored_by_its_user(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    answer = await host.put(
        "te-1", description=f"Fix login {key}", duration_s=1800, project="Web", task="Bugs"
    )
    assert answer.status_code == 201, answer.text
    entry = answer.json()
    assert (entry["issue_key"], entry["key_source"]) == (key, "description")
    assert entry["worklog"]["state"] == "pending"
    await host.settle()

    [worklog] = host.worklogs(key)
    assert worklog.author == host.account("alice@acme.test")
    assert worklog.time_spent_seconds == 1800
    assert worklog.started == datetime(2024, 1, 15, 9, tzinfo=UTC)
    assert text_of(worklog) == f"Fix login {key}"
    assert worklog.properties["jirabridge"]["entry"] == "te-1"
    assert host.remaining(key) == 4 * 3600 - 1800  # estimate "auto" (the default) reduces it
    shown = await host.get("te-1")
    assert (shown["project"], shown["task"], shown["ended_at"]) == ("Web", "Bugs", "2024-01-15T09:30:00Z")
    assert shown["worklog"] | {"synced_at": None} == {
        "state": "synced",
        "reason": None,
        "worklog_id": worklog.id,
        "issue_key": key,
        "seconds": 1800,
        "synced_at": None,
        "drift": None,
    }
    assert await host.states("te-1") == ["pending", "synced"]
    [synced] = await host.events("worklog.synced")
    assert synced["item"] == {"type": "time_entry", "id": "te-1"}
    assert synced["data"] | {"seconds": 1800} == {
        "entry": "te-1",
        "user": "u-alice",
        "worklog_id": worklog.id,
        "issue_key": key,
        "seconds": 1800,
        "action": "created",
    }


async def test_an_explicit_key_wins_and_ended_at_gives_the_duration(host: Timesheet) -> None:
    first, second = await host.issue(), await host.issue("Checkout")
    await host.connect("u-alice")
    await host.entry(
        "te-1",
        description=f"Talked about {first}",
        issue_key=second,
        duration_s=None,
        ended_at="2024-01-15T10:15:00Z",
    )
    await host.settle()
    assert host.worklogs(first) == []
    [worklog] = host.worklogs(second)
    assert worklog.time_spent_seconds == 75 * 60
    assert (await host.get("te-1"))["key_source"] == "explicit"


@pytest.mark.parametrize("estimate", ["auto", "leave"])
async def test_the_estimate_setting_decides_whether_the_remaining_estimate_moves(
    host: Timesheet, estimate: str
) -> None:
    await host.settings(estimate=estimate, delete_worklogs=True)
    key = await host.issue(estimate="4h")
    await host.connect("u-alice")
    await host.entry("te-1", description=key, duration_s=3600)
    await host.settle()
    after_create = host.remaining(key)
    await host.entry("te-1", description=key, duration_s=5400)
    await host.settle()
    after_update = host.remaining(key)
    await host.call("DELETE", "/api/v1/time-entries/te-1")
    await host.settle()
    after_delete = host.remaining(key)
    assert host.worklogs(key) == []
    if estimate == "auto":
        assert (after_create, after_update, after_delete) == (3 * 3600, int(2.5 * 3600), 4 * 3600)
    else:
        assert (after_create, after_update, after_delete) == (4 * 3600, 4 * 3600, 4 * 3600)


# -- why an entry is not (yet) a worklog ----------------------------------------------------------------


async def test_each_state_says_why_an_entry_is_not_a_worklog(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    cases = {
        "running": {"description": key, "running": True, "duration_s": None},
        "no-key": {"description": "Fix login web-12 and xWEB-1"},
        "short": {"description": key, "duration_s": 59},
        "missing": {"description": "Fix WEB-999"},
        "bob": {"user": "u-bob", "description": key},
    }
    for entry_id, fields in cases.items():
        await host.entry(entry_id, **fields)
    await host.settle()
    states = {entry_id: await host.worklog(entry_id) for entry_id in cases}
    assert {k: v["state"] for k, v in states.items()} == {
        "running": "running",
        "no-key": "no_issue_key",
        "short": "too_short",
        "missing": "issue_not_found",
        "bob": "waiting_for_user_mapping",
    }
    assert all(v["reason"] and v["worklog_id"] is None for v in states.values())
    assert "WEB-999" in states["missing"]["reason"]
    assert host.worklogs(key) == []
    assert await host.states("missing") == ["pending", "issue_not_found"]
    # The timer stops: the entry becomes a worklog.
    await host.entry("running", description=key, running=False, duration_s=900)
    await host.settle()
    assert (await host.worklog("running"))["state"] == "synced"
    assert [w.time_spent_seconds for w in host.worklogs(key)] == [900]


async def test_rounding_is_applied_before_the_minimum_is_checked(host: Timesheet) -> None:
    key = await host.issue(estimate=None)
    await host.connect("u-alice")
    await host.settings(rounding_minutes=5, min_seconds=120)
    await host.entry("te-1", description=key, duration_s=61)  # 61 s rounds up to 5 min
    await host.settle()
    assert (await host.worklog("te-1"))["seconds"] == 300
    await host.settings(rounding_minutes=0, min_seconds=120)
    await host.entry("te-2", description=key, duration_s=100)  # 100 s is under 120 s
    await host.settle()
    short = await host.worklog("te-2")
    assert short["state"] == "too_short" and "under the minimum of 2 min" in short["reason"]
    assert sorted(w.time_spent_seconds for w in host.worklogs(key)) == [300]


# -- edits, moves and lost answers --------------------------------------------------------------------


async def test_an_edit_updates_the_worklog_and_a_new_key_moves_it(host: Timesheet) -> None:
    first, second = await host.issue(), await host.issue("Checkout")
    await host.connect("u-alice")
    await host.entry("te-1", description=f"Fix login {first}")
    await host.settle()
    [created] = host.worklogs(first)
    await host.entry("te-1", description=f"Fix login {first}, with tests", duration_s=2700)
    await host.settle()
    [updated] = host.worklogs(first)
    assert updated.id == created.id and updated.time_spent_seconds == 2700
    assert text_of(updated) == f"Fix login {first}, with tests"
    await host.entry("te-1", description=f"Fix login {first}, with tests", duration_s=2700, project="Other")
    await host.settle()
    assert host.worklogs(first)[0].updated == updated.updated  # a label change writes nothing to Jira

    await host.entry("te-1", description=f"Actually {second}", duration_s=2700)
    await host.settle()
    assert host.worklogs(first) == []
    [moved] = host.worklogs(second)
    shown = await host.worklog("te-1")
    assert (shown["state"], shown["issue_key"], shown["worklog_id"]) == ("synced", second, moved.id)
    [deleted] = await host.events("worklog.deleted")
    assert deleted["data"]["why"] == "moved" and deleted["data"]["worklog_id"] == created.id
    assert [e["data"]["action"] for e in await host.events("worklog.synced")] == [
        "created",
        "updated",
        "created",
    ]


async def test_a_lost_answer_on_create_makes_exactly_one_worklog(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.control(
        "POST",
        "/faults",
        {
            "rules": [
                {"kind": "lost_answer", "method": "POST", "path": "/worklog$", "count": 1, "hang_s": 0.05}
            ]
        },
    )
    await host.entry("te-1", description=key)
    await host.settle(limit_s=30)
    hits = (await host.control("GET", "/faults"))["hits"]
    assert [h["kind"] for h in hits] == ["lost_answer"]  # applied in Jira, the answer never came
    [worklog] = host.worklogs(key)
    shown = await host.worklog("te-1")
    assert (shown["state"], shown["worklog_id"]) == ("synced", worklog.id)
    assert [e["data"]["action"] for e in await host.events("worklog.synced")] == ["adopted"]
    assert host.remaining(key) == 4 * 3600 - 1800


async def test_a_lost_answer_then_a_new_key_still_ends_with_one_worklog_on_the_new_issue(
    host: Timesheet,
) -> None:
    first, second = await host.issue(), await host.issue("Checkout")
    await host.connect("u-alice")
    await host.control(
        "POST",
        "/faults",
        {
            "rules": [
                {"kind": "lost_answer", "method": "POST", "path": "/worklog$", "count": 1, "hang_s": 0.05}
            ]
        },
    )
    await host.entry("te-1", description=first)
    for _ in range(100):  # until the create was applied and its answer lost
        if (await host.control("GET", "/faults"))["hits"]:
            break
        await asyncio.sleep(0.02)
    await host.entry("te-1", description=second)
    await host.settle(limit_s=30)
    assert host.worklogs(first) == []
    [worklog] = host.worklogs(second)
    shown = await host.worklog("te-1")
    assert (shown["state"], shown["issue_key"], shown["worklog_id"]) == ("synced", second, worklog.id)
    assert host.remaining(first) == 4 * 3600
    assert [e["data"]["action"] for e in await host.events("worklog.synced")] == ["adopted", "created"]
    assert [e["data"]["why"] for e in await host.events("worklog.deleted")] == ["moved"]


async def test_worklogs_on_one_issue_are_written_one_at_a_time(host: Timesheet) -> None:
    first, second = await host.issue(), await host.issue("Checkout")
    await host.connect("u-alice")
    await host.control(
        "POST",
        "/faults",
        {"rules": [{"kind": "latency", "latency_ms": 150, "method": "POST", "path": "/worklog$"}]},
    )
    await asyncio.gather(
        *(
            host.entry(f"te-{key}-{n}", description=f"{key} part {n}", started_at=f"2024-01-15T0{n}:00:00Z")
            for n in range(1, 4)
            for key in (first, second)
        )
    )
    await host.settle(limit_s=30)
    assert [len(host.worklogs(first)), len(host.worklogs(second))] == [3, 3]
    writes = host.writes()
    assert writes.most == {first: 1, second: 1}  # one at a time on each issue
    assert writes.most_overall == 2  # while the two issues proceed side by side
    assert host.remaining(first) == host.remaining(second) == 4 * 3600 - 3 * 1800


# -- users and sites ----------------------------------------------------------------------------------


async def test_a_user_who_connects_later_has_their_waiting_entries_synced(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.entry("a-1", description=key)
    await host.entry("b-1", user="u-bob", description=key, duration_s=600)
    await host.entry("b-2", user="u-bob", description=key, duration_s=900)
    await host.settle()
    assert [(await host.worklog(e))["state"] for e in ("a-1", "b-1", "b-2")] == [
        "synced",
        "waiting_for_user_mapping",
        "waiting_for_user_mapping",
    ]
    await host.connect("u-bob")
    await host.settle()
    assert [(await host.worklog(e))["state"] for e in ("b-1", "b-2")] == ["synced", "synced"]
    bob = host.account("bob@acme.test")
    assert sorted((w.author == bob, w.time_spent_seconds) for w in host.worklogs(key)) == [
        (False, 1800),
        (True, 600),
        (True, 900),
    ]
    assert await host.states("b-1") == ["waiting_for_user_mapping", "pending", "synced"]

    # Bob disconnects: his edits wait, Alice's still sync, and nothing is deleted in Jira.
    assert (await host.call("DELETE", "/api/v1/users/u-bob/jira")).status_code == 204
    await host.entry("b-1", user="u-bob", description=key, duration_s=1200)
    await host.entry("a-1", description=key, duration_s=2400)
    await host.settle()
    assert (await host.worklog("b-1"))["state"] == "waiting_for_user_mapping"
    assert sorted(w.time_spent_seconds for w in host.worklogs(key)) == [600, 900, 2400]


async def test_disconnecting_the_site_stops_all_sync_and_deletes_nothing(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.settings(delete_worklogs=True)
    await host.entry("te-1", description=key)
    await host.settle()
    await host.entry("te-2", user="u-bob", description=key)
    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    await host.entry("te-1", description=key, duration_s=3600)
    assert (await host.call("DELETE", "/api/v1/time-entries/te-1")).status_code == 204
    await host.settle()
    assert [w.time_spent_seconds for w in host.worklogs(key)] == [1800]
    waiting = await host.worklog("te-2")
    assert waiting["state"] == "failed" and "site_disconnected" in waiting["reason"]
    new = await host.put("te-3", description=key)
    assert new.status_code == 422 and new.json()["errors"][0]["field"] == "site"


async def test_a_sites_drift_check_starts_with_its_first_entry_and_ends_when_the_site_is_disconnected(
    host: Timesheet,
) -> None:
    # A process reads a connected site's drift check once, not on every push: a disconnected site's
    # ends for good, and its address connected again is a new site whose first entry starts its own.
    async def drift_checks() -> list[str]:
        answer = await host.call("POST", "/api/v1/sync/reconcile", {})
        if answer.status_code == 404:  # nothing to reconcile
            return []
        assert answer.status_code == 202, answer.text
        return [s["site"] for s in answer.json()["scheduled"] if s["kind"] == "worklog_drift"]

    assert await drift_checks() == []
    await host.entry("te-1")
    await host.entry("te-2")
    await host.entry("te-1", duration_s=2400)
    assert await drift_checks() == [host.site_id]

    assert (await host.call("DELETE", f"/api/v1/sites/{host.site_id}")).status_code == 204
    assert await drift_checks() == []
    again = await host.call("POST", "/api/v1/sites", {"url": ACME, "auth": BOT, "default_project": "WEB"})
    assert again.status_code == 201, again.text
    await host.entry("te-3")
    assert await drift_checks() == [again.json()["id"]]


async def test_an_oauth_user_connection_authors_worklogs_and_keeps_its_refreshed_tokens(
    host: Timesheet, container: Container
) -> None:
    key = await host.issue()
    started = await host.call("POST", "/api/v1/users/u-alice/jira", {"auth": {"type": "oauth"}})
    authorize = urlsplit(started.json()["authorize_url"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.emulator), base_url="https://auth.atlassian.test"
    ) as atlassian:
        consent = await atlassian.get(f"{authorize.path}?{authorize.query}&login_hint=alice@acme.test")
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    done = await host.api.get("/oauth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert done.status_code == 200
    await host.entry("te-1", description=key)
    await host.settle()
    with container.uow() as uow:
        before = uow.session.scalars(select(UserConnection.credentials)).one()

    await host.control("POST", "/clock", {"advance_s": 7200})  # the access token expires
    await host.entry("te-2", description=key, duration_s=600)
    await host.settle()
    with container.uow() as uow:
        after = uow.session.scalars(select(UserConnection.credentials)).one()
    assert container.secrets.open(after)["refresh_token"] != container.secrets.open(before)["refresh_token"]
    # A worker that never saw the refresh (a restart) uses the stored, rotated tokens.
    container.jira_pool._oauth.clear()
    await host.entry("te-3", description=key, duration_s=300)
    await host.settle()
    alice = host.account("alice@acme.test")
    assert sorted((w.author, w.time_spent_seconds) for w in host.worklogs(key)) == [
        (alice, 300),
        (alice, 600),
        (alice, 1800),
    ]


# -- deleting -------------------------------------------------------------------------------------------


async def test_deleting_an_entry_deletes_its_worklog_only_with_delete_worklogs_on(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.entry("kept", description=key, duration_s=600)
    await host.entry("gone", description=key, duration_s=900)
    await host.settle()
    assert (await host.call("DELETE", "/api/v1/time-entries/kept")).status_code == 204
    await host.settings(delete_worklogs=True)
    assert (await host.call("DELETE", "/api/v1/time-entries/gone")).status_code == 204
    await host.settle()
    assert [w.time_spent_seconds for w in host.worklogs(key)] == [600]
    kept, gone = await host.get("kept"), await host.get("gone")
    assert (
        kept["deleted"]
        and kept["worklog"]["state"] == "deleted"
        and "stays in Jira" in kept["worklog"]["reason"]
    )
    assert gone["deleted"] and gone["worklog"]["state"] == "deleted" and gone["worklog"]["worklog_id"] is None
    [deleted] = await host.events("worklog.deleted")
    assert (deleted["data"]["entry"], deleted["data"]["why"]) == ("gone", "entry_deleted")
    assert (
        await host.call("DELETE", "/api/v1/time-entries/gone")
    ).status_code == 204  # again: nothing changes
    assert (await host.call("DELETE", "/api/v1/time-entries/nope")).status_code == 404


async def test_a_delete_jira_refuses_is_recorded_with_its_reason_and_not_retried(host: Timesheet) -> None:
    forbidden, gone, closed = await host.issue("a"), await host.issue("b"), await host.issue("c")
    await host.connect("u-alice")
    await host.settings(delete_worklogs=True)
    for key in (forbidden, gone, closed):
        await host.entry(f"te-{key}", description=key)
    await host.settle()
    await host.control(
        "POST",
        "/faults",
        {
            "rules": [
                {"kind": "error", "status": 403, "method": "DELETE", "path": f"/issue/{forbidden}/worklog/"}
            ]
        },
    )
    [by_hand] = host.worklogs(gone)
    await host.as_admin("DELETE", f"/rest/api/3/issue/{gone}/worklog/{by_hand.id}")
    host.jira_issue(closed).status = "Done"
    host.jira.statuses["Done"].editable = False
    for key in (forbidden, gone, closed):
        assert (await host.call("DELETE", f"/api/v1/time-entries/te-{key}")).status_code == 204
    await host.settle()

    shown = {key: await host.worklog(f"te-{key}") for key in (forbidden, gone, closed)}
    assert shown[forbidden]["state"] == "failed" and shown[forbidden]["reason"].startswith("forbidden")
    assert shown[closed]["state"] == "failed" and shown[closed]["reason"].startswith("issue_closed")
    assert shown[gone]["state"] == "deleted" and "already been deleted" in shown[gone]["reason"]
    failures = await host.failures()
    assert sorted((f["reason"], f["attempts"], f["item"]["id"]) for f in failures) == sorted(
        [("forbidden", 1, f"te-{forbidden}"), ("issue_closed", 1, f"te-{closed}")]
    )
    assert len(host.worklogs(forbidden)) == len(host.worklogs(closed)) == 1
    assert (await host.control("GET", "/faults"))["rules"][0]["hits"] == 1  # tried once, not again
    failed = [e for e in await host.events("worklog.state_changed") if e["data"]["to"] == "failed"]
    assert sorted(e["data"]["entry"] for e in failed) == sorted([f"te-{forbidden}", f"te-{closed}"])


# -- drift ------------------------------------------------------------------------------------------------


async def test_worklogs_edited_or_deleted_by_hand_are_reported_as_drifted_and_never_overwritten(
    host: Timesheet,
) -> None:
    key = await host.issue(estimate=None)
    await host.connect("u-alice")
    for n in range(1, 5):
        await host.entry(f"te-{n}", description=f"{key} part {n}", started_at=f"2024-01-15T0{n}:00:00Z")
    await host.settle()
    ids = {n: (await host.worklog(f"te-{n}"))["worklog_id"] for n in range(1, 5)}
    await host.as_admin("PUT", f"/rest/api/3/issue/{key}/worklog/{ids[1]}", {"timeSpentSeconds": 7200})
    await host.as_admin("DELETE", f"/rest/api/3/issue/{key}/worklog/{ids[2]}")
    await host.entry(
        "te-3", description=f"{key} part 3, longer", started_at="2024-01-15T03:00:00Z", duration_s=2400
    )
    await host.settle()  # jirabridge's own edit of te-3
    await host.control("POST", "/clock", {"advance_s": 120})  # Jira's feeds leave out the last minute
    await host.check_drift_now()

    one, two, three = [await host.worklog(f"te-{n}") for n in range(1, 4)]
    assert (one["state"], one["drift"]) == ("drifted", {"seconds": {"written": 1800, "jira": 7200}})
    assert "edited by hand" in one["reason"]
    assert (two["state"], two["drift"]) == ("drifted", {"deleted": True})
    assert three["state"] == "synced"  # its change was jirabridge's own
    drifted = [e for e in await host.events("worklog.state_changed") if e["data"]["to"] == "drifted"]
    assert sorted(e["data"]["entry"] for e in drifted) == ["te-1", "te-2"]
    assert all(e["source"] == "jira" for e in drifted)

    # An edit by hand that the host's next change runs into is caught before anything is written.
    await host.as_admin("PUT", f"/rest/api/3/issue/{key}/worklog/{ids[4]}", {"timeSpentSeconds": 60})
    await host.entry("te-4", description=f"{key} part 4", started_at="2024-01-15T04:00:00Z", duration_s=3000)
    await host.settle()
    four = await host.worklog("te-4")
    assert four["state"] == "drifted" and four["drift"]["seconds"]["jira"] == 60

    # The host's edits of a drifted entry are not written over the person's edit...
    await host.entry("te-1", description=f"{key} part 1", started_at="2024-01-15T01:00:00Z", duration_s=1200)
    await host.settle()
    seconds = {w.id: w.time_spent_seconds for w in host.worklogs(key)}
    assert (seconds[ids[1]], seconds[ids[4]]) == (7200, 60)
    assert (await host.worklog("te-1"))["state"] == "drifted"
    # ...unless the host takes the person's version over, or asks to resync.
    await host.entry("te-4", description=f"{key} part 4", started_at="2024-01-15T04:00:00Z", duration_s=60)
    await host.entry("te-1", description=f"{key} part 1", started_at="2024-01-15T01:00:00Z", resync=True)
    await host.entry("te-2", description=f"{key} part 2", started_at="2024-01-15T02:00:00Z", resync=True)
    await host.settle()
    assert [(await host.worklog(f"te-{n}"))["state"] for n in (1, 2, 4)] == ["synced", "synced", "synced"]
    seconds = {w.id: w.time_spent_seconds for w in host.worklogs(key)}
    assert seconds[ids[1]] == 1800 and seconds[ids[4]] == 60 and ids[2] not in seconds
    assert (await host.worklog("te-2"))["worklog_id"] in seconds  # a new worklog replaces the deleted one


async def test_deleting_an_entry_never_deletes_a_worklog_a_person_edited(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.settings(delete_worklogs=True)
    await host.entry("te-1", description=key)
    await host.entry("te-2", description=key, started_at="2024-01-15T11:00:00Z")
    await host.settle()
    first, second = [(await host.worklog(e))["worklog_id"] for e in ("te-1", "te-2")]
    for worklog_id in (first, second):
        await host.as_admin(
            "PUT", f"/rest/api/3/issue/{key}/worklog/{worklog_id}", {"comment": _adf("Billed")}
        )
    await host.entry("te-1", description=key, duration_s=2400)  # runs into the edit: drifted
    await host.settle()
    assert (await host.worklog("te-1"))["drift"] == {"comment": {"written": key, "jira": "Billed"}}
    for entry_id in ("te-1", "te-2"):  # te-2's edit is found when it is about to be deleted
        assert (await host.call("DELETE", f"/api/v1/time-entries/{entry_id}")).status_code == 204
    await host.settle()
    for entry_id in ("te-1", "te-2"):
        shown = await host.worklog(entry_id)
        assert shown["state"] == "deleted" and "edited by hand" in shown["reason"], shown
    assert sorted((w.id, w.time_spent_seconds, text_of(w)) for w in host.worklogs(key)) == sorted(
        [(first, 1800, "Billed"), (second, 1800, "Billed")]
    )


async def test_a_create_jira_refuses_fails_with_its_reason_and_is_not_retried(host: Timesheet) -> None:
    created = await host.as_admin(
        "POST",
        "/rest/api/3/issue",
        {"fields": {"project": {"key": "LOCK"}, "issuetype": {"name": "Task"}, "summary": "Locked"}},
    )
    await host.connect("u-alice")  # Alice may only browse LOCK
    await host.entry("te-1", description=created["key"])
    await host.settle()
    shown = await host.worklog("te-1")
    assert shown["state"] == "failed" and shown["reason"].startswith("forbidden: ")
    assert "permission" in shown["reason"]
    [failure] = await host.failures()
    assert (failure["reason"], failure["attempts"], failure["item"]) == (
        "forbidden",
        1,
        {"type": "time_entry", "id": "te-1"},
    )
    assert host.worklogs(created["key"]) == []


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


# -- switched off -----------------------------------------------------------------------------------------


async def test_entries_wait_while_worklog_sync_is_switched_off(host: Timesheet) -> None:
    key = await host.issue()
    await host.connect("u-alice")
    await host.settings(enabled=False)
    await host.entry("te-1", description=key)
    await host.settle()
    held = await host.worklog("te-1")
    assert held["state"] == "pending" and "switched off" in held["reason"]
    assert host.worklogs(key) == []
    await host.settings(enabled=True)
    await host.settle()
    assert (await host.worklog("te-1"))["state"] == "synced" and len(host.worklogs(key)) == 1


# -- access and bad input -----------------------------------------------------------------------------------


async def test_a_member_key_bound_to_a_user_acts_only_on_their_entries(host: Timesheet) -> None:
    bound = await host.api.post(
        f"/api/v1/workspaces/{host.tenant.workspace_id}/api-keys",
        json={"role": "member", "name": "alice's timer", "user": "u-alice"},
        headers=bearer(SERVICE_TOKEN),
    )
    host.tenant.keys["alice"] = bound.json()["key"]
    assert (await host.put("te-b", role="alice", user="u-bob")).status_code == 403
    assert (await host.put("te-a", role="alice", user="u-alice")).status_code == 201
    assert (await host.put("te-b", role="member", user="u-bob")).status_code == 201  # an unbound member key
    for method in ("GET", "DELETE"):
        assert (await host.call(method, "/api/v1/time-entries/te-b", role="alice")).status_code == 403
    assert (await host.call("GET", "/api/v1/time-entries/te-a", role="alice")).status_code == 200
    other = await make_tenant(host.api, "Globex")
    assert (await host.api.get("/api/v1/time-entries/te-a", headers=other.headers())).status_code == 404
    assert (await host.put("te-a", user="u-bob")).status_code == 409  # an entry's user never changes


async def test_bad_time_entries_answer_4xx_naming_the_field_and_write_nothing(host: Timesheet) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"user": None}, "user"),
        ({"started_at": "2024-01-15T09:00:00"}, "started_at"),
        ({"started_at": 1705309200}, "started_at"),
        ({"duration_s": False}, "duration_s"),
        ({"duration_s": -1}, "duration_s"),
        ({"ended_at": "2024-01-15T10:00:00Z"}, "ended_at"),
        ({"duration_s": None, "ended_at": "2024-01-15T08:00:00Z"}, "ended_at"),
        ({"duration_s": None}, "duration_s"),
        ({"issue_key": "web-1"}, "issue_key"),
        ({"issue_key": "WEB-01"}, "issue_key"),
        ({"running": "yes"}, "running"),
        ({"colour": "red"}, "colour"),
        ({"site": "st_nope"}, "site"),
    ]
    for fields, field in cases:
        answer = await host.put("te-1", **fields)
        assert answer.status_code in (404, 422), (fields, answer.text)
        if answer.status_code == 422:
            assert field in [e["field"] for e in answer.json()["errors"]], (fields, answer.text)
    assert (await host.call("GET", "/api/v1/time-entries/te-1")).status_code == 404
    with host.container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM time_entries")).scalar_one() == 0
