"""serverInfo and myself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from jira_emulator import render
from jira_emulator.context import caller, get_ctx

router = APIRouter()

VERSION = "1001.0.0-SNAPSHOT"


@router.get("/serverInfo")
async def server_info(request: Request) -> dict[str, Any]:
    # Jira Cloud answers serverInfo without authentication.
    ctx = get_ctx(request)
    return {
        "baseUrl": ctx.base_url,
        "displayUrl": ctx.site.base_url,
        "version": VERSION,
        "versionNumbers": [1001, 0, 0],
        "deploymentType": "Cloud",
        "buildNumber": 100285,
        "buildDate": "2025-12-01T00:00:00.000+0000",
        "serverTime": render.jira_time(ctx.state.now()),
        "scmInfo": "emulated",
        "serverTitle": "Jira",
        "defaultLocale": {"locale": "en_US"},
        "serverTimeZone": "Etc/UTC",
    }


@router.get("/myself")
async def myself(request: Request, expand: str | None = None) -> dict[str, Any]:
    ctx, me = caller(request)
    body = render.user_json(ctx, me, viewer=me)
    assert body is not None
    body["locale"] = "en_US"
    body["groups"] = {"size": 1, "items": []}
    body["applicationRoles"] = {"size": 1, "items": []}
    body["expand"] = "groups,applicationRoles"
    return body
