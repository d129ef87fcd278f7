"""JQL search through `nextPageToken` pages, `reconcileIssues` against the index lag, bulk fetch."""

from __future__ import annotations

import httpx

from integration.jira.jira_client_support import post_control, task
from jirabridge.jira import JiraClient


async def test_search_pages_through_more_than_a_hundred_issues(client: JiraClient) -> None:
    created: list[str] = []
    for start in range(0, 120, 50):
        batch = [task("DQ", f"anomaly {n:03d}", labels=["bulk"]) for n in range(start, min(start + 50, 120))]
        result = await client.issues.create_bulk(batch)
        assert result.errors == []
        created.extend(i.key for i in result.issues)

    pages = [
        p
        async for p in client.search.pages("project = DQ AND labels = bulk ORDER BY key ASC", max_results=50)
    ]
    assert [len(p.issues) for p in pages] == [50, 50, 20]
    assert pages[-1].next_page_token is None

    found = [
        i async for i in client.search.issues("project = DQ ORDER BY key ASC", fields=["summary", "status"])
    ]
    assert sorted(i.key for i in found) == sorted(created)
    assert len({i.key for i in found}) == 120  # no page repeated an issue
    assert all(i.fields.summary and i.fields.status for i in found)


async def test_reconcile_finds_what_the_index_has_not_seen_yet(
    client: JiraClient, control: httpx.AsyncClient
) -> None:
    await post_control(control, "/_emulator/sites/acme/index-lag", {"seconds": 30})
    created = await client.issues.create(task(labels=["fresh"]))
    plain = [i.key async for i in client.search.issues("labels = fresh")]
    assert plain == []  # Jira's index is eventually consistent
    reconciled = [
        i.key async for i in client.search.issues("labels = fresh", reconcile_issues=[int(created.id)])
    ]
    assert reconciled == [created.key]


async def test_bulk_fetch_leaves_out_what_does_not_exist(client: JiraClient) -> None:
    key = (await client.issues.create(task(summary="exists"))).key
    fetched = await client.issues.bulk_fetch([key, "WEB-9999"], fields=["summary"])
    assert [i.key for i in fetched.issues] == [key]
