"""Issues through the REST API as a Jira user sees them: create, read, edit, transition, assign, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

ADF_HELLO = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}],
}


async def _create(jira: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"project": {"key": "WEB"}, "issuetype": {"name": "Bug"}, "summary": "Checkout fails"} | fields
    response = await jira.post("/rest/api/3/issue", json={"fields": body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_created_issue_reads_back_with_its_fields_in_v3_and_v2(jira: httpx.AsyncClient) -> None:
    created = await _create(
        jira, description=ADF_HELLO, labels=["svc-web", "errors"], priority={"name": "High"}
    )
    assert created["key"] == "WEB-1"
    assert created["self"] == f"https://acme.atlassian.net/rest/api/3/issue/{created['id']}"

    v3 = (await jira.get(f"/rest/api/3/issue/{created['key']}")).json()["fields"]
    assert v3["summary"] == "Checkout fails"
    assert v3["description"] == ADF_HELLO
    assert v3["labels"] == ["svc-web", "errors"]
    assert v3["priority"]["name"] == "High"
    assert v3["status"]["name"] == "To Do"
    assert v3["status"]["statusCategory"]["key"] == "new"
    assert v3["reporter"]["emailAddress"] == "admin@acme.test"
    assert v3["issuetype"]["name"] == "Bug"

    v2 = (await jira.get(f"/rest/api/2/issue/{created['id']}")).json()["fields"]
    assert v2["description"] == "Hello"


async def test_fields_parameter_limits_the_answer(jira: httpx.AsyncClient) -> None:
    created = await _create(jira)
    body = (await jira.get(f"/rest/api/3/issue/{created['key']}", params={"fields": "summary,status"})).json()
    assert set(body["fields"]) == {"summary", "status"}
    body = (await jira.get(f"/rest/api/3/issue/{created['key']}", params={"fields": "*all,-comment"})).json()
    assert "comment" not in body["fields"] and "summary" in body["fields"]


async def test_v3_refuses_a_plain_string_description(jira: httpx.AsyncClient) -> None:
    response = await jira.post(
        "/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"name": "Bug"},
                "summary": "x",
                "description": "plain",
            }
        },
    )
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    assert (await jira.get("/rest/api/3/issue/WEB-1")).status_code == 404  # nothing was written


async def test_required_custom_field_from_create_metadata_is_enforced(jira: httpx.AsyncClient) -> None:
    types = (await jira.get("/rest/api/3/issue/createmeta/SEC/issuetypes")).json()["issueTypes"]
    bug = next(t for t in types if t["name"] == "Bug")
    meta = (await jira.get(f"/rest/api/3/issue/createmeta/SEC/issuetypes/{bug['id']}")).json()["fields"]
    required = {f["fieldId"] for f in meta if f["required"]}
    assert required == {"summary", "issuetype", "project", "customfield_10051"}
    severity = next(f for f in meta if f["fieldId"] == "customfield_10051")
    assert [v["value"] for v in severity["allowedValues"]] == ["Critical", "High", "Medium", "Low"]

    fields = {"project": {"key": "SEC"}, "issuetype": {"id": bug["id"]}, "summary": "SQL injection"}
    missing = await jira.post("/rest/api/3/issue", json={"fields": fields})
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"customfield_10051": "Severity is required."}
    wrong = await jira.post(
        "/rest/api/3/issue", json={"fields": fields | {"customfield_10051": {"value": "Huge"}}}
    )
    assert wrong.status_code == 400 and "customfield_10051" in wrong.json()["errors"]
    ok = await jira.post(
        "/rest/api/3/issue", json={"fields": fields | {"customfield_10051": {"value": "High"}}}
    )
    assert ok.status_code == 201
    stored = (await jira.get(f"/rest/api/3/issue/{ok.json()['key']}")).json()["fields"]["customfield_10051"]
    assert stored["value"] == "High"


async def test_a_field_not_on_the_screen_is_refused(jira: httpx.AsyncClient) -> None:
    response = await jira.post(
        "/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": "WEB"},
                "issuetype": {"name": "Bug"},
                "summary": "x",
                "customfield_10052": "db",
            }
        },
    )
    assert response.status_code == 400
    assert "not on the appropriate screen" in response.json()["errors"]["customfield_10052"]


async def test_bulk_create_reports_failed_elements_and_caps_at_fifty(jira: httpx.AsyncClient) -> None:
    good = {"fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "one"}}
    bad = {"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "two"}}
    response = await jira.post("/rest/api/3/issue/bulk", json={"issueUpdates": [good, bad, good]})
    assert response.status_code == 201
    body = response.json()
    assert [i["key"] for i in body["issues"]] == ["WEB-1", "WEB-2"]
    assert body["errors"][0]["failedElementNumber"] == 1
    too_many = await jira.post("/rest/api/3/issue/bulk", json={"issueUpdates": [good] * 51})
    assert too_many.status_code == 400


async def test_transitions_follow_the_workflow_and_set_the_resolution(jira: httpx.AsyncClient) -> None:
    key = (await _create(jira))["key"]
    available = (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
    assert {t["to"]["name"] for t in available} == {"In Progress", "Won't Do"}
    done = await jira.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": "41"}})
    assert done.status_code == 400  # To Do -> Done is not a transition of this workflow
    start = next(t for t in available if t["to"]["name"] == "In Progress")
    assert (
        await jira.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": start["id"]}})
    ).status_code == 204
    finish = next(
        t
        for t in (await jira.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"]
        if t["to"]["name"] == "Done"
    )
    await jira.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": finish["id"]}})
    issue = (await jira.get(f"/rest/api/3/issue/{key}", params={"expand": "changelog"})).json()
    assert issue["fields"]["status"]["name"] == "Done"
    assert issue["fields"]["resolution"]["name"] == "Done"
    status_changes = [
        (i["fromString"], i["toString"])
        for h in issue["changelog"]["histories"]
        for i in h["items"]
        if i["fieldId"] == "status"
    ]
    assert status_changes == [("To Do", "In Progress"), ("In Progress", "Done")]
    assert all(h["author"]["emailAddress"] == "admin@acme.test" for h in issue["changelog"]["histories"])


async def test_transition_list_is_empty_without_permission(
    jira: httpx.AsyncClient, as_user: Callable[[str, str], httpx.AsyncClient]
) -> None:
    # LOCK lets everyone but its admin only browse.
    created = await jira.post(
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": "LOCK"}, "issuetype": {"name": "Task"}, "summary": "s"}},
    )
    key = created.json()["key"]
    async with as_user("alice@acme.test", "alice-token") as alice:
        assert (await alice.get(f"/rest/api/3/issue/{key}/transitions")).json()["transitions"] == []
        refused = await alice.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": "11"}})
        assert refused.status_code == 403
        edit = await alice.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "mine"}})
        assert edit.status_code == 403
        create = await alice.post(
            "/rest/api/3/issue",
            json={"fields": {"project": {"key": "LOCK"}, "issuetype": {"name": "Task"}, "summary": "s"}},
        )
        assert create.status_code == 403
    assert (await jira.get(f"/rest/api/3/issue/{key}")).json()["fields"]["summary"] == "s"


async def test_edit_with_fields_and_update_verbs_records_the_changelog(jira: httpx.AsyncClient) -> None:
    key = (await _create(jira, labels=["a", "b"]))["key"]
    response = await jira.put(
        f"/rest/api/3/issue/{key}",
        json={
            "fields": {"summary": "Checkout fails on Safari"},
            "update": {"labels": [{"add": "c"}, {"remove": "a"}]},
        },
    )
    assert response.status_code == 204
    issue = (await jira.get(f"/rest/api/3/issue/{key}", params={"expand": "changelog"})).json()
    assert issue["fields"]["summary"] == "Checkout fails on Safari"
    assert issue["fields"]["labels"] == ["b", "c"]
    items = {i["fieldId"]: i for h in issue["changelog"]["histories"] for i in h["items"]}
    assert items["summary"]["toString"] == "Checkout fails on Safari"
    assert items["labels"]["fromString"] == "a b" and items["labels"]["toString"] == "b c"
    refused = await jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"status": {"name": "Done"}}})
    assert refused.status_code == 400


async def test_assign_and_unassign(jira: httpx.AsyncClient) -> None:
    key = (await _create(jira))["key"]
    alice = (await jira.get("/rest/api/3/user/search", params={"query": "alice"})).json()[0]
    assert (
        await jira.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": alice["accountId"]})
    ).status_code == 204
    fields = (await jira.get(f"/rest/api/3/issue/{key}")).json()["fields"]
    assert fields["assignee"]["displayName"] == "Alice Analyst"
    assert (await jira.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": None})).status_code == 204
    assert (await jira.get(f"/rest/api/3/issue/{key}")).json()["fields"]["assignee"] is None
    unknown = await jira.put(f"/rest/api/3/issue/{key}/assignee", json={"accountId": "nobody"})
    assert unknown.status_code == 400


async def test_deleted_issue_is_gone(jira: httpx.AsyncClient) -> None:
    key = (await _create(jira))["key"]
    assert (await jira.delete(f"/rest/api/3/issue/{key}")).status_code == 204
    missing = await jira.get(f"/rest/api/3/issue/{key}")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


async def test_user_search_hides_emails_the_profile_hides(jira: httpx.AsyncClient) -> None:
    bob = (await jira.get("/rest/api/3/user/search", params={"query": "bob"})).json()
    assert [u["displayName"] for u in bob] == ["Bob Builder"]
    assert "emailAddress" not in bob[0]
    alice = (await jira.get("/rest/api/3/user/search", params={"query": "alice@"})).json()
    assert alice[0]["emailAddress"] == "alice@acme.test"
