"""outbox notify sites: the outbox's notification names the sites of the operations queued, so a worker
busy with one site's backlog claims at once for a site it is not serving (storage/outbox_nudges.py)

0010's notification had no payload. Now it carries the distinct site ids of the rows the statement
inserted, comma-separated, `-` for operations of no site (a transition table, FOR EACH STATEMENT); an
empty payload (a list too long for a notification) means "some sites". SQLite: nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 02:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A notification's payload must stay under 8000 bytes; a longer list is sent as "some sites".
_LONGEST = 7000


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION jirabridge_outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            sites text;
        BEGIN
            SELECT string_agg(DISTINCT coalesce(site_id, '-'), ',') INTO sites FROM added;
            IF sites IS NULL OR length(sites) > {_LONGEST} THEN
                sites := '';
            END IF;
            PERFORM pg_notify('jirabridge_outbox', sites);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS operations_added_notify ON operations")
    op.execute(
        """
        CREATE TRIGGER operations_added_notify
        AFTER INSERT ON operations
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT
        EXECUTE FUNCTION jirabridge_outbox_added()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS operations_added_notify ON operations")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION jirabridge_outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
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
