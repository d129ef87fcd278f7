"""Worklogs through the REST API: estimate arithmetic, Jira's validation, authorship, permissions,
non-editable statuses, the updated/deleted feeds, and v2 text versus v3 ADF comments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app
from jira_emulator.events import JiraEvent
from jira_emulator.seed import Seed, default_seed

H = 3600
Client = Callable[[str, str], httpx.AsyncClient]
STARTED = "2024-03-04T09:00:00.000+0000"


def _seed() -> Seed:
    """The default seed plus issues, a project with per-user time-tracking grants, and a status that
    freezes issues (Jira's jira.issue.editable=false)."""
    doc = default_seed().model_dump(by_alias=True)
    acme = doc["sites"][0]
    acme["projects"].append(
        {
            "key": "TT",
            "name": "Time tracking",
            "lead": "admin@acme.test",
            "permissions": {
                "admin@acme.test": [
                    "BROWSE_PROJECTS",
                    "WORK_ON_ISSUES",
                    "EDIT_ALL_WORKLOGS",
                    "DELETE_ALL_WORKLOGS",
                ],
                "alice@acme.test": [
                    "BROWSE_PROJECTS",
                    "WORK_ON_ISSUES",
                    "EDIT_OWN_WORKLOGS",
                    "DELETE_OWN_WORKLOGS",
                ],
                "*": ["BROWSE_PROJECTS"],
            },
            "workflow": {
                "statuses": [
                    {"name": "Open", "category": "new"},
                    {"name": "Closed", "category": "done", "editable": False},
                ],
                "initial": "Open",
                "transitions": [],
            },
        }
    )
    acme["issues"] = [
        {"project": "WEB", "summary": "Estimated work"},  # WEB-1
        {"project": "TT", "summary": "Tracked"},  # TT-1
        {"project": "TT", "summary": "Finished", "status": "Closed"},  # TT-2
    ]
    return Seed.model_validate(doc)


@pytest.fixture
def emulator() -> FastAPI:
    return create_app(_seed())


def _estimate(emulator: FastAPI, key: str, seconds: int | None) -> None:
    """Set the remaining estimate directly (the arrangement, not the behaviour under test)."""
    site = emulator.state.emulator.sites["acme"]
    site.issue_by_ref(key).remaining_estimate_seconds = seconds


async def _timetracking(jira: httpx.AsyncClient, key: str) -> dict[str, Any]:
    issue = (await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "timetracking"})).json()
    return dict(issue["fields"]["timetracking"])


async def _log(jira: httpx.AsyncClient, key: str, seconds: int, **params: str) -> dict[str, Any]:
    response = await jira.post(
        f"/rest/api/3/issue/{key}/worklog",
        params=params,
        json={"timeSpentSeconds": seconds, "started": STARTED},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({}, 6 * H),  # auto is the default
        ({"adjustEstimate": "auto"}, 6 * H),
        ({"adjustEstimate": "leave"}, 8 * H),
        ({"adjustEstimate": "new", "newEstimate": "1d 2h"}, 10 * H),
        ({"adjustEstimate": "manual", "reduceBy": "30m"}, 8 * H - 1800),
    ],
)
async def test_adding_work_adjusts_the_remaining_estimate(
    emulator: FastAPI, jira: httpx.AsyncClient, params: dict[str, str], remaining: int
) -> None:
    _estimate(emulator, "WEB-1", 8 * H)
    await _log(jira, "WEB-1", 2 * H, **params)
    tracking = await _timetracking(jira, "WEB-1")
    assert tracking["remainingEstimateSeconds"] == remaining
    assert tracking["timeSpentSeconds"] == 2 * H


