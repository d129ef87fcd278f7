"""site webhook status, site project lists, operation trace context

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("webhook_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("webhook_problem", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("project_keys", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("projects_listed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("traceparent")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("projects_listed_at")
        batch.drop_column("project_keys")
        batch.drop_column("webhook_problem")
        batch.drop_column("webhook_status")
