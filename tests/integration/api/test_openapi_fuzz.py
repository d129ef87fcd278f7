"""A property-based fuzz of the public API from its own OpenAPI description (schemathesis), in process,
as the admin of a seeded workspace: whatever is sent, the answer is never a 5xx, every error is
`application/problem+json`, and every answer matches the schema the description declares for it.

The example budget is small and the examples derandomized, so the run is short and the same on every
machine; `JIRABRIDGE_FUZZ_EXAMPLES=200` explores further (with a fresh seed) when hunting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jirabridge.bootstrap import Container
from jirabridge.domain.access import Role
from jirabridge.entrypoints.http.app import create_app
from jirabridge.service.workspaces import create_workspace, issue_api_key
from jirabridge.storage.db import make_engine
from jirabridge.storage.migrate import upgrade
from support.service import bearer

EXAMPLES = int(os.environ.get("JIRABRIDGE_FUZZ_EXAMPLES", "0")) or None
PROBLEM = "application/problem+json"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the fuzz is about the HTTP contract, which both databases share."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def admin_app(container: Container) -> tuple[FastAPI, str]:
    """The service's app and the admin key of a workspace."""
    with container.uow() as uow:
        workspace = create_workspace(uow, container.clock, "Fuzz")
    with container.uow() as uow:
        issued = issue_api_key(uow, container.clock, workspace.id, role=Role.ADMIN, name="fuzz", user_id=None)
    return create_app(container), issued.key


def errors_are_problems(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is problem+json (schemathesis's check signature)."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type == PROBLEM, f"{response.status_code} answered as {content_type!r}"
    return None


CHECKS = [
    not_a_server_error,
    errors_are_problems,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_input_makes_the_api_fail_or_break_its_contract(
    admin_app: tuple[FastAPI, str], subtests: pytest.Subtests
) -> None:
    app, key = admin_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES or 10,
            derandomize=EXAMPLES is None,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=bearer(key), checks=CHECKS)

        with subtests.test(operation.label):
            call()
