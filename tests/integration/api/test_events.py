"""The event feed through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from jirabridge.bootstrap import Container
from jirabridge.storage.events import record_event
from support.service import SERVICE_TOKEN, bearer, make_tenant

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def record(container: Container, workspace_id: str, n: int, **fields: Any) -> None:
    with container.uow() as uow:
        record_event(
            uow.session,
            workspace_id=workspace_id,
            type=fields.get("type", "item.status_changed"),
            source=fields.get("source", "jira"),
            at=T0 + timedelta(seconds=n),
            item=("anomaly", f"an-{n}"),
            issue_key=f"DQ-{n}",
            data={"from": "Active", "to": "Resolved", "n": n},
        )
        uow.commit()


async def read_all(api: httpx.AsyncClient, headers: dict[str, str], limit: int) -> tuple[list[Any], str]:
    seen: list[Any] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["after"] = cursor
        answer = await api.get("/api/v1/events", params=params, headers=headers)
        assert answer.status_code == 200
        page = answer.json()
        assert isinstance(page["next"], str)
        cursor = page["next"]
        if not page["events"]:
            return seen, cursor
        assert len(page["events"]) <= limit
        seen.extend(page["events"])


async def test_feed_pages_in_order_with_the_documented_shape(
    api: httpx.AsyncClient, container: Container
) -> None:
    tenant = await make_tenant(api)
    for n in range(5):
        record(container, tenant.workspace_id, n)

    events, cursor = await read_all(api, tenant.headers("member"), limit=2)

    assert [e["data"]["n"] for e in events] == [0, 1, 2, 3, 4]
    first = events[0]
    assert first["id"].startswith("ev_")
    assert first == {
        "id": first["id"],
        "type": "item.status_changed",
        "at": "2026-11-23T10:30:00Z",
        "source": "jira",
        "item": {"type": "anomaly", "id": "an-0"},
        "issue_key": "DQ-0",
        "data": {"from": "Active", "to": "Resolved", "n": 0},
    }
    assert len({e["id"] for e in events}) == 5

    # The last `next` is where a poller resumes: only what happened since comes back.
    record(container, tenant.workspace_id, 5, type="link.broken", source="jirabridge")
    later = (await api.get("/api/v1/events", params={"after": cursor}, headers=tenant.headers())).json()
    assert [(e["type"], e["source"]) for e in later["events"]] == [("link.broken", "jirabridge")]
    again = (
        await api.get("/api/v1/events", params={"after": later["next"]}, headers=tenant.headers())
    ).json()
    assert again == {"events": [], "next": later["next"]}


async def test_a_workspace_sees_only_its_own_events(api: httpx.AsyncClient, container: Container) -> None:
    acme = await make_tenant(api, "Acme")
    globex = await make_tenant(api, "Globex")
    for n in range(6):
        record(container, (acme if n % 2 else globex).workspace_id, n)

    acme_events, acme_cursor = await read_all(api, acme.headers("member"), limit=1)
    globex_events, _ = await read_all(api, globex.headers("admin"), limit=10)

    assert [e["data"]["n"] for e in acme_events] == [1, 3, 5]
    assert [e["data"]["n"] for e in globex_events] == [0, 2, 4]
    # Another workspace's cursor shows nothing of the first workspace either.
    crossed = await api.get("/api/v1/events", params={"after": acme_cursor}, headers=globex.headers())
    assert crossed.status_code == 200 and crossed.json()["events"] == []
    first_page = await api.get("/api/v1/events", params={"limit": 1}, headers=globex.headers())
    after_acme_first = first_page.json()["next"]
    rest = (
        await api.get("/api/v1/events", params={"after": after_acme_first}, headers=acme.headers())
    ).json()
    assert [e["data"]["n"] for e in rest["events"]] == [1, 3, 5]


async def test_bad_cursor_and_limit_name_the_field(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    for params, field in (
        ({"after": "not-a-cursor"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
    ):
        answer = await api.get("/api/v1/events", params=params, headers=tenant.headers())
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_the_feed_needs_a_workspace_key(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/events")).status_code == 401
    assert (await api.get("/api/v1/events", headers=bearer(SERVICE_TOKEN))).status_code == 403
