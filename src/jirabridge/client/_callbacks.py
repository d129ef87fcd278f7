"""Checking a signed callback delivery (docs/callbacks.md), exactly as the service signs it:

X-Jirabridge-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
X-Jirabridge-Event-Id:  the event's id (the body's `id`)
X-Jirabridge-Timestamp: Unix seconds when the attempt was sent (each retry sends a fresh one)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

import pydantic

from jirabridge.client._errors import InvalidCallback
from jirabridge.client._models import Event

SIGNATURE_HEADER = "x-jirabridge-signature"
EVENT_ID_HEADER = "x-jirabridge-event-id"
TIMESTAMP_HEADER = "x-jirabridge-timestamp"
DEFAULT_TOLERANCE_S = 300.0


def verify_callback(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: float | None = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Event:
    """The delivered event, once its signature and timestamp check out; else `InvalidCallback`.

    `body` is the raw request body, before any JSON parsing (a re-serialised body does not verify).
    The timestamp must be within `tolerance_s` seconds of `now` (default: this machine's clock), which
    refuses a captured delivery replayed later; None skips that check. Deliveries are at least once:
    deduplicate by the returned event's `id`."""
    found = {name.lower(): value for name, value in headers.items()}
    given = found.get(SIGNATURE_HEADER, "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # Bytes, compared in constant time: a str with non-ASCII characters would raise instead.
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise InvalidCallback("the signature does not match the body and the secret")
    if tolerance_s is not None:
        try:
            sent_at = int(found.get(TIMESTAMP_HEADER, ""))
        except ValueError:
            raise InvalidCallback(f"no Unix time in {TIMESTAMP_HEADER}") from None
        if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
            raise InvalidCallback(f"the delivery's timestamp is more than {tolerance_s:g} s from now")
    try:
        event = Event.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise InvalidCallback(f"the body is not an event: {error.error_count()} problem(s)") from None
    if found.get(EVENT_ID_HEADER, event.id) != event.id:
        raise InvalidCallback(f"{EVENT_ID_HEADER} does not name the event in the body")
    return event
