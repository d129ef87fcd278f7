"""link settled notify: on PostgreSQL, a link that stops being pending sends NOTIFY with its id

A request that waits for the worker to create a ticket (POST …/tickets) listens for it instead of
polling the database (storage/link_watch.py). A trigger rather than a call in each place that settles
a link: every path (created, failed, given up, broken) notifies, from the transaction that settles
the link, when it commits. The payload is the link's id only. SQLite: nothing (the wait polls).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION jirabridge_link_settled() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('jirabridge_link_settled', NEW.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER links_settled_notify
        AFTER UPDATE OF sync_state ON links
        FOR EACH ROW
        WHEN (OLD.sync_state = 'pending' AND NEW.sync_state <> 'pending')
        EXECUTE FUNCTION jirabridge_link_settled()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS links_settled_notify ON links")
    op.execute("DROP FUNCTION IF EXISTS jirabridge_link_settled()")
