"""A body that is not JSON: a 422 that says where it broke and why, naming the body, not a number."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from jirabridge.bootstrap import Container
from support.service import SERVICE_TOKEN, bearer, make_tenant

JSON = {"content-type": "application/json"}


async def test_broken_json_names_the_body_line_column_and_reason_and_writes_nothing(
    api: httpx.AsyncClient, container: Container
) -> None:
    broken = b'{"name": "Acme",\n  "x": }'
    answer = await api.post("/api/v1/workspaces", content=broken, headers=bearer(SERVICE_TOKEN) | JSON)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] == [
        {"field": "body", "message": "invalid JSON at line 2 column 8 (char 24): Expecting value"}
    ]
    assert "line 2 column 8" in answer.json()["detail"]
    with container.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM workspaces")).scalar_one() == 0


async def test_broken_json_to_a_route_that_checks_its_own_body_is_reported_the_same(
    api: httpx.AsyncClient,
) -> None:
    tenant = await make_tenant(api)
    answer = await api.put("/api/v1/settings", content=b"{'host_name': 1}", headers=tenant.headers() | JSON)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "field": "body",
            "message": "invalid JSON at line 1 column 2 (char 1): "
            "Expecting property name enclosed in double quotes",
        }
    ]
