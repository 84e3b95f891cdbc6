"""Chat: single-use button tokens and runtime protections.

Revision ID: 0004
Revises: 0003

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "action_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("intended", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("forbidden", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("message_ref", sa.Text(), nullable=True),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("used_by", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_action_tokens"),
    )
    op.create_index("ix_action_tokens_org_id_subject", "action_tokens", ["org_id", "subject"])
    op.create_table(
        "protections",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.Column("added_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "kind", "value", name="pk_protections"),
    )


def downgrade() -> None:
    op.drop_table("protections")
    op.drop_index("ix_action_tokens_org_id_subject", table_name="action_tokens")
    op.drop_table("action_tokens")
