"""Jira's error shape, `{"errorMessages": [...], "errors": {field: message}}`, as an exception."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class JiraError(Exception):
    def __init__(
        self,
        status: int,
        *messages: str,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        self.raw_body = raw_body  # a body in another shape (the OAuth gateway answers differently)

    def body(self) -> dict[str, Any]:
        if self.raw_body is not None:
            return self.raw_body
        return {"errorMessages": self.messages, "errors": self.errors}


def not_found_issue() -> JiraError:
    return JiraError(404, "Issue does not exist or you do not have permission to see it.")


def bad_request(field: str, message: str) -> JiraError:
    return JiraError(400, errors={field: message})


async def jira_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JiraError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 would betray the emulator; Jira answers a malformed request with 400."""
    assert isinstance(exc, RequestValidationError)
    messages = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        messages.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return JSONResponse({"errorMessages": messages or ["Invalid request."], "errors": {}}, status_code=400)
