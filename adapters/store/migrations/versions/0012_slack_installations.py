"""Slack OAuth: the workspaces an org's Slack app is installed in, and the install flow's states.

Revision ID: 0012
Revises: 0011

``slack_installations``: one row per (org scope, enterprise, workspace) with the bot token
(encrypted by the application before it is written). ``slack_oauth_states``: the one-use
``state`` values of ``/slack/install`` (only their SHA-256), each with its expiry.

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("app_id", sa.String(32), nullable=True),
        sa.Column("enterprise_name", sa.String(255), nullable=True),
        sa.Column("team_name", sa.String(255), nullable=True),
        sa.Column("bot_id", sa.String(32), nullable=True),
        sa.Column("bot_user_id", sa.String(32), nullable=True),
        sa.Column("bot_scopes", sa.Text(), nullable=True),
        sa.Column("bot_token", sa.Text(), nullable=False),
        sa.Column("installer_user_id", sa.String(32), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "enterprise_id", "team_id", name="pk_slack_installations"),
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_slack_oauth_states"),
    )
    op.create_index("ix_slack_oauth_states_expires_at", "slack_oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_oauth_states_expires_at", table_name="slack_oauth_states")
    op.drop_table("slack_oauth_states")
    op.drop_table("slack_installations")
