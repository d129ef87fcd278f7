"""Every error answers `application/problem+json` with the request's id, which the logs carry too;
an unexpected exception is a generic 500 problem, never a bare text/plain 500 nor its message."""

from __future__ import annotations

import logging

import httpx
import pytest

from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.app import create_app
from support.service import SERVICE_TOKEN, bearer

PROBLEM = "application/problem+json"
LEAKY = "db-password-in-an-exception-message"


def answered_id(answer: httpx.Response) -> str:
    """The request id, the same in the header and the problem body."""
    assert answer.headers["content-type"] == PROBLEM, answer.text
    rid = answer.headers["X-Request-ID"]
    assert answer.json()["request_id"] == rid
    return rid


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_an_unhandled_exception_is_a_500_problem_whose_request_id_the_log_carries(
    container: Container, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    app = create_app(container)

    async def fails_async() -> None:
        raise RuntimeError(LEAKY)

    def fails_sync() -> None:  # run in the thread pool
        raise RuntimeError(LEAKY)

    app.add_api_route("/test-only/fails", fails_async if kind == "async" else fails_sync)
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://jb.test") as client:
        answer = await client.get("/test-only/fails?code=abc")
        again = await client.get("/test-only/fails", headers={"X-Request-ID": "host-req-42"})

    assert answer.status_code == 500
    rid = answered_id(answer)
    assert answer.json()["type"].endswith("/internal") and LEAKY not in answer.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert [getattr(r, "request_id", None) for r in logged] == [rid, "host-req-42"]
    assert rid in logged[0].getMessage() and "path=/test-only/fails" in logged[0].getMessage()
    assert "abc" not in logged[0].getMessage()  # the query string is left out
    assert again.status_code == 500 and answered_id(again) == "host-req-42"


async def test_framework_errors_are_problems_with_the_request_id(api: httpx.AsyncClient) -> None:
    missing = await api.get("/no/such/route")
    assert missing.status_code == 404
    wrong_method = await api.delete("/healthz")
    assert wrong_method.status_code == 405
    invalid = await api.post("/api/v1/workspaces", json={"name": 7}, headers=bearer(SERVICE_TOKEN))
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "name"
    unauthorised = await api.get("/api/v1/sites")
    assert unauthorised.status_code == 401
    ids = [answered_id(a) for a in (missing, wrong_method, invalid, unauthorised)]
    assert len(set(ids)) == 4  # one per request


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("host-7f3a:req.1", True),
        ("has spaces in it", False),
        ('quote"d', False),
        ("x" * 129, False),
        ("", False),
    ],
)
async def test_a_callers_request_id_is_honoured_only_when_sane(
    api: httpx.AsyncClient, given: str, kept: bool
) -> None:
    answer = await api.get("/no/such/route", headers={"X-Request-ID": given})
    rid = answered_id(answer)
    assert (rid == given) is kept
    assert rid and " " not in rid and len(rid) <= 128
    ok = await api.get("/healthz", headers={"X-Request-ID": given})  # answers that are no problem too
    assert (ok.headers["X-Request-ID"] == given) is kept
