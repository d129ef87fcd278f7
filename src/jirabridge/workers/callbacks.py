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
service/outbound.py) → Fail("callback_refused"). Failures are listed in the sync failures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from jirabridge import __version__, telemetry
from jirabridge.adapters.outbound_http import GuardedTransport
from jirabridge.clock import Clock
from jirabridge.domain.backoff import DEFAULT_BACKOFF, Backoff
from jirabridge.domain.operations import DeliverCallback
from jirabridge.domain.outbound import OutboundRefused
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.secrets_box import SecretBox
from jirabridge.service import events as event_views
from jirabridge.service import settings as workspace_settings
from jirabridge.service.outbound import OutboundGuard
from jirabridge.service.unit_of_work import ConstraintViolated, UnitOfWork
from jirabridge.storage import callbacks as endpoints
from jirabridge.storage import events
from jirabridge.workers import registry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

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


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


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
        return Done({"status": status})
    if status == 429 or status >= 500:
        return Retry(
            f"callback_http_{status}",
            f"the host answered {status}",
            retry_after_s(response.headers.get("retry-after"), now),
        )
    if 300 <= status < 400:
        return Fail("callback_rejected", f"the host answered {status} (redirects are not followed)")
    return Fail("callback_rejected", f"the host answered {status}")


@dataclass(frozen=True)
class Target:
    """What one delivery needs, read when it runs."""

    url: str
    secret: str
    body: bytes
    endpoint_failing: bool  # the workspace's endpoint is backing off (storage/callbacks.py)


class Endpoint(Protocol):
    """The backoff of the workspace's endpoint (storage/callbacks.py; tests may use a fake)."""

    def failed(self, workspace_id: str, op_id: str, reason: str, retry_after_s: float | None) -> float: ...

    def answered(self, workspace_id: str) -> None: ...


class CallbackDelivery:
    """The `callback.deliver` handler. `transport` is the test seam (an ASGI receiver, a MockTransport);
    every delivery passes the outbound guard, around it or on the network."""

    def __init__(
        self,
        load: Callable[[str, str], Target | None],
        endpoint: Endpoint,
        clock: Clock,
        outbound: OutboundGuard,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = TIMEOUT_S,
        backoff: Backoff = DEFAULT_BACKOFF,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._load = load
        self._endpoint = endpoint
        self._clock = clock
        self._outbound = outbound
        self._transport = transport
        self._timeout = httpx.Timeout(timeout_s)
        self._backoff = backoff
        self._tracer_provider = tracer_provider

    async def __call__(self, job: Job) -> Outcome:
        outcome = await self._deliver(job)
        if isinstance(outcome, Retry):
            # The endpoint backs off: the workspace's other deliveries wait (storage/callbacks.py).
            wait_s = await asyncio.to_thread(
                self._endpoint.failed, job.workspace_id, job.id, outcome.reason, outcome.after_s
            )
            own_s = outcome.after_s if outcome.after_s is not None else self._backoff.delay(job.attempts)
            log.info("callback.endpoint_backoff op=%s wait_s=%.1f reason=%s", job.id, wait_s, outcome.reason)
            return Retry(outcome.reason, outcome.detail, max(own_s, wait_s))
        return outcome

    async def _deliver(self, job: Job) -> Outcome:
        event_id = job.operation_as(DeliverCallback).event_id
        target = await asyncio.to_thread(self._load, job.workspace_id, event_id)
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
        outcome = classify(response, now)
        log.info("callback.delivered op=%s event=%s status=%d", job.id, event_id, response.status_code)
        if not isinstance(outcome, Retry) and target.endpoint_failing:
            # The host answered (even a refusal of this event): its endpoint works again.
            await asyncio.to_thread(self._endpoint.answered, job.workspace_id)
        return outcome


def loader(container: Container) -> Callable[[str, str], Target | None]:
    """Reads what one delivery needs in a short transaction of its own (never held over the POST)."""

    def load(workspace_id: str, event_id: str) -> Target | None:
        with UnitOfWork(container.sessions) as uow:
            event = events.get_event(uow.session, event_id)
            if event is None or event.workspace_id != workspace_id:
                return None
            box: SecretBox = container.secrets
            target = workspace_settings.callback_target(uow, box, workspace_id)
            if target is None:
                return None
            failing = endpoints.is_failing(uow.session, workspace_id)
            return Target(target[0], target[1], body_of(event_views.render(event)), failing)

    return load


@dataclass(frozen=True)
class StoredEndpoint:
    """`Endpoint` in the database, each call in a short transaction of its own."""

    container: Container
    clock: Clock

    def failed(self, workspace_id: str, op_id: str, reason: str, retry_after_s: float | None) -> float:
        try:
            return self._failed(workspace_id, op_id, reason, retry_after_s)
        except ConstraintViolated:
            # Two deliveries of a healthy endpoint failed at once and both added its row: the other
            # one's is there now, and locked for this one in the second try.
            return self._failed(workspace_id, op_id, reason, retry_after_s)

    def _failed(self, workspace_id: str, op_id: str, reason: str, retry_after_s: float | None) -> float:
        with UnitOfWork(self.container.sessions) as uow:
            wait_s = endpoints.endpoint_failed(
                uow.session,
                workspace_id=workspace_id,
                op_id=op_id,
                reason=reason,
                now=self.clock.now(),
                retry_after_s=retry_after_s,
            )
            uow.commit()
        return wait_s

    def answered(self, workspace_id: str) -> None:
        with UnitOfWork(self.container.sessions) as uow:
            now = self.clock.now()
            endpoints.endpoint_answered(uow.session, workspace_id=workspace_id, now=now)
            uow.commit()


def make_deliver_handler(
    container: Container, *, transport: httpx.AsyncBaseTransport | None = None, clock: Clock | None = None
) -> Handler:
    """`transport` and `clock` (the worker's, when it is not the container's) are for tests."""
    clock = clock or container.clock
    return CallbackDelivery(
        loader(container),
        StoredEndpoint(container, clock),
        clock,
        container.outbound,
        transport=transport,
        tracer_provider=container.tracer_provider,
    )


registry.register(DeliverCallback, make_deliver_handler)
