"""Database fixtures: every storage and API test runs on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from jirabridge.storage.db import make_engine
from jirabridge.storage.migrate import upgrade
from support.postgres import postgres_server

TEMPLATE = "jb_template"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A session-wide PostgreSQL server with a migrated template database."""
    if os.environ.get("JIRABRIDGE_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("JIRABRIDGE_TEST_SKIP_POSTGRES=1: PostgreSQL tests skipped on purpose")
    with postgres_server() as admin_url:
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {TEMPLATE}"))
        template = make_engine(admin_url.rsplit("/", 1)[0] + f"/{TEMPLATE}")
        upgrade(template)
        template.dispose()
        admin.dispose()
        yield admin_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jirabridge.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
