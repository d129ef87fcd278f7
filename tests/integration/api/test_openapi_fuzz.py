"""A property-based fuzz of the public API from its own OpenAPI description (schemathesis), in process,
as the admin of a seeded workspace: whatever is sent, the answer is never a 5xx, every error is
`application/problem+json`, input the description does not allow is refused, and every answer matches
the status, content type and schema the description declares for it.

Some cases name what the workspace holds (a site connected to the in-process emulator, an item, a
user, a time entry), so operations get past "not found". The example budget is small and the examples
derandomized, so the run is short and the same on every machine; `JIRABRIDGE_FUZZ_EXAMPLES=200`
explores further (with a fresh seed) when hunting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from jirabridge.bootstrap import Container
from jirabridge.config import Settings
from jirabridge.domain.access import Role
from jirabridge.entrypoints.http.app import create_app
from jirabridge.service.workspaces.workspaces import create_workspace, issue_api_key
from jirabridge.storage.db import make_engine
from jirabridge.storage.migrate import upgrade
from support.service import bearer

ACME = "https://acme.atlassian.net"
BOT = {"type": "api_token", "email": "bot@acme.test", "api_token": "bot-token"}
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
def settings(settings: Settings) -> Settings:
    """A ticket request answers at once (202) instead of waiting for a worker that is not running."""
    return settings.model_copy(update={"ticket_wait_s": 0.0})


@pytest.fixture
def admin_app(container: Container) -> tuple[FastAPI, str, dict[str, str]]:
    """The service's app, the admin key of a workspace, and the ids of what it holds: a site connected
    to the emulator, an item, a host user, a time entry."""
    with container.uow() as uow:
        workspace = create_workspace(uow, container.clock, "Fuzz")
    with container.uow() as uow:
        issued = issue_api_key(uow, container.clock, workspace.id, role=Role.ADMIN, name="fuzz", user_id=None)
    app = create_app(container)
    return app, issued.key, asyncio.run(seed(app, bearer(issued.key)))


async def seed(app: FastAPI, admin: dict[str, str]) -> dict[str, str]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fuzz") as api:

        async def call(method: str, path: str, body: Any) -> Any:
            answer = await api.request(method, path, json=body, headers=admin)
            assert answer.status_code < 300, answer.text
            return answer.json()

        site = await call("POST", "/api/v1/sites", {"url": ACME, "auth": BOT, "default_project": "WEB"})
        await call("PUT", "/api/v1/items/error/e-1", {"title": "Seeded", "status": "Open"})
        await call("PUT", "/api/v1/users/u-1", {"email": "alice@acme.test", "name": "Alice"})
        await call(
            "PUT",
            "/api/v1/time-entries/te-1",
            {
                "user": "u-1",
                "started_at": "2024-01-15T09:00:00Z",
                "duration_s": 1800,
                "description": "Seeded",
            },
        )
    return {
        "site_id": site["id"],
        "key": "WEB",
        "project": "WEB",
        "item_type": "error",
        "item_id": "e-1",
        "user_id": "u-1",
        "entry_id": "te-1",
    }


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
    negative_data_rejection,
]


def test_no_input_makes_the_api_fail_or_break_its_contract(
    admin_app: tuple[FastAPI, str, dict[str, str]], subtests: pytest.Subtests
) -> None:
    app, key, known = admin_app

    def on_seeded(case: Any) -> Any:
        # Random ids only ever find nothing (404): a third of the cases name what the workspace holds,
        # except deletes, which would take it away from the operations that follow.
        if case.method == "DELETE":
            return case
        case.path_parameters = {
            name: known.get(name, value) for name, value in (case.path_parameters or {}).items()
        }
        return case

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            operation.as_strategy(GenerationMode.POSITIVE).map(on_seeded),
        )

        @given(case=cases)
        @examples(
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
