"""One open token per (org, purpose, subject): a warning's keep approval is asked once, atomically.

Revision ID: 0014
Revises: 0013

``token_slots``: one row per (org, purpose, subject) naming the ``action_tokens`` row that holds it.
Storing an Approve keep takes the warning's slot with an insert that conflicts for a second one, so
two simultaneous Keep presses cannot both ask the admins (a used or expired holder is replaced).
Approve keep tokens still unused get their slot here (the oldest one of a warning, when there were
two).

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_slots",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "purpose", "subject", name="pk_token_slots"),
    )
    op.execute(
        """
        INSERT INTO token_slots (org_id, purpose, subject, token_hash)
        SELECT t.org_id, t.purpose, t.subject, MIN(t.token_hash)
        FROM action_tokens t
        WHERE t.purpose = 'approve_keep' AND t.used_at IS NULL
          AND t.created_at = (
            SELECT MIN(o.created_at) FROM action_tokens o
            WHERE o.org_id = t.org_id AND o.purpose = t.purpose AND o.subject = t.subject AND o.used_at IS NULL
          )
        GROUP BY t.org_id, t.purpose, t.subject
        """
    )


def downgrade() -> None:
    op.drop_table("token_slots")
