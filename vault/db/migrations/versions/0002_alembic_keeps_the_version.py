"""Alembic's own table keeps the schema revision; release 0.1.0's schema_info goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("schema_info")


def downgrade() -> None:
    op.create_table(
        "schema_info",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.bulk_insert(sa.table("schema_info", sa.column("version", sa.Integer)), [{"version": 1}])
