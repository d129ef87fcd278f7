"""Errors as `application/problem+json` (RFC 9457) with field errors for validation, and the request's
id (`request_id`, also in the `X-Request-ID` header and the logs: request_ids.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from jirabridge.errors import FieldError, JirabridgeError
from jirabridge.request_context import current_request_id
from jirabridge.secrets_box import SecretKeyError

log = logging.getLogger("jirabridge.http")

PROBLEM_BASE = "https://jirabridge.dev/problems/"
MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, slug: str, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    rid = current_request_id()
    if rid is not None:
        body["request_id"] = rid
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _jirabridge_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JirabridgeError)
    errors = [_field_error(e) for e in exc.errors] if exc.errors else None
    return problem(exc.status, exc.slug, exc.title, exc.detail, errors)


def _field_error(error: FieldError) -> dict[str, Any]:
    shown: dict[str, Any] = {"field": error.field, "message": error.message}
    if error.position is not None:
        shown["position"] = error.position
    return shown


def invalid_json(body: bytes, position: int, reason: str) -> str:
    """Where the JSON broke, the way `json.JSONDecodeError` says it (a bare character index, which is
    what FastAPI reports as the error's location, reads like a field name)."""
    text = body.decode(json.detect_encoding(body), "replace")
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return f"invalid JSON at line {line} column {column} (char {position}): {reason}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        location = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid" and len(location) == 2 and isinstance(location[1], int):
            reason = str(e.get("ctx", {}).get("error", "JSON decode error"))
            errors.append(
                {"field": "body", "message": invalid_json(await request.body(), location[1], reason)}
            )
        else:
            errors.append({"field": _field(location), "message": str(e.get("msg"))})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "validation", "Invalid request", detail, errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
    return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))


async def _secret_key_error(request: Request, exc: Exception) -> JSONResponse:
    # The key changed under a running process (another one rotated the secrets, or it started while
    # the database was down): say so rather than answer a bare 500. The message names no secret.
    log.error("secrets.unreadable path=%s", request.url.path)
    return problem(503, "unavailable", "Service unavailable", str(exc))


def install(app: FastAPI) -> None:
    app.add_exception_handler(JirabridgeError, _jirabridge_error)
    app.add_exception_handler(SecretKeyError, _secret_key_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
