"""Workspace settings through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from jirabridge.bootstrap import Container
from support.service import make_tenant

DEFAULTS = {
    "link_cardinality": {},
    "worklogs": {
        "enabled": True,
        "delete_worklogs": False,
        "estimate": "auto",
        "min_seconds": 60,
        "rounding_minutes": 0,
    },
    "host_name": "Acme",
    "callback": {"url": None, "secret_set": False},
    "max_projects_per_site": 10,
    "comment_template": "[{timestamp}] {host} {item_type} Status: {status}",
    "ui": {"allowed_origins": []},
}

CHOSEN = {
    "link_cardinality": {"anomaly": "many_to_many", "error": "many_to_one", "vulnerability": "one_to_one"},
    "worklogs": {
        "enabled": True,
        "delete_worklogs": True,
        "estimate": "leave",
        "min_seconds": 120,
        "rounding_minutes": 15,
    },
    "host_name": "Qualytics",
    "callback": {"url": None},
    "max_projects_per_site": 3,
    "comment_template": "[{timestamp}] {host} {item_type} {item_id} Status: {status}",
    "ui": {"allowed_origins": ["https://app.qualytics.example"]},
}

SECRET = "whsec-0123456789abcdef-SENTINEL"


def stored_settings(container: Container) -> str:
    with container.engine.connect() as connection:
        return " ".join(str(row[0]) for row in connection.execute(text("SELECT settings FROM workspaces")))


async def test_defaults_then_a_replacement_that_any_key_reads(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    assert (await api.get("/api/v1/settings", headers=tenant.headers("member"))).json() == DEFAULTS

    put = await api.put("/api/v1/settings", json=CHOSEN, headers=tenant.headers("manager"))
    assert put.status_code == 200
    expected = CHOSEN | {"callback": {"url": None, "secret_set": False}}
    assert put.json() == expected
    assert (await api.get("/api/v1/settings", headers=tenant.headers("member"))).json() == expected

    # PUT replaces the document: what is left out takes its default.
    partial = await api.put(
        "/api/v1/settings", json={"host_name": "Shopist"}, headers=tenant.headers("admin")
    )
    assert partial.json() == DEFAULTS | {"host_name": "Shopist"}


async def test_members_cannot_change_settings(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    refused = await api.put("/api/v1/settings", json=CHOSEN, headers=tenant.headers("member"))
    assert refused.status_code == 403
    assert (await api.get("/api/v1/settings", headers=tenant.headers())).json() == DEFAULTS


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"worklogs": {"estimate": "new"}}, "worklogs.estimate"),
        ({"worklogs": {"rounding_minutes": 10}}, "worklogs.rounding_minutes"),
        ({"worklogs": {"min_seconds": 30}}, "worklogs.min_seconds"),
        ({"worklogs": {"enabled": 1}}, "worklogs.enabled"),
        ({"worklogs": {"delete": True}}, "worklogs.delete"),
        ({"link_cardinality": {"anomaly": "one_to_many"}}, "link_cardinality.anomaly"),
        ({"max_projects_per_site": True}, "max_projects_per_site"),
        ({"max_projects_per_site": 0}, "max_projects_per_site"),
        ({"callback": {"url": "ftp://host.example/hook", "secret": SECRET}}, "callback.url"),
        ({"callback": {"url": "https://user:pw@host.example/hook", "secret": SECRET}}, "callback.url"),
        ({"callback": {"url": "https://host.example/hook"}}, "callback.secret"),
        ({"callback": {"url": "https://host.example/hook", "secret": "short"}}, "callback.secret"),
        ({"host_name": ""}, "host_name"),
        ({"comment_template": "{host} {colour}"}, "comment_template"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_each_invalid_field_is_named_and_nothing_is_written(
    api: httpx.AsyncClient, container: Container, change: dict[str, Any], field: str
) -> None:
    tenant = await make_tenant(api)
    before = stored_settings(container)
    answer = await api.put("/api/v1/settings", json=CHOSEN | change, headers=tenant.headers("admin"))
    assert answer.status_code == 422
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/validation")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert stored_settings(container) == before


async def test_all_invalid_fields_are_named_at_once(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    body = {
        "worklogs": {"estimate": "sometimes", "rounding_minutes": 7},
        "link_cardinality": {"error": "lots"},
        "callback": {"url": "mailto:ops@host.example"},
    }
    answer = await api.put("/api/v1/settings", json=body, headers=tenant.headers("admin"))
    assert answer.status_code == 422
    assert sorted(e["field"] for e in answer.json()["errors"]) == [
        "callback.url",
        "link_cardinality.error",
        "worklogs.estimate",
        "worklogs.rounding_minutes",
    ]
    not_json = await api.put(
        "/api/v1/settings",
        content=b"[1, 2]",
        headers=tenant.headers("admin") | {"content-type": "application/json"},
    )
    assert not_json.status_code == 422


async def test_the_callback_secret_is_sealed_and_never_shown(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    callback = {"url": "https://host.example/jira-events", "secret": SECRET}
    put = await api.put(
        "/api/v1/settings", json=CHOSEN | {"callback": callback}, headers=tenant.headers("admin")
    )
    assert put.status_code == 200
    assert put.json()["callback"] == {"url": "https://host.example/jira-events", "secret_set": True}
    got = await api.get("/api/v1/settings", headers=tenant.headers("member"))
    assert SECRET not in put.text and SECRET not in got.text
    assert "SENTINEL" not in stored_settings(container)

    # A GET, edit, PUT round trip keeps the secret (it is write-only; `secret_set` is ignored).
    edited = got.json() | {"host_name": "Renamed"}
    again = await api.put("/api/v1/settings", json=edited, headers=tenant.headers("manager"))
    assert again.status_code == 200 and again.json()["callback"]["secret_set"] is True

    # Switching the callback off forgets the secret: a new URL needs a new one.
    off = await api.put("/api/v1/settings", json=CHOSEN, headers=tenant.headers("admin"))
    assert off.json()["callback"] == {"url": None, "secret_set": False}
    no_secret = await api.put(
        "/api/v1/settings",
        json={"callback": {"url": "https://host.example/x"}},
        headers=tenant.headers("admin"),
    )
    assert no_secret.status_code == 422


async def test_settings_are_per_workspace(api: httpx.AsyncClient) -> None:
    acme = await make_tenant(api, "Acme")
    globex = await make_tenant(api, "Globex")
    await api.put("/api/v1/settings", json=CHOSEN, headers=acme.headers("admin"))
    assert (await api.get("/api/v1/settings", headers=globex.headers())).json() == DEFAULTS | {
        "host_name": "Globex"
    }
