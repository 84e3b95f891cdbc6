"""API-token evidence kept between scans.

Revision ID: 0013
Revises: 0012

``api_token_evidence``: one row per (org, account) with the latest known evidence of the account's
API tokens (the most recently used token's label and last use, NULL when none was used) and when it
was read. A scan reuses it while a newer read could not change the outcome.

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token_evidence",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("last_access", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "account_id", name="pk_api_token_evidence"),
    )


def downgrade() -> None:
    op.drop_table("api_token_evidence")