async def test_auto_never_goes_below_zero_and_starts_from_no_estimate(
    emulator: FastAPI, jira: httpx.AsyncClient
) -> None:
    await _log(jira, "WEB-1", H)  # no estimate yet: Jira treats it as 0
    assert (await _timetracking(jira, "WEB-1"))["remainingEstimateSeconds"] == 0
    _estimate(emulator, "WEB-1", H)
    await _log(jira, "WEB-1", 3 * H)
    assert (await _timetracking(jira, "WEB-1"))["remainingEstimate"] == "0m"


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({}, 3 * H),  # auto: the extra hour comes off the estimate
        ({"adjustEstimate": "leave"}, 4 * H),
        ({"adjustEstimate": "new", "newEstimate": "5h"}, 5 * H),
    ],
)
async def test_updating_work_adjusts_by_the_difference(
    emulator: FastAPI, jira: httpx.AsyncClient, params: dict[str, str], remaining: int
) -> None:
    _estimate(emulator, "WEB-1", 6 * H)
    worklog = await _log(jira, "WEB-1", 2 * H)  # remaining 4h
    updated = await jira.put(
        f"/rest/api/3/issue/WEB-1/worklog/{worklog['id']}", params=params, json={"timeSpent": "3h"}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["timeSpentSeconds"] == 3 * H
    tracking = await _timetracking(jira, "WEB-1")
    assert tracking["remainingEstimateSeconds"] == remaining
    assert tracking["timeSpentSeconds"] == 3 * H


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({}, 6 * H),  # auto gives the time back
        ({"adjustEstimate": "leave"}, 4 * H),
        ({"adjustEstimate": "new", "newEstimate": "1h"}, H),
        ({"adjustEstimate": "manual", "increaseBy": "1d"}, 12 * H),
    ],
)
async def test_deleting_work_adjusts_the_remaining_estimate(
    emulator: FastAPI, jira: httpx.AsyncClient, params: dict[str, str], remaining: int
) -> None:
    _estimate(emulator, "WEB-1", 6 * H)
    worklog = await _log(jira, "WEB-1", 2 * H)
    deleted = await jira.delete(f"/rest/api/3/issue/WEB-1/worklog/{worklog['id']}", params=params)
    assert deleted.status_code == 204
    tracking = await _timetracking(jira, "WEB-1")
    assert tracking["remainingEstimateSeconds"] == remaining
    assert "timeSpentSeconds" not in tracking
    gone = await jira.get(f"/rest/api/3/issue/WEB-1/worklog/{worklog['id']}")
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"adjustEstimate": "new"}, "newEstimate", "You must supply a valid new estimate."),
        ({"adjustEstimate": "new", "newEstimate": "soon"}, "newEstimate", "Invalid new estimate entered."),
        (
            {"adjustEstimate": "manual"},
            "adjustmentAmount",
            "You must supply a valid amount of time to adjust the estimate by.",
        ),
    ],
)
async def test_estimate_parameters_are_validated(
    jira: httpx.AsyncClient, params: dict[str, str], field: str, message: str
) -> None:
    response = await jira.post("/rest/api/3/issue/WEB-1/worklog", params=params, json={"timeSpent": "1h"})
    assert response.status_code == 400
    assert response.json()["errors"] == {field: message}
    assert (await jira.get("/rest/api/3/issue/WEB-1/worklog")).json()["total"] == 0


