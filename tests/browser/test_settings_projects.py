"""Settings › Projects and Settings › Worklogs, clicked in Chromium against the real stack: a project
mapping made from dropdowns read from Jira (issue types, workflow statuses, priorities) with the
comment preview following the typing, then an item's status change moving its ticket to the mapped
status; field errors next to their inputs with nothing saved; the worklog settings."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser import PagesStack, Workspace, accessibility_problems, screenshot

pytestmark = pytest.mark.e2e

ADMIN = ("admin@acme.test", "admin-token")


def open_project(page: Page, pages_stack: PagesStack, workspace: Workspace) -> None:
    page.goto(pages_stack.link(workspace, "admin", "settings"))
    page.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("heading", name="Jira projects")).to_be_visible()


def create_issue(pages_stack: PagesStack, project: str, issue_type: str) -> str:
    created = httpx.post(
        f"{pages_stack.acme}/rest/api/3/issue",
        json={"fields": {"project": {"key": project}, "issuetype": {"name": issue_type}, "summary": "XSS"}},
        auth=ADMIN,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def test_a_project_mapping_saved_from_dropdowns(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Globex")
    open_project(page, pages_stack, workspace)
    expect(page.get_by_text("No project of this site has settings yet.")).to_be_visible()
    page.get_by_label("Add a project").select_option("SEC")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("heading", name="SEC — Security")).to_be_visible()

    page.get_by_label("Default issue type").select_option("Bug")
    # The status rows: a host status typed, the Jira status chosen from the project's workflow.
    statuses = page.locator("#status_map-rows tr")
    expect(statuses.first.locator("select option")).to_contain_text(
        ["Choose a Jira status…", "To Do (to do)", "In Progress (in progress)", "In Review (in progress)"]
    )
    statuses.nth(0).get_by_label("Host status", exact=True).fill("Open")
    statuses.nth(0).get_by_label("Jira status for this host status").select_option("To Do")
    page.get_by_role("button", name="Add a status").click()
    expect(statuses).to_have_count(2)
    statuses.nth(1).get_by_label("Host status", exact=True).fill("Acknowledged")
    statuses.nth(1).get_by_label("Jira status for this host status").select_option("In Progress")
    page.get_by_role("button", name="Add a status").click()
    statuses.nth(2).get_by_label("Host status", exact=True).fill("Ignored")
    statuses.nth(2).get_by_role("button", name="Remove").click()  # changed its mind
    expect(statuses).to_have_count(2)

    severities = page.locator("#priority_map-rows tr")
    severities.nth(0).get_by_label("Severity", exact=True).fill("critical")
    severities.nth(0).get_by_label("Jira priority for this severity").select_option("Highest")
    page.get_by_role("button", name="Add a severity").click()
    severities.nth(1).get_by_label("Severity", exact=True).fill("low")
    severities.nth(1).get_by_label("Jira priority for this severity").select_option("Low")

    # Bug's create screen requires Severity: its default is a template, Jira's values the hint.
    expect(page.get_by_text("Jira allows: Critical, High, Medium, Low")).to_be_visible()
    page.get_by_label("Severity (customfield_10051, required by Jira)").fill("High")
    page.get_by_label("Issue type", exact=True).select_option("Task")  # another type's fields, kept Bug's
    expect(
        page.get_by_text("The create screen of Task requires no field beyond the summary.")
    ).to_be_visible()
    expect(page.get_by_label("Severity (customfield_10051, required by Jira)")).to_have_value("High")

    template = page.get_by_label("Comment template")
    preview = page.locator("#comment-preview")
    expect(preview).to_contain_text("Globex Anomaly Status: Acknowledged")  # the workspace's template
    template.fill("{item_type} {item_id}: {status}")
    expect(preview).to_have_text("Anomaly an-42: Acknowledged")
    template.press_sequentially(" (was {previous_status})")
    expect(preview).to_have_text("Anomaly an-42: Acknowledged (was Open)")
    screenshot(page, "settings-project")
    assert accessibility_problems(page) == []

    page.get_by_role("button", name="Save SEC").click()
    expect(page.get_by_role("status")).to_have_text("Saved the settings of SEC")
    stored = pages_stack.call("GET", f"/api/v1/sites/{workspace.site_id}/projects/SEC", workspace)
    assert stored["default_issue_type"] == "Bug"
    assert stored["status_sync"] == "two_way"
    assert stored["status_map"] == {"Open": "To Do", "Acknowledged": "In Progress"}
    assert stored["priority_map"] == {"critical": "Highest", "low": "Low"}
    assert stored["comment_template"] == "{item_type} {item_id}: {status} (was {previous_status})"
    assert stored["field_defaults"] == {"Bug": {"customfield_10051": "High"}}
    assert stored["inbound_status_map"] == {}
    # The saved form shows what is stored.
    expect(page.locator("#status_map-rows tr").nth(1).get_by_label("Host status", exact=True)).to_have_value(
        "Acknowledged"
    )

    page.get_by_role("link", name="All projects").click()
    expect(page.locator("tr[data-project='SEC']")).to_contain_text("Bug")
    screenshot(page, "settings-projects")
    assert accessibility_problems(page) == []

    # The mapping at work: an item's status change moves its ticket to the mapped Jira status.
    key = create_issue(pages_stack, "SEC", "Task")
    item = {"title": "XSS in search", "status": "Open"}
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-7", workspace, item)
    pages_stack.call("POST", "/api/v1/items/anomaly/an-7/links", workspace, {"issue": key})
    pages_stack.call("PUT", "/api/v1/items/anomaly/an-7", workspace, item | {"status": "Acknowledged"})
    pages_stack.until(lambda: pages_stack.jira_issue(key)["status"] == "In Progress", f"{key} In Progress")


def test_field_errors_are_shown_next_to_their_inputs_and_nothing_is_saved(
    page: Page, pages_stack: PagesStack
) -> None:
    workspace = pages_stack.workspace("Umbrella")
    path = f"/api/v1/sites/{workspace.site_id}/projects/SEC"
    saved = {"default_issue_type": "Task", "status_map": {"Open": "To Do"}, "comment_template": "{status}"}
    pages_stack.call("PUT", path, workspace, saved)
    before = pages_stack.call("GET", path, workspace)
    open_project(page, pages_stack, workspace)
    page.get_by_role("link", name="SEC").click()

    template = page.get_by_label("Comment template")
    expect(template).to_have_value("{status}")
    template.fill("Now {state}")
    expect(page.locator("#comment-preview")).to_contain_text("unknown placeholder {state}")
    # A status removed from the workflow while the form was open (Jira's admin changed it).
    page.locator("#status_jira-0").evaluate("s => s.add(new Option('Closed', 'Closed', true, true))")
    page.get_by_role("button", name="Save SEC").click()

    row_error = page.locator("#status_map-0-error")
    expect(row_error).to_contain_text("'Closed' is not a status of the workflow of SEC")
    expect(page.locator("#status_jira-0")).to_have_attribute("aria-describedby", "status_map-0-error")
    expect(page.locator("#comment_template-error")).to_contain_text("unknown placeholder {state}")
    expect(template).to_have_attribute("aria-invalid", "true")
    expect(template).to_have_value("Now {state}")  # what was typed stays
    assert accessibility_problems(page) == []
    assert pages_stack.call("GET", path, workspace) == before

    page.set_viewport_size({"width": 360, "height": 800})  # readable on a phone: nothing wider
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_worklog_settings_saved_from_their_tab(page: Page, pages_stack: PagesStack) -> None:
    workspace = pages_stack.workspace("Stark")
    page.goto(pages_stack.link(workspace, "admin", "settings"))
    page.get_by_role("link", name="Worklogs").click()
    expect(page.get_by_label("Log time entries as worklogs in Jira")).to_be_checked()
    page.get_by_label("Rounding of durations").select_option(label="Up to 15 minutes")
    page.get_by_label("Remaining estimate").select_option(label="Leave the remaining estimate as it is")
    page.get_by_label("Shortest worklog (seconds)").fill("120")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved the worklog settings")
    expect(page.get_by_label("Rounding of durations")).to_have_value("15")
    screenshot(page, "settings-worklogs")
    assert accessibility_problems(page) == []
    shown = pages_stack.call("GET", "/api/v1/settings", workspace)
    assert shown["worklogs"] == {
        "enabled": True,
        "delete_worklogs": False,
        "estimate": "leave",
        "min_seconds": 120,
        "rounding_minutes": 15,
    }
