"""The migrations build exactly the schema the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from jirabridge.storage.db import make_engine
from jirabridge.storage.migrate import is_current
from jirabridge.storage.tables import Base


def test_migrated_database_matches_the_tables_and_is_current(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert is_current(engine)
    engine.dispose()
