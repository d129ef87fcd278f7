"""The client against the emulator: the site, its metadata, and the life of an issue."""

from __future__ import annotations

import pytest

from integration.jira.jira_client_support import MakeClient, task
from jirabridge.jira import (
    Action,
    BadRequest,
    Forbidden,
    JiraClient,
    NotFound,
    Unauthorized,
    adf,
)


async def test_the_site_and_who_we_are(client: JiraClient) -> None:
    info = await client.server_info()
    assert info.deployment_type == "Cloud"
    me = await client.myself()
    assert me.email_address == "admin@acme.test"
    assert (await client.users.get(me.account_id)).display_name == "Ada Admin"
    found = await client.users.search("alice")
    assert [u.email_address for u in found] == ["alice@acme.test"]
    assignable = await client.users.assignable(project="WEB")
    assert me.account_id in {u.account_id for u in assignable}


async def test_projects_and_create_metadata(client: JiraClient) -> None:
    keys = {p.key for p in await client.projects.list()}
    assert {"WEB", "SEC", "DQ"} <= keys
    sec = await client.projects.get("SEC")
    assert sec.issue_types is not None
    bug = next(t for t in sec.issue_types if t.name == "Bug")
    assert {t.name for t in await client.metadata.create_issue_types("SEC")} == {"Bug", "Task"}
    fields = await client.metadata.create_fields("SEC", bug.id)
    severity = next(f for f in fields if f.field_id == "customfield_10051")
    assert severity.required and [v["value"] for v in severity.allowed_values or []][:2] == [
        "Critical",
        "High",
    ]
    assert "customfield_10051" in await client.metadata.required_fields("SEC", bug.id)
    assert next(p.name for p in await client.metadata.priorities()) == "Highest"
    assert "Done" in {s.name for s in await client.metadata.statuses()}
    assert "customfield_10050" in {f.id for f in await client.metadata.fields()}
    per_type = await client.projects.statuses("WEB")
    assert "In Progress" in {s.name for t in per_type for s in t.statuses}


async def test_an_issue_from_creation_to_deletion(client: JiraClient) -> None:
    description = adf.doc(adf.paragraph("See ", adf.link("finding", "https://host.example/f/1")))
    created = await client.issues.create(
        task(summary="Checkout fails", description=description, labels=["jirabridge"]),
        properties={"jirabridge": {"item": "an-42"}},
    )
    issue = await client.issues.get(created.key, properties=["jirabridge"], expand=["changelog"])
    assert issue.fields.summary == "Checkout fails"
    assert issue.fields.labels == ["jirabridge"]
    assert adf.to_text(issue.fields.description) == "See finding (https://host.example/f/1)"
    assert issue.properties == {"jirabridge": {"item": "an-42"}}

    await client.issues.edit(
        created.key, fields={"summary": "Checkout fails on Safari"}, update={"labels": [{"add": "web"}]}
    )
    alice = (await client.users.search("alice"))[0]
    await client.issues.assign(created.key, alice.account_id)
    transitions = await client.issues.transitions(created.key, with_fields=True)
    start = next(t for t in transitions if t.to.name == "In Progress")
    assert start.required_fields() == []
    await client.issues.transition(created.key, start.id)

    issue = await client.issues.get(
        created.key, fields=["summary", "labels", "assignee", "status"], expand=["changelog"]
    )
    assert issue.fields.summary == "Checkout fails on Safari"
    assert issue.fields.labels == ["jirabridge", "web"]
    assert issue.fields.assignee is not None and issue.fields.assignee.account_id == alice.account_id
    assert issue.fields.status is not None and issue.fields.status.name == "In Progress"
    assert issue.changelog is not None
    assert "status" in {i.field_id for h in issue.changelog.histories for i in h.items}

    await client.issues.assign(created.key, None)
    assert (await client.issues.get(created.key, fields=["assignee"])).fields.assignee is None

    await client.issues.delete(created.key)
    with pytest.raises(NotFound):
        await client.issues.get(created.key)
    with pytest.raises(NotFound) as again:
        await client.issues.delete(created.key)
    assert again.value.action is Action.SKIP


async def test_bulk_create_reports_each_refusal_by_position(client: JiraClient) -> None:
    result = await client.issues.create_bulk(
        [task(summary="one"), {"project": {"key": "NOPE"}}, task(summary="three")]
    )
    assert len(result.issues) == 2
    assert [e.failed_element_number for e in result.errors] == [1]
    fetched = await client.issues.bulk_fetch([i.key for i in result.issues], fields=["summary"])
    assert sorted(i.fields.summary or "" for i in fetched.issues) == ["one", "three"]


async def test_a_bulk_create_refused_entirely_lists_every_refusal_instead_of_raising(
    client: JiraClient,
) -> None:
    result = await client.issues.create_bulk([{"project": {"key": "NOPE"}}, task(summary="")])

    assert result.issues == []
    assert [e.failed_element_number for e in result.errors] == [0, 1]
    assert all(e.status == 400 and e.element_errors for e in result.errors)


async def test_a_missing_required_field_names_the_field(client: JiraClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.issues.create({"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "x"})
    assert "customfield_10051" in caught.value.field_errors
    assert caught.value.action is Action.GIVE_UP


async def test_a_plain_string_where_adf_is_expected_is_a_field_error(client: JiraClient) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.issues.create(task(description="not ADF"))
    assert "description" in caught.value.field_errors


async def test_bad_credentials_and_missing_permissions(make_client: MakeClient) -> None:
    async with make_client(token="wrong") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.myself()
    async with make_client("alice@acme.test", "alice-token") as alice:
        with pytest.raises(Forbidden):
            await alice.issues.create(task(project="LOCK"))


async def test_a_transition_with_fields(client: JiraClient) -> None:
    # HELP's "Won't do" (default seed) requires a resolution and a comment.
    key = (await client.issues.create(task(project="HELP"))).key
    wont_do = next(
        t for t in await client.issues.transitions(key, with_fields=True) if t.to.name == "Won't Do"
    )
    assert wont_do.has_screen and sorted(wont_do.required_fields()) == ["comment", "resolution"]
    comment = {"body": adf.from_text("Same as HELP-0")}
    await client.issues.transition(
        key, wont_do.id, fields={"resolution": {"name": "Duplicate"}}, update={"comment": [{"add": comment}]}
    )
    issue = await client.issues.get(key, fields=["status", "resolution"])
    assert issue.fields.status is not None and issue.fields.status.name == "Won't Do"
    assert issue.fields.get("resolution", {}).get("name") == "Duplicate"
