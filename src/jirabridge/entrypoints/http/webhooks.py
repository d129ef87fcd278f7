"""Jira's webhook receiver, `POST /webhooks/jira/{site_token}`, and the admin webhook secret,
`POST /api/v1/sites/{site}/webhook-secret`. The rules are in service/inbound/webhooks.py.

The receiver takes no API key: Jira proves itself by the signature (admin webhooks) or the JWT
(dynamic webhooks). Every delivery is counted by outcome in `/metrics`
(`jirabridge_webhook_deliveries_total{outcome=…}`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CollectorRegistry, Counter

from jirabridge.bootstrap import Container
from jirabridge.entrypoints.http.deps import Manager, Services, Uow
from jirabridge.errors import JirabridgeError, NotFound, Unauthorized
from jirabridge.service.core.db import run_db
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.inbound import webhooks

router = APIRouter(tags=["webhooks"])

PATH_PREFIX = "/webhooks/jira/"
# Far above a real payload (the API's limit is smaller); a bigger body is refused as it streams in
# (413, limits.py, set up for PATH_PREFIX by app.py), before the signature is checked.
MAX_BODY = 2 * 1024 * 1024


class _State:
    """Per app: the delivery counter (in the app's metrics registry) and the prune throttle."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.deliveries = Counter(
            "jirabridge_webhook_deliveries",
            "Jira webhook deliveries received, by outcome (applied, deferred, skipped, duplicate, ignored, "
            "unauthorized, unknown_site, invalid).",
            ["outcome"],
            registry=registry,
        )
        self.pruner = webhooks.Pruner()


def _state(app: FastAPI) -> _State:
    found: _State | None = getattr(app.state, "webhook_receiver", None)
    if found is None:
        found = app.state.webhook_receiver = _State(getattr(app.state, "metrics_registry", None))
    return found


@router.post(
    PATH_PREFIX + "{site_token}",
    summary="Receive a Jira webhook delivery",
    responses={
        401: {"description": "Unsigned or forged delivery (problem+json); nothing was written"},
        404: {"description": "No connected site has this token"},
    },
)
async def receive_webhook(site_token: str, request: Request, services: Services) -> dict[str, Any]:
    """Where Jira delivers a site's webhooks (the URL is in the site's `webhook.url`)."""
    state = _state(request.app)
    body = await request.body()
    headers = request.headers
    prune = state.pruner.due()

    def take(uow: UnitOfWork) -> webhooks.Taken:
        return webhooks.take_delivery(
            services, uow, token=site_token, headers=headers, body=body, prune=prune
        )

    try:
        taken = await run_db(services, take)
    except JirabridgeError as exc:
        label = {NotFound: "unknown_site", Unauthorized: "unauthorized"}.get(type(exc), "invalid")
        state.deliveries.labels(label).inc()
        raise
    state.deliveries.labels(taken.outcome).inc()
    answer: dict[str, Any] = {"status": taken.outcome}
    if taken.reason:
        answer["reason"] = taken.reason
    return answer


@router.post("/api/v1/sites/{site_id}/webhook-secret", tags=["sites"], summary="New admin webhook secret")
def new_webhook_secret(site_id: str, who: Manager, uow: Uow, services: Services) -> dict[str, Any]:
    """A new secret for the site's admin webhook, shown this once with the URL to paste into Jira
    (System → WebHooks). The previous secret stops verifying at once."""
    assert who.workspace_id is not None
    site, secret = webhooks.rotate_secret(services, uow, who.workspace_id, site_id)
    return {"url": webhook_url(services, site.webhook_token), "secret": secret}


def webhook_url(container: Container, token: str) -> str:
    return webhooks.webhook_url(container.settings.public_url, token)
