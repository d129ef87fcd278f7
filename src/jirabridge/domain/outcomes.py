"""What a handler tells the worker about one operation (Singer-SDK style: by what to do next)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Done:
    """The work is applied. `result` is stored on the operation for inspection."""

    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Retry:
    """Try again later: after `after_s` seconds when Jira said so (Retry-After), else by backoff."""

    reason: str
    detail: str = ""
    after_s: float | None = None


@dataclass(frozen=True)
class Fail:
    """Failed for good: shown in `GET /api/v1/sync/failures` with the reason; retryable by hand."""

    reason: str
    detail: str = ""


Outcome = Done | Retry | Fail


@dataclass(frozen=True)
class Job:
    """The part of an outbox row a handler sees (a plain value: no session, no lazy loading)."""

    id: str
    workspace_id: str
    site_id: str | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    issue_key: str | None


# A handler runs one job; it must be safe to run again after a crash (check before acting).
Handler = Callable[[Job], Awaitable[Outcome]]
