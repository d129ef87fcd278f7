"""The retry policy: what the worker is told to do, and the in-place convenience for simple callers."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest
import stamina

from jirabridge.jira import Action, BadRequest, JiraTimeout, RateLimited, RetryPolicy, ServerError
from jirabridge.jira._errors import from_response


@pytest.fixture(autouse=True)
def no_real_waits() -> Iterator[None]:
    stamina.set_testing(True, attempts=5, cap=True)
    yield
    stamina.set_testing(False)


def error(status: int, method: str = "GET", **headers: str) -> Exception:
    request = httpx.Request(method, "https://acme.atlassian.net/rest/api/3/issue")
    return from_response(httpx.Response(status, headers=headers, request=request, json={}))


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(wait_initial=1, wait_max=10, wait_jitter=0.5)
    rng = random.Random(1)
    waits = [policy.backoff(n, rng) for n in range(1, 7)]
    assert [int(w) for w in waits] == [1, 2, 4, 8, 10, 10]
    assert all(0 <= w - int(w) <= 0.5 for w in waits)


def test_a_429_is_retried_after_what_jira_asked() -> None:
    decision = RetryPolicy().decide(error(429, **{"Retry-After": "12"}), attempt=1)
    assert decision.action is Action.RETRY and decision.delay_s == 12


def test_a_5xx_is_retried_with_backoff_until_the_attempts_run_out() -> None:
    policy = RetryPolicy(attempts=3, wait_initial=2, wait_jitter=0)
    assert policy.decide(error(500), 1).delay_s == 2
    assert policy.decide(error(500), 2).delay_s == 4
    assert policy.decide(error(500), 3).action is Action.GIVE_UP


def test_a_validation_error_gives_up_and_a_missing_delete_is_skipped() -> None:
    assert RetryPolicy().decide(error(400), 1).action is Action.GIVE_UP
    assert RetryPolicy().decide(error(404, "DELETE"), 1).action is Action.SKIP
    assert RetryPolicy().decide(ValueError("bug"), 1).action is Action.GIVE_UP


def test_a_lost_create_is_retried_only_after_a_look() -> None:
    decision = RetryPolicy().decide(error(504, "POST"), 1)
    assert decision.action is Action.RETRY and decision.verify_first


async def test_run_retries_until_it_succeeds() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise error(503)
        return "ok"

    assert await RetryPolicy().run(flaky) == "ok"
    assert len(calls) == 3


async def test_run_does_not_retry_what_will_not_succeed() -> None:
    calls: list[int] = []

    async def invalid() -> None:
        calls.append(1)
        raise error(400)

    with pytest.raises(BadRequest):
        await RetryPolicy().run(invalid)
    assert len(calls) == 1


async def test_run_does_not_resend_a_create_whose_answer_was_lost_unless_told() -> None:
    calls: list[int] = []
    request = httpx.Request("POST", "https://acme.atlassian.net/rest/api/3/issue")

    async def lost() -> None:
        calls.append(1)
        raise JiraTimeout("timed out", request=request, maybe_applied=True)

    with pytest.raises(JiraTimeout):
        await RetryPolicy().run(lost)
    assert len(calls) == 1
    with pytest.raises(JiraTimeout):
        await RetryPolicy(retry_unsafe=True).run(lost)
    assert len(calls) == 1 + 5  # capped at 5 attempts by the test mode


async def test_run_gives_up_on_a_retry_after_longer_than_it_will_wait() -> None:
    async def quota() -> None:
        raise error(429, **{"Retry-After": "7200"})

    with pytest.raises(RateLimited):
        await RetryPolicy(max_retry_after=60).run(quota)


def test_server_errors_are_the_retryable_kind() -> None:
    assert isinstance(error(502), ServerError)
