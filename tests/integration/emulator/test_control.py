"""The control API: reset with a seed, the state dump, the clock, index lag, API tokens and the
baseline configuration that `jira-emulator serve` sets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator.routes.control import Baseline, configure_baseline

CUSTOM_SEED: dict[str, Any] = {
    "users": [{"email": "eve@initech.test", "display_name": "Eve", "api_tokens": [{"token": "eve-token"}]}],
    "sites": [
        {
            "name": "initech",
            "projects": [{"key": "TPS", "name": "TPS Reports"}],
            "issues": [{"project": "TPS", "summary": "Cover sheet", "labels": ["paper"]}],
        }
    ],
}


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


async def create_issue(client: httpx.AsyncClient, summary: str) -> str:
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": summary}
    response = await client.post("/rest/api/3/issue", json={"fields": fields})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def test_reset_with_a_custom_seed(jira: httpx.AsyncClient, as_user: Any) -> None:
    await jira.post("/_emulator/faults", json={"rules": [{"kind": "error", "path": "/nothing"}]})
    response = await jira.post("/_emulator/reset", json=CUSTOM_SEED)
    assert response.json() == {"sites": ["initech"], "accounts": 1}
    # The old world is gone: Ada's credentials no longer work anywhere.
    assert (await jira.get("/rest/api/3/myself")).status_code == 401
    async with as_user("eve@initech.test", "eve-token", "https://initech.atlassian.net") as eve:
        assert (await eve.get("/rest/api/3/myself")).json()["displayName"] == "Eve"
        issue = (await eve.get("/rest/api/3/issue/TPS-1")).json()
        assert issue["fields"]["summary"] == "Cover sheet"
    state = (await jira.get("/_emulator/state")).json()
    assert list(state["sites"]) == ["initech"]
    assert [i["labels"] for i in state["sites"]["initech"]["issues"]] == [["paper"]]
    assert (await jira.get("/_emulator/faults")).json()["rules"] == []


async def test_reset_without_body_restores_the_default_seed(jira: httpx.AsyncClient) -> None:
    key = await create_issue(jira, "Will vanish")
    assert (await jira.get(f"/rest/api/3/issue/{key}")).status_code == 200
    response = await jira.post("/_emulator/reset")
    assert response.json() == {"sites": ["acme", "globex"], "accounts": 4}
    assert (await jira.get(f"/rest/api/3/issue/{key}")).status_code == 404


@pytest.mark.parametrize(
    ("seed", "field"),
    [
        ({"users": [{"email": "x@y.test"}]}, "users.0.display_name"),
        ({"sites": [{"name": "s", "colour": "blue"}]}, "sites.0.colour"),
        (
            {"sites": [{"name": "s", "projects": [{"key": "A", "name": "A", "workflow": {"statuses": []}}]}]},
            "sites.0.projects.0.workflow.initial",
        ),
    ],
)
async def test_reset_with_a_bad_seed_is_400_and_keeps_the_world(
    jira: httpx.AsyncClient, seed: dict[str, Any], field: str
) -> None:
    response = await jira.post("/_emulator/reset", json=seed)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert (await jira.get("/rest/api/3/myself")).status_code == 200


async def test_reset_with_an_inconsistent_seed_is_400(jira: httpx.AsyncClient) -> None:
    seed = {"sites": [{"name": "s", "projects": [{"key": "A", "name": "A", "lead": "nobody@x.test"}]}]}
    response = await jira.post("/_emulator/reset", json=seed)
    assert response.status_code == 400
    assert "nobody@x.test" in response.json()["errorMessages"][0]


async def test_state_dump_shows_the_work_but_no_secrets(jira: httpx.AsyncClient) -> None:
    key = await create_issue(jira, "Dump me")
    assert (
        await jira.post(f"/rest/api/3/issue/{key}/comment", json={"body": adf("A comment")})
    ).status_code == 201
    edit = await jira.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "Dumped"}})
    assert edit.status_code == 204
    response = await jira.get("/_emulator/state")
    text = response.text
    for secret in ("admin-token", "bot-token", "alice-token", "jirabridge-dev-secret-for-local-tests-only"):
        assert secret not in text
    state = response.json()
    ada = next(a for a in state["accounts"] if a["email"] == "admin@acme.test")
    assert ada["api_tokens"] == {"valid": 1, "expired": 0, "revoked": 0}
    issue = next(i for i in state["sites"]["acme"]["issues"] if i["key"] == key)
    assert issue["summary"] == "Dumped"
    assert issue["reporter"] == "admin@acme.test"
    assert [c["body"] for c in issue["comments"]] == ["A comment"]
    assert {"field": "summary", "from": "Dump me", "to": "Dumped"} in issue["changelog"][-1]["items"]
    assert [p["key"] for p in state["sites"]["acme"]["projects"]] == ["WEB", "SEC", "DQ", "LOCK", "HELP"]
    json.dumps(state)  # plain JSON all the way down


async def test_clock_expires_a_token(jira: httpx.AsyncClient, as_user: Any) -> None:
    added = await jira.post(
        "/_emulator/accounts/bot@acme.test/api-tokens",
        json={"action": "add", "token": "short-lived", "expires_in_s": 60},
    )
    assert added.json()["api_tokens"] == {"valid": 2, "expired": 0, "revoked": 0}
    async with as_user("bot@acme.test", "short-lived") as bot:
        assert (await bot.get("/rest/api/3/myself")).status_code == 200
        before = (await jira.get("/rest/api/3/serverInfo")).json()["serverTime"]
        moved = await jira.post("/_emulator/clock", json={"advance_s": 61})
        assert moved.json()["clock_offset_s"] == 61
        assert (await jira.get("/rest/api/3/serverInfo")).json()["serverTime"] > before
        assert (await bot.get("/rest/api/3/myself")).status_code == 401
    async with as_user("bot@acme.test", "bot-token") as bot:
        assert (await bot.get("/rest/api/3/myself")).status_code == 200


@pytest.mark.parametrize("action", ["expire", "revoke"])
async def test_expire_or_revoke_a_token(jira: httpx.AsyncClient, as_user: Any, action: str) -> None:
    response = await jira.post(
        "/_emulator/accounts/alice@acme.test/api-tokens", json={"action": action, "token": "alice-token"}
    )
    assert response.status_code == 200
    expected = (
        {"valid": 0, "expired": 1, "revoked": 0}
        if action == "expire"
        else {"valid": 0, "expired": 0, "revoked": 1}
    )
    assert response.json()["api_tokens"] == expected
    async with as_user("alice@acme.test", "alice-token") as alice:
        assert (await alice.get("/rest/api/3/myself")).status_code == 401


async def test_token_changes_refuse_bad_input(jira: httpx.AsyncClient) -> None:
    url = "/_emulator/accounts/alice@acme.test/api-tokens"
    assert (
        await jira.post(
            "/_emulator/accounts/nobody@acme.test/api-tokens", json={"action": "revoke", "token": "x"}
        )
    ).status_code == 404
    assert (await jira.post(url, json={"action": "revoke", "token": "not-hers"})).status_code == 404
    assert (await jira.post(url, json={"action": "add", "token": "alice-token"})).status_code == 409
    bad = await jira.post(url, json={"action": "steal", "token": "alice-token"})
    assert bad.status_code == 400
    assert "action" in bad.json()["errors"]
    naive = await jira.post(url, json={"action": "add", "token": "t2", "expires_at": "2030-01-01T00:00:00"})
    assert "expires_at" in naive.json()["errors"]


async def test_clock_refuses_going_back(jira: httpx.AsyncClient) -> None:
    response = await jira.post("/_emulator/clock", json={"advance_s": -5})
    assert response.status_code == 400
    assert "advance_s" in response.json()["errors"]


async def test_index_lag_per_site(jira: httpx.AsyncClient) -> None:
    response = await jira.post("/_emulator/sites/globex/index-lag", json={"seconds": 2.5})
    assert response.json() == {"site": "globex", "index_lag_s": 2.5}
    sites = (await jira.get("/_emulator/state")).json()["sites"]
    assert (sites["acme"]["index_lag_s"], sites["globex"]["index_lag_s"]) == (0, 2.5)
    assert (await jira.post("/_emulator/sites/nowhere/index-lag", json={"seconds": 1})).status_code == 404
    assert (await jira.post("/_emulator/sites/acme/index-lag", json={"seconds": "1"})).status_code == 400


async def test_reset_returns_to_the_baseline(emulator: FastAPI, jira: httpx.AsyncClient) -> None:
    configure_baseline(emulator, Baseline(latency_ms=5, rate_limit_per_s=2, index_lag_s=3.0))
    await jira.post("/_emulator/faults", json={"latency_ms": 0})
    await jira.post("/_emulator/rate-limits", json={"default": {}})
    await jira.post("/_emulator/reset")
    assert (await jira.get("/_emulator/faults")).json()["latency_ms"] == 5
    assert (await jira.get("/_emulator/rate-limits")).json()["default"]["requests_per_s"] == 2
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/rest/api/3/myself")).status_code == 429
    sites = (await jira.get("/_emulator/state")).json()["sites"]
    assert {s["index_lag_s"] for s in sites.values()} == {3.0}
