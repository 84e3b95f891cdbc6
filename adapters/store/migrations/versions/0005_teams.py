"""Teams: conversation references for proactive messages.

Revision ID: 0005
Revises: 0004

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("conv_key", sa.String(400), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("channel_id", sa.String(255), nullable=True),
        sa.Column("service_url", sa.Text(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conv_key", name="pk_chat_conversations"),
    )
    op.create_index("ix_chat_conversations_platform_email", "chat_conversations", ["platform", "email"])
    op.create_index(
        "ix_chat_conversations_platform_tenant_user_id", "chat_conversations", ["platform", "tenant", "user_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_chat_conversations_platform_tenant_user_id", table_name="chat_conversations")
    op.drop_index("ix_chat_conversations_platform_email", table_name="chat_conversations")
    op.drop_table("chat_conversations")
