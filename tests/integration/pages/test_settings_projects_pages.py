"""Settings › Projects and Settings › Worklogs as forms posted in process (no browser): what is saved
is what the API shows, a field error is named next to its input with nothing saved, the comment
preview, and a worklogs save that keeps every other setting (the callback secret too)."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from support.host import Host, connect_host


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    return await connect_host(api, emulator, container, Host)


async def settings_page(api: httpx.AsyncClient, host: Host, path: str) -> httpx.Response:
    issued = await host.call(
        "POST", "/api/v1/ui-sessions", {"user_id": "u-1", "role": "admin", "scope": "settings"}
    )
    assert issued.status_code == 201, issued.text
    first = await api.get(issued.json()["url"].removeprefix("http://127.0.0.1:8000"), follow_redirects=True)
    base = re.search(r"(/ui/s/[^/]+)/settings", str(first.url))
    assert base
    answer = await api.get(base.group(1) + path)
    assert answer.status_code == 200, answer.text
    return answer


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def path_of(page: httpx.Response) -> str:
    return str(page.url.path)


async def post(api: httpx.AsyncClient, page: httpx.Response, form: list[tuple[str, str]]) -> httpx.Response:
    body = urlencode([("csrf", csrf_of(page)), *form])
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await api.post(path_of(page), content=body, headers=headers)


def error_of(page: httpx.Response, input_id: str) -> str:
    """The error shown for an input: the element its aria-describedby names."""
    tag = re.search(rf'<[^>]*id="{re.escape(input_id)}"[^>]*>', page.text)
    assert tag, f"no input {input_id}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described
    message = re.search(rf'id="{described.group(1).split()[0]}">([^<]*)<', page.text)
    assert message
    return html.unescape(message.group(1))


SEC_FORM: list[tuple[str, str]] = [
    ("default_issue_type", "Bug"),
    ("status_sync", "two_way"),
    ("assignee_sync", "off"),
    ("comment_sync", "off"),
    ("poll_interval_s", "300"),
    ("status_host", "Open"),
    ("status_jira", "To Do"),
    ("status_host", "Fixed"),
    ("status_jira", "Done"),
    ("status_host", ""),
    ("status_jira", ""),
    ("inbound_jira", "In Review"),
    ("inbound_host", "Acknowledged"),
    ("severity", "critical"),
    ("priority", "Highest"),
    ("on_link_status", "Acknowledged"),
    ("on_link_status_from", "New, Open"),
    ("fd:Bug:customfield_10051", "{severity}"),
    ("fd:Bug:labels", '["sec", "{attributes.team}"]'),
    ("action", "save"),
]


async def test_a_project_form_saves_the_document_the_api_shows(api: httpx.AsyncClient, host: Host) -> None:
    page = await settings_page(api, host, f"/settings/projects/{host.site_id}/SEC")
    assert "These settings are not saved yet." in page.text
    assert "Severity" in page.text and "Critical, High, Medium, Low" in page.text  # Bug's required field

    saved = await post(api, page, SEC_FORM)
    assert saved.status_code == 303, re.findall(r"class=\"error\"[^>]*>([^<]*)", saved.text)
    assert saved.headers["location"].endswith("?notice=Saved+the+settings+of+SEC")

    stored = (await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/SEC")).json()
    assert stored["default_issue_type"] == "Bug"
    assert stored["status_map"] == {"Open": "To Do", "Fixed": "Done"}
    assert stored["inbound_status_map"] == {"In Review": "Acknowledged"}
    assert stored["priority_map"] == {"critical": "Highest"}
    assert stored["on_link_status_from"] == ["New", "Open"]
    assert stored["field_defaults"] == {
        "Bug": {"customfield_10051": "{severity}", "labels": ["sec", "{attributes.team}"]}
    }

    listed = await api.get(path_of(page).rsplit("/", 2)[0])
    assert 'data-project="SEC"' in listed.text


async def test_a_status_not_in_the_workflow_is_named_next_to_its_row_and_nothing_is_saved(
    api: httpx.AsyncClient, host: Host
) -> None:
    page = await settings_page(api, host, f"/settings/projects/{host.site_id}/SEC")
    form = [(k, "Closed" if (k, v) == ("status_jira", "Done") else v) for k, v in SEC_FORM]
    form = [(k, "{nope}" if k == "fd:Bug:customfield_10051" else v) for k, v in form]
    answer = await post(api, page, form)
    assert answer.status_code == 422
    assert "'Closed' is not a status of the workflow of SEC" in error_of(answer, "status_jira-1")
    assert 'id="status_map-0-error"' not in answer.text  # the other row is fine
    assert "nope" in error_of(answer, "fd-Bug-customfield_10051")
    assert 'value="Closed" selected>Closed (not in the workflow)' in answer.text  # what was entered stays
    missing = await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/SEC")
    assert missing.status_code == 404


async def test_the_comment_preview_renders_the_template_or_names_its_error(
    api: httpx.AsyncClient, host: Host
) -> None:
    page = await settings_page(api, host, f"/settings/projects/{host.site_id}/SEC")
    preview = path_of(page) + "/preview"
    shown = await api.get(
        preview, params={"comment_template": "{item_type} {item_id} now {status} (was {previous_status})"}
    )
    assert "Anomaly an-42 now Acknowledged (was Open)" in shown.text
    bad = await api.get(preview, params={"comment_template": "Status: {state}"})
    assert "unknown placeholder {state}" in bad.text


async def test_worklogs_are_saved_and_every_other_setting_is_kept(api: httpx.AsyncClient, host: Host) -> None:
    before: dict[str, Any] = {
        "link_cardinality": {"anomaly": "many_to_one"},
        "max_projects_per_site": 3,
        "ui": {"allowed_origins": ["https://app.example.com"]},
        "callback": {"url": "https://host.example/jira-events", "secret": "a-long-random-callback-secret"},
    }
    assert (await host.call("PUT", "/api/v1/settings", before)).status_code == 200
    page = await settings_page(api, host, "/settings/worklogs")
    form = [("enabled", "on"), ("estimate", "leave"), ("min_seconds", "120"), ("rounding_minutes", "15")]
    saved = await post(api, page, form)
    assert saved.status_code == 303, re.findall(r"class=\"error\"[^>]*>([^<]*)", saved.text)
    shown = (await host.call("GET", "/api/v1/settings")).json()
    assert shown["worklogs"] == {
        "enabled": True,
        "delete_worklogs": False,
        "estimate": "leave",
        "min_seconds": 120,
        "rounding_minutes": 15,
    }
    assert shown["link_cardinality"] == {"anomaly": "many_to_one"} and shown["max_projects_per_site"] == 3
    assert shown["ui"]["allowed_origins"] == ["https://app.example.com"]
    assert shown["callback"] == {"url": "https://host.example/jira-events", "secret_set": True}
    assert "a-long-random-callback-secret" not in page.text

    bad = await post(
        api, page, [("enabled", "on"), ("estimate", "auto"), ("min_seconds", "30"), ("rounding_minutes", "0")]
    )
    assert bad.status_code == 422
    assert "Jira refuses worklogs under 60 seconds" in error_of(bad, "min_seconds")
    assert (await host.call("GET", "/api/v1/settings")).json()["worklogs"]["min_seconds"] == 120


async def test_a_projects_settings_are_deleted_from_the_list(api: httpx.AsyncClient, host: Host) -> None:
    path = f"/api/v1/sites/{host.site_id}/projects/SEC"
    assert (await host.call("PUT", path, {"default_issue_type": "Task"})).status_code == 201
    page = await settings_page(api, host, "/settings/projects")
    assert 'data-project="SEC"' in page.text
    assert '<option value="SEC">' not in page.text  # a project with settings is not offered again
    assert '<option value="WEB">WEB — Web Store</option>' in page.text
    answer = await api.post(
        f"{path_of(page)}/{host.site_id}/SEC/delete",
        content=urlencode({"csrf": csrf_of(page)}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303
    assert (await host.call("GET", path)).status_code == 404
    listed = await api.get(answer.headers["location"])
    assert "Deleted the settings of SEC" in listed.text and 'data-project="SEC"' not in listed.text


async def test_a_site_with_its_most_projects_offers_no_more(api: httpx.AsyncClient, host: Host) -> None:
    assert (await host.call("PUT", "/api/v1/settings", {"max_projects_per_site": 1})).status_code == 200
    assert (await host.call("PUT", f"/api/v1/sites/{host.site_id}/projects/WEB", {})).status_code == 201
    page = await settings_page(api, host, "/settings/projects")
    assert "the most the workspace allows" in page.text and "Add a project" not in page.text
    form = await settings_page(api, host, f"/settings/projects/{host.site_id}/SEC")
    refused = await post(api, form, [("poll_interval_s", "300"), ("action", "save")])
    assert refused.status_code == 409 and "max_projects_per_site" in refused.text
    assert (await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/SEC")).status_code == 404


async def test_transition_fields_are_rows_saved_and_shown_again(api: httpx.AsyncClient, host: Host) -> None:
    page = await settings_page(api, host, f"/settings/projects/{host.site_id}/HELP")
    rows = [
        ("tf_status", "Won't Do"),
        ("tf_field", "resolution"),
        ("tf_value", "Won't Do"),
        ("tf_status", "Won't Do"),
        ("tf_field", "comment"),
        ("tf_value", "Closed from {title}"),
        ("tf_status", "Done"),
        ("tf_field", "resolution"),
        ("tf_value", "Fixed-ish"),
    ]
    form = [("default_issue_type", "Task"), ("poll_interval_s", "300"), *rows, ("action", "save")]
    refused = await post(api, page, form)
    assert refused.status_code == 422
    assert "'Fixed-ish' is not a resolution of the site" in error_of(refused, "tf_status-2")
    assert 'id="transition_fields-0-error"' not in refused.text
    assert (await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/HELP")).status_code == 404

    saved = await post(api, page, [*form[:-4], ("action", "save")])
    assert saved.status_code == 303, re.findall(r"class=\"error\"[^>]*>([^<]*)", saved.text)
    stored = (await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/HELP")).json()
    assert stored["transition_fields"] == {
        "Won't Do": {"resolution": "Won't Do", "comment": "Closed from {title}"}
    }
    shown = await api.get(saved.headers["location"])
    assert 'name="tf_value" value="Closed from {title}"' in shown.text


async def test_stored_field_defaults_of_every_type_are_shown_with_the_default_type_chosen(
    api: httpx.AsyncClient, host: Host
) -> None:
    defaults = {"Bug": {"customfield_10051": "High"}, "Task": {"labels": ["sec", "{attributes.team}"]}}
    document = {"default_issue_type": "Bug", "field_defaults": defaults}
    assert (await host.call("PUT", f"/api/v1/sites/{host.site_id}/projects/SEC", document)).status_code == 201
    page = await settings_page(api, host, f"/settings/projects/{host.site_id}/SEC")
    chooser = re.search(r'<select id="fd_type".*?</select>', page.text, re.S)
    assert chooser and re.findall(r"<option selected>([^<]+)</option>", chooser.group(0)) == ["Bug"]
    assert 'name="fd:Bug:customfield_10051" value="High"' in page.text
    assert 'name="fd:Task:labels" value="[&#34;sec&#34;, &#34;{attributes.team}&#34;]"' in page.text
    # Saved again untouched, the document is the same.
    saved = await post(
        api,
        page,
        [
            ("default_issue_type", "Bug"),
            ("fd:Bug:customfield_10051", "High"),
            ("fd:Task:labels", '["sec", "{attributes.team}"]'),
            ("action", "save"),
        ],
    )
    assert saved.status_code == 303
    stored = (await host.call("GET", f"/api/v1/sites/{host.site_id}/projects/SEC")).json()
    assert stored["field_defaults"] == defaults
