"""Issue search over HTTP as a Jira Cloud client sees it: `/search/jql` paging with `nextPageToken`,
field selection, the eventually consistent index and `reconcileIssues`, permissions, bulk fetch,
approximate count, and the retired classic `/search`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app
from jira_emulator.seed import Seed, default_seed

ACME = "https://acme.atlassian.net"
SEARCH = "/rest/api/3/search/jql"


def _app(issues: list[dict[str, Any]], *, index_lag_s: float = 0.0) -> FastAPI:
    seed = default_seed().model_dump(by_alias=True)
    acme = seed["sites"][0]
    acme["index_lag_s"] = index_lag_s
    acme["projects"].append(
        {
            "key": "HID",
            "name": "Hidden",
            "lead": "admin@acme.test",
            "permissions": {"admin@acme.test": ["BROWSE_PROJECTS"]},
        }
    )
    acme["issues"] = issues
    return create_app(Seed.model_validate(seed))


@pytest.fixture
def emulator() -> FastAPI:
    web = [{"project": "WEB", "summary": f"Web issue {n}", "labels": ["bulk"]} for n in range(120)]
    others = [
        {"project": "HID", "summary": "Secret", "labels": ["bulk"]},
        {"project": "DQ", "summary": "Stale rows", "description": "Rows are stale", "labels": ["dq"]},
    ]
    return _app(web + others)


@pytest.fixture
async def lagging() -> AsyncIterator[httpx.AsyncClient]:
    """A site whose index lags 5 s behind, as Ada."""
    app = _app([{"project": "WEB", "summary": "Seeded checkout bug"}], index_lag_s=5)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ACME, auth=("admin@acme.test", "admin-token")
    ) as client:
        yield client


async def _search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_pages_follow_next_page_token_until_the_last_page(jira: httpx.AsyncClient) -> None:
    seen: list[str] = []
    pages = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"jql": "project = WEB ORDER BY key", "maxResults": 50}
        if token:
            params["nextPageToken"] = token
        page = await _search(jira, **params)
        pages.append(page)
        seen += [i["id"] for i in page["issues"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert [len(p["issues"]) for p in pages] == [50, 50, 20]
    assert [p["isLast"] for p in pages] == [False, False, True]
    assert "nextPageToken" not in pages[-1] and all("total" not in p for p in pages)
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen, key=int)  # ORDER BY key: WEB-1 ... WEB-120


async def test_post_search_pages_the_same_way(jira: httpx.AsyncClient) -> None:
    first = (
        await jira.post(SEARCH, json={"jql": "labels = bulk", "maxResults": 100, "fields": ["key"]})
    ).json()
    assert len(first["issues"]) == 100 and first["isLast"] is False
    body = {
        "jql": "labels = bulk",
        "maxResults": 100,
        "fields": ["key"],
        "nextPageToken": first["nextPageToken"],
    }
    second = (await jira.post(SEARCH, json=body)).json()
    assert len(second["issues"]) == 21 and second["isLast"] is True  # 120 WEB + 1 HID (Ada may browse it)
    assert not {i["key"] for i in first["issues"]} & {i["key"] for i in second["issues"]}


async def test_page_size_is_capped_by_what_is_asked_for(jira: httpx.AsyncClient) -> None:
    ids_only = await _search(jira, jql="labels = bulk", maxResults=500)
    with_fields = await _search(jira, jql="labels = bulk", maxResults=500, fields="summary")
    default = await _search(jira, jql="labels = bulk")
    assert (len(ids_only["issues"]), len(with_fields["issues"]), len(default["issues"])) == (121, 100, 50)


async def test_a_token_from_another_query_is_refused(jira: httpx.AsyncClient) -> None:
    token = (await _search(jira, jql="project = WEB", maxResults=10))["nextPageToken"]
    response = await jira.get(SEARCH, params={"jql": "project = DQ", "nextPageToken": token})
    assert response.status_code == 400
    assert (
        await jira.get(SEARCH, params={"jql": "project = WEB", "nextPageToken": "junk"})
    ).status_code == 400


async def test_issues_carry_only_their_id_unless_fields_are_asked_for(jira: httpx.AsyncClient) -> None:
    bare = await _search(jira, jql="project = DQ")
    assert bare["issues"] == [{"id": bare["issues"][0]["id"]}]

    # Repeated `fields` parameters, as the `jira` client sends them, and comma-separated lists.
    response = await jira.get(
        SEARCH, params=[("jql", "project = DQ"), ("fields", "summary"), ("fields", "status,labels")]
    )
    issue = response.json()["issues"][0]
    assert issue["key"] == "DQ-1"
    assert issue["self"] == f"{ACME}/rest/api/3/issue/{issue['id']}"
    assert set(issue["fields"]) == {"summary", "status", "labels"}
    assert issue["fields"]["status"]["name"] == "To Do"

    everything = (await _search(jira, jql="project = DQ", fields="*all,-comment"))["issues"][0]["fields"]
    assert "comment" not in everything and "worklog" in everything and "customfield_10050" in everything

    v2 = (
        await jira.get("/rest/api/2/search/jql", params={"jql": "project = DQ", "fields": "description"})
    ).json()
    assert v2["issues"][0]["fields"]["description"] == "Rows are stale"
    v3 = await _search(jira, jql="project = DQ", fields="description", expand="names")
    assert v3["issues"][0]["fields"]["description"]["type"] == "doc"
    assert v3["names"] == {"description": "Description"}


async def test_results_only_include_projects_the_caller_may_browse(
    jira: httpx.AsyncClient, as_user: Callable[[str, str], httpx.AsyncClient]
) -> None:
    async with as_user("bob@acme.test", "bob-token") as bob:
        bobs = await _search(bob, jql="labels = bulk", fields="key", maxResults=200)
        hidden = await bob.get(SEARCH, params={"jql": "project = HID"})
        count = (await bob.post("/rest/api/3/search/approximate-count", json={"jql": "labels = bulk"})).json()
    adas = await _search(jira, jql="labels = bulk", fields="key", maxResults=200)
    assert "HID-1" not in {i["key"] for i in bobs["issues"]} and len(bobs["issues"]) == 120
    assert "HID-1" in {i["key"] for i in adas["issues"]}
    assert hidden.status_code == 400
    assert hidden.json()["errorMessages"] == ["The value 'HID' does not exist for the field 'project'."]
    assert count == {"count": 120}


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = WEB AND", "Error in the JQL Query: Expecting a field name but got the end of the query."),
        ("nosuchfield = 1", "Field 'nosuchfield' does not exist or you do not have permission to view it."),
        (
            "ORDER BY key DESC",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        ("", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
    ],
)
async def test_bad_jql_answers_400_with_jiras_message(
    jira: httpx.AsyncClient, jql: str, message: str
) -> None:
    for response in (await jira.get(SEARCH, params={"jql": jql}), await jira.post(SEARCH, json={"jql": jql})):
        assert response.status_code == 400
        assert response.json() == {"errorMessages": [message], "errors": {}}


@pytest.mark.parametrize("path", ["/rest/api/3/search", "/rest/api/2/search"])
async def test_the_classic_search_is_gone(jira: httpx.AsyncClient, path: str) -> None:
    for response in (await jira.get(path, params={"jql": "project = WEB"}), await jira.post(path, json={})):
        assert response.status_code == 410
        assert "Please migrate to the /rest/api/3/search/jql API" in response.json()["errorMessages"][0]


async def _create(client: httpx.AsyncClient, summary: str) -> str:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}
    response = await client.post("/rest/api/3/issue", json={"fields": fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _keys(client: httpx.AsyncClient, jql: str, **params: Any) -> list[str]:
    page = await _search(client, jql=jql, fields="key,summary", **params)
    return sorted(i["key"] for i in page["issues"])


async def _advance(client: httpx.AsyncClient, seconds: float) -> None:
    assert (await client.post("/_emulator/clock", json={"advance_s": seconds})).status_code == 200


async def test_seeded_issues_are_searchable_at_once(lagging: httpx.AsyncClient) -> None:
    assert await _keys(lagging, "project = WEB") == ["WEB-1"]


async def test_a_new_issue_is_found_only_after_the_index_lag(lagging: httpx.AsyncClient) -> None:
    new_id = await _create(lagging, "Fresh bug")
    assert await _keys(lagging, "summary ~ fresh") == []
    # reconcileIssues gives read-your-writes for the ids named, GET (repeated) or POST.
    assert await _keys(lagging, "summary ~ fresh", reconcileIssues=new_id) == ["WEB-2"]
    posted = await lagging.post(SEARCH, json={"jql": "summary ~ fresh", "reconcileIssues": [int(new_id)]})
    assert [i["id"] for i in posted.json()["issues"]] == [new_id]
    await _advance(lagging, 3)  # 2 s of margin: a loaded machine's own seconds also count
    assert await _keys(lagging, "summary ~ fresh") == []
    await _advance(lagging, 2.5)
    assert await _keys(lagging, "summary ~ fresh") == ["WEB-2"]


async def test_an_edit_shows_the_old_state_until_the_lag_passes(lagging: httpx.AsyncClient) -> None:
    response = await lagging.put(
        "/rest/api/3/issue/WEB-1", json={"fields": {"summary": "Renamed payment bug"}}
    )
    assert response.status_code == 204, response.text
    assert await _keys(lagging, "summary ~ payment") == []
    stale = await _search(lagging, jql="summary ~ checkout", fields="summary")
    assert stale["issues"][0]["fields"]["summary"] == "Seeded checkout bug"  # search shows what it indexed
    reconciled = await _search(
        lagging, jql="summary ~ payment", fields="summary", reconcileIssues=stale["issues"][0]["id"]
    )
    assert reconciled["issues"][0]["fields"]["summary"] == "Renamed payment bug"
    await _advance(lagging, 5)
    assert await _keys(lagging, "summary ~ payment") == ["WEB-1"]
    assert await _keys(lagging, "summary ~ checkout") == []


async def test_a_deleted_issue_stays_findable_until_the_lag_passes(lagging: httpx.AsyncClient) -> None:
    issue_id = (await _search(lagging, jql="key = WEB-1"))["issues"][0]["id"]
    assert (await lagging.delete("/rest/api/3/issue/WEB-1")).status_code == 204
    assert await _keys(lagging, "project = WEB") == ["WEB-1"]
    assert await _keys(lagging, "project = WEB", reconcileIssues=issue_id) == []
    await _advance(lagging, 5)
    assert await _keys(lagging, "project = WEB") == []


async def test_reconcile_accepts_at_most_50_ids(jira: httpx.AsyncClient) -> None:
    response = await jira.post(SEARCH, json={"jql": "project = WEB", "reconcileIssues": list(range(1, 52))})
    assert response.status_code == 400


async def test_bulk_fetch_returns_visible_issues_in_id_order(
    jira: httpx.AsyncClient, as_user: Callable[[str, str], httpx.AsyncClient]
) -> None:
    body = {"issueIdsOrKeys": ["DQ-1", "web-2", "WEB-1", "NOPE-9", "HID-1"], "fields": ["summary"]}
    async with as_user("bob@acme.test", "bob-token") as bob:
        result = (await bob.post("/rest/api/3/issue/bulkfetch", json=body)).json()
    assert [i["key"] for i in result["issues"]] == ["WEB-1", "WEB-2", "DQ-1"]
    assert result["issues"][0]["fields"] == {"summary": "Web issue 0"}
    assert result["issueErrors"] == []
    too_many = await jira.post(
        "/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": [f"WEB-{n}" for n in range(101)]}
    )
    assert too_many.status_code == 400
    assert (await jira.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": []})).status_code == 400


async def test_approximate_count_counts_matches(jira: httpx.AsyncClient) -> None:
    response = await jira.post(
        "/rest/api/3/search/approximate-count", json={"jql": 'project = WEB AND summary ~ "11*"'}
    )
    assert response.json() == {"count": 11}  # Web issue 11, 110..119
    bad = await jira.post("/rest/api/3/search/approximate-count", json={"jql": "order by key"})
    assert bad.status_code == 400
