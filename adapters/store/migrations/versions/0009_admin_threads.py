"""Admin threads: where each chat platform shows the parent message of a request.

Revision ID: 0009
Revises: 0008

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_threads",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("thread_key", sa.String(128), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("parent", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "kind", "thread_key", "platform", name="pk_admin_threads"),
    )
    op.create_index("ix_admin_threads_platform_channel_parent", "admin_threads", ["platform", "channel", "parent"])


def downgrade() -> None:
    op.drop_index("ix_admin_threads_platform_channel_parent", table_name="admin_threads")
    op.drop_table("admin_threads")
