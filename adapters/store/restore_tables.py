"""The table behind self-service restore requests (migration ``0006``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from adapters.store.tables import UtcDateTime

__all__ = ["RESTORE_REQUESTS"]

#: One row per request for access back, from any channel.
RESTORE_REQUESTS: sa.Table = sa.Table(
    "restore_requests",
    SQLModel.metadata,
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # slack | teams | email | jsm
    sa.Column("requester", sa.JSON(), nullable=False),  # {platform, tenant, user_id, name}
    sa.Column("reply_to", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(255), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
    sa.Column("decided_by", sa.Text(), nullable=True),
    sa.Column("told_at", UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("request_id", name="pk_restore_requests"),
    sa.Index("ix_restore_requests_org_id_account_id_created_at", "org_id", "account_id", "created_at"),
)
