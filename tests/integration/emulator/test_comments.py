"""Comments through the REST API: ADF on v3, text on v2, authorship and permissions."""

from __future__ import annotations

from collections.abc import Callable

import httpx


def _adf(text: str) -> dict[str, object]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


async def _issue(jira: httpx.AsyncClient, project: str = "WEB") -> str:
    created = await jira.post(
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "s"}},
    )
    return str(created.json()["key"])


async def test_comment_lifecycle(jira: httpx.AsyncClient) -> None:
    key = await _issue(jira)
    created = await jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": _adf("First")})
    assert created.status_code == 201
    comment = created.json()
    assert comment["author"]["emailAddress"] == "admin@acme.test"
    assert comment["body"] == _adf("First")

    edited = await jira.put(f"/rest/api/3/issue/{key}/comment/{comment['id']}", json={"body": _adf("Edited")})
    assert edited.status_code == 200 and edited.json()["id"] == comment["id"]

    v2 = (await jira.get(f"/rest/api/2/issue/{key}/comment")).json()
    assert [c["body"] for c in v2["comments"]] == ["Edited"]
    assert (await jira.post(f"/rest/api/2/issue/{key}/comment", json={"body": "From v2"})).status_code == 201
    v3 = (await jira.get(f"/rest/api/3/issue/{key}/comment")).json()
    assert v3["total"] == 2 and v3["comments"][1]["body"] == _adf("From v2")

    assert (await jira.delete(f"/rest/api/3/issue/{key}/comment/{comment['id']}")).status_code == 204
    assert (await jira.get(f"/rest/api/3/issue/{key}/comment/{comment['id']}")).status_code == 404


async def test_empty_or_malformed_comment_is_refused(jira: httpx.AsyncClient) -> None:
    key = await _issue(jira)
    assert (
        await jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": "plain text"})
    ).status_code == 400
    assert (
        await jira.post(
            f"/rest/api/3/issue/{key}/comment", json={"body": {"type": "doc", "version": 1, "content": []}}
        )
    ).status_code == 400
    assert (await jira.get(f"/rest/api/3/issue/{key}/comment")).json()["total"] == 0


async def test_only_permitted_users_edit_others_comments(
    jira: httpx.AsyncClient, as_user: Callable[[str, str], httpx.AsyncClient]
) -> None:
    key = await _issue(jira, "LOCK")
    comment = (await jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": _adf("Admin's")})).json()
    async with as_user("alice@acme.test", "alice-token") as alice:
        assert (
            await alice.post(f"/rest/api/3/issue/{key}/comment", json={"body": _adf("hi")})
        ).status_code == 403
        refused = await alice.put(
            f"/rest/api/3/issue/{key}/comment/{comment['id']}", json={"body": _adf("x")}
        )
        assert refused.status_code == 403
        assert (await alice.get(f"/rest/api/3/issue/{key}/comment/{comment['id']}")).json()["body"] == _adf(
            "Admin's"
        )


async def test_comment_properties_are_set_on_create_and_shown_with_expand(jira: httpx.AsyncClient) -> None:
    key = await _issue(jira)
    body = {"body": _adf("marked"), "properties": [{"key": "jirabridge", "value": {"op": "op_1"}}]}
    created = (await jira.post(f"/rest/api/3/issue/{key}/comment", json=body)).json()
    assert "properties" not in created
    listed = (await jira.get(f"/rest/api/3/issue/{key}/comment", params={"expand": "properties"})).json()
    assert listed["comments"][0]["properties"] == [{"key": "jirabridge", "value": {"op": "op_1"}}]
    one = (
        await jira.get(f"/rest/api/3/issue/{key}/comment/{created['id']}", params={"expand": "properties"})
    ).json()
    assert one["properties"] == [{"key": "jirabridge", "value": {"op": "op_1"}}]
