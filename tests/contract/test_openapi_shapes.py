"""Real emulator responses, endpoint family by endpoint family, validated against Atlassian's OpenAPI
description of Jira Cloud (see openapi_check.py for what is checked and what is assumed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from contract.openapi_check import SPEC_PATH, ContractViolation, OpenApiChecker, load_checker

pytestmark = pytest.mark.contract

ADF_TEXT = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Checkout fails on Safari"}]}],
}
UserFactory = Callable[..., httpx.AsyncClient]


def _fake(status: int, body: Any, method: str, url: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, request=httpx.Request(method, url))


# ---- the checker itself ---------------------------------------------------------------------------


def test_checker_accepts_a_known_good_server_info(openapi: OpenApiChecker) -> None:
    good = {
        "baseUrl": "https://acme.atlassian.net",
        "version": "1001.0.0",
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100285,
        "buildDate": "2025-12-01T00:00:00.000+0000",
        "serverTime": "2025-12-01T10:30:00.000+0000",
        "scmInfo": "abc",
        "serverTitle": "Jira",
    }
    url = "https://acme.atlassian.net/rest/api/3/serverInfo"
    assert openapi.check(_fake(200, good, "GET", url)) == good


def test_checker_names_path_field_expected_and_got_for_a_bad_body(openapi: OpenApiChecker) -> None:
    bad = {"baseUrl": "https://acme.atlassian.net", "versionNumbers": ["1001"], "serverTime": "yesterday"}
    url = "https://acme.atlassian.net/rest/api/3/serverInfo"
    with pytest.raises(ContractViolation) as caught:
        openapi.check(_fake(200, bad, "GET", url))
    message = str(caught.value)
    assert "GET /rest/api/3/serverInfo → 200" in message
    assert "$.versionNumbers[0]" in message
    assert "expected type='integer', got '1001'" in message
    assert "$.serverTime" in message


def test_checker_rejects_properties_the_spec_forbids(openapi: OpenApiChecker) -> None:
    url = "https://acme.atlassian.net/rest/api/3/issue/WEB-1/remotelink/1"
    body = {"id": 1, "self": "x", "object": {"url": "https://x", "title": "x"}, "invented": True}
    with pytest.raises(ContractViolation, match="'invented' was unexpected"):
        openapi.check(_fake(200, body, "GET", url))


def test_checker_checks_issue_fields_the_spec_leaves_free_form(openapi: OpenApiChecker) -> None:
    issue = {"id": "10000", "key": "WEB-1", "fields": {"status": {"name": 7}, "assignee": None}}
    url = "https://acme.atlassian.net/rest/api/3/issue/WEB-1"
    with pytest.raises(ContractViolation, match=r"\$\.fields\.status\.name: 7 is not of type 'string'"):
        openapi.check(_fake(200, issue, "GET", url))


def test_checker_holds_undocumented_errors_to_jiras_error_collection(openapi: OpenApiChecker) -> None:
    url = "https://acme.atlassian.net/rest/api/3/issue/WEB-404"
    openapi.check(_fake(404, {"errorMessages": ["Issue does not exist"], "errors": {}}, "GET", url))
    with pytest.raises(ContractViolation, match="'detail' was unexpected"):
        openapi.check(_fake(404, {"detail": "Not Found"}, "GET", url))
    with pytest.raises(ContractViolation, match="status 418 is not documented"):
        openapi.check(_fake(418, {}, "GET", url))
    with pytest.raises(ContractViolation, match="a 204 must have no body"):
        openapi.check(_fake(204, {"ok": True}, "DELETE", url))


def test_checker_maps_site_prefixes_and_v2_to_the_v3_template(openapi: OpenApiChecker) -> None:
    assert openapi.template_for("/sites/globex/rest/api/2/issue/OPS-1") == "/rest/api/3/issue/{issueIdOrKey}"
    assert (
        openapi.template_for("/rest/api/3/issue/createmeta/WEB/issuetypes/10001")
        == "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"
    )
    assert openapi.template_for("/rest/api/3/issue/bulkfetch") == "/rest/api/3/issue/bulkfetch"


def test_every_known_spec_gap_is_proven_by_atlassians_own_example(openapi: OpenApiChecker) -> None:
    unpatched = load_checker(SPEC_PATH, patched=False)
    for gap in openapi.gaps:
        template, method, status = gap.evidence
        example = json.dumps(openapi.example(template, method, status)).encode()
        before = unpatched.errors(template, method, int(status), example)
        after = openapi.errors(template, method, int(status), example)
        assert len(after) < len(before), f"{gap.pointer}: Atlassian's example does not need this gap"


# ---- server, users, projects, metadata -----------------------------------------------------------


async def test_server_info_and_myself(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    for version in (2, 3):
        info = openapi.check(await jira.get(f"/rest/api/{version}/serverInfo"))
        assert info["deploymentType"] == "Cloud"
    me = openapi.check(await jira.get("/rest/api/3/myself"))
    assert me["emailAddress"] == "admin@acme.test"


async def test_user_search(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    users = openapi.check(await jira.get("/rest/api/3/user/search", params={"query": "alice"}))
    assert [u["displayName"] for u in users] == ["Alice Analyst"]
    one = openapi.check(await jira.get("/rest/api/3/user", params={"accountId": users[0]["accountId"]}))
    assert one["accountId"] == users[0]["accountId"]


async def test_project_and_project_search(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    project = openapi.check(await jira.get("/rest/api/3/project/WEB", params={"expand": "issueTypes,lead"}))
    assert project["key"] == "WEB"
    assert {it["name"] for it in project["issueTypes"]} >= {"Task", "Bug"}
    page = openapi.check(await jira.get("/rest/api/3/project/search", params={"maxResults": 2}))
    assert len(page["values"]) == 2
    assert page["isLast"] is False


async def test_issue_types(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    types = openapi.check(await jira.get("/rest/api/3/issuetype"))
    assert "Task" in {t["name"] for t in types}
    project = (await jira.get("/rest/api/3/project/WEB")).json()
    scoped = openapi.check(
        await jira.get("/rest/api/3/issuetype/project", params={"projectId": project["id"]})
    )
    assert {t["name"] for t in scoped} == {"Task", "Bug", "Story"}


async def test_createmeta(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    page = openapi.check(await jira.get("/rest/api/3/issue/createmeta/DQ/issuetypes"))
    bug = next(t for t in page["issueTypes"] if t["name"] == "Bug")
    fields = openapi.check(await jira.get(f"/rest/api/3/issue/createmeta/DQ/issuetypes/{bug['id']}"))
    required = {f["fieldId"] for f in fields["fields"] if f["required"]}
    assert "customfield_10052" in required
    assert "summary" in required


async def test_priorities_statuses_fields(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    priorities = openapi.check(await jira.get("/rest/api/3/priority"))
    assert [p["name"] for p in priorities][:2] == ["Highest", "High"]
    openapi.check(await jira.get("/rest/api/3/priority/search"))
    statuses = openapi.check(await jira.get("/rest/api/3/status"))
    assert "In Progress" in {s["name"] for s in statuses}
    by_type = openapi.check(await jira.get("/rest/api/3/project/WEB/statuses"))
    assert {s["name"] for s in by_type[0]["statuses"]} >= {"To Do", "Done"}
    fields = openapi.check(await jira.get("/rest/api/3/field"))
    assert {"summary", "customfield_10051"} <= {f["id"] for f in fields}


# ---- issues and what hangs off them --------------------------------------------------------------


async def _create(jira: httpx.AsyncClient, openapi: OpenApiChecker, **extra: Any) -> dict[str, Any]:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Bug"}, "summary": "Checkout fails", **extra}
    created: dict[str, Any] = openapi.check(await jira.post("/rest/api/3/issue", json={"fields": fields}))
    return created


async def test_issue_create_get_edit(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    created = await _create(jira, openapi, description=ADF_TEXT, labels=["web"], priority={"name": "High"})
    assert created["key"].startswith("WEB-")
    edit = await jira.put(
        f"/rest/api/3/issue/{created['key']}", json={"fields": {"summary": "Checkout broken"}}
    )
    openapi.check(edit)
    assert edit.status_code == 204
    issue = openapi.check(
        await jira.get(f"/rest/api/3/issue/{created['key']}", params={"expand": "changelog,transitions"})
    )
    assert issue["fields"]["summary"] == "Checkout broken"
    assert issue["fields"]["priority"]["name"] == "High"
    assert issue["changelog"]["histories"][0]["items"][0]["fieldId"] == "summary"
    assert "Start progress" in {t["name"] for t in issue["transitions"]}


async def test_transitions_and_assignee(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    key = (await _create(jira, openapi))["key"]
    listed = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/transitions"))
    start = next(t for t in listed["transitions"] if t["to"]["name"] == "In Progress")
    moved = await jira.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": start["id"]}})
    openapi.check(moved)
    alice = (await jira.get("/rest/api/3/user/search", params={"query": "alice"})).json()[0]
    assigned = await jira.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": alice["accountId"]})
    openapi.check(assigned)
    issue = openapi.check(await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "status,assignee"}))
    assert issue["fields"]["status"]["name"] == "In Progress"
    assert issue["fields"]["assignee"]["accountId"] == alice["accountId"]


async def test_transition_screens(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    # HELP's workflow (default seed) puts screens on its transitions: Done requires a resolution.
    key = (await _create(jira, openapi, project={"key": "HELP"}, issuetype={"name": "Task"}))["key"]
    url = f"/rest/api/3/issue/{key}/transitions"
    start = next(t for t in (await jira.get(url)).json()["transitions"] if t["to"]["name"] == "In Progress")
    openapi.check(await jira.post(url, json={"transition": {"id": start["id"]}}))
    listed = openapi.check(await jira.get(url, params={"expand": "transitions.fields"}))
    done = next(t for t in listed["transitions"] if t["to"]["name"] == "Done")
    assert done["hasScreen"] is True and done["fields"]["resolution"]["required"] is True
    issue = openapi.check(await jira.get(f"/rest/api/3/issue/{key}", params={"expand": "transitions.fields"}))
    assert "resolution" in next(t for t in issue["transitions"] if t["to"]["name"] == "Done")["fields"]
    refused = await jira.post(url, json={"transition": {"id": done["id"]}})
    assert refused.status_code == 400
    assert openapi.check(refused)["errors"] == {"resolution": "Resolution is required."}
    moved = await jira.post(
        url, json={"transition": {"id": done["id"]}, "fields": {"resolution": {"name": "Done"}}}
    )
    openapi.check(moved)
    assert moved.status_code == 204


async def test_comments(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    key = (await _create(jira, openapi))["key"]
    comment = openapi.check(await jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": ADF_TEXT}))
    page = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/comment"))
    assert [c["id"] for c in page["comments"]] == [comment["id"]]
    edited = {**ADF_TEXT, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Fixed"}]}]}
    url = f"/rest/api/3/issue/{key}/comment/{comment['id']}"
    updated = openapi.check(await jira.put(url, json={"body": edited}))
    assert updated["body"] == edited
    v2 = openapi.check(await jira.get(f"/rest/api/2/issue/{key}/comment/{comment['id']}"))
    assert v2["body"] == "Fixed"


async def test_worklogs(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    key = (await _create(jira, openapi, timetracking={"originalEstimate": "1d"}))["key"]
    body = {"timeSpentSeconds": 3600, "started": "2025-11-20T09:00:00.000+0000", "comment": ADF_TEXT}
    worklog = openapi.check(await jira.post(f"/rest/api/3/issue/{key}/worklog", json=body))
    assert worklog["timeSpentSeconds"] == 3600
    page = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/worklog"))
    assert page["total"] == 1
    issue = openapi.check(await jira.get(f"/rest/api/3/issue/{key}", params={"fields": "timetracking"}))
    assert issue["fields"]["timetracking"]["remainingEstimateSeconds"] == 7 * 3600
    too_short = await jira.post(f"/rest/api/3/issue/{key}/worklog", json={**body, "timeSpentSeconds": 30})
    openapi.check(too_short)
    assert too_short.status_code == 400


async def test_remote_links(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    key = (await _create(jira, openapi))["key"]
    link = {"globalId": "shop:order-1", "object": {"url": "https://shop.test/o/1", "title": "Order 1"}}
    created = openapi.check(await jira.post(f"/rest/api/3/issue/{key}/remotelink", json=link))
    again = {**link, "object": {"url": "https://shop.test/o/1", "title": "Order 1 (paid)"}}
    upserted = openapi.check(await jira.post(f"/rest/api/3/issue/{key}/remotelink", json=again))
    assert upserted["id"] == created["id"]
    links = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/remotelink"))
    assert [item["object"]["title"] for item in links] == ["Order 1 (paid)"]
    one = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/remotelink/{created['id']}"))
    assert one["globalId"] == "shop:order-1"


async def test_issue_properties(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    key = (await _create(jira, openapi))["key"]
    put = await jira.put(f"/rest/api/3/issue/{key}/properties/jirabridge", json={"item": "A-1"})
    openapi.check(put)
    assert put.status_code == 201
    keys = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/properties"))
    assert [k["key"] for k in keys["keys"]] == ["jirabridge"]
    prop = openapi.check(await jira.get(f"/rest/api/3/issue/{key}/properties/jirabridge"))
    assert prop["value"] == {"item": "A-1"}


async def test_search_jql_and_bulkfetch(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    keys = [(await _create(jira, openapi))["key"] for _ in range(3)]
    params = {"jql": "project = WEB ORDER BY key ASC", "maxResults": 2, "fields": "summary,status"}
    first = openapi.check(await jira.get("/rest/api/3/search/jql", params=params))
    assert len(first["issues"]) == 2
    rest = openapi.check(
        await jira.post(
            "/rest/api/3/search/jql",
            json={**params, "fields": ["summary"], "nextPageToken": first["nextPageToken"]},
        )
    )
    assert "nextPageToken" not in rest
    assert [i["key"] for i in first["issues"] + rest["issues"]] == keys
    fetched = openapi.check(
        await jira.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": keys, "fields": ["summary"]})
    )
    assert sorted(i["key"] for i in fetched["issues"]) == sorted(keys)


async def test_dynamic_webhooks_list(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    # Basic auth is not an OAuth app: Jira lists no dynamic webhooks for it, or refuses.
    response = await jira.get("/rest/api/3/webhook")
    openapi.check(response)


# ---- error bodies --------------------------------------------------------------------------------


async def test_error_400_missing_summary(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}}
    response = await jira.post("/rest/api/3/issue", json={"fields": fields})
    body = openapi.check(response)
    assert response.status_code == 400
    assert "summary" in body["errors"]


async def test_error_400_plain_string_description_on_v3(
    jira: httpx.AsyncClient, openapi: OpenApiChecker
) -> None:
    fields = {
        "project": {"key": "WEB"},
        "issuetype": {"name": "Task"},
        "summary": "s",
        "description": "plain",
    }
    response = await jira.post("/rest/api/3/issue", json={"fields": fields})
    body = openapi.check(response)
    assert response.status_code == 400
    assert "description" in body["errors"]


async def test_error_401_bad_token(as_user: UserFactory, openapi: OpenApiChecker) -> None:
    async with as_user("admin@acme.test", "wrong-token") as client:
        response = await client.get("/rest/api/3/issue/WEB-1")
    body = openapi.check(response)
    assert response.status_code == 401
    assert body["errorMessages"]


async def test_error_403_no_permission(as_user: UserFactory, openapi: OpenApiChecker) -> None:
    fields = {"project": {"key": "LOCK"}, "issuetype": {"name": "Task"}, "summary": "Not allowed"}
    async with as_user("alice@acme.test", "alice-token") as client:
        response = await client.post("/rest/api/3/issue", json={"fields": fields})
    body = openapi.check(response)
    assert response.status_code == 403
    assert body["errorMessages"]


async def test_error_404_missing_issue(jira: httpx.AsyncClient, openapi: OpenApiChecker) -> None:
    response = await jira.get("/rest/api/3/issue/WEB-9999")
    body = openapi.check(response)
    assert response.status_code == 404
    assert body["errorMessages"] == ["Issue does not exist or you do not have permission to see it."]
