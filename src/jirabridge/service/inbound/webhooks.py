"""Receiving Jira's webhooks (SPEC sections 3 and 4), and the admin webhook's secret.

A delivery to `POST /webhooks/jira/{site_token}` is taken in one transaction, in this order, and
writes nothing unless every step passes:

1. the token names a connected site, else NotFound (404);
2. it is verified, else Unauthorized (401):
   - an admin webhook (API-token sites, or any site an admin set one up for) signs the raw body:
     `X-Hub-Signature: sha256=<hex HMAC-SHA256>` with the site's webhook secret, compared in constant
     time;
   - an OAuth app's dynamic webhook sends `Authorization: Bearer <JWT>`, HS256 with the app's client
     secret, `aud` the client id, `iss` `jira:{cloudId}` of this very site, `exp` in the future;
3. a delivery whose `X-Atlassian-Webhook-Identifier` was already taken for the site is a redelivery
   (Jira delivers at least once and keeps the identifier across retries): answered, not applied;
4. the payload becomes an inbound change (service/inbound/webhook_payloads.py) handed to `inbound.receive`,
   which applies it now or queues it behind the issue's outbound work. No Jira call is made, so the
   answer is fast; an event jirabridge does not use is answered and ignored; a change the project's
   settings take nothing of (its status while status sync is not inbound) is answered `skipped` with
   the reason.

Identifiers are kept for `DEDUP_WINDOW` (Jira retries for hours, not days); older rows are pruned
while deliveries are recorded, at most once per `PRUNE_EVERY_S` seconds per app.

The admin webhook secret lives in the site's encrypted credentials (`webhook_secret`); it is created
when the site connects and shown only by `rotate_secret`, once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from jirabridge.domain.site_webhooks import WebhookStatus
from jirabridge.errors import Conflict, Invalid, NotFound, Unauthorized
from jirabridge.ids import new_secret
from jirabridge.service.core.ports import Services
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import inbound, webhook_payloads
from jirabridge.service.sites import dynamic_webhooks
from jirabridge.service.sites.sites import get_site
from jirabridge.storage.tables import Site

log = logging.getLogger("jirabridge.webhooks")

SECRET_KEY = "webhook_secret"  # in Site.credentials
SIGNATURE_HEADER = "x-hub-signature"
IDENTIFIER_HEADER = "x-atlassian-webhook-identifier"
DEDUP_WINDOW = timedelta(days=7)
PRUNE_EVERY_S = 60.0
JWT_LEEWAY_S = 30  # clock skew between Atlassian and us
MAX_IDENTIFIER = 200  # the column's size

# What a delivery came to (the `outcome` label of the metric, the `status` of the answer).
APPLIED, DEFERRED, DUPLICATE, IGNORED, SKIPPED = "applied", "deferred", "duplicate", "ignored", "skipped"


@dataclass(frozen=True)
class Taken:
    """What a delivery came to: `outcome`, and for `skipped` why (the project's settings take none
    of what it brought, e.g. `status sync inbound off`)."""

    outcome: str
    site_id: str | None
    reason: str | None = None


def webhook_url(public_url: str, token: str) -> str:
    """Where Jira delivers a site's webhooks (shown in the site JSON, registered for OAuth sites)."""
    return f"{public_url.rstrip('/')}/webhooks/jira/{token}"


