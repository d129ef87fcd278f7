"""Settings › Integrations › Jira, clicked in Chromium against the real stack: connect a site by API
token (a wrong token first), a failing connection test showing its code and what to do, disconnect
with its confirmation, and a failed sync retried from Sync health after the setting that was missing
is added."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, accessibility_problems, screenshot, shown_addresses

pytestmark = pytest.mark.e2e

ADMIN = ("admin@acme.test", "admin-token")


def test_an_admin_connects_a_site_by_api_token_and_tests_it(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Initech", connect=False)
    page.goto(pages_stack.link(workspace, "admin", "settings"))
    expect(page.get_by_text("No Jira site is connected yet.")).to_be_visible()
    assert accessibility_problems(page) == []

    page.get_by_label("Site address").fill(pages_stack.acme)
    page.get_by_label("Account email").fill("bot@acme.test")
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_label("Default project key").fill("WEB")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("p.error").first).to_contain_text("unauthorized")
    expect(page.get_by_label("API token")).to_have_value("")  # a secret is never sent back
    assert "not-the-token" not in page.content()
    assert pages_stack.call("GET", "/api/v1/sites", workspace)["sites"] == []

    page.get_by_label("API token").fill("bot-token")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_have_text(f"Connected {pages_stack.acme}")
    [site] = pages_stack.call("GET", "/api/v1/sites", workspace)["sites"]
    assert site["status"] == "connected" and site["account_email"] == "bot@acme.test"
    assert "bot-token" not in page.content()

    card = page.locator("section.site")
    card.get_by_label("Project").fill("NOPE")
    card.get_by_role("button", name="Test connection").click()
    table = page.locator("table.checks")
    expect(table.locator("caption")).to_have_text("Connection test: failed")
    failed = table.locator("tr.failed").first
    expect(failed).to_contain_text("project_not_found")
    expect(failed).to_contain_text("does not exist or the account cannot browse it")
    screenshot(page, "settings-sites")
    # The screenshot shows the addresses of docs/getting-started.md, not this run's free ports (the
    # images stay the same from one run to the next), and the page is itself again afterwards.
    with shown_addresses(page):
        assert "http://127.0.0.1:8080/sites/acme" in page.inner_text("body")
        assert pages_stack.acme not in page.inner_text("body")
    assert pages_stack.acme in page.inner_text("body")
    assert accessibility_problems(page) == []

    page.set_viewport_size({"width": 360, "height": 800})  # readable on a phone: nothing wider
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 361)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, wide
    page.set_viewport_size({"width": 1100, "height": 900})

    page.get_by_role("link", name="Disconnect…").click()
    expect(page.get_by_text("Every issue, comment and worklog, as it is")).to_be_visible()
    assert accessibility_problems(page) == []
    page.get_by_role("button", name=f"Disconnect {pages_stack.acme}").click()
    expect(page.get_by_role("status")).to_have_text(f"Disconnected {pages_stack.acme}")
    assert pages_stack.call("GET", "/api/v1/sites", workspace)["sites"] == []


def test_a_failed_transition_is_retried_from_sync_health(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Hooli")
    project = f"/api/v1/sites/{workspace.site_id}/projects/HELP"
    settings = {
        "default_issue_type": "Task",
        "status_sync": "two_way",
        "status_map": {"Open": "To Do", "Ignored": "Won't Do"},
    }
    pages_stack.call("PUT", project, workspace, settings)
    created = httpx.post(
        f"{pages_stack.acme}/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": "HELP"},
                "issuetype": {"name": "Task"},
                "summary": "Printer on fire",
            }
        },
        auth=ADMIN,
        timeout=30,
    )
    key = created.json()["key"]
    pages_stack.call("PUT", "/api/v1/items/ticket/t-1", workspace, {"title": "Printer", "status": "Open"})
    pages_stack.call("POST", "/api/v1/items/ticket/t-1/links", workspace, {"issue": key})
    pages_stack.call("PUT", "/api/v1/items/ticket/t-1", workspace, {"title": "Printer", "status": "Ignored"})
    failures = pages_stack.until(
        lambda: pages_stack.call("GET", "/api/v1/sync/failures", workspace)["failures"], "the failure"
    )
    assert failures[0]["reason"] == "transition_field_required"

    page.goto(pages_stack.link(workspace, "admin", "settings"))
    page.get_by_role("link", name="Sync health").click()
    row = page.locator(f"tr[data-op='{failures[0]['id']}']")
    expect(row).to_contain_text("transition_field_required")
    expect(row).to_contain_text(key)
    expect(page.locator("#depth-failed")).to_have_text("1")
    screenshot(page, "settings-health")
    assert accessibility_problems(page) == []

    # The admin adds the setting the failure names, then retries.
    fields = {"Won't Do": {"resolution": "Won't Do", "comment": "Not ours: the printer vendor fixes it."}}
    pages_stack.call("PUT", project, workspace, settings | {"transition_fields": fields})
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("The operation is queued again")
    pages_stack.until(lambda: pages_stack.jira_issue(key)["status"] == "Won't Do", f"{key} in Won't Do")
    issue = pages_stack.jira_issue(key)
    assert issue["resolution"] == "Won't Do"
    assert [c["body"] for c in issue["comments"]] == ["Not ours: the printer vendor fixes it."]
    assert pages_stack.call("GET", "/api/v1/sync/failures", workspace)["failures"] == []
