"""Entity properties on issues, comments and worklogs: round trips, 201/200, the size limit,
permissions and the property events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app
from jira_emulator.events import JiraEvent
from jira_emulator.seed import Seed, default_seed

Client = Callable[[str, str], httpx.AsyncClient]


@pytest.fixture
def emulator() -> FastAPI:
    doc = default_seed().model_dump(by_alias=True)
    acme = doc["sites"][0]
    acme["projects"].append(
        {
            "key": "OWN",
            "name": "Own things only",
            "lead": "admin@acme.test",
            "permissions": {
                "*": [
                    "BROWSE_PROJECTS",
                    "ADD_COMMENTS",
                    "EDIT_OWN_COMMENTS",
                    "WORK_ON_ISSUES",
                    "EDIT_OWN_WORKLOGS",
                ]
            },
        }
    )
    acme["issues"] = [{"project": "WEB", "summary": "Props"}, {"project": "OWN", "summary": "Shared"}]
    return create_app(Seed.model_validate(doc))


async def test_issue_property_round_trip(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    seen: list[JiraEvent] = []
    emulator.state.bus.subscribe(seen.append)
    before = (await jira.get("/rest/api/3/issue/WEB-1", params={"fields": "updated"})).json()["fields"][
        "updated"
    ]
    value = {"sync": {"item": "host-7", "version": 3}}
    created = await jira.put("/rest/api/3/issue/WEB-1/properties/jirabridge", json=value)
    assert created.status_code == 201
    updated = await jira.put("/rest/api/3/issue/WEB-1/properties/jirabridge", json=[1, 2])
    assert updated.status_code == 200
    got = (await jira.get("/rest/api/3/issue/WEB-1/properties/jirabridge")).json()
    assert got == {"key": "jirabridge", "value": [1, 2]}
    keys = (await jira.get("/rest/api/3/issue/WEB-1/properties")).json()
    assert keys["keys"][0]["key"] == "jirabridge"
    assert keys["keys"][0]["self"].endswith("/rest/api/3/issue/WEB-1/properties/jirabridge")
    assert (await jira.delete("/rest/api/3/issue/WEB-1/properties/jirabridge")).status_code == 204
    assert (await jira.get("/rest/api/3/issue/WEB-1/properties/jirabridge")).status_code == 404
    assert (await jira.get("/rest/api/3/issue/WEB-1/properties")).json() == {"keys": []}
    assert [(e.name, e.property_key) for e in seen] == [
        ("issue_property_set", "jirabridge"),
        ("issue_property_set", "jirabridge"),
        ("issue_property_deleted", "jirabridge"),
    ]
    after = (await jira.get("/rest/api/3/issue/WEB-1", params={"fields": "updated"})).json()["fields"][
        "updated"
    ]
    assert after == before  # properties do not touch the issue


@pytest.mark.parametrize("value", ["plain text", 42, True, [1, "two"]])
async def test_any_json_value_is_a_property(jira: httpx.AsyncClient, value: Any) -> None:
    assert (await jira.put("/rest/api/2/issue/WEB-1/properties/p", json=value)).status_code == 201
    assert (await jira.get("/rest/api/2/issue/WEB-1/properties/p")).json()["value"] == value


async def test_value_size_limit_is_32768_bytes(jira: httpx.AsyncClient) -> None:
    at_limit = '"' + "a" * 32766 + '"'
    over = '"' + "a" * 32767 + '"'
    headers = {"content-type": "application/json"}
    ok = await jira.put("/rest/api/3/issue/WEB-1/properties/big", content=at_limit, headers=headers)
    assert ok.status_code == 201
    refused = await jira.put("/rest/api/3/issue/WEB-1/properties/big", content=over, headers=headers)
    assert refused.status_code == 400
    assert (await jira.get("/rest/api/3/issue/WEB-1/properties/big")).json()["value"] == "a" * 32766


@pytest.mark.parametrize("body", ["", "{not json"])
async def test_empty_or_malformed_values_are_refused(jira: httpx.AsyncClient, body: str) -> None:
    response = await jira.put(
        "/rest/api/3/issue/WEB-1/properties/p", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert (await jira.get("/rest/api/3/issue/WEB-1/properties")).json() == {"keys": []}


async def test_issue_properties_need_edit_issues(as_user: Client) -> None:
    async with as_user("alice@acme.test", "alice-token") as alice:
        response = await alice.put("/rest/api/3/issue/OWN-1/properties/p", json={"x": 1})
        readable = await alice.get("/rest/api/3/issue/OWN-1/properties")
    assert response.status_code == 403
    assert readable.status_code == 200


async def _comment(client: httpx.AsyncClient, key: str) -> str:
    created = await client.post(f"/rest/api/2/issue/{key}/comment", json={"body": "hello"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_comment_property_round_trip(jira: httpx.AsyncClient) -> None:
    comment_id = await _comment(jira, "WEB-1")
    assert (
        await jira.put(f"/rest/api/3/comment/{comment_id}/properties/k", json={"a": 1})
    ).status_code == 201
    assert (
        await jira.put(f"/rest/api/3/comment/{comment_id}/properties/k", json={"a": 2})
    ).status_code == 200
    got = (await jira.get(f"/rest/api/3/comment/{comment_id}/properties/k")).json()
    assert got == {"key": "k", "value": {"a": 2}}
    keys = (await jira.get(f"/rest/api/3/comment/{comment_id}/properties")).json()["keys"]
    assert [k["key"] for k in keys] == ["k"]
    assert (await jira.delete(f"/rest/api/3/comment/{comment_id}/properties/k")).status_code == 204
    assert (await jira.get(f"/rest/api/3/comment/{comment_id}/properties/k")).status_code == 404
    assert (await jira.get("/rest/api/3/comment/999999/properties")).status_code == 404


async def test_comment_properties_on_others_comments_need_edit_all(
    jira: httpx.AsyncClient, as_user: Client
) -> None:
    admins = await _comment(jira, "OWN-1")
    async with as_user("alice@acme.test", "alice-token") as alice:
        own = await _comment(alice, "OWN-1")
        other = await alice.put(f"/rest/api/3/comment/{admins}/properties/k", json=1)
        mine = await alice.put(f"/rest/api/3/comment/{own}/properties/k", json=1)
    assert (other.status_code, mine.status_code) == (403, 201)


async def test_worklog_property_round_trip_and_permissions(jira: httpx.AsyncClient, as_user: Client) -> None:
    admins = (await jira.post("/rest/api/3/issue/OWN-1/worklog", json={"timeSpent": "1h"})).json()["id"]
    base = f"/rest/api/3/issue/OWN-1/worklog/{admins}/properties"
    assert (await jira.put(f"{base}/origin", json={"host": "h1"})).status_code == 201
    assert (await jira.put(f"{base}/origin", json={"host": "h2"})).status_code == 200
    assert (await jira.get(f"{base}/origin")).json() == {"key": "origin", "value": {"host": "h2"}}
    assert [k["key"] for k in (await jira.get(base)).json()["keys"]] == ["origin"]
    async with as_user("alice@acme.test", "alice-token") as alice:
        refused = await alice.put(f"{base}/origin", json={"host": "alice"})
        readable = await alice.get(f"{base}/origin")
    assert refused.status_code == 403
    assert readable.json()["value"] == {"host": "h2"}
    worklog = (
        await jira.get(f"/rest/api/3/issue/OWN-1/worklog/{admins}", params={"expand": "properties"})
    ).json()
    assert worklog["properties"] == [{"key": "origin", "value": {"host": "h2"}}]
    assert (await jira.delete(f"{base}/origin")).status_code == 204
    assert (await jira.get(f"{base}/origin")).status_code == 404
