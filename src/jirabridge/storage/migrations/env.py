"""Alembic environment: runs on the connection the caller passes (see storage/migrate.py) or the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from jirabridge.storage.db import make_engine
from jirabridge.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        run(conn)
