"""Tables behind chat buttons and runtime protections (migration ``0004``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from adapters.store.tables import UtcDateTime

__all__ = ["ACTION_TOKENS", "ADMIN_THREADS", "PROTECTIONS", "TOKEN_SLOTS"]

#: Single-use button references. Only the SHA-256 of a token is stored.
ACTION_TOKENS: sa.Table = sa.Table(
    "action_tokens",
    SQLModel.metadata,
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("intended", sa.JSON(none_as_null=True), nullable=True),  # {platform, tenant, user_id, name}
    sa.Column("forbidden", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("message_ref", sa.Text(), nullable=True),
    sa.Column("used_at", UtcDateTime(), nullable=True),
    sa.Column("used_by", sa.Text(), nullable=True),
    sa.Column("outcome", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("token_hash", name="pk_action_tokens"),
    sa.Index("ix_action_tokens_org_id_subject", "org_id", "subject"),
)

#: The one token that may be open per (org, purpose, subject), e.g. a warning's Approve keep (migration ``0014``).
#: Its primary key makes "ask once per warning" atomic: a second insert for the subject conflicts.
TOKEN_SLOTS: sa.Table = sa.Table(
    "token_slots",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),  # the action_tokens row holding the slot
    sa.PrimaryKeyConstraint("org_id", "purpose", "subject", name="pk_token_slots"),
)

#: Protections added from chat, merged into the policy file's at plan time.
PROTECTIONS: sa.Table = sa.Table(
    "protections",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # account | group
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("added_at", UtcDateTime(), nullable=False),
    sa.Column("added_by", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "kind", "value", name="pk_protections"),
)

#: Where each platform shows the parent message of an admin thread (migration ``0009``).
ADMIN_THREADS: sa.Table = sa.Table(
    "admin_threads",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # run | restore | escalation
    sa.Column("thread_key", sa.String(128), nullable=False),  # the run id, request id...
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(255), nullable=False),
    sa.Column("parent", sa.String(255), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "kind", "thread_key", "platform", name="pk_admin_threads"),
    sa.Index("ix_admin_threads_platform_channel_parent", "platform", "channel", "parent"),
)
