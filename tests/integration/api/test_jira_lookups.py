"""What forms read from Jira through the API: a site's projects, a project's issue types, statuses and
priorities, the create screen of an issue type, and assignable users — with the emulator in process."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from jirabridge.bootstrap import Container
from support.host import Host, connect_host


@pytest.fixture
async def host(api: httpx.AsyncClient, emulator: FastAPI, container: Container) -> Host:
    return await connect_host(api, emulator, container, Host)


async def test_a_member_lists_the_projects_the_connection_sees(host: Host) -> None:
    answer = await host.call("GET", f"/api/v1/sites/{host.site_id}/jira/projects", role="member")
    assert answer.status_code == 200, answer.text
    keys = [p["key"] for p in answer.json()["projects"]]
    assert {"WEB", "SEC", "DQ"} <= set(keys) and keys == sorted(keys)


async def test_a_project_shows_its_issue_types_workflow_statuses_and_priorities(host: Host) -> None:
    answer = await host.call("GET", f"/api/v1/sites/{host.site_id}/jira/projects/SEC", role="member")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {t["name"] for t in body["issue_types"]} == {"Bug", "Task"}
    assert {"To Do", "Done"} <= {s["name"] for s in body["statuses"]}
    assert {"category": "done", "name": "Done"}.items() <= next(
        s for s in body["statuses"] if s["name"] == "Done"
    ).items()
    assert "High" in body["priorities"]


async def test_the_create_screen_names_required_custom_fields_and_their_values(host: Host) -> None:
    path = f"/api/v1/sites/{host.site_id}/jira/projects/SEC/issue-types/Bug/fields"
    answer = await host.call("GET", path, role="member")
    assert answer.status_code == 200, answer.text
    severity = next(f for f in answer.json()["fields"] if f["id"] == "customfield_10051")
    assert severity == {
        "id": "customfield_10051",
        "name": "Severity",
        "required": True,
        "type": "option",
        "allowed_values": ["Critical", "High", "Medium", "Low"],
        "has_default": False,
    }


async def test_assignable_users_match_what_was_typed(host: Host) -> None:
    path = f"/api/v1/sites/{host.site_id}/jira/users"
    answer = await host.call("GET", path + "?project=WEB&query=ali", role="member")
    assert answer.status_code == 200, answer.text
    assert [u["display_name"] for u in answer.json()["users"]] == ["Alice Analyst"]
    assert answer.json()["users"][0]["account_id"] == host.account("alice@acme.test")


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/jira/projects/NOPE", 422, "project"),
        ("/jira/projects/SEC/issue-types/Epic/fields", 422, "issue_type"),
        ("/jira/projects/s-1", 422, "project"),
        ("/jira/users?query=a", 422, "project"),
    ],
)
async def test_unknown_projects_and_issue_types_are_named(
    host: Host, path: str, status: int, field: str
) -> None:
    answer = await host.call("GET", f"/api/v1/sites/{host.site_id}{path}", role="member")
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in answer.json()["errors"]]


async def test_another_workspaces_site_is_not_found(api: httpx.AsyncClient, host: Host) -> None:
    from support.service import make_tenant

    other = await make_tenant(api, "Globex")
    answer = await api.get(f"/api/v1/sites/{host.site_id}/jira/projects", headers=other.headers())
    assert answer.status_code == 404
