"""Recordings keep the media segment count their sealed metadata announces.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.add_column(sa.Column("media_segments", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as table:
        table.drop_column("media_segments")
