"""Limits on request bodies, in process: a body over the endpoint's size limit answers 413 and JSON
nested too deep 422, both problem+json naming `body`, on the API and on Jira's webhook receiver
(whose size limit is larger). Chunked bodies over a real server: tests/e2e/test_body_limits.py."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from jirabridge.entrypoints.http.limits import MAX_BODY, MAX_JSON_DEPTH
from jirabridge.entrypoints.http.webhooks import MAX_BODY as WEBHOOK_MAX_BODY
from support.service import make_tenant

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
PROBLEM = "application/problem+json"


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


async def test_an_api_body_over_the_limit_answers_413_and_writes_nothing(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    item = {"title": "big", "description": "x" * 90_000}
    padded = json.dumps({**item, "attributes": {f"a{n}": "y" * 10_000 for n in range(99)}}).encode()
    assert len(padded) > MAX_BODY
    answer = await api.put("/api/v1/items/error/e-1", content=padded, headers=tenant.headers())
    assert answer.status_code == 413
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["connection"] == "close"
    assert answer.json()["errors"] == [{"field": "body", "message": f"larger than {MAX_BODY} bytes"}]
    assert answer.json()["request_id"] == answer.headers["x-request-id"]
    assert (await api.get("/api/v1/items/error/e-1", headers=tenant.headers())).status_code == 404
    # The same item under the limit is taken.
    assert (await api.put("/api/v1/items/error/e-1", json=item, headers=tenant.headers())).status_code == 201


async def test_json_nested_too_deep_answers_422_on_any_route(api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(api)
    for levels in (MAX_JSON_DEPTH + 1, 100_000):
        deep = b'{"title": "deep", "attributes": {"a": ' + nested(levels - 2) + b"}}"
        answer = await api.put("/api/v1/items/error/e-1", content=deep, headers=tenant.headers())
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["connection"] == "close"  # the rest of the body is not read
        assert answer.json()["errors"] == [
            {"field": "body", "message": f"nested deeper than {MAX_JSON_DEPTH} levels"}
        ]
        workspace = await api.post("/api/v1/workspaces", content=nested(levels), headers=tenant.headers())
        assert workspace.status_code == 422 and workspace.json()["errors"][0]["field"] == "body"
    assert (await api.get("/api/v1/items/error/e-1", headers=tenant.headers())).status_code == 404


async def test_the_webhook_takes_bigger_bodies_and_refuses_deep_ones_before_reading_on(
    api: httpx.AsyncClient,
) -> None:
    tenant = await make_tenant(api)
    site = await api.post(
        "/api/v1/sites", json={"url": ACME, "auth": BOT, "default_project": "WEB"}, headers=tenant.headers()
    )
    assert site.status_code == 201, site.text
    hook = (
        await api.post(f"/api/v1/sites/{site.json()['id']}/webhook-secret", headers=tenant.headers())
    ).json()
    path = "/webhooks/jira/" + hook["url"].rsplit("/", 1)[1]

    def signed(body: bytes) -> dict[str, str]:
        return {
            "X-Hub-Signature": "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        }

    # Bigger than the API takes, within the webhook's own limit: verified and answered.
    big = json.dumps({"webhookEvent": "worklog_created", "pad": "x" * (MAX_BODY + 1000)}).encode()
    answer = await api.post(path, content=big, headers=signed(big))
    assert answer.status_code == 200 and answer.json() == {"status": "ignored"}

    huge = json.dumps({"webhookEvent": "worklog_created", "pad": "x" * WEBHOOK_MAX_BODY}).encode()
    answer = await api.post(path, content=huge, headers=signed(huge))
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["errors"][0]["message"] == f"larger than {WEBHOOK_MAX_BODY} bytes"

    deep = b'{"webhookEvent": "jira:issue_updated", "issue": ' + nested(100_000) + b"}"
    answer = await api.post(path, content=deep, headers=signed(deep))
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["errors"][0]["field"] == "body"
