"""Remote issue links: upsert by globalId, read, update, delete, validation and permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app
from jira_emulator.seed import Seed, default_seed

Client = Callable[[str, str], httpx.AsyncClient]
GLOBAL_ID = "system=https://host.example/items&id=42"


@pytest.fixture
def emulator() -> FastAPI:
    doc = default_seed().model_dump(by_alias=True)
    acme = doc["sites"][0]
    acme["projects"].append(
        {
            "key": "RO",
            "name": "Read only links",
            "lead": "admin@acme.test",
            "permissions": {"admin@acme.test": ["BROWSE_PROJECTS", "LINK_ISSUES"], "*": ["BROWSE_PROJECTS"]},
        }
    )
    acme["issues"] = [{"project": "WEB", "summary": "Linked"}, {"project": "RO", "summary": "Guarded"}]
    return create_app(Seed.model_validate(doc))


def _link(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "globalId": GLOBAL_ID,
        "object": {"url": "https://host.example/items/42", "title": title},
        **extra,
    }


async def test_post_upserts_by_global_id(jira: httpx.AsyncClient) -> None:
    created = await jira.post(
        "/rest/api/3/issue/WEB-1/remotelink", json=_link("Item 42", relationship="causes")
    )
    assert created.status_code == 201
    ident = created.json()
    assert set(ident) == {"id", "self"} and isinstance(ident["id"], int)
    assert ident["self"].endswith(f"/rest/api/3/issue/WEB-1/remotelink/{ident['id']}")

    again = await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=_link("Item 42 (renamed)"))
    assert again.status_code == 200
    assert again.json()["id"] == ident["id"]

    links = (await jira.get("/rest/api/3/issue/WEB-1/remotelink")).json()
    assert len(links) == 1
    assert links[0]["object"]["title"] == "Item 42 (renamed)"
    assert "relationship" not in links[0]  # the update replaced the whole link, as Jira does
    one = (await jira.get("/rest/api/3/issue/WEB-1/remotelink", params={"globalId": GLOBAL_ID})).json()
    assert one["id"] == ident["id"] and one["globalId"] == GLOBAL_ID


async def test_links_without_global_id_are_always_new(jira: httpx.AsyncClient) -> None:
    body = {"object": {"url": "https://host.example/a", "title": "A"}}
    first = await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=body)
    second = await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"object": {"url": "https://x.example"}}, {"title": "'title' is required."}),
        ({"object": {"title": "X"}}, {"url": "'url' is required."}),
        ({}, {"title": "'title' is required.", "url": "'url' is required."}),
    ],
)
async def test_object_url_and_title_are_required(
    jira: httpx.AsyncClient, body: dict[str, Any], errors: dict[str, str]
) -> None:
    response = await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=body)
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": errors}


async def test_put_get_and_delete_by_id(jira: httpx.AsyncClient) -> None:
    link_id = (await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=_link("Old"))).json()["id"]
    put = await jira.put(f"/rest/api/3/issue/WEB-1/remotelink/{link_id}", json=_link("New"))
    assert put.status_code == 204
    got = (await jira.get(f"/rest/api/3/issue/WEB-1/remotelink/{link_id}")).json()
    assert got["object"]["title"] == "New"
    assert (await jira.delete(f"/rest/api/3/issue/WEB-1/remotelink/{link_id}")).status_code == 204
    assert (await jira.get(f"/rest/api/3/issue/WEB-1/remotelink/{link_id}")).status_code == 404
    assert (await jira.get("/rest/api/3/issue/WEB-1/remotelink/not-a-number")).status_code == 400


async def test_delete_by_global_id(jira: httpx.AsyncClient) -> None:
    await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=_link("Doomed"))
    assert (await jira.delete("/rest/api/3/issue/WEB-1/remotelink")).status_code == 400  # no globalId
    deleted = await jira.delete("/rest/api/3/issue/WEB-1/remotelink", params={"globalId": GLOBAL_ID})
    assert deleted.status_code == 204
    assert (await jira.get("/rest/api/3/issue/WEB-1/remotelink")).json() == []
    again = await jira.delete("/rest/api/3/issue/WEB-1/remotelink", params={"globalId": GLOBAL_ID})
    assert again.status_code == 404


async def test_adding_and_removing_a_link_is_in_the_changelog(jira: httpx.AsyncClient) -> None:
    link_id = (await jira.post("/rest/api/3/issue/WEB-1/remotelink", json=_link("Item 42"))).json()["id"]
    await jira.delete(f"/rest/api/3/issue/WEB-1/remotelink/{link_id}")
    issue = (await jira.get("/rest/api/3/issue/WEB-1", params={"expand": "changelog"})).json()
    items = [h["items"][0] for h in issue["changelog"]["histories"]]
    assert [(i["field"], i["from"], i["to"], i["toString"]) for i in items] == [
        ("RemoteIssueLink", None, str(link_id), 'This issue links to "Item 42"'),
        ("RemoteIssueLink", str(link_id), None, None),
    ]


async def test_linking_needs_link_issues(jira: httpx.AsyncClient, as_user: Client) -> None:
    link_id = (await jira.post("/rest/api/3/issue/RO-1/remotelink", json=_link("Guarded"))).json()["id"]
    async with as_user("alice@acme.test", "alice-token") as alice:
        readable = await alice.get("/rest/api/3/issue/RO-1/remotelink")
        create = await alice.post("/rest/api/3/issue/RO-1/remotelink", json=_link("Mine"))
        delete = await alice.delete("/rest/api/3/issue/RO-1/remotelink", params={"globalId": GLOBAL_ID})
    assert readable.status_code == 200 and [lk["id"] for lk in readable.json()] == [link_id]
    assert (create.status_code, delete.status_code) == (403, 403)


async def test_v2_shapes_match_v3(jira: httpx.AsyncClient) -> None:
    created = await jira.post("/rest/api/2/issue/WEB-1/remotelink", json=_link("Item 42"))
    assert created.status_code == 201
    assert "/rest/api/2/issue/WEB-1/remotelink/" in created.json()["self"]
    links = (await jira.get("/rest/api/2/issue/WEB-1/remotelink")).json()
    assert links[0]["object"] == {"url": "https://host.example/items/42", "title": "Item 42"}
