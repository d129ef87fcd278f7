"""Rate limits as Jira Cloud applies them: each limit answers 429 with its headers and reason, and
recovers once its window has passed (the emulator's clock is advanced instead of sleeping)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app, default_seed
from jira_emulator.seed import IssueSeed
from jira_emulator.state import AccessToken

RESET_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")


@pytest.fixture
def emulator() -> FastAPI:
    seed = default_seed()
    seed.sites[0].issues = [IssueSeed(project="WEB", summary=f"Issue {n}") for n in (1, 2)]
    return create_app(seed)


async def limit(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/_emulator/rate-limits", json=body)
    assert response.status_code == 200, response.text


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_emulator/clock", json={"advance_s": seconds})
    assert response.status_code == 200


def assert_refused(response: httpx.Response, reason: str, limit: int) -> int:
    """Checks Jira's 429 and returns its Retry-After in seconds."""
    assert response.status_code == 429
    assert response.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    assert response.headers["RateLimit-Reason"] == reason
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-NearLimit"] == "true"
    assert RESET_FORMAT.match(response.headers["X-RateLimit-Reset"])
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def summary_edit(n: int) -> dict[str, Any]:
    return {"fields": {"summary": f"Edit {n}"}}


async def test_no_limits_by_default(jira: httpx.AsyncClient) -> None:
    for _ in range(150):
        response = await jira.get("/rest/api/3/myself")
        assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


async def test_burst_limit_per_endpoint_and_method(jira: httpx.AsyncClient) -> None:
    await limit(jira, {"default": {"burst": {"get_post_per_s": 3, "put_delete_per_s": 1}}})
    for _ in range(3):
        assert (await jira.get("/rest/api/3/myself")).status_code == 200
    retry_after = assert_refused(await jira.get("/rest/api/3/myself"), "jira-burst-based", 3)
    assert retry_after == 1
    # Another endpoint has its own budget; one endpoint template shares it across issues.
    assert (await jira.get("/rest/api/3/serverInfo")).status_code == 200
    for key in ("WEB-1", "WEB-2", "WEB-1"):
        assert (await jira.get(f"/rest/api/3/issue/{key}")).status_code == 200
    assert_refused(await jira.get("/rest/api/3/issue/WEB-2"), "jira-burst-based", 3)
    # PUT has the lower write limit.
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(1))).status_code == 204
    assert_refused(await jira.put("/rest/api/3/issue/WEB-2", json=summary_edit(2)), "jira-burst-based", 1)

    await advance(jira, 1)
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.put("/rest/api/3/issue/WEB-2", json=summary_edit(3))).status_code == 204


async def test_a_refused_call_is_not_applied(jira: httpx.AsyncClient) -> None:
    await limit(jira, {"default": {"burst": {"put_delete_per_s": 1}}})
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(1))).status_code == 204
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(2))).status_code == 429
    issue = (await jira.get("/rest/api/3/issue/WEB-1")).json()
    assert issue["fields"]["summary"] == "Edit 1"


async def test_near_limit_header_on_successful_answers(jira: httpx.AsyncClient) -> None:
    await limit(jira, {"default": {"burst": {"get_post_per_s": 10}}})
    answers = [await jira.get("/rest/api/3/myself") for _ in range(10)]
    assert all(a.status_code == 200 for a in answers)
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == [str(n) for n in range(9, -1, -1)]
    near = [a.headers.get("X-RateLimit-NearLimit") for a in answers]
    # Under 20 % of 10 remaining: the last two answers (1 and 0 left) carry the warning.
    assert near == [None] * 8 + ["true", "true"]


async def test_per_issue_write_limit(jira: httpx.AsyncClient) -> None:
    await limit(jira, {"default": {"per_issue_write": {}}})  # Jira's 20 per 2 s and 100 per 30 s
    for n in range(20):
        assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(n))).status_code == 204
    # The issue's id and key share the limit; any write counts, a comment as much as an edit.
    issue_id = (await jira.get("/rest/api/3/issue/WEB-1")).json()["id"]
    refused = await jira.post(f"/rest/api/3/issue/{issue_id}/comment", json={"body": plain_adf("hi")})
    retry_after = assert_refused(refused, "jira-per-issue-on-write", 20)
    assert retry_after <= 2
    # Reads of that issue and writes to another issue go on.
    assert (await jira.get("/rest/api/3/issue/WEB-1")).status_code == 200
    assert (await jira.put("/rest/api/3/issue/WEB-2", json=summary_edit(0))).status_code == 204

    await advance(jira, 2)
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(99))).status_code == 204


