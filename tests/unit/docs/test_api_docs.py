"""docs/api.md is the service's own OpenAPI description, rendered; every operation in it explains
itself (a summary, a description) and shows a valid example of its request body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from jirabridge.entrypoints.api_docs import openapi_app, render

ROOT = Path(__file__).resolve().parents[3]
METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return openapi_app()


def operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", item[method])
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    ]


def test_docs_api_md_is_what_the_openapi_description_renders(app: FastAPI) -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    assert page == render(app), "docs/api.md is stale: run `.venv/bin/jirabridge api-docs > docs/api.md`"


def test_every_operation_has_its_own_summary_and_a_description(app: FastAPI) -> None:
    spec = app.openapi()
    # FastAPI makes a summary from the function's name ("Connect Site") when none is written.
    missing = [
        name
        for name, operation in operations(spec)
        if not operation.get("summary")
        or operation["summary"] == operation["operationId"].split("_api_", 1)[0].replace("_", " ").title()
        or len(operation.get("description", "").split()) < 5
    ]
    assert missing == []
    assert len(operations(spec)) >= 40


def test_every_request_body_has_an_example_its_schema_accepts(app: FastAPI) -> None:
    spec = app.openapi()
    without, invalid = [], []
    bodies = 0
    for name, operation in operations(spec):
        body = operation.get("requestBody")
        if body is None:
            continue
        bodies += 1
        media = body["content"]["application/json"]
        schema = media["schema"]
        # An optional body is `anyOf: [the model, null]`.
        resolved = next((o for o in schema.get("anyOf", []) if "$ref" in o), schema)
        while "$ref" in resolved:
            resolved = spec["components"]["schemas"][resolved["$ref"].rsplit("/", 1)[1]]
        examples = resolved.get("examples") or []
        if not examples:
            without.append(name)
        validator = Draft202012Validator({**schema, "components": spec["components"]})
        invalid += [(name, error.message) for e in examples for error in validator.iter_errors(e)]
    assert without == []
    assert invalid == []
    assert bodies >= 15
