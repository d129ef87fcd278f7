"""Errors the service raises; the HTTP layer renders each as `application/problem+json` (RFC 9457).

JirabridgeError
├── Unauthorized (401)      no or unknown credentials
├── Forbidden (403)         the role or user binding does not allow it
├── NotFound (404)          no such resource in this workspace
├── Conflict (409)          e.g. a link cardinality violation, a reused Idempotency-Key
├── Invalid (422)           field errors: [{field, message}]; nothing was written
└── Unavailable (503)       a dependency (database, Jira) cannot be reached now
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    position: int | None = None  # where in the field's text the problem is (a rule's query)


class JirabridgeError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])


class Unauthorized(JirabridgeError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(JirabridgeError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(JirabridgeError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(JirabridgeError):
    status, slug, title = 409, "conflict", "Conflict"


class Invalid(JirabridgeError):
    status, slug, title = 422, "validation", "Invalid request"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])


class Unavailable(JirabridgeError):
    status, slug, title = 503, "unavailable", "Service unavailable"
