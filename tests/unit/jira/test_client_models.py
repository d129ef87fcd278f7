"""Models accept what Jira adds and refuse what we cannot read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import ValidationError

from jirabridge.jira import BasicTokenAuth, Issue, JiraClient, Worklog, jira_datetime


def test_an_issue_keeps_custom_fields_and_ignores_unknown_keys() -> None:
    issue = Issue.model_validate(
        {
            "id": "10001",
            "key": "WEB-1",
            "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
            "expand": "renderedFields",
            "somethingNew": {"x": 1},
            "fields": {
                "summary": "Broken checkout",
                "status": {
                    "id": "3",
                    "name": "In Progress",
                    "statusCategory": {"id": 4, "key": "indeterminate"},
                },
                "updated": "2024-01-15T10:30:00.000+0000",
                "customfield_10050": "production",
            },
        }
    )
    assert issue.fields.summary == "Broken checkout"
    assert issue.fields.status is not None and issue.fields.status.status_category is not None
    assert issue.fields.status.status_category.key == "indeterminate"
    assert issue.fields.updated == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert issue.fields.get("customfield_10050") == "production"
    assert issue.fields.get("labels", []) == []


def test_what_we_read_must_be_there() -> None:
    with pytest.raises(ValidationError):
        Issue.model_validate({"id": "1", "fields": {}})  # no key
    with pytest.raises(ValidationError):
        Worklog.model_validate({"id": "1", "issueId": "2", "started": "not a time", "timeSpentSeconds": 60})


def test_jira_datetime_is_jiras_format_and_needs_a_zone() -> None:
    moment = datetime(2021, 1, 17, 12, 34, 0, 120000, tzinfo=timezone(timedelta(hours=2)))
    assert jira_datetime(moment) == "2021-01-17T12:34:00.120+0200"
    with pytest.raises(ValueError, match="timezone"):
        jira_datetime(datetime(2021, 1, 17, 12, 34))


async def test_bulk_create_refuses_more_than_fifty_before_calling() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no call expected")

    transport = httpx.MockTransport(handler)
    async with JiraClient("https://a.atlassian.net", BasicTokenAuth("a", "b"), transport=transport) as jira:
        with pytest.raises(ValueError, match="1 to 50"):
            await jira.issues.create_bulk([{"summary": str(n)} for n in range(51)])
        with pytest.raises(ValueError, match="new_estimate"):
            await jira.worklogs.delete("WEB-1", "1", adjust_estimate="new")


async def test_paths_are_escaped_and_requests_carry_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"key": "a/b", "value": 1})

    transport = httpx.MockTransport(handler)
    async with JiraClient(
        "https://a.atlassian.net/", BasicTokenAuth("me@x", "tok"), transport=transport
    ) as jira:
        prop = await jira.properties.issue("WEB-1").get("a/b")
    assert prop.value == 1
    assert seen[0].url.raw_path == b"/rest/api/3/issue/WEB-1/properties/a%2Fb"
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert "tok" not in repr(BasicTokenAuth("me@x", "tok"))
