"""Retries: only calls safe to repeat, only after failures that may pass, bounded, honouring Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from jirabridge import client as jb
from support.client_script import BASE, ITEM, LINK, NO_WAIT, Script, ok, problem


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_get_is_retried_after_a_passing_failure(client: jb.Client, script: Script, status: int) -> None:
    script.then(problem(status), ok(ITEM))
    assert client.get_item("error", "e-1").id == "e-1"
    assert len(script.requests) == 2


def test_a_connection_error_or_timeout_is_retried_for_a_put(client: jb.Client, script: Script) -> None:
    script.then(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok(ITEM))
    assert client.put_item("error", "e-1", title="Boom").id == "e-1"
    assert len(script.requests) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500])
def test_an_answer_that_will_not_change_is_not_retried(
    client: jb.Client, script: Script, status: int
) -> None:
    script.then(problem(status), ok(ITEM))
    with pytest.raises(jb.APIError):
        client.get_item("error", "e-1")
    assert len(script.requests) == 1


def test_retries_are_bounded(client: jb.Client, script: Script) -> None:
    script.then(problem(503))
    with pytest.raises(jb.ServerError):
        client.get_item("error", "e-1")
    assert len(script.requests) == NO_WAIT.attempts


def test_a_post_with_an_idempotency_key_is_retried_with_the_same_key(
    client: jb.Client, script: Script
) -> None:
    script.then(httpx.ReadTimeout("answer lost"), problem(503), ok(LINK, 201))
    link = client.create_ticket("error", "e-1", project="WEB")
    assert link.issue_key == "WEB-1"
    keys = {r.headers["Idempotency-Key"] for r in script.requests}
    assert len(script.requests) == 3 and len(keys) == 1


def test_each_logical_call_has_its_own_key_and_a_given_key_is_used(client: jb.Client, script: Script) -> None:
    comment = {"id": "c_1", "source": "host", "body": "one"}
    script.then(ok(comment, 201), ok(comment, 201), ok(LINK, 201))
    client.add_comment("error", "e-1", "one")
    client.add_comment("error", "e-1", "two")
    client.link_issue("error", "e-1", "WEB-1", idempotency_key="host-42")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "host-42"


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.connect_site("https://acme.atlassian.net", jb.OAuthAuth()),  # POST without a key
        lambda c: c.create_api_key("ws_1", role="admin", name="x"),
        lambda c: c.reconcile(),
        lambda c: c.edit_site("st_1", default=True),  # PATCH
        lambda c: c.edit_comment("error", "e-1", "c_1", "new"),
    ],
)
def test_a_call_not_safe_to_repeat_is_sent_once(client: jb.Client, script: Script, send: object) -> None:
    script.then(httpx.ReadTimeout("answer lost"), ok({}))
    with pytest.raises(jb.TransportError):
        send(client)  # type: ignore[operator]
    assert len(script.requests) == 1
    assert "Idempotency-Key" not in script.requests[0].headers


def test_retry_after_within_the_limit_is_waited_out(script: Script) -> None:
    waits: list[bool | float] = []

    class Recording(jb.Retries):
        def wait_for(self, error: Exception) -> bool | float:
            waits.append(super().wait_for(error))
            return 0.0  # the test does not sleep; what the policy asked for is recorded

    policy = Recording(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0)
    with jb.Client(BASE, "k", retries=policy, transport=httpx.MockTransport(script)) as client:
        script.then(
            problem(429, headers={"Retry-After": "7"}), problem(503, headers={"Retry-After": "2"}), ok(ITEM)
        )
        client.get_item("error", "e-1")
    assert waits == [7.0, 2.0]


def test_a_retry_after_beyond_the_limit_is_handed_to_the_caller(client: jb.Client, script: Script) -> None:
    script.then(problem(429, headers={"Retry-After": "3600"}), ok(ITEM))
    with pytest.raises(jb.RateLimited) as raised:
        client.get_item("error", "e-1")
    assert raised.value.retry_after == 3600.0
    assert len(script.requests) == 1


def test_retry_after_as_an_http_date(client: jb.Client, script: Script) -> None:
    script.then(problem(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    with pytest.raises(jb.RateLimited) as raised:
        client.connect_site("https://acme.atlassian.net", jb.OAuthAuth())
    assert raised.value.retry_after == 0.0  # a date in the past: now
    from jirabridge.client._errors import retry_after_s

    assert retry_after_s("Wed, 21 Oct 2015 07:28:30 GMT", datetime(2015, 10, 21, 7, 28, tzinfo=UTC)) == 30.0


def test_one_attempt_means_no_retries(script: Script) -> None:
    with jb.Client(
        BASE, "k", retries=jb.Retries(attempts=1), transport=httpx.MockTransport(script)
    ) as client:
        script.then(problem(503), ok(ITEM))
        with pytest.raises(jb.ServerError):
            client.get_item("error", "e-1")
    assert len(script.requests) == 1


async def test_the_async_client_retries_the_same_way(async_client: jb.AsyncClient, script: Script) -> None:
    script.then(httpx.ConnectError("refused"), problem(504), ok(LINK, 201))
    async with async_client:
        link = await async_client.link_issue("error", "e-1", "WEB-1")
        assert link.sync_state == "synced"
        assert len({r.headers["Idempotency-Key"] for r in script.requests}) == 1
        script.requests.clear()
        script.answers[:] = [httpx.ReadTimeout("lost"), ok({})]
        with pytest.raises(jb.TransportError):
            await async_client.connect_site("https://acme.atlassian.net", jb.OAuthAuth())
    assert len(script.requests) == 1


def test_retrying_stops_at_the_policys_total_time(script: Script) -> None:
    # Without the time limit, 100 attempts would be made (about two seconds of waits).
    policy = jb.Retries(attempts=100, wait_initial=0.02, wait_max=0.02, wait_jitter=0, timeout=0.05)
    with jb.Client(BASE, "k", retries=policy, transport=httpx.MockTransport(script)) as client:
        script.then(problem(503))
        with pytest.raises(jb.ServerError):
            client.get_item("error", "e-1")
    assert 2 <= len(script.requests) < 100
