"""Workspace settings: `GET /api/v1/settings` (any key), `PUT` (admin or manager).

The `PUT` body is validated by domain/settings.py, which names every invalid field; its schema is
published in the OpenAPI description from `SettingsDocument` below.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.entrypoints.http.models import inline_schema
from jirabridge.service.workspaces import settings

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])


class WorklogsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as domain/settings.py: unknown fields are refused

    enabled: bool = True
    delete_worklogs: bool = False
    estimate: Literal["auto", "leave"] = "auto"
    min_seconds: int = Field(default=60, ge=60, le=86400)
    rounding_minutes: Literal[0, 1, 5, 15] = 0


class CallbackDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as domain/settings.py: unknown fields are refused

    url: str | None = Field(default=None, description="An http(s) URL; null switches callbacks off.")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=500,
        description="Write-only HMAC-SHA256 key; left out, the stored one is kept. Never returned.",
    )
    secret_set: bool | None = Field(default=None, description="Read-only; ignored on input.")


class CallbackView(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as domain/settings.py: unknown fields are refused

    url: str | None
    secret_set: bool


class UiDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as domain/settings.py: unknown fields are refused

    allowed_origins: list[str] = Field(
        default=[],
        max_length=20,
        description="Origins (https://app.example.com) that may frame the pages and that a page "
        "session's return_url may lead back to.",
    )


class SettingsDocument(BaseModel):
    # As domain/settings.py: unknown fields are refused.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "link_cardinality": {"error": "many_to_one"},
                    "worklogs": {
                        "enabled": True,
                        "delete_worklogs": False,
                        "estimate": "auto",
                        "min_seconds": 60,
                        "rounding_minutes": 0,
                    },
                    "host_name": "Acme Monitor",
                    "callback": {
                        "url": "https://host.example/jirabridge/callback",
                        "secret": "a-long-random-callback-secret",
                    },
                }
            ]
        },
    )

    link_cardinality: dict[str, Literal["one_to_one", "many_to_one", "many_to_many"]] = {}
    worklogs: WorklogsDocument = WorklogsDocument()
    host_name: str | None = Field(default=None, max_length=100, description="Null: the workspace's name.")
    callback: CallbackDocument = CallbackDocument()
    max_projects_per_site: int = Field(default=10, ge=1, le=1000)
    comment_template: str = "[{timestamp}] {host} {item_type} Status: {status}"
    ui: UiDocument = UiDocument()


class SettingsView(SettingsDocument):
    host_name: str | None
    callback: CallbackView  # type: ignore[assignment]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_PUT_BODY = {"requestBody": {"required": True, **_json(inline_schema(SettingsDocument.model_json_schema()))}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The settings",
        **_json(inline_schema(SettingsView.model_json_schema(mode="serialization"))),
    }
}


@router.get("", responses=_RESPONSES, summary="Read workspace settings")
def get_settings(who: Member, uow: Uow) -> dict[str, Any]:
    """The workspace's settings; the callback secret is never returned (`callback.secret_set` says whether
    one is stored)."""
    assert who.workspace_id is not None
    return settings.get_settings(uow, who.workspace_id)


@router.put("", responses=_RESPONSES, openapi_extra=_PUT_BODY, summary="Replace workspace settings")
def put_settings(
    who: Manager, uow: Uow, services: Services, body: Any = Body(default=None, include_in_schema=False)
) -> dict[str, Any]:
    """Replace the settings; a field left out takes its default, except `callback.secret`."""
    assert who.workspace_id is not None
    return settings.put_settings(
        uow,
        lambda: services.secrets,
        who.workspace_id,
        body,
        outbound=services.outbound,
        now=services.clock.now(),
    )
