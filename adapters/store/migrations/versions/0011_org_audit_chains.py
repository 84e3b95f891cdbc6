"""A chain per org in the audit trail: audit_events.org_seq, org_prev_hash, org_hash.

Revision ID: 0011
Revises: 0010

Every new event is also a link of its org's own chain, so one org's trail can be exported and
verified without the other orgs of a deployment. Rows written before stay without a link.
Columns are only added (no table rebuild), so SQLite's append-only triggers stay in place.

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = ("UPDATE", "DELETE")


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("org_seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("org_prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("org_hash", sa.String(64), nullable=True))
    op.create_index("ux_audit_events_org_id_org_seq", "audit_events", ["org_id", "org_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_events_org_id_org_seq", table_name="audit_events")
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("audit_events") as batch:  # SQLite rebuilds the table: its triggers go with it
        for column in ("org_hash", "org_prev_hash", "org_seq"):
            batch.drop_column(column)
    if sqlite:
        for verb in _TRIGGERS:
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
