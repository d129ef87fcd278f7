"""Host callbacks: POST each event to the workspace's callback URL, signed (docs/callbacks.md).

One `callback.deliver` operation per event, enqueued with the event (storage/events.py) under an
ordering key of the event's item, so the callbacks of one item arrive in feed order and one item's
failing delivery does not hold back another's. A failure that is retried also backs the workspace's
endpoint off (storage/callbacks.py): its other deliveries wait, but for one probe, until it answers
again. The URL and the secret are read when the delivery runs, so a changed URL or secret applies to
what is still queued.

    X-Jirabridge-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
    X-Jirabridge-Event-Id: ev_…         (the same on every retry: hosts deduplicate with it)
    X-Jirabridge-Timestamp: <unix seconds of this attempt>

Outcomes: 2xx → Done; 429, 5xx, a timeout or a connection error → Retry (after `Retry-After` when the
host sends one); any other answer (a redirect too: none is followed) → Fail("callback_rejected");
a URL whose host the outbound guard refuses when connecting (an internal address, plain http; see
service/core/outbound.py) → Fail("callback_refused"). Failures are listed in the sync failures.

A step (`workers/steps.py`): `service/callback_delivery.loader` reads the URL, secret, body and the
endpoint's state in the claim's transaction (`Target`), this handler posts it and touches no
storage, and `service/callback_delivery.apply` backs the endpoint off on a retry, or ends its
backoff on an answer, in the transaction that records the attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

from jirabridge import __version__, telemetry
from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.clock import Clock
from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outbound import OutboundRefused
from jirabridge.domain.outcomes import CallbackAnswered, Done, Fail, Job, Outcome, Retry
from jirabridge.service.core.outbound import OutboundGuard
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.workspaces import callback_delivery
from jirabridge.service.workspaces.callback_delivery import CALLBACK_REJECTED, Target
from jirabridge.workers.steps import Step

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from jirabridge.adapters.jira_pool import JiraPool
    from jirabridge.bootstrap import Container

log = logging.getLogger("jirabridge.callbacks")

SIGNATURE_HEADER = "X-Jirabridge-Signature"
EVENT_ID_HEADER = "X-Jirabridge-Event-Id"
TIMESTAMP_HEADER = "X-Jirabridge-Timestamp"
TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 3600.0


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_S)


def classify(response: httpx.Response, now: datetime) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Done({"status": status}, value=CallbackAnswered(status))
    if status == 429 or status >= 500:
        return Retry(
            f"callback_http_{status}",
            f"the host answered {status}",
            retry_after_s(response.headers.get("retry-after"), now),
        )
    if 300 <= status < 400:
        return Fail(CALLBACK_REJECTED, f"the host answered {status} (redirects are not followed)")
    return Fail(CALLBACK_REJECTED, f"the host answered {status}")


class CallbackDelivery:
    """The `callback.deliver` handler. `transport` is the test seam (an ASGI receiver, a MockTransport);
    every delivery passes the outbound guard, around it or on the network."""

    def __init__(
        self,
        clock: Clock,
        outbound: OutboundGuard,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = TIMEOUT_S,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._clock = clock
        self._outbound = outbound
        self._transport = transport
        self._timeout = httpx.Timeout(timeout_s)
        self._tracer_provider = tracer_provider

    async def __call__(self, job: Job, target: Target | None) -> Outcome:
        event_id = job.operation_as(DeliverCallback).event_id
        if target is None:
            # The callback was switched off (or the event is gone) since it was queued: nothing to do.
            log.info("callback.skipped op=%s event=%s reason=no_callback", job.id, event_id)
            return Done({"skipped": "no_callback"})
        url, secret, body = target.url, target.secret, target.body
        now = self._clock.now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"jirabridge/{__version__}",
            SIGNATURE_HEADER: sign(secret, body),
            EVENT_ID_HEADER: event_id,
            TIMESTAMP_HEADER: str(int(now.timestamp())),
        }
        try:
            # No redirects: the host configured this URL; following one could send the event elsewhere.
            async with httpx.AsyncClient(
                transport=GuardedTransport(self._outbound, self._transport),
                timeout=self._timeout,
                follow_redirects=False,
            ) as client:
                telemetry.instrument_http(client, self._tracer_provider)
                response = await client.post(url, content=body, headers=headers)
        except OutboundRefused as refused:
            log.info("callback.refused op=%s event=%s", job.id, event_id)
            return Fail("callback_refused", f"callback.url: {refused.reason}")
        except httpx.TimeoutException:
            return Retry("callback_timeout", "the host did not answer in time")
        except httpx.TransportError as error:
            # Only the type: the message can carry the URL.
            return Retry("callback_unreachable", type(error).__name__)
        log.info("callback.delivered op=%s event=%s status=%d", job.id, event_id, response.status_code)
        return classify(response, now)


def make_deliver_handler(
    container: Container,
    pool: JiraPool | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> Step[Target | None]:
    """`pool` is not used: a delivery calls the host, not Jira. `transport` and `clock` (the worker's,
    when it is not the container's) are for tests."""
    run = CallbackDelivery(
        clock or container.clock,
        container.outbound,
        transport=transport,
        tracer_provider=container.tracer_provider,
    )

    def load(uow: UnitOfWork, job: Job) -> Target | None:
        # The secret box is opened by a delivery, not when the worker starts (see jira_admin_webhooks).
        return callback_delivery.loader(container.secrets)(uow, job)

    return Step(load=load, run=run, apply=callback_delivery.apply)
