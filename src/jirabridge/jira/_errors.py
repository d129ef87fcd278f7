"""One exception tree for everything the client raises, classified by what the caller does next.

    JiraError                      every error; `.action`, `.request`, `.response` (None without one)
    ├── TransportError             no answer came back: RETRY
    │   ├── JiraTimeout            `.maybe_applied`: a POST was sent, its answer lost
    │   └── ConnectionFailed       refused, reset, DNS, TLS: nothing was applied
    ├── HTTPStatusError            Jira answered an error status; `.status_code`, `.messages`, `.field_errors`
    │   ├── RateLimited            429: RETRY after `.retry_after`; `.reason` is `RateLimit-Reason`
    │   ├── ServerError            5xx: RETRY (`.maybe_applied` on a 502/504 to a POST)
    │   ├── Conflict               409: RETRY on a transition (a concurrent one), else GIVE_UP
    │   ├── BadRequest             400: GIVE_UP; `.field_errors` says which field and why
    │   ├── Unauthorized           401: GIVE_UP (fix the credentials)
    │   │   └── TokenExpired       the token or refresh token is dead: reconnect
    │   ├── Forbidden              403: GIVE_UP
    │   └── NotFound               404: GIVE_UP, or SKIP for a DELETE (it is already gone)
    ├── OAuthError                 the authorization server refused a grant (`.error`, `.description`)
    ├── SitePaused                 the pacer holds the site longer than the caller will wait: RETRY
                                   after `.retry_after`; no request was sent
    └── InvalidResponse            a 2xx whose body is not what Jira documents: GIVE_UP

`Action.RETRY` means the same request may succeed later (after `retry_after` seconds when Jira said),
`Action.GIVE_UP` that it will not without a change by a person, `Action.SKIP` that there is nothing
left to do. `from_response` builds the right class from any error response.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class Action(enum.Enum):
    RETRY = "retry"
    GIVE_UP = "give_up"
    SKIP = "skip"


class JiraError(Exception):
    """Base of the tree. `retry_after` is the wait Jira asked for, in seconds, when it gave one."""

    action: Action = Action.GIVE_UP

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.response = response
        self.retry_after = retry_after


class TransportError(JiraError):
    action = Action.RETRY

    def __init__(self, message: str, *, request: httpx.Request, maybe_applied: bool = False) -> None:
        super().__init__(message, request=request)
        self.maybe_applied = maybe_applied


class JiraTimeout(TransportError):
    """No answer in time. For a POST that was sent, Jira may have applied it anyway."""


class ConnectionFailed(TransportError):
    """The request never reached Jira (or the connection broke before it was complete)."""


class SitePaused(JiraError):
    """The site is paused (a quota 429, a 503 with Retry-After, the hourly points quota spent) for
    longer than the pacer's `max_wait_s`: nothing was sent, and the call may be made after
    `retry_after` seconds. A caller running many jobs gives its slot back instead of sleeping.
    `site_wide`: every call to the site is paused (not only this endpoint's or this issue's)."""

    action = Action.RETRY

    def __init__(self, seconds: float, *, site_wide: bool) -> None:
        scope = "site" if site_wide else "endpoint or issue"
        super().__init__(f"the {scope} is paused for {seconds:.0f} s more", retry_after=seconds)
        self.site_wide = site_wide


class HTTPStatusError(JiraError):
    def __init__(self, message: str, *, request: httpx.Request, response: httpx.Response) -> None:
        messages, field_errors = parse_error_body(response)
        super().__init__(
            _describe(message, messages, field_errors),
            request=request,
            response=response,
            retry_after=retry_after_seconds(response.headers),
        )
        self.status_code = response.status_code
        self.messages = messages
        self.field_errors = field_errors


class RateLimited(HTTPStatusError):
    action = Action.RETRY

    def __init__(self, message: str, *, request: httpx.Request, response: httpx.Response) -> None:
        super().__init__(message, request=request, response=response)
        self.reason: str | None = response.headers.get("RateLimit-Reason")


class ServerError(HTTPStatusError):
    action = Action.RETRY

    @property
    def maybe_applied(self) -> bool:
        """A gateway error on a POST (not idempotent): Jira may have applied it before the answer was
        lost, so check before sending it again."""
        assert self.request is not None
        return self.status_code in (502, 504) and self.request.method == "POST"


class Conflict(HTTPStatusError):
    def __init__(self, message: str, *, request: httpx.Request, response: httpx.Response) -> None:
        super().__init__(message, request=request, response=response)
        # Jira answers 409 when another transition of the same issue is in flight.
        if request.url.path.endswith("/transitions"):
            self.action = Action.RETRY


class BadRequest(HTTPStatusError):
    pass


class Unauthorized(HTTPStatusError):
    pass


class TokenExpired(Unauthorized):
    pass


class Forbidden(HTTPStatusError):
    pass


class NotFound(HTTPStatusError):
    def __init__(self, message: str, *, request: httpx.Request, response: httpx.Response) -> None:
        super().__init__(message, request=request, response=response)
        if request.method == "DELETE":
            self.action = Action.SKIP


class OAuthError(JiraError):
    def __init__(
        self, error: str, description: str, *, request: httpx.Request, response: httpx.Response
    ) -> None:
        super().__init__(f"OAuth {error}: {description}", request=request, response=response)
        self.error = error
        self.description = description


class InvalidResponse(JiraError):
    pass


_BY_STATUS: dict[int, type[HTTPStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def from_response(response: httpx.Response) -> HTTPStatusError:
    """The error for a response with an error status (4xx or 5xx)."""
    request = response.request
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else HTTPStatusError)
    if cls is Unauthorized and _says_expired(response):
        cls = TokenExpired
    message = f"{request.method} {request.url.path} answered {status}"
    return cls(message, request=request, response=response)


def parse_error_body(response: httpx.Response) -> tuple[list[str], dict[str, str]]:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}`, or the gateway's
    `{"code", "message"}`; an unreadable body gives nothing rather than an exception."""
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()
        return ([text[:500]] if text else []), {}
    if not isinstance(body, dict):
        return [], {}
    messages = [str(m) for m in body.get("errorMessages") or [] if m]
    if isinstance(body.get("message"), str):
        messages.append(body["message"])
    errors = body.get("errors")
    field_errors = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
    return messages, field_errors


def retry_after_seconds(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """`Retry-After` (seconds or an HTTP date), else a future `X-RateLimit-Reset`."""
    moment = now or datetime.now(UTC)
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - moment).total_seconds())
    reset = parse_reset(headers.get("X-RateLimit-Reset"))
    if reset is not None:
        return max(0.0, math.ceil((reset - moment).total_seconds()))
    return None


def parse_reset(value: str | None) -> datetime | None:
    """`X-RateLimit-Reset` is ISO 8601 (`2024-01-15T10:31Z`, seconds optional)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _says_expired(response: httpx.Response) -> bool:
    challenge = response.headers.get("WWW-Authenticate", "").lower()
    if "invalid_token" in challenge and "expired" in challenge:
        return True
    messages, _ = parse_error_body(response)
    return any("expired" in m.lower() for m in messages)


def _describe(message: str, messages: list[str], field_errors: dict[str, str]) -> str:
    details = [*messages, *(f"{k}: {v}" for k, v in field_errors.items())]
    return f"{message}: {'; '.join(details)}" if details else message


def maybe_applied(exc: BaseException) -> bool:
    """True when a failed create may nevertheless exist in Jira: look for it before sending again."""
    return bool(getattr(exc, "maybe_applied", False))
