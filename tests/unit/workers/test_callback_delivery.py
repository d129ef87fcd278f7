"""The `callback.deliver` handler with a made-up context and no database: what it sends, and what each
answer of the host becomes (docs/callbacks.md). The host is an httpx MockTransport behind the
outbound guard, on a fake DNS."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest

from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outbound import OutboundPolicy
from jirabridge.domain.outcomes import CallbackAnswered, Done, Fail, Job, Outcome, Retry
from jirabridge.service.core.outbound import OutboundGuard
from jirabridge.service.workspaces.callback_delivery import Target
from jirabridge.workers.callbacks import CallbackDelivery
from support.dns import FakeResolver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://host.test/jira-events"
SECRET = "whsec-test-0123456789abcdef"
BODY = b'{"id":"ev_1","type":"item.status_changed"}'


class Clock:
    def now(self) -> datetime:
        return NOW


def job() -> Job:
    op = DeliverCallback("ev_1", "ws_a", item=("anomaly", "an-1"))
    return Job("op_1", "ws_a", None, op.KIND, op, 1, None)


async def deliver(
    answer: httpx.Response | Exception, target: Target | None = None, resolver: FakeResolver | None = None
) -> tuple[Outcome, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def host(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    guard = OutboundGuard(OutboundPolicy(), resolver or FakeResolver())
    handler = CallbackDelivery(Clock(), guard, transport=httpx.MockTransport(host))
    context = target if target is not None else Target(URL, SECRET, BODY, endpoint_failing=False)
    return await handler(job(), context), sent


async def test_the_body_is_posted_signed_with_the_event_id_and_time() -> None:
    outcome, [request] = await deliver(httpx.Response(204))

    assert outcome == Done({"status": 204}, value=CallbackAnswered(204))
    assert (str(request.url), request.content) == (URL, BODY)
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert request.headers["x-jirabridge-signature"] == expected
    assert request.headers["x-jirabridge-event-id"] == "ev_1"
    assert request.headers["x-jirabridge-timestamp"] == str(int(NOW.timestamp()))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(503), Retry("callback_http_503", "the host answered 503")),
        (
            httpx.Response(429, headers={"Retry-After": "30"}),
            Retry("callback_http_429", "the host answered 429", 30.0),
        ),
        (httpx.Response(410), Fail("callback_rejected", "the host answered 410")),
        (
            httpx.Response(302, headers={"Location": "https://elsewhere.test/"}),
            Fail("callback_rejected", "the host answered 302 (redirects are not followed)"),
        ),
    ],
)
async def test_each_answer_is_retried_or_given_up(answer: httpx.Response, expected: Outcome) -> None:
    outcome, sent = await deliver(answer)

    assert outcome == expected
    assert len(sent) == 1


async def test_no_answer_is_retried_without_the_url_in_the_reason() -> None:
    refused, _ = await deliver(httpx.ConnectError(f"cannot reach {URL}"))
    slow, _ = await deliver(httpx.ReadTimeout("timed out"))

    assert refused == Retry("callback_unreachable", "ConnectError")
    assert slow == Retry("callback_timeout", "the host did not answer in time")


async def test_a_host_that_resolves_to_an_internal_address_is_sent_nothing() -> None:
    outcome, sent = await deliver(
        httpx.Response(200), resolver=FakeResolver(answers={"host.test": ["10.0.0.8"]})
    )

    assert sent == []
    assert isinstance(outcome, Fail) and outcome.reason == "callback_refused"
    assert "host.test resolves to 10.0.0.8, a private address" in outcome.detail


async def test_no_callback_any_more_is_done_without_a_request() -> None:
    guard = OutboundGuard(OutboundPolicy(), FakeResolver())
    sent: list[httpx.Request] = []
    handler = CallbackDelivery(
        Clock(), guard, transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    )

    assert await handler(job(), None) == Done({"skipped": "no_callback"})
    assert sent == []


def test_the_secret_never_shows_in_the_context() -> None:
    assert SECRET not in repr(Target(URL, SECRET, BODY, endpoint_failing=True))
