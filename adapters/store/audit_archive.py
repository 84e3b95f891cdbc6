"""Audit retention: move the oldest audit rows to a CSV, and remember where the chain now starts.

Only ``jira-cleanup audit archive`` calls this, as the tables' owner: the bot's own role cannot
delete audit rows (README, PostgreSQL role), and the append-only triggers are lifted for exactly
the delete, inside one transaction with the new anchor row, so nothing is half done.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.store.tables import AUDIT_ANCHORS, AUDIT_EVENTS
from core.audit import Anchor, AuditEvent

_SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)


def current_anchor(conn: sa.Connection) -> Anchor | None:
    """The last archived row (the chain in the database continues from it), or None."""
    row = conn.execute(
        sa.select(AUDIT_ANCHORS.c.seq, AUDIT_ANCHORS.c.hash).order_by(AUDIT_ANCHORS.c.seq.desc()).limit(1)
    ).first()
    return Anchor(int(row.seq), str(row.hash)) if row is not None else None


def archive_audit(engine: sa.Engine, upto: AuditEvent, archive: str, at: datetime) -> int:
    """Delete audit rows up to ``upto`` (already written to ``archive``) and record it as the anchor."""
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        removed = conn.execute(sa.delete(AUDIT_EVENTS).where(AUDIT_EVENTS.c.seq <= upto.seq)).rowcount
        if postgres:
            conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))
        else:
            conn.execute(sa.text(_SQLITE_TRIGGER))
        conn.execute(sa.insert(AUDIT_ANCHORS).values(seq=upto.seq, hash=upto.hash, archived_at=at, archive=archive))
    return int(removed)
