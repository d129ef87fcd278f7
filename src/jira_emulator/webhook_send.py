"""Sending one webhook delivery: headers, signatures, and Jira's retry policy."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from jira_emulator.state import Delivery, EmulatorState, Site, Webhook

# Jira retries these answers (and connection errors and timeouts); any other answer is final.
RETRIABLE_STATUSES = frozenset({408, 409, 425, 429})
JWT_LIFETIME_S = 180


@dataclass
class Outgoing:
    state: EmulatorState  # the state that scheduled it; a reset makes it stale
    site: Site
    webhook: Webhook
    delivery: Delivery
    body: bytes


def is_retriable(status: int | None) -> bool:
    return status is None or status in RETRIABLE_STATUSES or status >= 500


def signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature` of an admin webhook with a secret: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def app_jwt(outgoing: Outgoing, secret: str) -> str:
    """The token in a dynamic webhook's Authorization header, signed HS256 with the client secret.
    Issued on the real clock: the receiver checks it against its own."""
    now = int(time.time())
    claims = {
        "iss": f"jira:{outgoing.site.cloud_id}",
        "sub": outgoing.webhook.account_id,
        "aud": outgoing.webhook.client_id,
        "iat": now,
        "exp": now + JWT_LIFETIME_S,
    }
    with warnings.catch_warnings():
        # PyJWT warns about HMAC keys under 32 bytes; the secret is the app's, whatever its length.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


def headers_for(outgoing: Outgoing, attempt: int) -> dict[str, str] | None:
    """Headers of one attempt (0 = first); None when the webhook's app no longer exists."""
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "User-Agent": "Atlassian Webhook HTTP Client",
        "X-Atlassian-Webhook-Identifier": outgoing.delivery.identifier,
        "X-Atlassian-Webhook-Flow": "Primary" if attempt == 0 else "Secondary",
    }
    if attempt > 0:
        headers["X-Atlassian-Webhook-Retry"] = str(attempt)
    webhook = outgoing.webhook
    if webhook.kind == "admin" and webhook.secret:
        headers["X-Hub-Signature"] = signature(webhook.secret, outgoing.body)
    if webhook.kind == "dynamic":
        app = outgoing.state.oauth_apps.get(webhook.client_id or "")
        if app is None:
            return None
        headers["Authorization"] = "Bearer " + app_jwt(outgoing, app.client_secret)
    return headers


async def send_once(
    outgoing: Outgoing, headers: dict[str, str], transport: httpx.AsyncBaseTransport | None, timeout_s: float
) -> tuple[int | None, str | None]:
    """POST the body once: (status, None) or (None, error text) for a connection error or timeout."""
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
    try:
        async with asyncio.timeout(timeout_s):
            if transport is None:
                async with httpx.AsyncClient(timeout=timeout) as client:
                    response = await client.post(outgoing.webhook.url, content=outgoing.body, headers=headers)
                    return response.status_code, None
            # A shared transport must outlive this request, so it is driven without a client.
            request = httpx.Request(
                "POST",
                outgoing.webhook.url,
                headers=headers,
                content=outgoing.body,
                extensions={"timeout": timeout.as_dict()},
            )
            answer = await transport.handle_async_request(request)
            await answer.aread()
            await answer.aclose()
            return answer.status_code, None
    except TimeoutError:
        return None, "timeout"
    except (httpx.HTTPError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a receiver app that raises is, to Jira, a broken connection
        return None, f"{type(exc).__name__}: {exc}"


async def send_with_retries(
    outgoing: Outgoing,
    *,
    transport: httpx.AsyncBaseTransport | None,
    delays: list[float],
    timeout_s: float,
    is_current: Callable[[EmulatorState], bool],
) -> None:
    try:
        await _attempts(outgoing, transport, delays, timeout_s, is_current)
    except Exception as exc:  # a bug here must show in the delivery record, not vanish with the task
        outgoing.delivery.status = "failed"
        outgoing.delivery.last_error = f"emulator error: {type(exc).__name__}: {exc}"


async def _attempts(
    outgoing: Outgoing,
    transport: httpx.AsyncBaseTransport | None,
    delays: list[float],
    timeout_s: float,
    is_current: Callable[[EmulatorState], bool],
) -> None:
    delivery = outgoing.delivery
    delivery.status = "pending"
    for attempt in range(len(delays) + 1):
        if not is_current(outgoing.state):
            delivery.status = "cancelled"
            return
        headers = headers_for(outgoing, attempt)
        if headers is None:
            delivery.status, delivery.last_error = "failed", "the app no longer exists"
            return
        status, error = await send_once(outgoing, headers, transport, timeout_s)
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = status, error
        delivery.attempt_log.append({"attempt": attempt, "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            delivery.delivered = True
            delivery.status = "delivered"
            return
        if not is_retriable(status) or attempt == len(delays):
            break
        await asyncio.sleep(delays[attempt])
    if not delivery.delivered:
        delivery.status = "failed"
        delivery.failed_at_ms = int(outgoing.state.now().timestamp() * 1000)
