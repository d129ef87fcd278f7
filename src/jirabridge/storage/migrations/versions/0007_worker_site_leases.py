"""worker site leases: the live worker processes, which of them owns each site, and an index of each
site's outstanding operations (the fair claim)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OUTSTANDING = sa.text("status NOT IN ('done', 'failed')")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopping", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "site_leases",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_leases_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_site_leases_worker_id_workers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_leases")),
    )
    with op.batch_alter_table("site_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_leases_worker_id"), ["worker_id"], unique=False)
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_operations_site_outstanding",
            ["site_id", "seq"],
            unique=False,
            sqlite_where=OUTSTANDING,
            postgresql_where=OUTSTANDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_operations_site_outstanding", sqlite_where=OUTSTANDING, postgresql_where=OUTSTANDING
        )
    with op.batch_alter_table("site_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_leases_worker_id"))
    op.drop_table("site_leases")
    op.drop_table("workers")
