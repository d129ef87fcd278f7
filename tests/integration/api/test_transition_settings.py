"""Project settings `transition_fields` through the HTTP API, checked against the emulator's site
(HELP in the default seed has screens on its transitions), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.service import Tenant, make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> Tenant:
    return await make_tenant(api)


@pytest.fixture
async def url(api: httpx.AsyncClient, tenant: Tenant) -> str:
    answer = await api.post("/api/v1/sites", json={"url": ACME, "auth": BOT}, headers=tenant.headers())
    assert answer.status_code == 201, answer.text
    return f"/api/v1/sites/{answer.json()['id']}/projects/HELP"


async def test_transition_fields_are_stored_with_jiras_spelling(
    api: httpx.AsyncClient, tenant: Tenant, url: str
) -> None:
    document = {
        "transition_fields": {
            "done": {"resolution": {"name": "cannot reproduce"}},
            "Won't Do": {
                "resolution": "duplicate",
                "comment": "Closed from {type} {id}",
                "customfield_10050": "{attributes.env}",
            },
            "In Review": {"customfield_10050": "production"},
        }
    }
    answer = await api.put(url, json=document, headers=tenant.headers())
    assert answer.status_code == 201, answer.text
    expected = {
        "Done": {"resolution": {"name": "Cannot Reproduce"}},
        "Won't Do": {
            "resolution": "Duplicate",
            "comment": "Closed from {type} {id}",
            "customfield_10050": "{attributes.env}",
        },
        "In Review": {"customfield_10050": "production"},
    }
    assert answer.json()["transition_fields"] == expected
    read = await api.get(url, headers=tenant.headers("member"))
    assert read.json()["transition_fields"] == expected


REFUSED: list[tuple[dict[str, Any], str, list[str]]] = [
    # (transition_fields, the field named, words the message must hold)
    ({"Closed": {"resolution": "Done"}}, "transition_fields.Closed", ["'Closed'", "'Done'", "'To Do'"]),
    ({"Done": {"resolutoin": "Done"}}, "transition_fields.Done.resolutoin", ["'resolutoin'", "field"]),
    (
        {"Done": {"resolution": {"name": "Fixed"}}},
        "transition_fields.Done.resolution",
        ["'Fixed'", "'Done'", "'Cannot Reproduce'"],
    ),
    ({"Done": {"resolution": "{nope}"}}, "transition_fields.Done.resolution", ["{nope}", "{attributes."]),
    ({"Done": {"comment": {"body": "x"}}}, "transition_fields.Done.comment", ["text"]),
    ({"Done": "Done"}, "transition_fields.Done", []),
]


@pytest.mark.parametrize(("value", "field", "words"), REFUSED)
async def test_a_bad_transition_field_answers_422_naming_it_and_stores_nothing(
    api: httpx.AsyncClient, tenant: Tenant, url: str, value: dict[str, Any], field: str, words: list[str]
) -> None:
    answer = await api.put(url, json={"transition_fields": value}, headers=tenant.headers())

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    for word in words:
        assert word in errors[0]["message"], errors
    assert (await api.get(url, headers=tenant.headers())).status_code == 404
