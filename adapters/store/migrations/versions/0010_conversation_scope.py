"""Conversation references per org: chat_conversations.scope.

Revision ID: 0010
Revises: 0009

Orgs of one deployment share the database; each org's Teams bot keeps its own references to the
same people (a person may talk to two orgs' bots in one tenant). Existing rows get the empty
scope: a deployment of one org reads them as before.

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chat_conversations", sa.Column("scope", sa.String(128), nullable=True))
    op.execute("UPDATE chat_conversations SET scope = ''")
    with op.batch_alter_table("chat_conversations") as batch:
        batch.alter_column("scope", existing_type=sa.String(128), nullable=False)
        batch.drop_index("ix_chat_conversations_platform_email")
        batch.drop_index("ix_chat_conversations_platform_tenant_user_id")
        batch.create_index("ix_chat_conversations_scope_platform_email", ["scope", "platform", "email"])
        batch.create_index(
            "ix_chat_conversations_scope_platform_tenant_user_id", ["scope", "platform", "tenant", "user_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_conversations") as batch:
        batch.drop_index("ix_chat_conversations_scope_platform_tenant_user_id")
        batch.drop_index("ix_chat_conversations_scope_platform_email")
        batch.create_index("ix_chat_conversations_platform_tenant_user_id", ["platform", "tenant", "user_id"])
        batch.create_index("ix_chat_conversations_platform_email", ["platform", "email"])
        batch.drop_column("scope")
