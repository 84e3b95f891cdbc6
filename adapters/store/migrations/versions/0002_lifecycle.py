"""Lifecycle: cases, ledger, lifecycle_runs, controls, audit_events; account_snapshots.scheduled_for_deletion.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

Written by hand: deterministic and independent of the application's table classes.

``audit_events`` is append-only. On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE
on it (production should additionally revoke those privileges from the application role);
a superuser can still bypass it on purpose with ``SET session_replication_role = replica``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: CaseState values of open cases: at most one open case per (org, account, rule).
_OPEN_CASE_WHERE = "state IN ('warned', 'kept', 'actioned', 'deletion_scheduled')"

_PG_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_PG_ROW_TRIGGER = (
    "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
)
_PG_TRUNCATE_TRIGGER = (
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
)


def _ordered_id(length: int) -> sa.types.TypeEngine[str]:
    """VARCHAR sorted by code point on every backend (``C`` collation on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _is_postgres() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def upgrade() -> None:
    """Create the lifecycle tables, their indexes and (PostgreSQL) the append-only trigger."""
    with op.batch_alter_table("account_snapshots") as batch:
        batch.add_column(
            sa.Column("scheduled_for_deletion", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("account_id", _ordered_id(128), nullable=False),
        sa.Column("rule", _ordered_id(255), nullable=False),
        sa.Column("product", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("deadline", _utc(), nullable=True),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.Column("delivery_channel", sa.Text(), nullable=True),
        sa.Column("escalated_at", _utc(), nullable=True),
        sa.Column("keep_until", _utc(), nullable=True),
        sa.Column("keep_reason", sa.Text(), nullable=True),
        sa.Column("keeps", sa.JSON(), nullable=False),
        sa.Column("actioned_at", _utc(), nullable=True),
        sa.Column("effect", sa.JSON(), nullable=True),
        sa.Column("delete_due_at", _utc(), nullable=True),
        sa.Column("deleted_at", _utc(), nullable=True),
        sa.Column("restored_at", _utc(), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
    )
    op.create_index("ix_cases_org_id_account_id", "cases", ["org_id", "account_id"])
    op.create_index(
        "ux_cases_open_org_id_account_id_rule",
        "cases",
        ["org_id", "account_id", "rule"],
        unique=True,
        sqlite_where=sa.text(_OPEN_CASE_WHERE),
        postgresql_where=sa.text(_OPEN_CASE_WHERE),
    )
    op.create_table(
        "ledger",
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("product", sa.String(255), nullable=True),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name="pk_ledger"),
    )
    op.create_index("ix_ledger_org_id_state", "ledger", ["org_id", "state"])
    op.create_index("ix_ledger_run_id", "ledger", ["run_id"])
    op.create_index("ix_ledger_case_id", "ledger", ["case_id"])
    op.create_table(
        "lifecycle_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("action_hash", sa.String(64), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_at", _utc(), nullable=True),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("billable", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_lifecycle_runs"),
    )
    op.create_index("ix_lifecycle_runs_org_id_created_at", "lifecycle_runs", ["org_id", "created_at"])
    op.create_table(
        "controls",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name="pk_controls"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("approver", sa.Text(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("event_id", name="uq_audit_events_event_id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    if _is_postgres():
        op.execute(_PG_APPEND_ONLY_FUNCTION)
        op.execute(_PG_ROW_TRIGGER)
        op.execute(_PG_TRUNCATE_TRIGGER)


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    if _is_postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("controls")
    op.drop_index("ix_lifecycle_runs_org_id_created_at", table_name="lifecycle_runs")
    op.drop_table("lifecycle_runs")
    op.drop_index("ix_ledger_case_id", table_name="ledger")
    op.drop_index("ix_ledger_run_id", table_name="ledger")
    op.drop_index("ix_ledger_org_id_state", table_name="ledger")
    op.drop_table("ledger")
    op.drop_index("ux_cases_open_org_id_account_id_rule", table_name="cases")
    op.drop_index("ix_cases_org_id_account_id", table_name="cases")
    op.drop_table("cases")
    with op.batch_alter_table("account_snapshots") as batch:
        batch.drop_column("scheduled_for_deletion")
