"""A person's own Jira account and Settings › Users, clicked in Chromium against the real stack: a
member connects by API token and their time entry becomes a worklog authored by them; an admin sees
who is connected and whose entry waits. And OAuth round trips: a site connected from Settings › Sites
and a person's "Connect Jira", each ending back on the page it started from."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, accessibility_problems, screenshot

pytestmark = pytest.mark.e2e

ADMIN = ("admin@acme.test", "admin-token")
ACME_CLOUD = "https://acme.atlassian.net"


def jira(stack: PagesStack, method: str, path: str, body: Any = None, auth: tuple[str, str] = ADMIN) -> Any:
    answer = httpx.request(method, f"{stack.acme}/rest/api/3{path}", json=body, auth=auth, timeout=30)
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def new_issue(stack: PagesStack, summary: str) -> str:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}
    return str(jira(stack, "POST", "/issue", {"fields": fields})["key"])


def entry(stack: PagesStack, workspace: Any, entry_id: str, user: str, key: str) -> None:
    body = {
        "user": user,
        "started_at": "2024-01-15T09:00:00Z",
        "duration_s": 1800,
        "description": f"{key} work",
    }
    stack.call("PUT", f"/api/v1/time-entries/{entry_id}", workspace, body)


def test_a_member_connecting_their_jira_user(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Wayne")
    key = new_issue(pages_stack, "Checkout is slow")
    pages_stack.call("PUT", "/api/v1/users/u-bob", workspace, {"name": "Bob Builder"})
    entry(pages_stack, workspace, "te-alice", "u-alice", key)
    entry(pages_stack, workspace, "te-bob", "u-bob", key)
    waiting = "waiting_for_user_mapping"
    pages_stack.until(
        lambda: (
            pages_stack.call("GET", "/api/v1/time-entries/te-alice", workspace)["worklog"]["state"] == waiting
        ),
        "alice's entry waiting for her connection",
    )

    page.goto(pages_stack.link(workspace, "member", "account", user_id="u-alice"))
    expect(page.get_by_text("Not connected to Jira yet.")).to_be_visible()
    assert accessibility_problems(page) == []
    page.get_by_label("Your Atlassian email").fill("alice@acme.test")
    page.get_by_label("Your API token").fill("alice-token")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Connected your Jira account (Alice")
    alice = jira(pages_stack, "GET", "/myself", auth=("alice@acme.test", "alice-token"))["accountId"]
    [connection] = pages_stack.call("GET", "/api/v1/users/u-alice/jira", workspace)["connections"]
    assert (connection["account_id"], connection["site"]) == (alice, workspace.site_id)
    expect(page.locator("dd code")).to_have_text(alice)
    assert "alice-token" not in page.content()
    screenshot(page, "account")
    assert accessibility_problems(page) == []

    # Her waiting entry syncs now, as a worklog she authored; Bob's still waits.
    worklogs = pages_stack.until(
        lambda: jira(pages_stack, "GET", f"/issue/{key}/worklog")["worklogs"], "alice's worklog in Jira"
    )
    assert [(w["author"]["accountId"], w["timeSpentSeconds"]) for w in worklogs] == [(alice, 1800)]
    assert pages_stack.call("GET", "/api/v1/time-entries/te-bob", workspace)["worklog"]["state"] == waiting

    page.goto(pages_stack.link(workspace, "admin", "settings"))
    page.get_by_role("link", name="Users").click()
    people = page.locator("table.people")
    alice_row = people.locator("tr", has_text="u-alice")
    expect(alice_row.locator("td.user-connections")).to_contain_text("Alice")
    expect(alice_row.locator("td.user-waiting")).to_have_text("—")
    bob_row = people.locator("tr", has_text="Bob Builder")
    expect(bob_row.locator("td.user-connections")).to_have_text("Not connected")
    expect(bob_row.locator("td.user-waiting")).to_have_text(
        f"1 waiting for a connection to {pages_stack.acme}"
    )
    screenshot(page, "settings-users")
    assert accessibility_problems(page) == []


def test_connect_by_oauth_round_trip(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Cyberdyne", connect=False)
    page.goto(pages_stack.link(workspace, "admin", "settings"))
    sites_page = page.url
    # No address: the site the administrator grants is connected (acme, by its real address; it is
    # called through Atlassian's gateway, the emulator here).
    expect(page.get_by_label("Site to connect with OAuth")).to_have_value("")
    page.get_by_label("Its default project").fill("WEB")
    page.get_by_role("button", name="Continue to Atlassian").click()
    # Atlassian's consent (the emulator's stand-in): the Jira administrator chooses their account.
    expect(page.get_by_text("is requesting access to your Atlassian account")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"\(admin@acme\.test\)")).click()

    expect(page.get_by_role("status")).to_have_text(f"Connected {ACME_CLOUD}")
    assert page.url.split("?")[0] == sites_page  # back on the page it came from, same session
    [site] = pages_stack.call("GET", "/api/v1/sites", workspace)["sites"]
    assert (site["status"], site["auth_type"], site["account_email"]) == (
        "connected",
        "oauth",
        "admin@acme.test",
    )
    assert site["default"] is True and site["default_project"] == "WEB"
    expect(page.locator("section.site .site-status")).to_have_text("connected")
    assert accessibility_problems(page) == []

    # A member's own "Connect Jira": consent as Bob, back on their account page.
    page.goto(pages_stack.link(workspace, "member", "account", user_id="u-bob"))
    account_page = page.url
    page.get_by_role("button", name="Connect Jira").click()
    page.get_by_role("link", name=re.compile(r"\(bob@acme\.test\)")).click()
    expect(page.get_by_role("status")).to_have_text(f"Connected your Jira account on {ACME_CLOUD}")
    assert page.url.split("?")[0] == account_page
    [bob] = pages_stack.call("GET", "/api/v1/users/u-bob/jira", workspace)["connections"]
    assert (bob["auth_type"], bob["email"]) == ("oauth", "bob@acme.test")
