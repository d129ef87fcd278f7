"""Settings › Rules clicked in Chromium against the real stack: a query's error shown with its
position while typing, a destination with its required field, two rules reordered, a preview."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, accessibility_problems, screenshot

pytestmark = pytest.mark.e2e


def test_a_rule_created_and_reordered_with_a_live_validation_error(
    page: Page, pages_stack: PagesStack
) -> None:
    workspace = pages_stack.workspace("Umbrella")
    page.goto(pages_stack.link(workspace, "manager", "settings"))
    page.get_by_role("link", name="Rules").click()
    expect(page.get_by_text("No rule yet")).to_be_visible()
    assert accessibility_problems(page) == []

    page.get_by_role("link", name="Add a rule").click()
    page.get_by_label("Name").fill("security")
    query = page.get_by_label("Query")
    query.press_sequentially("team:security && severity:high", delay=5)
    live = page.locator("#query-live")
    # The error appears while typing (no submit), with its position and a caret under it.
    expect(live.locator("p")).to_have_text("write AND instead of && at position 14")
    expect(live.locator("pre.caret")).to_have_text("team:security && severity:high\n" + " " * 14 + "^")
    expect(query).to_have_attribute("aria-invalid", "true")
    screenshot(page, "settings-rule-form")
    assert accessibility_problems(page) == []

    query.fill("")
    query.press_sequentially("team:security severity:(critical OR high)", delay=5)
    expect(live).to_have_text("The query is valid.")

    page.get_by_label("Project").select_option("SEC")
    page.get_by_label("Issue type").select_option("Bug")
    # SEC's Bug requires Severity: the form offers it with Jira's values once the type is chosen.
    page.get_by_label("Severity").select_option("High")
    page.get_by_label("Create the ticket automatically").check()
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_have_text("Rule 'security' saved")

    # A second rule, saved with a broken query first: refused with its position, nothing stored.
    page.get_by_role("link", name="Add a rule").click()
    page.get_by_label("Name").fill("web store")
    page.get_by_label("Query").fill("service:web-store and")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#query-live p")).to_contain_text("at position")
    assert len(pages_stack.call("GET", "/api/v1/rules", workspace)["rules"]) == 1
    page.get_by_label("Query").fill("service:web-store")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_have_text("Rule 'web store' saved")
    assert [r["name"] for r in pages_stack.call("GET", "/api/v1/rules", workspace)["rules"]] == [
        "security",
        "web store",
    ]

    page.get_by_role("button", name="Move web store up").click()
    expect(page.get_by_role("status")).to_have_text("Rule 'web store' moved up")
    web, security = pages_stack.call("GET", "/api/v1/rules", workspace)["rules"]
    assert (web["name"], web["query"], web["auto_create"]) == ("web store", "service:web-store", False)
    assert (web["destination"]["site"], web["destination"]["project"]) == (workspace.site_id, "WEB")
    assert web["destination"]["fields"] == {}
    assert security["query"] == "team:security severity:(critical OR high)"
    assert security["auto_create"] is True and security["enabled"] is True
    assert security["destination"] == {
        "site": workspace.site_id,
        "project": "SEC",
        "issue_type": "Bug",
        "fields": {"customfield_10051": {"value": "High"}},
    }

    page.get_by_role("button", name="Disable web store").click()
    expect(page.get_by_role("status")).to_have_text("Rule 'web store' disabled")
    assert pages_stack.call("GET", "/api/v1/rules", workspace)["rules"][0]["enabled"] is False

    page.get_by_label("Type", exact=True).fill("error")
    page.get_by_label("Severity").fill("high")
    page.get_by_label("Title").fill("XSS in search")
    page.get_by_label("Attributes").fill("team=security\nservice=web-store")
    page.get_by_role("button", name="Preview").click()
    result = page.locator("section.rule-preview")
    # The disabled first rule is skipped: the security rule matches, with what it would create.
    expect(result.locator("h3")).to_have_text("Matches rule 2: security")
    expect(result).to_contain_text("SEC / Bug")
    expect(result).to_contain_text("XSS in search")
    expect(result).to_contain_text('{"value": "High"}')
    screenshot(page, "settings-rules")
    assert accessibility_problems(page) == []

    page.get_by_role("button", name="Delete web store").click()
    expect(page.get_by_role("status")).to_have_text("Rule 'web store' deleted")
    assert [r["name"] for r in pages_stack.call("GET", "/api/v1/rules", workspace)["rules"]] == ["security"]