async def test_per_issue_longer_window(jira: httpx.AsyncClient) -> None:
    windows = [{"limit": 2, "seconds": 1.0}, {"limit": 3, "seconds": 30.0}]
    await limit(jira, {"default": {"per_issue_write": {"windows": windows}}})
    for n in range(2):
        assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(n))).status_code == 204
    await advance(jira, 1)
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(2))).status_code == 204
    retry_after = assert_refused(
        await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(3)), "jira-per-issue-on-write", 3
    )
    assert 28 <= retry_after <= 30
    await advance(jira, retry_after)
    assert (await jira.put("/rest/api/3/issue/WEB-1", json=summary_edit(4))).status_code == 204


def oauth_client(emulator: FastAPI, site: str, client_id: str = "jirabridge-dev") -> httpx.AsyncClient:
    """A client calling through the OAuth gateway with a fresh access token for Ada."""
    state = emulator.state.emulator
    admin = state.account_by_email("admin@acme.test")
    token = f"at-{client_id}-{site}"
    state.access_tokens[token] = AccessToken(
        token=token,
        client_id=client_id,
        account_id=admin.account_id,
        scopes=["read:jira-work", "write:jira-work", "read:jira-user", "offline_access"],
        expires_at=state.now() + timedelta(days=1),
    )
    cloud_id = state.sites[site].cloud_id
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url=f"https://api.atlassian.com/ex/jira/{cloud_id}",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_oauth_tenant_quota_is_hourly(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    # One point a call (no points per object), to count calls.
    await limit(jira, {"default": {"oauth_quota": {"tenant_points_per_hour": 3, "object_points": 0}}})
    async with oauth_client(emulator, "acme") as app_client:
        for _ in range(3):
            assert (await app_client.get("/rest/api/3/myself")).status_code == 200
        refused = await app_client.get("/rest/api/3/serverInfo")
        retry_after = assert_refused(refused, "jira-quota-tenant-based", 3)
        assert retry_after <= 3600
        # API-token traffic is not subject to the apps' quota.
        assert (await jira.get("/rest/api/3/myself")).status_code == 200
        await advance(jira, retry_after)
        assert (await app_client.get("/rest/api/3/myself")).status_code == 200


async def test_oauth_global_quota_spans_sites(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    quota = {"tenant_points_per_hour": 100, "global_points_per_hour": 4, "object_points": 0}
    await limit(jira, {"default": {"oauth_quota": quota}})
    async with oauth_client(emulator, "acme") as on_acme, oauth_client(emulator, "globex") as on_globex:
        for client in (on_acme, on_acme, on_globex, on_globex):
            answer = await client.get("/rest/api/3/myself")
            assert answer.status_code == 200
        assert answer.headers["Beta-RateLimit-Policy"] == (
            '"tenant-app-quota";q=100;w=3600, "global-app-quota";q=4;w=3600'
        )
        assert re.fullmatch(
            r'"tenant-app-quota";r=98;t=\d+, "global-app-quota";r=0;t=\d+', answer.headers["Beta-RateLimit"]
        )
        assert_refused(await on_acme.get("/rest/api/3/myself"), "jira-quota-global-based", 4)


async def test_simple_site_limit_spans_endpoints(jira: httpx.AsyncClient, as_user: Any) -> None:
    await limit(jira, {"sites": {"acme": {"requests_per_s": 2}}})
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/rest/api/3/serverInfo")).status_code == 200
    assert_refused(await jira.get("/rest/api/3/project"), "jira-burst-based", 2)
    # Only acme is limited; globex, reached by its path prefix, is not.
    async with as_user("admin@acme.test", "admin-token", "https://acme.atlassian.net/sites/globex") as globex:
        for _ in range(5):
            assert (await globex.get("/rest/api/3/myself")).status_code == 200
    # The control API is never limited.
    assert (await jira.get("/_emulator/rate-limits")).json()["rejections"] == {"jira-burst-based": 1}
    await advance(jira, 1)
    assert (await jira.get("/rest/api/3/project")).status_code == 200


async def test_site_override_can_be_removed(jira: httpx.AsyncClient) -> None:
    await limit(jira, {"sites": {"acme": {"requests_per_s": 1}}})
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/rest/api/3/myself")).status_code == 429
    await limit(jira, {"sites": {"acme": None}})
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/_emulator/rate-limits")).json()["sites"] == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"default": {"burst": {"get_post_per_s": 0}}}, "default.burst.get_post_per_s"),
        ({"default": {"burst": {"get_post_per_s": "10"}}}, "default.burst.get_post_per_s"),
        ({"default": {"requests_per_s": True}}, "default.requests_per_s"),
        ({"sites": {"acme": {"bogus": 1}}}, "sites.acme.bogus"),
    ],
)
async def test_bad_configuration_is_400_naming_the_field(
    jira: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await jira.post("/_emulator/rate-limits", json=body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def plain_adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def quota_left(response: httpx.Response) -> int:
    """`r` of Jira's `Beta-RateLimit: "tenant-app-quota";r=…;t=…`."""
    found = re.fullmatch(r'"tenant-app-quota";r=(\d+);t=(\d+)', response.headers["Beta-RateLimit"])
    assert found is not None, response.headers["Beta-RateLimit"]
    assert 0 < int(found.group(2)) <= 3600
    return int(found.group(1))


async def test_oauth_quota_weighs_a_call_by_the_objects_it_returns_or_creates(
    emulator: FastAPI, jira: httpx.AsyncClient
) -> None:
    await limit(jira, {"default": {"oauth_quota": {"tenant_points_per_hour": 1000}}})
    async with oauth_client(emulator, "acme") as app_client:
        first = await app_client.get("/rest/api/3/issue/WEB-1")
        assert first.headers["Beta-RateLimit-Policy"] == '"tenant-app-quota";q=1000;w=3600'
        left = quota_left(first)
        assert left == 1000 - 2  # the base cost and one object
        # A search costs the base and one point per issue it returns.
        search = await app_client.post(
            "/rest/api/3/search/jql", json={"jql": "project = WEB", "fields": ["summary"]}
        )
        returned = len(search.json()["issues"])
        assert returned == 2
        assert quota_left(search) == left - 1 - returned
        left = quota_left(search)
        # A bulk fetch is a read too, whatever its method.
        ids = [issue["id"] for issue in search.json()["issues"]]
        fetched = await app_client.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": ids})
        assert fetched.status_code == 200
        assert quota_left(fetched) == left - 1 - 2
        left = quota_left(fetched)
        # A write is charged the base cost only...
        created = await app_client.post("/rest/api/3/issue", json={"fields": task_fields("One")})
        assert created.status_code == 201
        assert quota_left(created) == left - 1
        left = quota_left(created)
        # ...but a bulk create is weighed by the issues it creates, not as one call.
        updates = [{"fields": task_fields(f"Bulk {n}")} for n in range(5)]
        bulk = await app_client.post("/rest/api/3/issue/bulk", json={"issueUpdates": updates})
        assert bulk.status_code == 201
        assert quota_left(bulk) == left - 5
        # An empty list is the base cost alone.
        left = quota_left(bulk)
        empty = await app_client.post("/rest/api/3/search/jql", json={"jql": "project = NOPE"})
        assert quota_left(empty) == left - 1
    # API-token traffic is not weighed, and gets no quota headers.
    plain = await jira.get("/rest/api/3/issue/WEB-1")
    assert plain.status_code == 200 and "Beta-RateLimit" not in plain.headers


async def test_oauth_quota_429_says_when_the_hour_resets(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    await limit(jira, {"default": {"oauth_quota": {"tenant_points_per_hour": 5}}})
    async with oauth_client(emulator, "acme") as app_client:
        read = await app_client.get("/rest/api/3/issue/WEB-1")  # 2 points
        assert quota_left(read) == 3
        # A read is admitted while its base cost fits; what it returns may take the bucket over.
        listed = await app_client.get("/rest/api/3/project")
        assert listed.status_code == 200
        assert quota_left(listed) == 0
        assert listed.headers["X-Beta-RateLimit-NearLimit"] == "true"
        refused = await app_client.get("/rest/api/3/myself")
        retry_after = assert_refused(refused, "jira-quota-tenant-based", 5)
        assert refused.headers["X-Beta-RateLimit-Reason"] == "jira-quota-tenant-based"
        found = re.fullmatch(r'"tenant-app-quota";r=0;t=(\d+)', refused.headers["Beta-RateLimit"])
        assert found is not None and int(found.group(1)) == retry_after
        await advance(jira, retry_after - 1)
        assert (await app_client.get("/rest/api/3/myself")).status_code == 429  # not yet the next hour
        await advance(jira, 1)
        again = await app_client.get("/rest/api/3/myself")
        assert again.status_code == 200 and quota_left(again) == 3  # a fresh hour, less this call


def task_fields(summary: str) -> dict[str, Any]:
    return {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}
