"""Webhook registration, both kinds Jira Cloud has.

- `router` (mounted under `/rest/api/3` and `/rest/api/2`): dynamic webhooks, for OAuth 2.0 apps only
  (a Bearer token through `/ex/jira/{cloudId}`): register, list, delete, refresh (30-day expiry) and
  the failed-delivery feed. The app is the token's client id, the owner the user who authorised it.
- `admin_router` (mounted under `/rest/webhooks/1.0`): admin webhooks, for a site admin with Basic
  auth, with an optional HMAC secret and any issue, comment, worklog or property event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from jira_emulator.context import Ctx, caller
from jira_emulator.errors import JiraError
from jira_emulator.state import AccessToken, Account, EmulatorState, Site, Webhook
from jira_emulator.webhook_filters import admin_jql_error, dynamic_jql_errors
from jira_emulator.webhook_payloads import ADMIN_EVENTS, DYNAMIC_EVENTS

router = APIRouter()
admin_router = APIRouter()

DYNAMIC_TTL = timedelta(days=30)
FAILURE_RETENTION_MS = 72 * 3600 * 1000  # Jira keeps failures for 72 hours
# Webhooks one app may hold per user on a site.
MAX_DYNAMIC_PER_APP_USER = 5
_APPS_ONLY = "Only Connect and OAuth 2.0 apps can use this operation."
_BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
_SCOPES = ("read:jira-work", "manage:jira-webhook")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookDetailsIn(_Body):
    events: list[str]
    jqlFilter: str  # noqa: N815 - Jira's JSON name
    fieldIdsFilter: list[str] | None = None  # noqa: N815
    issuePropertyKeysFilter: list[str] | None = None  # noqa: N815


class RegistrationIn(_Body):
    url: str
    webhooks: list[WebhookDetailsIn]


class WebhookIdsIn(_Body):
    webhookIds: list[int]  # noqa: N815


class AdminWebhookIn(_Body):
    name: str = "webhook"
    url: str
    events: list[str] = Field(default_factory=list)
    filters: dict[str, str] = Field(default_factory=dict)
    excludeBody: bool = False  # noqa: N815
    enabled: bool = True
    secret: str | None = None


# --- dynamic webhooks (OAuth 2.0 apps) ---------------------------------------------------------------


def _app_caller(request: Request) -> tuple[Ctx, Account, AccessToken]:
    ctx, me = caller(request)
    if not ctx.gateway:
        raise JiraError(403, _APPS_ONLY)
    token = ctx.state.access_tokens[request.headers["authorization"].partition(" ")[2].strip()]
    if not all(scope in token.scopes for scope in _SCOPES):
        raise JiraError(401, raw_body={"code": 401, "message": "Unauthorized; scope does not match"})
    return ctx, me, token


def _owned(site: Site, token: AccessToken) -> list[Webhook]:
    return [
        w
        for w in site.webhooks.values()
        if w.kind == "dynamic" and w.client_id == token.client_id and w.account_id == token.account_id
    ]


def _ms(state: EmulatorState, webhook: Webhook) -> int | None:
    return int(webhook.expires_at.timestamp() * 1000) if webhook.expires_at else None


def dynamic_json(state: EmulatorState, webhook: Webhook) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": webhook.id,
        "jqlFilter": webhook.jql_filter or "",
        "events": list(webhook.events),
        "expirationDate": _ms(state, webhook),
        "url": webhook.url,
    }
    if webhook.field_ids_filter is not None:
        body["fieldIdsFilter"] = list(webhook.field_ids_filter)
    if webhook.issue_property_keys_filter is not None:
        body["issuePropertyKeysFilter"] = list(webhook.issue_property_keys_filter)
    return body


@router.post("/webhook")
async def register_dynamic(request: Request, body: RegistrationIn) -> dict[str, Any]:
    ctx, _, token = _app_caller(request)
    if any(e not in DYNAMIC_EVENTS for d in body.webhooks for e in d.events):
        raise JiraError(400, _BAD_PAYLOAD)
    results: list[dict[str, Any]] = []
    held = len(_owned(ctx.site, token))
    for details in body.webhooks:
        errors = dynamic_jql_errors(ctx.state, ctx.site, details.jqlFilter)
        if not details.events:
            errors.append("At least one event must be specified.")
        if not errors and held >= MAX_DYNAMIC_PER_APP_USER:
            errors.append(
                f"The limit of {MAX_DYNAMIC_PER_APP_USER} webhooks per app and user has been reached."
            )
        if errors:
            results.append({"errors": errors})
            continue
        webhook = Webhook(
            id=int(ctx.site.next_id()),
            url=body.url,
            events=list(dict.fromkeys(details.events)),
            jql_filter=details.jqlFilter,
            kind="dynamic",
            client_id=token.client_id,
            account_id=token.account_id,
            expires_at=ctx.state.now() + DYNAMIC_TTL,
            field_ids_filter=details.fieldIdsFilter,
            issue_property_keys_filter=details.issuePropertyKeysFilter,
        )
        ctx.site.webhooks[webhook.id] = webhook
        held += 1
        results.append({"createdWebhookId": webhook.id})
    return {"webhookRegistrationResult": results}


@router.get("/webhook")
async def list_dynamic(request: Request, startAt: int = 0, maxResults: int = 100) -> dict[str, Any]:
    ctx, _, token = _app_caller(request)
    owned = sorted(_owned(ctx.site, token), key=lambda w: w.id)
    start, size = max(startAt, 0), min(max(maxResults, 1), 100)
    page = owned[start : start + size]
    return {
        "self": str(request.url),
        "maxResults": size,
        "startAt": start,
        "total": len(owned),
        "isLast": start + size >= len(owned),
        "values": [dynamic_json(ctx.state, w) for w in page],
    }


@router.delete("/webhook", status_code=202)
async def delete_dynamic(request: Request, body: WebhookIdsIn) -> Response:
    ctx, _, token = _app_caller(request)
    # Ids of other apps (or unknown ones) are ignored, as Jira does.
    for webhook in _owned(ctx.site, token):
        if webhook.id in body.webhookIds:
            del ctx.site.webhooks[webhook.id]
    return Response(status_code=202)


@router.put("/webhook/refresh")
async def refresh_dynamic(request: Request, body: WebhookIdsIn) -> dict[str, Any]:
    ctx, _, token = _app_caller(request)
    expires_at = ctx.state.now() + DYNAMIC_TTL
    for webhook in _owned(ctx.site, token):
        if webhook.id in body.webhookIds:
            webhook.expires_at = expires_at
    return {"expirationDate": int(expires_at.timestamp() * 1000)}


@router.get("/webhook/failed")
async def failed_dynamic(request: Request, maxResults: int = 100, after: int | None = None) -> dict[str, Any]:
    """Deliveries to this app that failed after every retry, oldest first, for 72 hours."""
    ctx, _, token = _app_caller(request)
    horizon = int(ctx.state.now().timestamp() * 1000) - FAILURE_RETENTION_MS
    failed = sorted(
        (
            d
            for d in ctx.state.deliveries
            if d.status == "failed"
            and d.client_id == token.client_id
            and d.site == ctx.site.name
            and d.failed_at_ms is not None
            and d.failed_at_ms >= horizon
            and (after is None or d.failed_at_ms > after)
        ),
        key=lambda d: d.failed_at_ms or 0,
    )
    size = min(max(maxResults, 1), 100)
    page = failed[:size]
    body: dict[str, Any] = {
        "maxResults": size,
        "values": [
            {"id": d.identifier, "body": d.body, "url": d.url, "failureTime": d.failed_at_ms} for d in page
        ],
    }
    if len(failed) > size:
        body["next"] = ctx.rest(f"/webhook/failed?failedAfter={page[-1].failed_at_ms}&maxResults={size}")
    return body


# --- admin webhooks ----------------------------------------------------------------------------------


def _admin_caller(request: Request) -> tuple[Ctx, Account]:
    ctx, me = caller(request)
    if ctx.gateway or me.account_id not in ctx.site.admins:
        raise JiraError(403, "You must be a Jira administrator to manage webhooks.")
    return ctx, me


def admin_json(state: EmulatorState, base_url: str, webhook: Webhook) -> dict[str, Any]:
    author = state.accounts.get(webhook.last_updated_by or "")
    return {
        "self": f"{base_url}/rest/webhooks/1.0/webhook/{webhook.id}",
        "name": webhook.name,
        "url": webhook.url,
        "events": list(webhook.events),
        "filters": {"issue-related-events-section": webhook.jql_filter or ""},
        "excludeBody": webhook.exclude_body,
        "enabled": webhook.enabled,
        "lastUpdatedUser": webhook.last_updated_by,
        "lastUpdatedDisplayName": author.display_name if author else None,
        "lastUpdated": int(webhook.last_updated.timestamp() * 1000) if webhook.last_updated else None,
    }


def apply_admin(
    state: EmulatorState, site: Site, body: AdminWebhookIn, actor: str | None, webhook: Webhook | None
) -> Webhook:
    """Validate `body` and create (webhook None) or replace an admin webhook; JiraError 400 if bad."""
    unknown = [e for e in body.events if e not in ADMIN_EVENTS]
    if unknown:
        raise JiraError(400, errors={"events": f"Unknown webhook event: {unknown[0]}"})
    jql = body.filters.get("issue-related-events-section", "").strip() or None
    problem = admin_jql_error(state, site, jql)
    if problem is not None:
        raise JiraError(400, problem, errors={"filters": problem})
    if webhook is None:
        webhook = Webhook(id=int(site.next_id()), url=body.url, events=[], jql_filter=None, kind="admin")
        site.webhooks[webhook.id] = webhook
    webhook.name, webhook.url, webhook.events = body.name, body.url, list(dict.fromkeys(body.events))
    webhook.jql_filter, webhook.exclude_body, webhook.enabled = jql, body.excludeBody, body.enabled
    if body.secret is not None:
        webhook.secret = body.secret or None
    webhook.last_updated, webhook.last_updated_by = state.now(), actor
    return webhook


def _admin_webhook(ctx: Ctx, webhook_id: int) -> Webhook:
    found = ctx.site.webhooks.get(webhook_id)
    if found is None or found.kind != "admin":
        raise JiraError(404, f"Webhook with id {webhook_id} does not exist.")
    return found


@admin_router.get("/webhook")
async def list_admin(request: Request) -> list[dict[str, Any]]:
    ctx, _ = _admin_caller(request)
    hooks = [w for w in ctx.site.webhooks.values() if w.kind == "admin"]
    return [admin_json(ctx.state, ctx.base_url, w) for w in hooks]


@admin_router.post("/webhook", status_code=201)
async def create_admin(request: Request, body: AdminWebhookIn) -> JSONResponse:
    ctx, me = _admin_caller(request)
    webhook = apply_admin(ctx.state, ctx.site, body, me.account_id, None)
    return JSONResponse(admin_json(ctx.state, ctx.base_url, webhook), status_code=201)


@admin_router.get("/webhook/{webhook_id}")
async def get_admin(request: Request, webhook_id: int) -> dict[str, Any]:
    ctx, _ = _admin_caller(request)
    return admin_json(ctx.state, ctx.base_url, _admin_webhook(ctx, webhook_id))


@admin_router.put("/webhook/{webhook_id}")
async def update_admin(request: Request, webhook_id: int, body: AdminWebhookIn) -> dict[str, Any]:
    ctx, me = _admin_caller(request)
    webhook = apply_admin(ctx.state, ctx.site, body, me.account_id, _admin_webhook(ctx, webhook_id))
    return admin_json(ctx.state, ctx.base_url, webhook)


@admin_router.delete("/webhook/{webhook_id}", status_code=204)
async def delete_admin(request: Request, webhook_id: int) -> Response:
    ctx, _ = _admin_caller(request)
    del ctx.site.webhooks[_admin_webhook(ctx, webhook_id).id]
    return Response(status_code=204)
