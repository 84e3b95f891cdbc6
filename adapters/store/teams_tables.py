"""The table behind Teams conversation references (migrations ``0005``, ``0010``: ``scope``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from adapters.store.tables import UtcDateTime

__all__ = ["CHAT_CONVERSATIONS"]

#: Conversation references for proactive messages, one row per person (kind) or channel.
CHAT_CONVERSATIONS: sa.Table = sa.Table(
    "chat_conversations",
    SQLModel.metadata,
    sa.Column("conv_key", sa.String(400), nullable=False),  # platform|kind|tenant|user or platform|channel|id
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # personal | member | channel
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("channel_id", sa.String(255), nullable=True),
    sa.Column("service_url", sa.Text(), nullable=False),
    sa.Column("reference", sa.JSON(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The org whose bot keeps the reference ("" for a deployment of one org).
    sa.Column("scope", sa.String(128), nullable=False),
    sa.PrimaryKeyConstraint("conv_key", name="pk_chat_conversations"),
    sa.Index("ix_chat_conversations_scope_platform_email", "scope", "platform", "email"),
    sa.Index("ix_chat_conversations_scope_platform_tenant_user_id", "scope", "platform", "tenant", "user_id"),
)
