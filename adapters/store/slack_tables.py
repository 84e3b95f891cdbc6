"""The tables behind Slack's OAuth install flow (migration ``0012``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from adapters.store.tables import UtcDateTime

__all__ = ["SLACK_INSTALLATIONS", "SLACK_OAUTH_STATES"]

#: One row per workspace (or Enterprise Grid org) an org's Slack app is installed in.
SLACK_INSTALLATIONS: sa.Table = sa.Table(
    "slack_installations",
    SQLModel.metadata,
    # The org whose install URL was used ("" for a deployment of one org).
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("enterprise_id", sa.String(32), nullable=False),  # "" outside Enterprise Grid
    sa.Column("team_id", sa.String(32), nullable=False),  # "" for an org-wide (enterprise) install
    sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
    sa.Column("app_id", sa.String(32), nullable=True),
    sa.Column("enterprise_name", sa.String(255), nullable=True),
    sa.Column("team_name", sa.String(255), nullable=True),
    sa.Column("bot_id", sa.String(32), nullable=True),
    sa.Column("bot_user_id", sa.String(32), nullable=True),
    sa.Column("bot_scopes", sa.Text(), nullable=True),
    sa.Column("bot_token", sa.Text(), nullable=False),  # encrypted (see adapters/store/slack_store.py)
    sa.Column("installer_user_id", sa.String(32), nullable=True),
    sa.Column("installed_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("scope", "enterprise_id", "team_id", name="pk_slack_installations"),
)

#: One-use ``state`` values handed out by ``/slack/install``; only their SHA-256 is stored.
SLACK_OAUTH_STATES: sa.Table = sa.Table(
    "slack_oauth_states",
    SQLModel.metadata,
    sa.Column("state_hash", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("state_hash", name="pk_slack_oauth_states"),
    sa.Index("ix_slack_oauth_states_expires_at", "expires_at"),
)
