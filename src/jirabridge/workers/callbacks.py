"""Host callbacks: POST each event to the workspace's callback URL, signed (docs/callbacks.md).

One `callback.deliver` operation per event, enqueued with the event (storage/events.py) under the
ordering key `callback:<workspace>`, so a workspace's callbacks arrive in feed order. The URL and the
secret are read when the delivery runs, so a changed URL or secret applies to what is still queued.

    X-Jirabridge-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
    X-Jirabridge-Event-Id: ev_…         (the same on every retry: hosts deduplicate with it)
    X-Jirabridge-Timestamp: <unix seconds of this attempt>

Outcomes: 2xx → Done; 429, 5xx, a timeout or a connection error → Retry (after `Retry-After` when the
host sends one); any other answer → Fail("callback_rejected"), listed in the sync failures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from jirabridge import __version__
from jirabridge.clock import Clock
from jirabridge.domain.outcomes import Done, Fail, Handler, Job, Outcome, Retry
from jirabridge.secrets_box import SecretBox
from jirabridge.service import events as event_views
from jirabridge.service import settings as workspace_settings
from jirabridge.service.unit_of_work import UnitOfWork
from jirabridge.storage import events
from jirabridge.workers import registry

if TYPE_CHECKING:
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
    return Fail("callback_rejected", f"the host answered {status}")


class CallbackDelivery:
    """The `callback.deliver` handler. `transport` is the test seam (an ASGI receiver, a MockTransport)."""

    def __init__(
        self,
        load: Callable[[str, str], tuple[str, str, bytes] | None],
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._load = load
        self._clock = clock
        self._transport = transport
        self._timeout = httpx.Timeout(timeout_s)

    async def __call__(self, job: Job) -> Outcome:
        event_id = str(job.payload.get("event_id", ""))
        target = await asyncio.to_thread(self._load, job.workspace_id, event_id)
        if target is None:
            # The callback was switched off (or the event is gone) since it was queued: nothing to do.
            log.info("callback.skipped op=%s event=%s reason=no_callback", job.id, event_id)
            return Done({"skipped": "no_callback"})
        url, secret, body = target
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
                transport=self._transport, timeout=self._timeout, follow_redirects=False
            ) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Retry("callback_timeout", "the host did not answer in time")
        except httpx.TransportError as error:
            # Only the type: the message can carry the URL.
            return Retry("callback_unreachable", type(error).__name__)
        outcome = classify(response, now)
        log.info("callback.delivered op=%s event=%s status=%d", job.id, event_id, response.status_code)
        return outcome


def loader(container: Container) -> Callable[[str, str], tuple[str, str, bytes] | None]:
    """Reads what one delivery needs in a short transaction of its own (never held over the POST)."""

    def load(workspace_id: str, event_id: str) -> tuple[str, str, bytes] | None:
        with UnitOfWork(container.sessions) as uow:
            event = events.get_event(uow.session, event_id)
            if event is None or event.workspace_id != workspace_id:
                return None
            box: SecretBox = container.secrets
            target = workspace_settings.callback_target(uow, box, workspace_id)
            if target is None:
                return None
            return target[0], target[1], body_of(event_views.render(event))

    return load


def make_deliver_handler(
    container: Container, *, transport: httpx.AsyncBaseTransport | None = None
) -> Handler:
    return CallbackDelivery(loader(container), container.clock, transport=transport)


registry.register(events.CALLBACK_KIND, make_deliver_handler)
