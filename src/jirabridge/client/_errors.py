"""The client's exception tree, drawn in the package docstring (`jirabridge.client`).

An error answer of the service is `application/problem+json` (RFC 9457): `type`, `title`, `status`,
`detail`, `errors` (a list of `{"field", "message"}` for invalid input) and `request_id` (the same id
as the service's logs and its `X-Request-ID` header). `from_response` maps it to the class of its
status, with every field on the exception, so a host can show `errors` next to its form fields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class JirabridgeError(Exception):
    """Base of everything the client raises."""


class TransportError(JirabridgeError):
    """No answer came back (connection refused or reset, DNS, a timeout). `.__cause__` is httpx's error.

    `retryable`: the same request may get through later (a network error or a timeout, not a bad URL)."""

    def __init__(
        self, message: str, *, request: httpx.Request | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.request = request
        self.retryable = retryable


class InvalidResponse(JirabridgeError):
    """A success answer that is not what the service documents (a proxy's page, another service)."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response


class InvalidCallback(JirabridgeError):
    """`verify_callback` refused a delivery: a missing or wrong signature, or a stale timestamp."""


class APIError(JirabridgeError):
    """The service answered an error status. Carries the problem+json fields.

    `errors` is a list of `{"field": ..., "message": ...}` (empty unless the input was invalid);
    `request_id` names the request in the service's logs; `retry_after` is the wait in seconds the
    service asked for (429 and 503), when it gave one."""

    def __init__(
        self,
        status: int,
        *,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail and detail != title else f"{status} {title}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = list(errors or [])
        self.request_id = request_id
        self.retry_after = retry_after
        self.response = response


class BadRequest(APIError):
    """400 (and any other 4xx without a class of its own)."""


class Unauthorized(APIError):
    """401: no key, or a key the service does not know (revoked, or of another deployment)."""


class Forbidden(APIError):
    """403: the key's role may not do this, or a member key acts for another user."""


class NotFound(APIError):
    """404: not found in this workspace."""


class Conflict(APIError):
    """409: the state forbids it (an issue already linked, an `Idempotency-Key` reused for another body)."""


class ValidationError(APIError):
    """422: invalid input; `.errors` names each field and why. Nothing was written."""


class RateLimited(APIError):
    """429: too many requests; `.retry_after` says when to come back."""


class ServerError(APIError):
    """5xx."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer, with the problem's fields (or what the answer had of them)."""
    status = response.status_code
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
    problem: dict[str, Any] = {}
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        problem = parsed
    errors = problem.get("errors")
    return kind(
        status,
        type=str(problem.get("type") or "about:blank"),
        title=str(problem.get("title") or response.reason_phrase),
        detail=str(problem.get("detail") or ""),
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
        request_id=problem.get("request_id") or response.headers.get("x-request-id"),
        retry_after=retry_after_s(response.headers.get("retry-after")),
        response=response,
    )
