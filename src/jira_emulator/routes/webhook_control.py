"""Control routes for webhooks (`/_emulator/...`, no auth): register an admin webhook directly, inspect
deliveries, shorten the retry schedule, and script delivery faults for tests of a receiver."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from jira_emulator.errors import JiraError
from jira_emulator.routes.webhook_admin import AdminWebhookIn, admin_json, apply_admin
from jira_emulator.state import Delivery, EmulatorState
from jira_emulator.webhooks import MAX_RETRIES, Dispatcher, dispatcher_of

router = APIRouter(prefix="/_emulator", tags=["emulator control"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettingsIn(_Strict):
    retry_delays_s: list[float] | None = Field(default=None, max_length=MAX_RETRIES)
    timeout_s: float | None = Field(default=None, gt=0)


class FaultsIn(_Strict):
    drop_next: int | None = Field(default=None, ge=0)
    duplicate_next: int | None = Field(default=None, ge=0)
    reorder_next: int | None = Field(default=None, ge=0)
    delay_s: float | None = Field(default=None, ge=0)


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher = dispatcher_of(request.app)
    dispatcher.current_state()  # notices a reset before anything else is read or set
    return dispatcher


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "identifier": d.identifier,
        "site": d.site,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "url": d.url,
        "status": d.status,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "attempt_log": d.attempt_log,
    }


@router.post("/sites/{site}/webhooks", status_code=201)
async def register_admin_webhook(request: Request, site: str, body: AdminWebhookIn) -> dict[str, Any]:
    state: EmulatorState = request.app.state.emulator
    found = state.sites.get(site)
    if found is None:
        raise JiraError(404, f"No site named '{site}'.")
    webhook = apply_admin(state, found, body, None, None)
    return admin_json(state, found.base_url, webhook)


@router.get("/webhooks/deliveries")
async def list_deliveries(
    request: Request, site: str | None = None, status: str | None = None, event: str | None = None
) -> dict[str, Any]:
    _dispatcher(request)
    state: EmulatorState = request.app.state.emulator
    chosen = [
        d
        for d in state.deliveries
        if (site is None or d.site == site)
        and (status is None or d.status == status)
        and (event is None or d.event == event)
    ]
    return {"deliveries": [delivery_json(d) for d in chosen]}


@router.post("/webhooks/wait")
async def wait_for_deliveries(request: Request, timeout_s: float = 10.0) -> dict[str, Any]:
    """Answers once no delivery is in flight (or after `timeout_s`), with how many still are."""
    dispatcher = _dispatcher(request)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(dispatcher.idle(), timeout_s)
    return {"in_flight": len(dispatcher.tasks), "held": len(dispatcher.faults.held)}


@router.get("/webhooks/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    settings = _dispatcher(request).settings
    return {"retry_delays_s": settings.retry_delays_s, "timeout_s": settings.timeout_s}


@router.put("/webhooks/settings")
async def set_settings(request: Request, body: SettingsIn) -> dict[str, Any]:
    settings = _dispatcher(request).settings
    if body.retry_delays_s is not None:
        settings.retry_delays_s = list(body.retry_delays_s)
    if body.timeout_s is not None:
        settings.timeout_s = body.timeout_s
    return {"retry_delays_s": settings.retry_delays_s, "timeout_s": settings.timeout_s}


@router.get("/webhooks/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return _dispatcher(request).faults.describe()


@router.post("/webhooks/faults")
async def set_faults(request: Request, body: FaultsIn) -> dict[str, Any]:
    faults = _dispatcher(request).faults
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(faults, name, value)
    return faults.describe()


@router.delete("/webhooks/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    dispatcher = _dispatcher(request)
    dispatcher.clear_faults()
    return dispatcher.faults.describe()
