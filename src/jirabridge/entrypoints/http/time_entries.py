"""Time entries (SPEC section 2): `PUT/GET/DELETE /api/v1/time-entries/{id}`, each answered with the
entry and its worklog state. A member key bound to a user acts only on that user's entries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field

from jirabridge.domain.issue_keys import ISSUE_KEY_PATTERN
from jirabridge.entrypoints.http.deps import Member, Services, Uow
from jirabridge.entrypoints.http.models import Request
from jirabridge.service.core.db import run_db
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.service.worklogs import time_entries

router = APIRouter(prefix="/api/v1/time-entries", tags=["time entries"])

EntryId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
MAX_DURATION_S = 31 * 24 * 3600


def _rfc3339_text(value: object) -> object:
    # Strict models refuse a string for a datetime, lax ones take a number as a Unix time: only the
    # documented form, an RFC 3339 string with its offset, is a time here.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string with a time zone, e.g. 2024-01-15T10:30:00Z")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), Field(strict=False)]


class PutTimeEntry(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user": "u-alice",
                    "started_at": "2024-01-15T09:00:00Z",
                    "duration_s": 1800,
                    "description": "Fix login WEB-12",
                    "project": "Web",
                    "task": "Bugs",
                }
            ]
        }
    )

    user: str = Field(min_length=1, max_length=200, description="The host user who did the work.")
    started_at: Time
    duration_s: int | None = Field(
        default=None, ge=0, le=MAX_DURATION_S, description="Or `ended_at`; not needed while running."
    )
    ended_at: Time | None = None
    running: bool = False
    description: str | None = Field(default=None, max_length=30_000)
    issue_key: str | None = Field(
        default=None,
        pattern=ISSUE_KEY_PATTERN,
        description="Explicit Jira issue key; else the first key in the description is used.",
    )
    project: str | None = Field(default=None, min_length=1, max_length=200, description="Host label.")
    task: str | None = Field(default=None, min_length=1, max_length=200, description="Host label.")
    site: str | None = Field(
        default=None, min_length=1, max_length=40, description="Default: the default site."
    )
    resync: bool = Field(
        default=False,
        description="Write this entry over a worklog that was edited or deleted by hand (state `drifted`).",
    )


@router.put(
    "/{entry_id}",
    responses={201: {"description": "created: the entry is new"}},
    summary="Create or replace a time entry",
)
async def put_time_entry(
    entry_id: EntryId, body: PutTimeEntry, who: Member, services: Services
) -> JSONResponse:
    """Create or replace an entry (201 when new). Its worklog follows in the background: read
    `worklog.state` (and the event feed) to see where it is."""
    assert who.workspace_id is not None
    duration = time_entries.validate_times(body.started_at, body.duration_s, body.ended_at, body.running)
    data = time_entries.EntryInput(
        user=body.user,
        started_at=body.started_at,
        duration_s=duration,
        running=body.running,
        description=body.description,
        issue_key=body.issue_key,
        project=body.project,
        task=body.task,
        site=body.site,
        resync=body.resync,
    )
    workspace_id = who.workspace_id

    # One hop to a database thread (a `def` route with the `Uow` dependency made three).
    def put(uow: UnitOfWork) -> tuple[dict[str, Any], bool]:
        entry, created = time_entries.upsert_entry(
            uow,
            services.clock.now(),
            who,
            workspace_id,
            entry_id,
            data,
            drift_every_s=services.settings.worklog_drift_interval_s,
        )
        uow.commit()
        return time_entries.entry_json(entry), created

    answer, created = await run_db(services, put)
    return JSONResponse(answer, status_code=201 if created else 200)


@router.get("/{entry_id}", summary="Read a time entry")
def get_time_entry(entry_id: EntryId, who: Member, uow: Uow) -> dict[str, Any]:
    """The entry with its worklog: `worklog.state` and its reason, the Jira worklog id and issue once
    written."""
    assert who.workspace_id is not None
    entry = time_entries.find_entry(uow, who.workspace_id, entry_id)
    time_entries.check_owner(who, entry)
    return time_entries.entry_json(entry)


@router.delete("/{entry_id}", status_code=204, summary="Delete a time entry")
def delete_time_entry(entry_id: EntryId, who: Member, uow: Uow, services: Services) -> Response:
    """Delete an entry; its worklog is deleted in Jira only with `worklogs.delete_worklogs` on. The
    entry stays readable, in state `deleted` (or `failed` when Jira refused the delete)."""
    assert who.workspace_id is not None
    time_entries.delete_entry(uow, services.clock.now(), who, who.workspace_id, entry_id)
    return Response(status_code=204)
