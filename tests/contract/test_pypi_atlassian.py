"""`atlassian-python-api` (`atlassian.Jira`, cloud=True) against the emulator over loopback, used the
way its users use it. The class speaks REST v2 (plain-text rich fields) except `enhanced_jql` (v3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from atlassian import Jira
from requests import HTTPError

from contract.loopback import Loopback

pytestmark = pytest.mark.contract

STARTED = "2025-11-20T09:00:00.000+0000"


@pytest.fixture
def jira(loopback: Loopback) -> Iterator[Jira]:
    client = Jira(url=loopback.url, username="admin@acme.test", password="admin-token", cloud=True)
    yield client
    client.close()


def _create(jira: Jira, summary: str = "Refund stuck", **fields: Any) -> str:
    created = jira.create_issue(
        fields={
            "project": {"key": "WEB"},
            "issuetype": {"name": "Bug"},
            "summary": summary,
            "priority": {"name": "Low"},
            "labels": ["payments"],
            **fields,
        }
    )
    assert created["self"].endswith(f"/rest/api/2/issue/{created['id']}")
    return str(created["key"])


def test_create_issue_and_read_it(jira: Jira) -> None:
    key = _create(jira, description="Since Tuesday")
    issue = jira.issue(key)
    assert issue["key"] == key
    assert issue["fields"]["summary"] == "Refund stuck"
    assert issue["fields"]["priority"]["name"] == "Low"
    assert issue["fields"]["labels"] == ["payments"]
    assert issue["fields"]["description"] == "Since Tuesday"
    only = jira.issue(key, fields="status,summary")
    assert set(only["fields"]) == {"status", "summary"}


def test_update_issue_field(jira: Jira) -> None:
    key = _create(jira)
    jira.update_issue_field(key, {"summary": "Refund stuck for EUR", "labels": ["payments", "eur"]})
    fields = jira.issue(key)["fields"]
    assert fields["summary"] == "Refund stuck for EUR"
    assert sorted(fields["labels"]) == ["eur", "payments"]


def test_assign_and_unassign(jira: Jira) -> None:
    key = _create(jira)
    bob = jira.user_find_by_user_string(query="Bob")[0]
    jira.assign_issue(key, bob["accountId"])
    assignee = jira.issue(key)["fields"]["assignee"]
    assert assignee["displayName"] == "Bob Builder"
    assert "emailAddress" not in assignee  # Bob hides his email
    jira.assign_issue(key, None)
    assert jira.issue(key)["fields"]["assignee"] is None


def test_set_issue_status_by_target_status_name(jira: Jira) -> None:
    key = _create(jira)
    jira.set_issue_status(key, "In Progress")
    assert jira.get_issue_status(key) == "In Progress"
    jira.set_issue_status(key, "Won't Do")
    fields = jira.issue(key)["fields"]
    assert fields["status"]["name"] == "Won't Do"
    assert fields["status"]["statusCategory"]["key"] == "done"


def test_comments_add_and_edit(jira: Jira) -> None:
    key = _create(jira)
    comment = jira.issue_add_comment(key, "Customer called again")
    assert comment["body"] == "Customer called again"
    jira.issue_edit_comment(key, comment["id"], "Customer called twice")
    page = jira.issue_get_comments(key)
    assert [c["body"] for c in page["comments"]] == ["Customer called twice"]


def test_worklogs_json_and_helper(jira: Jira) -> None:
    key = _create(jira, timetracking={"originalEstimate": "4h"})
    first = jira.issue_add_json_worklog(
        key, {"timeSpentSeconds": 3600, "started": STARTED, "comment": "Triage"}
    )
    assert first["timeSpentSeconds"] == 3600
    assert first["comment"] == "Triage"
    jira.issue_worklog(key, STARTED, 1800, comment="Fix")
    logs = jira.issue_get_worklog(key)
    assert [w["timeSpentSeconds"] for w in logs["worklogs"]] == [3600, 1800]
    tracking = jira.issue(key, fields="timetracking")["fields"]["timetracking"]
    assert tracking["remainingEstimateSeconds"] == 4 * 3600 - 5400
    assert tracking["timeSpentSeconds"] == 5400


def test_enhanced_jql_pages_with_next_page_token(jira: Jira) -> None:
    keys = [_create(jira, summary=f"Paged {n}") for n in range(3)]
    jql = "project = WEB AND labels = payments ORDER BY created ASC, key ASC"
    first = jira.enhanced_jql(jql, fields=["summary"], limit=2)
    assert [i["key"] for i in first["issues"]] == keys[:2]
    assert first["issues"][0]["fields"] == {"summary": "Paged 0"}
    assert "total" not in first  # the new search has no total
    rest = jira.enhanced_jql(jql, fields=["summary"], limit=2, nextPageToken=first["nextPageToken"])
    assert [i["key"] for i in rest["issues"]] == keys[2:]
    assert "nextPageToken" not in rest


def test_remote_links_upsert_by_global_id(jira: Jira) -> None:
    key = _create(jira)
    first = jira.create_or_update_issue_remote_links(
        key, "https://pay.test/r/1", "Refund 1", global_id="pay:refund-1", relationship="blocks"
    )
    second = jira.create_or_update_issue_remote_links(
        key, "https://pay.test/r/1", "Refund 1 (sent)", global_id="pay:refund-1", status_resolved=True
    )
    assert second["id"] == first["id"]
    links = jira.get_issue_remote_links(key)
    assert [(link["globalId"], link["object"]["title"]) for link in links] == [
        ("pay:refund-1", "Refund 1 (sent)")
    ]
    assert links[0]["object"]["status"]["resolved"] is True


def test_delete_issue(jira: Jira) -> None:
    key = _create(jira)
    jira.delete_issue(key)
    with pytest.raises(HTTPError) as caught:
        jira.issue(key)
    assert caught.value.response is not None
    assert caught.value.response.status_code == 404


def test_missing_issue_error_message_reaches_the_caller(jira: Jira) -> None:
    with pytest.raises(HTTPError, match="Issue does not exist"):
        jira.issue("WEB-9999")
