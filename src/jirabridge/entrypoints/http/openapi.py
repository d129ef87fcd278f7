"""The OpenAPI description says what the service really answers on error: `application/problem+json`
(problems.py), for every operation and every error status, not FastAPI's default 422 body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from jirabridge.entrypoints.http.problems import MEDIA_TYPE


class FieldProblem(BaseModel):
    field: str = Field(description="The field, dotted (`item.title`, `rules[0].query`), or `body`.")
    message: str
    position: int | None = Field(default=None, description="Where in the field's text (a rule's query).")


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description="Invalid fields, when there are.")
    request_id: str | None = Field(default=None, description="As in the `X-Request-ID` header and the logs.")


_REF = {"$ref": "#/components/schemas/Problem"}
_ERRORS = {
    "4XX": "The request cannot be served as sent; `errors` names the invalid fields. Nothing was written.",
    "5XX": "The service or a dependency failed; quote `request_id` when reporting it.",
}


def _with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status, answer in responses.items():
                if status[0] in "45":
                    answer["content"] = {MEDIA_TYPE: {"schema": _REF}}
            for status, description in _ERRORS.items():
                responses.setdefault(
                    status, {"description": description, "content": {MEDIA_TYPE: {"schema": _REF}}}
                )
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it
