"""The `jira` package (pycontribs) against the emulator over loopback, used the way its users use it.

The client is synchronous (requests), so these tests are sync and the emulator runs in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jira import JIRA, JIRAError

from contract.loopback import Loopback

pytestmark = pytest.mark.contract

ADMIN = ("admin@acme.test", "admin-token")
ADF = {
    "type": "doc",
    "version": 1,
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Rendered as ADF"}]}],
}


@pytest.fixture
def client(loopback: Loopback) -> Iterator[JIRA]:
    jira = JIRA(server=loopback.url, basic_auth=ADMIN)
    yield jira
    jira.close()


@pytest.fixture
def client_v3(loopback: Loopback) -> Iterator[JIRA]:
    jira = JIRA(server=loopback.url, basic_auth=ADMIN, options={"rest_api_version": "3"})
    yield jira
    jira.close()


def _new_bug(client: JIRA, summary: str = "Checkout fails on Safari", **fields: Any) -> Any:
    return client.create_issue(
        project="WEB",  # by key: the client looks the project up first
        issuetype={"name": "Bug"},
        summary=summary,
        priority={"name": "High"},
        labels=["checkout", "safari"],
        description="Steps:\n1. pay",
        **fields,
    )


def test_construction_reads_server_info_and_sees_cloud(client: JIRA) -> None:
    info = client.server_info()
    assert info["deploymentType"] == "Cloud"
    assert client._is_cloud
    assert client.myself()["emailAddress"] == "admin@acme.test"


def test_create_issue_and_read_it_back(client: JIRA) -> None:
    issue = _new_bug(client)
    assert issue.key.startswith("WEB-")
    again = client.issue(issue.key)
    assert again.fields.summary == "Checkout fails on Safari"
    assert again.fields.issuetype.name == "Bug"
    assert again.fields.priority.name == "High"
    assert sorted(again.fields.labels) == ["checkout", "safari"]
    assert again.fields.description == "Steps:\n1. pay"  # v2 speaks plain text
    assert again.fields.reporter.emailAddress == "admin@acme.test"
    assert again.fields.status.name == "To Do"


def test_create_issue_with_a_fields_dict_and_issue_type_by_name(client: JIRA) -> None:
    issue = client.create_issue(
        fields={"project": {"key": "WEB"}, "issuetype": "Story", "summary": "Wishlist"}
    )
    assert client.issue(issue.id).fields.issuetype.name == "Story"


def test_issue_update_puts_to_self_and_changes_fields(client: JIRA) -> None:
    issue = _new_bug(client)
    issue.update(fields={"labels": ["checkout"]}, summary="Checkout fails everywhere", notify=False)
    assert issue.fields.summary == "Checkout fails everywhere"  # update() reloads from `self`
    issue.update(update={"labels": [{"add": "urgent"}, {"remove": "checkout"}]})
    again = client.issue(issue.key, expand="changelog")
    assert again.fields.labels == ["urgent"]
    changed = {item.field for history in again.changelog.histories for item in history.items}
    assert {"summary", "labels"} <= changed


def test_assign_issue_by_email_and_unassign(client: JIRA) -> None:
    issue = _new_bug(client)
    alice = client.search_users(query="alice")[0]
    # The client resolves the user through /user/search and PUTs to /rest/api/latest/.../assignee.
    assert client.assign_issue(issue, "alice@acme.test")
    assert client.issue(issue.key).fields.assignee.accountId == alice.accountId
    client.assign_issue(issue, None)
    assert client.issue(issue.key).fields.assignee is None


def test_assign_issue_by_account_id(client: JIRA) -> None:
    # On Cloud the client searches `/user/search?query=<accountId>` and keeps the exact id it finds.
    issue = _new_bug(client)
    bob = client.search_users(query="bob")[0]
    assert [u.accountId for u in client.search_users(query=bob.accountId)] == [bob.accountId]
    assert client.search_users(query=bob.accountId[:-1]) == []  # the id matches whole, not by prefix
    assert client.assign_issue(issue, bob.accountId)
    assert client.issue(issue.key).fields.assignee.accountId == bob.accountId


def test_transitions_by_name_and_id(client: JIRA) -> None:
    issue = _new_bug(client)
    names = {t["name"] for t in client.transitions(issue)}
    assert names == {"Start progress", "Won't do"}
    client.transition_issue(issue, "Start progress")
    assert client.issue(issue.key).fields.status.name == "In Progress"
    done = next(t for t in client.transitions(issue) if t["to"]["name"] == "Done")
    client.transition_issue(issue, done["id"])
    finished = client.issue(issue.key)
    assert finished.fields.status.name == "Done"
    assert finished.fields.resolution is not None


def test_unknown_transition_name_is_refused(client: JIRA) -> None:
    issue = _new_bug(client)
    with pytest.raises(JIRAError, match="Invalid transition name"):
        client.transition_issue(issue, "Teleport")


def test_comment_add_edit_and_list(client: JIRA) -> None:
    issue = _new_bug(client)
    comment = client.add_comment(issue, "First look: Safari 17 only")
    assert comment.body == "First look: Safari 17 only"
    assert comment.author.emailAddress == "admin@acme.test"
    comment.update(body="Safari 17 and 18")
    assert client.comment(issue.key, comment.id).body == "Safari 17 and 18"
    assert [c.body for c in client.comments(issue.key)] == ["Safari 17 and 18"]


def test_worklog_reduces_the_remaining_estimate(client: JIRA) -> None:
    issue = _new_bug(client, timetracking={"originalEstimate": "1d"})
    worklog = client.add_worklog(issue, timeSpent="2h", comment="Reproduced")
    assert worklog.timeSpentSeconds == 7200
    assert worklog.author.emailAddress == "admin@acme.test"
    tracking = client.issue(issue.key, fields="timetracking").fields.timetracking
    assert tracking.remainingEstimateSeconds == 6 * 3600
    assert tracking.remainingEstimate == "6h"
    client.add_worklog(issue, timeSpentSeconds="1800", adjustEstimate="leave")
    logged = client.worklogs(issue.key)
    assert [w.timeSpentSeconds for w in logged] == [7200, 1800]
    assert client.issue(issue.key).fields.timetracking.remainingEstimateSeconds == 6 * 3600


def test_worklog_under_a_minute_is_refused(client: JIRA) -> None:
    issue = _new_bug(client)
    with pytest.raises(JIRAError) as caught:
        client.add_worklog(issue, timeSpentSeconds="30")
    assert caught.value.status_code == 400


def test_search_issues_and_enhanced_search_page_with_tokens(client: JIRA) -> None:
    keys = [_new_bug(client, summary=f"Search me {n}").key for n in range(5)]
    everything = client.search_issues("project = WEB ORDER BY key ASC", maxResults=False)
    assert [i.key for i in everything] == keys
    first = client.enhanced_search_issues("project = WEB ORDER BY key ASC", maxResults=2, fields="summary")
    assert [i.key for i in first] == keys[:2]
    assert first[0].fields.summary == "Search me 0"
    assert first.nextPageToken
    second = client.enhanced_search_issues(
        "project = WEB ORDER BY key ASC", nextPageToken=first.nextPageToken, maxResults=2, fields="summary"
    )
    assert [i.key for i in second] == keys[2:4]
    labelled = client.search_issues('project = WEB AND labels = "safari" AND summary ~ "me 4"', maxResults=10)
    assert [i.key for i in labelled] == [keys[4]]


def test_search_results_as_json(client: JIRA) -> None:
    key = _new_bug(client).key
    result = client.enhanced_search_issues(f"key = {key}", fields=["status"], json_result=True)
    assert isinstance(result, dict)
    assert [i["key"] for i in result["issues"]] == [key]
    assert result["issues"][0]["fields"]["status"]["name"] == "To Do"


# The client first lists application links, which non-admins may not; it warns and carries on.
@pytest.mark.filterwarnings("ignore:Unable to gather applicationlinks:Warning")
def test_remote_links_simple_and_with_global_id(client: JIRA) -> None:
    issue = _new_bug(client)
    client.add_simple_link(issue.key, {"url": "https://status.shop.test", "title": "Status page"})
    client.add_remote_link(
        issue.key,
        destination={"url": "https://shop.test/orders/1", "title": "Order 1"},
        globalId="shop:order-1",
        relationship="relates to",
    )
    client.add_remote_link(
        issue.key,
        destination={"url": "https://shop.test/orders/1", "title": "Order 1 (refunded)"},
        globalId="shop:order-1",
    )
    links = client.remote_links(issue.key)
    titles = sorted(link.object.title for link in links)
    assert titles == ["Order 1 (refunded)", "Status page"]  # same globalId: updated, not duplicated


def test_delete_issue(client: JIRA) -> None:
    issue = _new_bug(client)
    issue.delete()
    with pytest.raises(JIRAError) as caught:
        client.issue(issue.key)
    assert caught.value.status_code == 404


def test_errors_reach_the_caller_as_jira_errors(client: JIRA) -> None:
    with pytest.raises(JIRAError) as caught:
        client.create_issue(project="WEB", issuetype={"name": "Task"}, summary="")
    assert caught.value.status_code == 400
    assert "summary" in caught.value.text


def test_wrong_token_fails_at_construction(loopback: Loopback) -> None:
    # serverInfo is anonymous, so the bad token shows on the first authenticated call.
    jira = JIRA(server=loopback.url, basic_auth=("admin@acme.test", "nope"), max_retries=0)
    try:
        with pytest.raises(JIRAError) as caught:
            jira.myself()
        assert caught.value.status_code == 401
    finally:
        jira.close()


# ---- REST v3: rich text is ADF -------------------------------------------------------------------


def test_v3_client_reads_descriptions_and_comments_as_adf(client_v3: JIRA) -> None:
    issue = client_v3.create_issue(
        project="WEB", issuetype={"name": "Task"}, summary="ADF please", description=ADF
    )
    raw = client_v3.issue(issue.key).raw
    assert raw["fields"]["description"] == ADF
    assert raw["self"].endswith(f"/rest/api/3/issue/{issue.id}")
    comment = client_v3.add_comment(issue.key, ADF)
    assert comment.raw["body"] == ADF


def test_v3_refuses_plain_text_where_adf_is_required(client_v3: JIRA) -> None:
    with pytest.raises(JIRAError) as caught:
        client_v3.create_issue(project="WEB", issuetype={"name": "Task"}, summary="x", description="plain")
    assert caught.value.status_code == 400
    assert caught.value.response is not None
    assert "description" in caught.value.response.json()["errors"]


def test_v3_search_and_update(client_v3: JIRA) -> None:
    issue = client_v3.create_issue(project="WEB", issuetype={"name": "Task"}, summary="Before")
    issue.update(summary="After")
    found = client_v3.enhanced_search_issues(f"key = {issue.key}", fields="summary")
    assert [i.fields.summary for i in found] == ["After"]
