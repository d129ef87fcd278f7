"""Operations that failed for good: `GET /api/v1/sync/failures` (any key of the workspace) and
`POST /api/v1/sync/failures/{id}/retry` (admin or manager)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from jirabridge.domain.operations import item_of
from jirabridge.entrypoints.http.deps import Manager, Member, Services, Uow
from jirabridge.service.workspaces.events import decode_cursor, encode_cursor, rfc3339
from jirabridge.storage import outbox
from jirabridge.storage.tables import Operation

router = APIRouter(prefix="/api/v1/sync/failures", tags=["sync"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_TAG = "op:"


def _item(payload: dict[str, Any]) -> dict[str, str] | None:
    item = item_of(payload)
    return {"type": item[0], "id": item[1]} if item else None


def render(operation: Operation) -> dict[str, Any]:
    """SPEC section 2, "failure". The payload itself is not shown: it may hold what the host sent."""
    return {
        "id": operation.id,
        "operation": operation.kind,
        "status": operation.status,
        "site": operation.site_id,
        "issue_key": operation.issue_key,
        "item": _item(operation.payload or {}),
        "attempts": operation.attempts,
        "reason": operation.reason,
        "detail": operation.detail,
        "created_at": rfc3339(operation.created_at),
        "last_attempt_at": rfc3339(operation.updated_at),
    }


@router.get("", summary="List failed operations")
def list_failures(
    who: Member,
    uow: Uow,
    after: str | None = Query(default=None, description="The `next` cursor of the previous page."),
    limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Oldest first; `next` is null on the last page."""
    assert who.workspace_id is not None
    position = decode_cursor(_TAG, after)
    rows = outbox.list_failures(uow.session, who.workspace_id, after=position, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return {
        "failures": [render(op) for op in page],
        "next": encode_cursor(_TAG, page[-1].seq) if more else None,
    }


@router.post("/{op_id}/retry", summary="Retry a failed operation")
def retry_failure(op_id: str, who: Manager, uow: Uow, services: Services) -> dict[str, Any]:
    """Put the operation back in the queue with fresh attempts (409 unless it failed for good)."""
    assert who.workspace_id is not None
    operation = outbox.retry_failure(uow.session, who.workspace_id, op_id, services.clock.now())
    uow.commit()
    return render(operation)
