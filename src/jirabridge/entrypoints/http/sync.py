"""`POST /api/v1/sync/reconcile`: poll now, instead of at the next `poll_interval_s`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from jirabridge.entrypoints.http.deps import Manager, Services, Uow
from jirabridge.service.inbound import polling

router = APIRouter(prefix="/api/v1/sync", tags=["sync"])


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{}, {"site": "st_5f0c2d8e9a1b4c3d2e1f0a9b", "project": "WEB"}]},
    )

    site: str | None = Field(default=None, max_length=40, description="Only this site's projects.")
    project: str | None = Field(default=None, max_length=50, description="Only this project key.")


@router.post("/reconcile", status_code=202, summary="Poll Jira now")
def reconcile(
    who: Manager, uow: Uow, services: Services, body: ReconcileRequest | None = None
) -> dict[str, Any]:
    """Runs a poll cycle of every project with inbound sync (or the one named) as soon as a worker is
    free; changes appear on the items and the event feed as it applies them."""
    assert who.workspace_id is not None
    request = body or ReconcileRequest()
    polled = polling.reconcile(uow, services.clock.now(), who.workspace_id, request.site, request.project)
    return {"scheduled": polled}
