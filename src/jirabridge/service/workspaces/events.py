"""Reading the event feed, and the one JSON form of an event (the feed and host callbacks share it).

Cursors are opaque to hosts: the URL-safe base64 of a tagged position. A host keeps the `next` of the
last page and asks again with it; `next` is always present, so polling an empty feed is the same call.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jirabridge.errors import Invalid
from jirabridge.service.core.unit_of_work import UnitOfWork
from jirabridge.storage import events
from jirabridge.storage.tables import Event

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def rfc3339(moment: datetime) -> str:
    """UTC, with a `Z` (SQLite gives back naive datetimes; they are stored in UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def encode_cursor(tag: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{tag}{position}".encode()).decode().rstrip("=")


def decode_cursor(tag: str, cursor: str | None, field: str = "after") -> int | None:
    """The position in a cursor made by `encode_cursor(tag, …)`; None for no cursor."""
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    digits = text[len(tag) :] if text.startswith(tag) else ""
    if not digits.isdigit() or len(digits) > 19:
        raise Invalid.field(field, "is not a cursor of this list (use the `next` of a previous page)")
    return int(digits)


def render(event: Event) -> dict[str, Any]:
    """The event as the API shows it (SPEC section 2, "event")."""
    item = {"type": event.item_type, "id": event.item_id} if event.item_type and event.item_id else None
    return {
        "id": event.id,
        "type": event.type,
        "at": rfc3339(event.at),
        "source": event.source,
        "item": item,
        "issue_key": event.issue_key,
        "data": event.data or {},
    }


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next: str


_TAG = "ev:"


def feed(uow: UnitOfWork, workspace_id: str, *, after: str | None, limit: int = DEFAULT_LIMIT) -> Page:
    position = decode_cursor(_TAG, after) or 0
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid.field("limit", f"must be between 1 and {MAX_LIMIT}")
    rows = events.list_events(uow.session, workspace_id, after=position, limit=limit)
    last = rows[-1].seq if rows else position
    return Page([render(row) for row in rows], encode_cursor(_TAG, last))