class Pruner:
    """Throttles the pruning of old delivery identifiers to once per `every_s` (one per app)."""

    def __init__(self, every_s: float = PRUNE_EVERY_S) -> None:
        self.every_s = every_s
        self._last: float | None = None

    def due(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        return True


def take_delivery(
    container: Services,
    uow: UnitOfWork,
    *,
    token: str,
    headers: Mapping[str, str],
    body: bytes,
    prune: bool = False,
) -> Taken:
    """Verify, deduplicate and apply one delivery; commits. Returns what it came to. Raises
    NotFound, Unauthorized or Invalid having written nothing. `headers` must be case-insensitive
    (Starlette's are)."""
    site = uow.sites.by_webhook_token(token)
    if site is None or site.status != "connected" or site.credentials is None:
        raise NotFound("no connected site receives webhooks at this address")
    _verify(container, site, headers, body)
    if site.webhook_status == WebhookStatus.NOT_REGISTERED:
        # A delivery signed with the site's secret: a person set the webhook up in Jira by hand.
        site.webhook_status, site.webhook_problem = WebhookStatus.REGISTERED.value, None
    now = container.clock.now()
    identifier = (headers.get(IDENTIFIER_HEADER) or "").strip()
    if len(identifier) > MAX_IDENTIFIER:
        raise Invalid.field("X-Atlassian-Webhook-Identifier", f"longer than {MAX_IDENTIFIER} characters")
    if identifier and uow.webhook_deliveries.seen(site.id, identifier):
        return Taken(DUPLICATE, site.id)
    if not body.strip():
        raise Invalid.field("body", "empty: a delivery is a JSON object")
    try:
        payload = json.loads(body)
    except ValueError:  # (too deep a nesting is refused while the body streams in: http/limits.py)
        raise Invalid.field("body", "not JSON") from None
    if not isinstance(payload, dict):
        raise Invalid.field("body", "not a JSON object")
    try:
        change = webhook_payloads.parse(payload)
    except webhook_payloads.MalformedPayload as exc:
        raise Invalid.field("body", str(exc)) from None
    # Taken first: the same delivery arriving twice at once is then a duplicate, its change unapplied.
    if identifier and not uow.webhook_deliveries.take(site.id, identifier, now):
        return Taken(DUPLICATE, site.id)
    taken = Taken(IGNORED, site.id)
    if change is not None:
        received = inbound.receive(uow, now, site, change, source="webhook")
        if received.deferred:
            taken = Taken(DEFERRED, site.id)
        elif received.skipped:
            taken = Taken(SKIPPED, site.id, received.skipped)
        else:
            taken = Taken(APPLIED, site.id)
    if prune:
        prune_deliveries(uow, now)
    uow.commit()
    log.info(
        "webhook.received site=%s event=%s outcome=%s%s",
        site.id,
        webhook_payloads.event_name(payload),
        taken.outcome,
        f' reason="{taken.reason}"' if taken.reason else "",
    )
    return taken


def _verify(container: Services, site: Site, headers: Mapping[str, str], body: bytes) -> None:
    signature = headers.get(SIGNATURE_HEADER)
    scheme, _, bearer = (headers.get("authorization") or "").partition(" ")
    if signature:
        secret = container.secrets.open(site.credentials).get(SECRET_KEY)
        if not isinstance(secret, str) or not _signature_ok(secret, body, signature):
            _reject(site, "bad_signature")
        return
    if scheme.lower() == "bearer" and bearer.strip():
        if not _jwt_ok(container, site, bearer.strip()):
            _reject(site, "bad_token")
        return
    _reject(site, "unsigned")


def _signature_ok(secret: str, body: bytes, header: str) -> bool:
    algorithm, _, received = header.strip().partition("=")
    if algorithm.lower() != "sha256" or not received:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode())


def _jwt_ok(container: Services, site: Site, token: str) -> bool:
    settings = container.settings
    if site.cloud_id is None or not settings.oauth_client_id or settings.oauth_client_secret is None:
        return False
    try:
        with warnings.catch_warnings():
            # PyJWT warns about HMAC keys under 32 bytes; the key is the OAuth app's, whatever its size.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            jwt.decode(
                token,
                settings.oauth_client_secret.get_secret_value(),
                algorithms=["HS256"],
                audience=settings.oauth_client_id,
                issuer=f"jira:{site.cloud_id}",
                leeway=JWT_LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
    except jwt.PyJWTError:
        return False
    return True


def _reject(site: Site, reason: str) -> None:
    log.warning("webhook.rejected site=%s reason=%s", site.id, reason)
    detail = {
        "unsigned": "the delivery carries neither an X-Hub-Signature nor a bearer token",
        "bad_signature": "the X-Hub-Signature does not match the body and the site's webhook secret",
        "bad_token": "the bearer token is not a valid, unexpired token of this site's OAuth app",
    }[reason]
    raise Unauthorized(detail)


# -- the admin webhook secret ---------------------------------------------------------------------


def rotate_secret(container: Services, uow: UnitOfWork, workspace_id: str, site_id: str) -> tuple[Site, str]:
    """A new admin webhook secret for the site, stored encrypted, returned this once. The old one
    stops verifying at once: paste the new one into Jira's webhook settings."""
    site = get_site(uow, workspace_id, site_id)
    if site.status != "connected" or site.credentials is None:
        raise Conflict(f"site {site_id} is not connected yet (status {site.status})")
    secret = new_secret()
    stored: dict[str, Any] = container.secrets.open(site.credentials)
    site.credentials = container.secrets.seal({**stored, SECRET_KEY: secret})
    # A webhook jirabridge registered gets the new secret from the worker within seconds.
    dynamic_webhooks.follow_site(uow, container.clock.now(), site)
    uow.commit()
    log.info("webhook.secret_rotated site=%s", site.id)
    return site, secret


def prune_deliveries(uow: UnitOfWork, now: datetime) -> None:
    """Forget delivery identifiers older than the dedup window (the caller commits)."""
    uow.webhook_deliveries.forget_before(now - DEDUP_WINDOW)
