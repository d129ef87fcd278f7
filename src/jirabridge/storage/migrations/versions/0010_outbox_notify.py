"""outbox notify: on PostgreSQL, new operations send NOTIFY jirabridge_outbox, so idle workers claim
them at once instead of at their next poll (storage/outbox_nudges.py)

One notification per inserting statement (FOR EACH STATEMENT), sent when its transaction commits;
PostgreSQL folds identical notifications of one transaction into one. No payload: a worker that hears
it claims what is due, as it would at a poll. SQLite: nothing (one worker polls).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION jirabridge_outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('jirabridge_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER operations_added_notify
        AFTER INSERT ON operations
        FOR EACH STATEMENT
        EXECUTE FUNCTION jirabridge_outbox_added()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS operations_added_notify ON operations")
    op.execute("DROP FUNCTION IF EXISTS jirabridge_outbox_added()")
