"""The console: coaching notes, indexes for listing recordings newest first, one-time sign-in
links, and tokens limited to some of their user's roles.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("recordings_by_start", "recordings", ["started_at", "id"])
    op.create_index("recordings_by_agent", "recordings", ["agent_user_id", "started_at"])
    op.create_table(
        "coaching_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recording_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_coaching_notes_recording_id", "coaching_notes", ["recording_id"])
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("roles", sa.String(200), nullable=True))
    op.create_table(
        "sign_in_links",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_links")
    with op.batch_alter_table("api_tokens") as table:
        table.drop_column("roles")
    op.drop_index("ix_coaching_notes_recording_id", "coaching_notes")
    op.drop_table("coaching_notes")
    op.drop_index("recordings_by_agent", "recordings")
    op.drop_index("recordings_by_start", "recordings")
