"""own write marks: when jirabridge itself last set an issue's status and assignee, so a report of the
issue from before that write is recognised as older

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jira_status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("jira_assignee_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("jira_assignee_at")
        batch_op.drop_column("jira_status_at")