async def test_changelog_records_time_and_events_are_worklog_events(
    emulator: FastAPI, jira: httpx.AsyncClient
) -> None:
    seen: list[JiraEvent] = []
    emulator.state.bus.subscribe(seen.append)
    _estimate(emulator, "WEB-1", 4 * H)
    await _log(jira, "WEB-1", H)
    issue = (await jira.get("/rest/api/3/issue/WEB-1", params={"expand": "changelog"})).json()
    items = issue["changelog"]["histories"][-1]["items"]
    assert [(i["field"], i["from"], i["to"]) for i in items] == [
        ("timeestimate", "14400", "10800"),
        ("timespent", None, "3600"),
    ]
    assert [e.name for e in seen] == ["worklog_created"]
    assert seen[0].worklog is not None and seen[0].worklog.time_spent_seconds == H


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        ({"timeSpent": "1h 30m"}, 5400),
        ({"timeSpent": "1d"}, 8 * H),  # Jira's 8-hour day
        ({"timeSpent": "1w"}, 40 * H),  # and 5-day week
        ({"timeSpent": "1.5h"}, 5400),
        ({"timeSpent": "45"}, 45 * 60),  # a bare number is minutes
        ({"timeSpentSeconds": 60}, 60),
        ({"timeSpentSeconds": 119}, 60),  # whole minutes only
        ({"timeSpentSeconds": "3600"}, 3600),  # the `jira` client sends a string; Jira coerces it
    ],
)
async def test_durations_as_jira_reads_them(
    jira: httpx.AsyncClient, body: dict[str, Any], seconds: int
) -> None:
    response = await jira.post("/rest/api/3/issue/WEB-1/worklog", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["timeSpentSeconds"] == seconds


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"timeSpentSeconds": 59}, "Time Spent can not be zero."),
        ({"timeSpent": "0m"}, "Time Spent can not be zero."),
        ({"timeSpent": "an hour"}, "Invalid time duration entered."),
        ({"timeSpentSeconds": True}, "Invalid time duration entered."),
        ({}, "You must indicate the time spent working."),
    ],
)
async def test_time_spent_under_a_minute_or_unreadable_is_refused(
    jira: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await jira.post("/rest/api/3/issue/WEB-1/worklog", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": ["Worklog must not be null."],
        "errors": {"timeLogged": message},
    }


@pytest.mark.parametrize(
    "started", ["2024-03-04T09:00:00Z", "2024-03-04", "yesterday", "2024-03-04T09:00:00+0000"]
)
async def test_started_must_be_in_jiras_format(jira: httpx.AsyncClient, started: str) -> None:
    response = await jira.post(
        "/rest/api/3/issue/WEB-1/worklog", json={"timeSpent": "1h", "started": started}
    )
    assert response.status_code == 400
    assert "yyyy-MM-dd'T'HH:mm:ss.SSSZ" in response.json()["errors"]["started"]


async def test_started_keeps_its_offset(jira: httpx.AsyncClient) -> None:
    body = {"timeSpent": "1h", "started": "2024-03-04T09:00:00.000+0200"}
    worklog = (await jira.post("/rest/api/3/issue/WEB-1/worklog", json=body)).json()
    assert worklog["started"] == "2024-03-04T09:00:00.000+0200"


async def test_the_author_is_always_the_caller(jira: httpx.AsyncClient, as_user: Client) -> None:
    admin = (await jira.get("/rest/api/3/myself")).json()
    async with as_user("alice@acme.test", "alice-token") as alice:
        body = {"timeSpent": "1h", "author": {"accountId": admin["accountId"]}}
        created = await alice.post("/rest/api/3/issue/TT-1/worklog", json=body)
    assert created.status_code == 201
    assert created.json()["author"]["displayName"] == "Alice Analyst"
    edited = await jira.put(
        f"/rest/api/3/issue/TT-1/worklog/{created.json()['id']}", json={"timeSpent": "2h"}
    )
    assert edited.json()["author"]["displayName"] == "Alice Analyst"
    assert edited.json()["updateAuthor"]["displayName"] == "Ada Admin"


async def test_without_work_on_issues_jira_answers_400(as_user: Client) -> None:
    async with as_user("bob@acme.test", "bob-token") as bob:
        response = await bob.post("/rest/api/3/issue/TT-1/worklog", json={"timeSpent": "1h"})
    assert response.status_code == 400
    assert response.json()["errorMessages"][0] == (
        "Bob Builder, you do not have the permission to associate a worklog to this issue."
    )


async def test_own_worklogs_only_without_the_all_grants(jira: httpx.AsyncClient, as_user: Client) -> None:
    admins = (await jira.post("/rest/api/3/issue/TT-1/worklog", json={"timeSpent": "1h"})).json()
    async with as_user("alice@acme.test", "alice-token") as alice:
        own = (await alice.post("/rest/api/3/issue/TT-1/worklog", json={"timeSpent": "1h"})).json()
        edit_other = await alice.put(
            f"/rest/api/3/issue/TT-1/worklog/{admins['id']}", json={"timeSpent": "2h"}
        )
        delete_other = await alice.delete(f"/rest/api/3/issue/TT-1/worklog/{admins['id']}")
        edit_own = await alice.put(f"/rest/api/3/issue/TT-1/worklog/{own['id']}", json={"timeSpent": "2h"})
        delete_own = await alice.delete(f"/rest/api/3/issue/TT-1/worklog/{own['id']}")
    assert edit_other.status_code == 400
    assert edit_other.json()["errorMessages"][0] == (
        "Alice Analyst, you do not have permission to edit the specified worklog."
    )
    assert delete_other.status_code == 400
    assert "delete the specified worklog" in delete_other.json()["errorMessages"][0]
    assert (edit_own.status_code, delete_own.status_code) == (200, 204)
    remaining = (await jira.get("/rest/api/3/issue/TT-1/worklog")).json()
    assert [w["id"] for w in remaining["worklogs"]] == [admins["id"]]


async def test_worklogs_of_a_hidden_project_are_404(as_user: Client) -> None:
    async with as_user("bob@acme.test", "bob-token") as bob:
        response = await bob.get("/rest/api/3/issue/LOCK-1/worklog")
    assert response.status_code == 404


async def test_a_non_editable_status_freezes_worklogs(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    response = await jira.post("/rest/api/3/issue/TT-2/worklog", json={"timeSpent": "1h"})
    assert response.status_code == 400
    assert response.json()["errorMessages"][0] == (
        "You can not edit the issue as it is in a non-editable workflow state."
    )
    # A worklog logged before the issue was closed can be neither changed nor deleted.
    worklog = await _log(jira, "TT-1", H)
    emulator.state.emulator.sites["acme"].issue_by_ref("TT-1").status = "Closed"
    edit = await jira.put(f"/rest/api/3/issue/TT-1/worklog/{worklog['id']}", json={"timeSpent": "2h"})
    delete = await jira.delete(f"/rest/api/3/issue/TT-1/worklog/{worklog['id']}")
    assert (edit.status_code, delete.status_code) == (400, 400)


async def test_list_pages_and_filters_by_start(jira: httpx.AsyncClient) -> None:
    for day in ("01", "02", "03"):
        body = {"timeSpent": "1h", "started": f"2024-03-{day}T09:00:00.000+0000"}
        assert (await jira.post("/rest/api/3/issue/WEB-1/worklog", json=body)).status_code == 201
    page = (await jira.get("/rest/api/3/issue/WEB-1/worklog", params={"startAt": 1, "maxResults": 1})).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 3)
    assert [w["started"][:10] for w in page["worklogs"]] == ["2024-03-02"]
    march_2 = 1709337600000  # 2024-03-02T00:00:00Z
    after = (await jira.get("/rest/api/3/issue/WEB-1/worklog", params={"startedAfter": march_2})).json()
    assert [w["started"][:10] for w in after["worklogs"]] == ["2024-03-02", "2024-03-03"]
    before = (await jira.get("/rest/api/3/issue/WEB-1/worklog", params={"startedBefore": march_2})).json()
    assert [w["started"][:10] for w in before["worklogs"]] == ["2024-03-01"]


async def test_v2_takes_plain_text_and_v3_answers_adf(jira: httpx.AsyncClient) -> None:
    created = await jira.post(
        "/rest/api/2/issue/WEB-1/worklog", json={"timeSpent": "1h", "comment": "Fixed it"}
    )
    assert created.status_code == 201
    assert created.json()["comment"] == "Fixed it"
    v3 = (await jira.get(f"/rest/api/3/issue/WEB-1/worklog/{created.json()['id']}")).json()
    assert v3["comment"]["type"] == "doc"
    assert v3["comment"]["content"][0]["content"][0]["text"] == "Fixed it"
    refused = await jira.post("/rest/api/3/issue/WEB-1/worklog", json={"timeSpent": "1h", "comment": "plain"})
    assert refused.status_code == 400
    assert "comment" in refused.json()["errors"]


async def test_updated_feed_skips_the_last_minute_then_pages_from_since(
    emulator: FastAPI, jira: httpx.AsyncClient
) -> None:
    clock = emulator.state.emulator.clock
    first = await _log(jira, "WEB-1", H)
    clock.advance(5)
    second = await _log(jira, "WEB-1", H)
    fresh = (await jira.get("/rest/api/3/worklog/updated", params={"since": 0})).json()
    assert fresh["values"] == [] and fresh["lastPage"] is True
    clock.advance(61)
    feed = (await jira.get("/rest/api/3/worklog/updated", params={"since": 0})).json()
    assert [v["worklogId"] for v in feed["values"]] == [int(first["id"]), int(second["id"])]
    assert feed["until"] == feed["values"][-1]["updatedTime"]
    assert feed["self"].endswith("/rest/api/3/worklog/updated?since=0")
    later = (
        await jira.get("/rest/api/3/worklog/updated", params={"since": feed["values"][0]["updatedTime"] + 1})
    ).json()
    assert [v["worklogId"] for v in later["values"]] == [int(second["id"])]


async def test_deleted_feed_and_list_by_id(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    keep = await _log(jira, "WEB-1", H)
    drop = await _log(jira, "WEB-1", H)
    assert (await jira.delete(f"/rest/api/3/issue/WEB-1/worklog/{drop['id']}")).status_code == 204
    emulator.state.emulator.clock.advance(61)
    deleted = (await jira.get("/rest/api/3/worklog/deleted", params={"since": 0})).json()
    assert [v["worklogId"] for v in deleted["values"]] == [int(drop["id"])]
    listed = await jira.post("/rest/api/3/worklog/list", json={"ids": [int(keep["id"]), int(drop["id"])]})
    assert [w["id"] for w in listed.json()] == [keep["id"]]
    too_many = await jira.post("/rest/api/3/worklog/list", json={"ids": list(range(1, 1002))})
    assert too_many.status_code == 400
    assert (await jira.post("/rest/api/3/worklog/list", json={"ids": []})).status_code == 400


async def test_worklog_properties_are_set_on_create_and_expanded(jira: httpx.AsyncClient) -> None:
    body = {"timeSpent": "1h", "properties": [{"key": "origin", "value": {"system": "host-1"}}]}
    created = await jira.post("/rest/api/3/issue/WEB-1/worklog", params={"expand": "properties"}, json=body)
    assert created.json()["properties"] == [{"key": "origin", "value": {"system": "host-1"}}]
    plain = (await jira.get(f"/rest/api/3/issue/WEB-1/worklog/{created.json()['id']}")).json()
    assert "properties" not in plain
