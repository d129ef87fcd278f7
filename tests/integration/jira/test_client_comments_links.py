"""Comments, remote links and entity properties, each read back after writing."""

from __future__ import annotations

import pytest

from integration.jira.jira_client_support import task
from jirabridge.jira import JiraClient, NotFound, adf


async def test_comments_with_properties(client: JiraClient) -> None:
    key = (await client.issues.create(task())).key
    first = await client.comments.add(
        key, "Status: Fixed\nsee https://host.example/a/1", properties={"jirabridge": {"id": "c-1"}}
    )
    assert adf.to_text(first.body) == "Status: Fixed\nsee https://host.example/a/1"
    edited = await client.comments.edit(
        key, first.id, adf.doc(adf.paragraph("Status: ", adf.code("Reopened")))
    )
    assert edited.id == first.id and adf.to_text(edited.body) == "Status: Reopened"
    await client.comments.add(key, "second")
    listed = await client.comments.list(key, page_size=1)
    assert [adf.to_text(c.body) for c in listed] == ["Status: Reopened", "second"]
    assert (await client.comments.get(key, first.id)).author is not None
    marker = await client.properties.comment(first.id).get("jirabridge")
    assert marker.value == {"id": "c-1"}
    await client.comments.delete(key, first.id)
    assert [c.id for c in await client.comments.list(key)] == [listed[1].id]


async def test_remote_links_upsert_by_global_id(client: JiraClient) -> None:
    key = (await client.issues.create(task())).key
    first = await client.remote_links.upsert(
        key, global_id="jirabridge:an-42", url="https://host.example/an/42", title="an-42"
    )
    second = await client.remote_links.upsert(
        key,
        global_id="jirabridge:an-42",
        url="https://host.example/an/42",
        title="Null rate spike",
        relationship="tracks",
    )
    assert first.id == second.id
    links = await client.remote_links.list(key)
    assert [(link.global_id, link.title, link.relationship) for link in links] == [
        ("jirabridge:an-42", "Null rate spike", "tracks")
    ]
    assert (
        await client.remote_links.get(key, global_id="jirabridge:an-42")
    ).url == "https://host.example/an/42"
    other = await client.remote_links.upsert(
        key, global_id="jirabridge:an-43", url="https://h/43", title="an-43"
    )
    await client.remote_links.delete(key, other.id)
    await client.remote_links.delete_by_global_id(key, "jirabridge:an-42")
    assert await client.remote_links.list(key) == []
    with pytest.raises(NotFound):
        await client.remote_links.get(key, global_id="jirabridge:an-42")


async def test_issue_properties(client: JiraClient) -> None:
    key = (await client.issues.create(task())).key
    props = client.properties.issue(key)
    assert await props.set("jirabridge.link", {"items": ["an-1"]}) is True
    assert await props.set("jirabridge.link", {"items": ["an-1", "an-2"]}) is False
    assert (await props.get("jirabridge.link")).value == {"items": ["an-1", "an-2"]}
    assert await props.keys() == ["jirabridge.link"]
    await props.delete("jirabridge.link")
    with pytest.raises(NotFound):
        await props.get("jirabridge.link")
