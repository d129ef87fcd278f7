"""Project settings through the HTTP API against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from jira_emulator import create_app as create_emulator
from jira_emulator.seed import ProjectSeed, default_seed
from jirabridge.bootstrap import Container, build
from jirabridge.config import Settings
from jirabridge.service.sites import metadata
from jirabridge.service.sites.sites import site_access
from jirabridge.storage.tables import Site
from support.dns import FakeResolver
from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
EXTRA_PROJECTS = [f"P{n:02d}" for n in range(1, 11)]  # with WEB, SEC, DQ, LOCK, HELP: 15 on acme

SEC_DOCUMENT: dict[str, Any] = {
    "default_issue_type": "Bug",
    "status_sync": "two_way",
    "status_map": {"Open": "To Do", "Fixed": "Done", "Ignored": "Won't Do"},
    "inbound_status_map": {"Done": "Fixed"},
    "resolved_status": "Fixed",
    "priority_map": {"critical": "Highest", "low": "Low"},
    "assignee_sync": "two_way",
    "comment_sync": "two_way",
    "on_link_status": None,
    "on_link_status_from": None,
    "on_create_status": None,
    "on_create_status_from": None,
    "comment_template": "[{timestamp}] {host} {item_type} Status: {status}",
    "poll_interval_s": 120,
    "field_defaults": {
        "*": {"labels": ["svc-{attributes.service}"]},
        "Bug": {"customfield_10051": "{severity}"},
    },
    "transition_fields": {},
}


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes every Jira call to the emulator and remembers it (`GET /rest/api/3/...`)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)


@pytest.fixture
def emulator() -> FastAPI:
    seed = default_seed()
    acme = next(s for s in seed.sites if s.name == "acme")
    acme.projects.extend(ProjectSeed(key=key, name=f"Project {key}") for key in EXTRA_PROJECTS)
    return create_emulator(seed)


@pytest.fixture
def jira_transport(emulator: FastAPI) -> CountingTransport:
    return CountingTransport(httpx.ASGITransport(app=emulator))


@pytest.fixture
def container(
    settings: Settings, jira_transport: CountingTransport, resolver: FakeResolver
) -> Iterator[Container]:
    built = build(settings, jira_transport=jira_transport, resolver=resolver)
    yield built
    built.close()


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> Tenant:
    return await make_tenant(api)


async def connect(api: httpx.AsyncClient, tenant: Tenant) -> str:
    answer = await api.post("/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers())
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_a_valid_document_round_trips_and_defaults_are_filled(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"

    created = await api.put(f"{url}/SEC", json=SEC_DOCUMENT, headers=tenant.headers("manager"))
    assert created.status_code == 201, created.text
    assert created.json() == SEC_DOCUMENT
    read = await api.get(f"{url}/SEC", headers=tenant.headers("member"))
    assert read.status_code == 200 and read.json() == SEC_DOCUMENT

    edited = read.json() | {"status_sync": "comment", "poll_interval_s": 30}
    replaced = await api.put(f"{url}/SEC", json=edited, headers=tenant.headers())
    assert replaced.status_code == 200 and replaced.json() == edited

    # Left out: the documented defaults. Names match case-insensitively and take Jira's spelling.
    minimal = await api.put(
        f"{url}/WEB",
        json={"default_issue_type": "task", "status_map": {"Open": "to do"}},
        headers=tenant.headers(),
    )
    assert minimal.status_code == 201, minimal.text
    assert minimal.json() == {
        "default_issue_type": "Task",
        "status_sync": "two_way",
        "status_map": {"Open": "To Do"},
        "inbound_status_map": {},
        "resolved_status": None,
        "priority_map": {},
        "assignee_sync": "off",
        "comment_sync": "off",
        "on_link_status": None,
        "on_link_status_from": None,
        "on_create_status": None,
        "on_create_status_from": None,
        "comment_template": None,
        "poll_interval_s": 300,
        "field_defaults": {},
        "transition_fields": {},
    }

    listed = (await api.get(url, headers=tenant.headers("member"))).json()["projects"]
    assert [(p["key"], p["site"], p["settings"]) for p in listed] == [
        ("SEC", site, edited),
        ("WEB", site, minimal.json()),
    ]
    assert all(str(p["updated_at"]).endswith("Z") for p in listed)


UNKNOWN_NAMES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    # (project, document, the field named, words the message must hold: the unknown value, allowed ones)
    ("SEC", {"default_issue_type": "Epic"}, "default_issue_type", ["'Epic'", "'Bug'", "'Task'"]),
    ("SEC", {"status_map": {"Fixed": "Closed"}}, "status_map.Fixed", ["'Closed'", "'Done'", "'To Do'"]),
    ("SEC", {"inbound_status_map": {"Closed": "Fixed"}}, "inbound_status_map.Closed", ["'Closed'", "'Done'"]),
    ("SEC", {"priority_map": {"critical": "Blocker"}}, "priority_map.critical", ["'Blocker'", "'Highest'"]),
    ("SEC", {"field_defaults": {"Epic": {"labels": ["x"]}}}, "field_defaults.Epic", ["'Epic'", "'Bug'"]),
    (
        "SEC",
        {"field_defaults": {"Bug": {"customfield_10050": "x"}}},
        "field_defaults.Bug.customfield_10050",
        ["'customfield_10050'", "customfield_10051 (Severity)", "labels (Labels)"],
    ),
    (
        "DQ",
        {"field_defaults": {"*": {"customfield_10051": "{severity}"}}},
        "field_defaults.*.customfield_10051",
        ["'customfield_10051'", "Task, Bug", "customfield_10052 (Data source)"],
    ),
    (
        "SEC",
        {"field_defaults": {"Bug": {"labels": ["svc-{nope}"]}}},
        "field_defaults.Bug.labels",
        ["{nope}", "{attributes."],
    ),
    ("SEC", {"comment_template": "{timestamp} {nope}"}, "comment_template", ["{nope}", "{status}"]),
    ("NOPE", {}, "project", ["NOPE"]),
]


@pytest.mark.parametrize(("project", "document", "field", "words"), UNKNOWN_NAMES)
async def test_an_unknown_name_answers_422_naming_it_and_stores_nothing(
    api: httpx.AsyncClient,
    tenant: Tenant,
    project: str,
    document: dict[str, Any],
    field: str,
    words: list[str],
) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    answer = await api.put(f"{url}/{project}", json=document, headers=tenant.headers())
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    for word in words:
        assert word in errors[0]["message"], errors
    assert (await api.get(f"{url}/{project}", headers=tenant.headers())).status_code == 404
    assert (await api.get(url, headers=tenant.headers())).json() == {"projects": []}


async def test_every_unknown_name_is_reported_at_once(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    document = {
        "default_issue_type": "Epic",
        "status_map": {"Open": "To Do", "Fixed": "Closed"},
        "priority_map": {"critical": "Blocker"},
        "field_defaults": {"Bug": {"labels": ["svc-{attributes.service}"]}},
    }
    answer = await api.put(f"/api/v1/sites/{site}/projects/SEC", json=document, headers=tenant.headers())
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [
        "default_issue_type",
        "status_map.Fixed",
        "priority_map.critical",
    ]


async def test_a_badly_shaped_document_is_refused_by_its_schema(
    api: httpx.AsyncClient, tenant: Tenant
) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    cases = [
        ({"status_sink": "two_way"}, "status_sink"),
        ({"status_sync": "sideways"}, "status_sync"),
        ({"poll_interval_s": 10}, "poll_interval_s"),
        ({"poll_interval_s": "300"}, "poll_interval_s"),
        ({"assignee_sync": "comment"}, "assignee_sync"),
    ]
    for body, field in cases:
        answer = await api.put(f"{url}/WEB", json=body, headers=tenant.headers())
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["field"] == field
    assert (await api.put(f"{url}/web", json={}, headers=tenant.headers())).status_code == 422
    assert (await api.get(url, headers=tenant.headers())).json() == {"projects": []}


async def test_an_eleventh_project_on_a_site_answers_409(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    for key in EXTRA_PROJECTS:
        assert (await api.put(f"{url}/{key}", json={}, headers=tenant.headers())).status_code == 201
    refused = await api.put(f"{url}/WEB", json={}, headers=tenant.headers())
    assert refused.status_code == 409
    assert "max_projects_per_site" in refused.json()["detail"]
    assert (await api.get(f"{url}/WEB", headers=tenant.headers())).status_code == 404
    # Replacing one of the ten is not a new project; deleting one makes room.
    assert (
        await api.put(f"{url}/P01", json={"status_sync": "off"}, headers=tenant.headers())
    ).status_code == 200
    assert (await api.delete(f"{url}/P01", headers=tenant.headers())).status_code == 204
    assert (await api.put(f"{url}/WEB", json={}, headers=tenant.headers())).status_code == 201
    listed = (await api.get(url, headers=tenant.headers())).json()["projects"]
    assert len(listed) == 10 and "P01" not in {p["key"] for p in listed}


async def test_the_limit_is_the_workspace_setting(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    answer = await api.put("/api/v1/settings", json={"max_projects_per_site": 1}, headers=tenant.headers())
    assert answer.status_code == 200, answer.text
    assert (await api.put(f"{url}/WEB", json={}, headers=tenant.headers())).status_code == 201
    assert (await api.put(f"{url}/SEC", json={}, headers=tenant.headers())).status_code == 409


async def test_members_read_but_cannot_write(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    member = tenant.headers("member")
    assert (await api.put(f"{url}/WEB", json={}, headers=member)).status_code == 403
    assert (await api.get(f"{url}/WEB", headers=member)).status_code == 404
    assert (await api.put(f"{url}/WEB", json={}, headers=tenant.headers("manager"))).status_code == 201
    assert (await api.put(f"{url}/WEB", json={"status_sync": "off"}, headers=member)).status_code == 403
    assert (await api.delete(f"{url}/WEB", headers=member)).status_code == 403
    read = await api.get(f"{url}/WEB", headers=member)
    assert read.status_code == 200 and read.json()["status_sync"] == "two_way"
    assert (await api.delete(f"{url}/WEB", headers=tenant.headers("manager"))).status_code == 204
    assert (await api.get(f"{url}/WEB", headers=member)).status_code == 404


async def test_another_workspace_sees_404(api: httpx.AsyncClient, tenant: Tenant) -> None:
    site = await connect(api, tenant)
    url = f"/api/v1/sites/{site}/projects"
    assert (await api.put(f"{url}/WEB", json={}, headers=tenant.headers())).status_code == 201
    other = (await make_tenant(api, "Globex")).headers()
    for answer in (
        await api.get(url, headers=other),
        await api.get(f"{url}/WEB", headers=other),
        await api.put(f"{url}/WEB", json={"status_sync": "off"}, headers=other),
        await api.delete(f"{url}/WEB", headers=other),
    ):
        assert answer.status_code == 404
    assert (await api.get(f"{url}/WEB", headers=tenant.headers())).json()["status_sync"] == "two_way"


async def test_jira_unavailable_answers_502_and_stores_nothing(
    api: httpx.AsyncClient, tenant: Tenant, emulator: FastAPI
) -> None:
    site = await connect(api, tenant)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url="http://emulator"
    ) as control:
        rule = {"kind": "error", "status": 500, "path": "^/rest/api/3/project/WEB"}
        assert (await control.post("/_emulator/faults", json={"rules": [rule]})).status_code == 200
    answer = await api.put(f"/api/v1/sites/{site}/projects/WEB", json={}, headers=tenant.headers())
    assert answer.status_code == 502
    assert answer.json()["type"].endswith("/jira_unavailable")
    assert "WEB" in answer.json()["detail"]
    assert (await api.get(f"/api/v1/sites/{site}/projects", headers=tenant.headers())).json() == {
        "projects": []
    }


async def test_metadata_is_cached_and_a_put_refreshes_it(
    api: httpx.AsyncClient, tenant: Tenant, container: Container, jira_transport: CountingTransport
) -> None:
    site_id = await connect(api, tenant)
    with container.uow() as uow:
        site = uow.session.scalars(select(Site).where(Site.id == site_id)).one()

    def project_calls() -> int:
        return sum("/project/SEC" in call or "/createmeta/SEC" in call for call in jira_transport.calls)

    first = await metadata.project_meta(container, site, "SEC")
    screen = await metadata.create_fields(container, site, "SEC", "bug")
    asked = project_calls()
    assert asked > 0 and "Done" in {s.name for s in first.statuses}
    assert [f.field_id for f in screen.required] == ["summary", "issuetype", "project", "customfield_10051"]

    assert await metadata.project_meta(container, site, "SEC") == first
    assert await metadata.create_fields(container, site, "SEC", screen.issue_type_id) == screen
    assert project_calls() == asked  # answered from the cache

    # Saving settings asks Jira again (a workflow changed in Jira can be used at once) ...
    put = await api.put(f"/api/v1/sites/{site_id}/projects/SEC", json=SEC_DOCUMENT, headers=tenant.headers())
    assert put.status_code == 201, put.text
    after_put = project_calls()
    assert after_put > asked
    # ... and what it read serves ticket creation afterwards.
    await metadata.project_meta(container, site, "SEC")
    await metadata.create_fields(container, site, "SEC", "Bug")
    assert project_calls() == after_put

    # An unknown issue type is a 422 naming the project's types, without asking Jira again.
    with pytest.raises(Exception, match="'Epic' is not an issue type of SEC") as raised:
        await metadata.create_fields(container, site, "SEC", "Epic")
    assert getattr(raised.value, "status", None) == 422
    assert project_calls() == after_put


async def test_the_connector_reads_an_issue_and_its_status(
    api: httpx.AsyncClient, tenant: Tenant, container: Container, jira: httpx.AsyncClient
) -> None:
    created = await jira.post(
        "/rest/api/3/issue",
        json={
            "fields": {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Checkout fails"}
        },
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    site_id = await connect(api, tenant)
    with container.uow() as uow:
        site = uow.session.scalars(select(Site).where(Site.id == site_id)).one()
    access = site_access(container, site)

    info = await container.connector.get_issue(access, key)
    assert info is not None
    assert (info.key, info.id, info.status, info.status_category) == (
        key,
        created.json()["id"],
        "To Do",
        "new",
    )
    assert info.url == f"{ACME}/browse/{key}"
    assert await container.connector.get_issue(access, "WEB-9999") is None
