"""Leader election: leader_epochs (the fencing epoch of each org's current leader).

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01 00:00:00

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``leader_epochs``."""
    op.create_table(
        "leader_epochs",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org_id", name="pk_leader_epochs"),
    )


def downgrade() -> None:
    """Drop ``leader_epochs``."""
    op.drop_table("leader_epochs")
