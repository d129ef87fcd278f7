"""The event feed: `GET /api/v1/events?after=CURSOR&limit=N` (any key of the workspace)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from jirabridge.entrypoints.http.deps import Member, Uow
from jirabridge.service.workspaces import events

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", summary="Read the event feed")
def list_events(
    who: Member,
    uow: Uow,
    after: str | None = Query(default=None, description="The `next` cursor of the previous page."),
    limit: int = Query(default=events.DEFAULT_LIMIT, ge=1, le=events.MAX_LIMIT),
) -> dict[str, Any]:
    """The workspace's events, oldest first. `next` is always present: ask again with it."""
    assert who.workspace_id is not None
    page = events.feed(uow, who.workspace_id, after=after, limit=limit)
    return {"events": page.events, "next": page.next}
