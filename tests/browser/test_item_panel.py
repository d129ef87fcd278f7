"""An item's ticket panel, clicked in Chromium against the real stack: create a ticket with a required
custom field, link one by its URL (and the many-to-one refusal explained), a broken link shown as
Unknown and removed. Each test checks what Jira (the emulator) and the API show afterwards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, Workspace, accessibility_problems, screenshot

pytestmark = pytest.mark.e2e

ADMIN = ("admin@acme.test", "admin-token")


@pytest.fixture(scope="module")
def acme(pages_stack: PagesStack) -> Workspace:
    return pages_stack.workspace("Acme")


def jira_issue(stack: PagesStack, summary: str, project: str = "WEB") -> str:
    """An issue made in Jira by a person (the emulator's admin), not by jirabridge."""
    answer = httpx.post(
        f"{stack.acme}/rest/api/3/issue",
        json={"fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary}},
        auth=ADMIN,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def item(stack: PagesStack, workspace: Workspace, item_type: str, item_id: str, **fields: Any) -> None:
    stack.call("PUT", f"/api/v1/items/{item_type}/{item_id}", workspace, {"title": item_id} | fields)


def links_of(stack: PagesStack, workspace: Workspace, item_type: str, item_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.call("GET", f"/api/v1/items/{item_type}/{item_id}", workspace)[
        "links"
    ]
    return found


def test_a_member_creates_a_ticket_with_a_required_custom_field(
    page: Page, pages_stack: PagesStack, acme: Workspace
) -> None:
    item(pages_stack, acme, "anomaly", "an-1", title="Null rate spike", severity="high")
    scope = {"item_type": "anomaly", "item_id": "an-1"}
    page.goto(pages_stack.link(acme, "member", scope))
    expect(page.get_by_role("heading", name="Linked tickets")).to_be_visible()
    expect(page.get_by_text("No Jira ticket is linked yet.")).to_be_visible()

    page.get_by_label("Project").select_option("SEC")
    expect(page.get_by_label("Issue type")).to_have_value("Bug")  # the project's first type
    severity = page.get_by_label("Severity (required)")
    expect(severity).to_be_visible()
    page.get_by_label("Labels").fill("data-quality nightly")

    page.get_by_role("button", name="Create ticket").click()
    expect(page.get_by_text("Severity is required by Jira for Bug in SEC")).to_be_visible()
    assert links_of(pages_stack, acme, "anomaly", "an-1") == []  # nothing was written

    page.get_by_label("Severity (required)").select_option("High")
    page.get_by_role("button", name="Create ticket").click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Created SEC-")
    key = notice.inner_text().split("Created ", 1)[1].strip()

    issue = pages_stack.jira_issue(key)
    assert issue["summary"] == "Null rate spike" and issue["issue_type"] == "Bug"
    assert issue["custom"]["customfield_10051"] in ("High", {"value": "High"})
    assert set(issue["labels"]) >= {"data-quality", "nightly"}
    row = page.locator(f"tr[data-issue='{key}']")
    expect(row).to_contain_text("Null rate spike")
    expect(row.locator(".status")).to_have_text("To Do")
    assert [lk["issue_key"] for lk in links_of(pages_stack, acme, "anomaly", "an-1")] == [key]
    screenshot(page, "item-panel")
    assert accessibility_problems(page) == []
    page.set_viewport_size({"width": 360, "height": 800})  # readable on a phone: nothing wider
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_ticket_is_linked_by_its_url_and_a_second_one_is_refused_with_the_reason(
    page: Page, pages_stack: PagesStack, acme: Workspace
) -> None:
    settings = pages_stack.call("GET", "/api/v1/settings", acme)
    settings["link_cardinality"] = {"error": "many_to_one"}
    pages_stack.call("PUT", "/api/v1/settings", acme, settings)
    item(pages_stack, acme, "error", "e-1", title="TypeError in checkout")
    first, second = jira_issue(pages_stack, "Checkout crashes"), jira_issue(pages_stack, "Another ticket")

    page.goto(pages_stack.link(acme, "member", {"item_type": "error", "item_id": "e-1"}))
    page.get_by_role("link", name="Add to existing").click()
    # By keyboard alone: the field, then Enter sends the form.
    page.get_by_label("Issue key or URL").focus()
    page.keyboard.type(f"{pages_stack.acme}/browse/{first}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(f"Linked {first}")
    expect(page.locator(f"tr[data-issue='{first}']")).to_contain_text("Checkout crashes")
    screenshot(page, "item-panel-linked")

    page.get_by_role("link", name="Add to existing").click()
    page.get_by_label("Issue key or URL").fill(second)
    page.get_by_role("button", name="Add link").click()
    expect(page.locator(".error")).to_contain_text("many_to_one")
    assert [lk["issue_key"] for lk in links_of(pages_stack, acme, "error", "e-1")] == [first]
    assert accessibility_problems(page) == []


def test_a_link_to_a_deleted_issue_shows_unknown_and_is_removed(
    page: Page, pages_stack: PagesStack, acme: Workspace
) -> None:
    pages_stack.call(
        "PUT",
        f"/api/v1/sites/{acme.site_id}/projects/WEB",
        acme,
        {
            "default_issue_type": "Task",
            "status_sync": "two_way",
            "status_map": {"Open": "To Do", "Fixed": "Done"},
        },
    )
    item(pages_stack, acme, "finding", "f-1", title="Open redirect", status="Open")
    key = jira_issue(pages_stack, "Open redirect in login")
    pages_stack.call("POST", "/api/v1/items/finding/f-1/links", acme, {"issue": key})
    deleted = httpx.delete(f"{pages_stack.acme}/rest/api/3/issue/{key}", auth=ADMIN, timeout=30)
    assert deleted.status_code == 204
    item(
        pages_stack, acme, "finding", "f-1", title="Open redirect", status="Fixed"
    )  # the worker finds it gone
    pages_stack.until(
        lambda: links_of(pages_stack, acme, "finding", "f-1")[0]["sync_state"] == "broken", "the broken link"
    )

    page.goto(pages_stack.link(acme, "member", {"item_type": "finding", "item_id": "f-1"}))
    row = page.locator(f"tr[data-issue='{key}']")
    expect(row.locator(".status")).to_contain_text("Unknown")
    expect(row.locator(".status")).to_contain_text(f"issue {key} does not exist in Jira")
    screenshot(page, "item-panel-broken")
    row.get_by_role("button", name=f"Remove the link to {key}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed the link to {key}")
    assert links_of(pages_stack, acme, "finding", "f-1") == []
