"""SQLite: the audit trail is append-only there too.

Revision ID: 0007
Revises: 0006

PostgreSQL has had its trigger since 0002. On SQLite, BEFORE UPDATE and BEFORE DELETE triggers
now refuse any change to ``audit_events`` from the application. Someone with the file can drop
them; the hash chain and the signed checkpoints outside the database catch what they then do.
Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
