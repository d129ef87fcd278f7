"""Fault injection as a client of the emulator sees it: slow answers, errors, hangs, answers lost after
the change was applied, and dropped connections."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app, default_seed
from jira_emulator.seed import IssueSeed

COMMENTS = "/rest/api/3/issue/WEB-1/comment"


@pytest.fixture
def emulator() -> FastAPI:
    seed = default_seed()
    seed.sites[0].issues = [IssueSeed(project="WEB", summary="Checkout fails")]
    return create_app(seed)


def adf(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


async def script(client: httpx.AsyncClient, *rules: dict[str, Any], **settings: Any) -> dict[str, Any]:
    response = await client.post("/_emulator/faults", json={"rules": list(rules), **settings})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def comments_in_state(client: httpx.AsyncClient, key: str = "WEB-1") -> list[str]:
    state = (await client.get("/_emulator/state")).json()
    issue = next(i for i in state["sites"]["acme"]["issues"] if i["key"] == key)
    return [c["body"] for c in issue["comments"]]


async def test_error_answers_jira_error_and_applies_nothing(jira: httpx.AsyncClient) -> None:
    await script(
        jira,
        {
            "kind": "error",
            "status": 503,
            "method": "POST",
            "path": "/comment$",
            "count": 1,
            "retry_after_s": 7,
        },
    )
    failed = await jira.post(COMMENTS, json={"body": adf("first try")})
    assert failed.status_code == 503
    assert failed.json() == {"errorMessages": ["Service unavailable"], "errors": {}}
    assert failed.headers["Retry-After"] == "7"
    assert await comments_in_state(jira) == []
    # The rule was for one call only; reads were never affected.
    assert (await jira.post(COMMENTS, json={"body": adf("second try")})).status_code == 201
    assert await comments_in_state(jira) == ["second try"]
    table = (await jira.get("/_emulator/faults")).json()
    assert table["rules"][0]["hits"] == 1
    assert table["rules"][0]["remaining"] == 0
    assert [(h["kind"], h["method"], h["path"]) for h in table["hits"]] == [("error", "POST", COMMENTS)]


async def test_a_rule_with_after_lets_that_many_matching_calls_through_first(jira: httpx.AsyncClient) -> None:
    await script(
        jira, {"kind": "error", "status": 503, "path": "^/rest/api/3/myself$", "after": 2, "count": 1}
    )
    answers = [(await jira.get("/rest/api/3/myself")).status_code for _ in range(4)]
    assert answers == [200, 200, 503, 200]
    assert (await jira.get("/_emulator/faults")).json()["rules"][0]["hits"] == 1


async def test_error_status_and_message_are_scriptable(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "error", "status": 500, "path": "^/rest/api/3/myself$", "message": "Boom"})
    response = await jira.get("/rest/api/3/myself")
    assert response.status_code == 500
    assert response.json()["errorMessages"] == ["Boom"]
    assert (await jira.get("/rest/api/2/myself")).status_code == 200


async def test_timeout_hangs_then_504_and_applies_nothing(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "timeout", "path": "/comment$", "hang_s": 0.05})
    started = time.monotonic()
    response = await jira.post(COMMENTS, json={"body": adf("never lands")})
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 504
    assert await comments_in_state(jira) == []


async def test_lost_answer_applies_the_comment(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "lost_answer", "method": "POST", "path": "/comment$", "hang_s": 0.01})
    response = await jira.post(COMMENTS, json={"body": adf("applied anyway")})
    assert response.status_code == 504
    assert await comments_in_state(jira) == ["applied anyway"]
    hits = (await jira.get("/_emulator/faults")).json()["hits"]
    assert hits[0]["applied_status"] == 201


async def test_lost_answer_on_create_issue_creates_it(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "lost_answer", "method": "POST", "path": "^/rest/api/3/issue$", "hang_s": 0})
    fields = {"project": {"key": "WEB"}, "issuetype": {"name": "Task"}, "summary": "Created in the dark"}
    response = await jira.post("/rest/api/3/issue", json={"fields": fields})
    assert response.status_code == 504
    state = (await jira.get("/_emulator/state")).json()
    assert "Created in the dark" in [i["summary"] for i in state["sites"]["acme"]["issues"]]


async def test_drop_closes_without_answer(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "drop", "path": "/comment$", "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await jira.post(COMMENTS, json={"body": adf("dropped")})
    assert await comments_in_state(jira) == []
    assert (await jira.post(COMMENTS, json={"body": adf("again")})).status_code == 201


async def test_global_and_rule_latency(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "latency", "latency_ms": 60, "path": "/myself$"}, latency_ms=40)
    started = time.monotonic()
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert time.monotonic() - started >= 0.1  # 40 ms everywhere plus 60 ms on this path
    started = time.monotonic()
    assert (await jira.get("/rest/api/3/serverInfo")).status_code == 200
    assert time.monotonic() - started >= 0.04
    assert (await jira.get("/_emulator/faults")).json()["latency_ms"] == 40


async def test_rules_match_site_and_method(jira: httpx.AsyncClient, as_user: Any) -> None:
    await script(jira, {"kind": "error", "site": "globex", "method": "GET", "path": "/myself$"})
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    async with as_user("admin@acme.test", "admin-token", "https://globex.atlassian.net") as globex:
        assert (await globex.get("/rest/api/3/myself")).status_code == 503
    # The path is matched after the site prefix is stripped.
    async with as_user("admin@acme.test", "admin-token", "https://x.test/sites/globex") as prefixed:
        assert (await prefixed.get("/rest/api/3/myself")).status_code == 503


async def test_probability_is_reproducible_with_a_seed(jira: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await jira.delete("/_emulator/faults")
        await script(jira, {"kind": "error", "path": "/myself$", "probability": 0.5}, seed=1234)
        return [(await jira.get("/rest/api/3/myself")).status_code for _ in range(30)]

    first, second = await run(), await run()
    assert first == second
    assert {200, 503} == set(first)


async def test_control_api_is_never_faulted(jira: httpx.AsyncClient) -> None:
    await script(jira, {"kind": "error", "path": ".*"})
    assert (await jira.get("/rest/api/3/myself")).status_code == 503
    assert (await jira.get("/_emulator/state")).status_code == 200
    cleared = await jira.delete("/_emulator/faults")
    assert cleared.json()["rules"] == []
    assert (await jira.get("/rest/api/3/myself")).status_code == 200


async def test_delete_one_rule(jira: httpx.AsyncClient) -> None:
    body = await script(
        jira, {"kind": "error", "path": "/myself$"}, {"kind": "error", "path": "/serverInfo$"}
    )
    first, second = body["added"]
    assert (await jira.delete(f"/_emulator/faults/{first}")).status_code == 200
    assert (await jira.get("/rest/api/3/myself")).status_code == 200
    assert (await jira.get("/rest/api/3/serverInfo")).status_code == 503
    assert (await jira.delete(f"/_emulator/faults/{first}")).status_code == 404
    assert [r["id"] for r in (await jira.get("/_emulator/faults")).json()["rules"]] == [second]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "explode"}, "rules.0.kind"),
        ({"kind": "error", "probability": 1.5}, "rules.0.probability"),
        ({"kind": "error", "path": "(unclosed"}, "rules.0.path"),
        ({"kind": "error", "count": "3"}, "rules.0.count"),
        ({"kind": "error", "colour": "red"}, "rules.0.colour"),
    ],
)
async def test_bad_rule_is_400_naming_the_field(
    jira: httpx.AsyncClient, rule: dict[str, Any], field: str
) -> None:
    response = await jira.post("/_emulator/faults", json={"rules": [rule]})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert (await jira.get("/_emulator/faults")).json()["rules"] == []
