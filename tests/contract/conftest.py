"""Fixtures of the contract suite: the emulator served by uvicorn over loopback (the PyPI clients are
synchronous `requests` users and need a real socket) and Atlassian's OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from contract.loopback import Loopback, serve
from contract.openapi_check import SPEC_PATH, OpenApiChecker, load_checker
from jira_emulator import create_app
from jira_emulator.seed import DEFAULT_ISSUE_TYPES, Seed, default_seed


def contract_seed() -> Seed:
    """The default seed, with time tracking on the screens of WEB's issue types as in a Jira project
    where time tracking is enabled (so clients can send `timetracking` when they create an issue)."""
    doc = default_seed().model_dump(by_alias=True)
    web = next(p for p in doc["sites"][0]["projects"] if p["key"] == "WEB")
    web["issue_types"] = [
        {**it.model_dump(), "optional_fields": [*it.optional_fields, "timetracking"]}
        for it in DEFAULT_ISSUE_TYPES
    ]
    return Seed.model_validate(doc)


@pytest.fixture
def emulator() -> FastAPI:
    return create_app(contract_seed())


@pytest.fixture
def loopback(emulator: FastAPI) -> Iterator[Loopback]:
    """The test's `emulator` app on a free 127.0.0.1 port, served by uvicorn in a background thread."""
    with serve(emulator) as running:
        yield running


@pytest.fixture(scope="session")
def openapi() -> OpenApiChecker:
    """Atlassian's OpenAPI description, loaded once per session; skips when there is no copy."""
    if not SPEC_PATH.is_file():
        pytest.skip(
            "Atlassian's OpenAPI description of Jira Cloud is not in the repository: "
            "set JIRA_OPENAPI_JSON to a downloaded copy to run these checks"
        )
    return load_checker(SPEC_PATH)
