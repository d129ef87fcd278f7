"""Settings › Rules in process (SQLite and PostgreSQL): editing a rule keeps what the form has no
input for, a refused save of the list names the rule and changes nothing, and the live query check."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from support.host import Host, connect_host

SECURITY = {
    "name": "security",
    "query": "team:security",
    "destination": {
        "project": "SEC",
        "issue_type": "Bug",
        "fields": {"customfield_10051": {"value": "High"}, "labels": ["sec-{attributes.team}"]},
    },
}
WEB = {"name": "web", "query": "service:web-store", "destination": {"project": "WEB", "issue_type": "Task"}}


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    found = await connect_host(api, emulator, container, Host)
    saved = await found.call("PUT", "/api/v1/rules", {"rules": [SECURITY, WEB]})
    assert saved.status_code == 200, saved.text
    return found


async def rules_page(api: httpx.AsyncClient, host: Host) -> tuple[httpx.Response, str]:
    body = {"user_id": "u-1", "role": "manager", "scope": "settings"}
    issued = await host.call("POST", "/api/v1/ui-sessions", body)
    opened = await api.get(issued.json()["url"].removeprefix("http://127.0.0.1:8000"), follow_redirects=True)
    base = re.sub(r"^http://[^/]+", "", str(opened.url)).split("/settings/")[0]
    page = await api.get(f"{base}/settings/rules")
    assert page.status_code == 200
    return page, base


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_editing_a_rule_keeps_the_fields_the_form_has_no_input_for(
    api: httpx.AsyncClient, host: Host
) -> None:
    page, base = await rules_page(api, host)
    security = (await host.call("GET", "/api/v1/rules")).json()["rules"][0]
    form = await api.get(f"{base}/settings/rules/{security['id']}/edit")
    assert form.status_code == 200
    assert re.search(r'<option value="SEC"[^>]* selected>', form.text)
    assert "<option selected>High</option>" in form.text  # the stored Severity, shown in its select

    sent = {
        "csrf": csrf_of(page),
        "name": "security team",
        "query": "team:security -env:staging",
        "site": host.site_id,
        "project": "SEC",
        "issue_type": "Bug",
        "field.customfield_10051": "Critical",
        "enabled": "on",
    }
    saved = await api.post(f"{base}/settings/rules/{security['id']}/edit", data=sent)
    assert saved.status_code == 303, saved.text
    first, second = (await host.call("GET", "/api/v1/rules")).json()["rules"]
    assert (first["id"], first["name"], first["query"]) == (
        security["id"],
        "security team",
        "team:security -env:staging",
    )
    assert first["destination"]["fields"] == {
        "customfield_10051": {"value": "Critical"},
        "labels": ["sec-{attributes.team}"],  # set through the API; the form has no input for it
    }
    assert second["name"] == "web"


async def test_a_required_field_left_empty_is_named_next_to_its_input_and_nothing_is_saved(
    api: httpx.AsyncClient, host: Host
) -> None:
    page, base = await rules_page(api, host)
    sent = {
        "csrf": csrf_of(page),
        "name": "more security",
        "query": "team:sec*",
        "site": host.site_id,
        "project": "SEC",
        "issue_type": "Bug",
        "field.customfield_10051": "",
    }
    refused = await api.post(f"{base}/settings/rules/new", data=sent)
    assert refused.status_code == 422
    assert 'id="field-customfield_10051-error"' in refused.text
    assert "Severity is required by Jira for Bug in SEC" in refused.text
    assert 'value="team:sec*"' in refused.text  # what was typed stays
    assert len((await host.call("GET", "/api/v1/rules")).json()["rules"]) == 2


async def test_a_refused_save_of_the_list_names_the_rule_and_changes_nothing(
    api: httpx.AsyncClient, host: Host
) -> None:
    page, base = await rules_page(api, host)
    before = (await host.call("GET", "/api/v1/rules")).json()["rules"]
    # The project was deleted in Jira since the rules were saved: saving the list again refuses it.
    del host.jira.projects["SEC"]
    moved = await api.post(f"{base}/settings/rules/{before[1]['id']}/up", data={"csrf": csrf_of(page)})
    assert moved.status_code == 422
    assert "Rule &#39;security&#39; (destination.project): project SEC does not exist" in moved.text
    assert (await host.call("GET", "/api/v1/rules")).json()["rules"] == before


async def test_the_query_is_checked_as_it_is_typed(api: httpx.AsyncClient, host: Host) -> None:
    _, base = await rules_page(api, host)
    bad = await api.get(f"{base}/settings/rules/check-query", params={"query": "a || b"})
    assert bad.status_code == 200
    assert "write OR instead of || at position 2" in bad.text
    assert "a || b\n  ^</pre>" in bad.text
    good = await api.get(f"{base}/settings/rules/check-query", params={"query": "team:x"})
    assert "The query is valid." in good.text
    empty = await api.get(f"{base}/settings/rules/check-query", params={"query": "  "})
    assert empty.text.strip() == ""
