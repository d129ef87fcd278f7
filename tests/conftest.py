"""Fixtures shared by every test: an in-process emulator and clients for it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from jira_emulator import create_app

ACME = "https://acme.atlassian.net"

pytest_plugins = ["support.databases", "support.service"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A run that collected nothing must never look like success (CI relies on this too).
    if session.testscollected == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """The root logger's handlers and levels as before the test. A command run in-process (Typer's
    CliRunner) configures logging onto its own stderr, which is closed once it returns: left in
    place, every later test's log lines went to a closed file ("--- Logging error ---")."""
    root, quiet = logging.getLogger(), [logging.getLogger(name) for name in ("httpx", "httpcore")]
    handlers, levels = root.handlers[:], [root.level, *(logger.level for logger in quiet)]
    yield
    root.handlers[:] = handlers
    for logger, level in zip([root, *quiet], levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def emulator() -> FastAPI:
    return create_app()


@pytest.fixture
async def jira(emulator: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The default site `acme` as its admin, Ada, over the in-process ASGI transport."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator), base_url=ACME, auth=("admin@acme.test", "admin-token")
    ) as client:
        yield client


@pytest.fixture
def as_user(emulator: FastAPI) -> object:
    """A factory of clients for other users of `acme`: `as_user("alice@acme.test", "alice-token")`."""

    def make(email: str, token: str, base_url: str = ACME) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator), base_url=base_url, auth=(email, token)
        )

    return make
