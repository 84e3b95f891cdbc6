"""Initial schema: orgs, scan_runs, account_snapshots, planned_decisions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand: deterministic and independent of the application's table classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ordered_id(length: int) -> sa.types.TypeEngine[str]:
    """VARCHAR sorted by code point on every backend (``C`` collation on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "orgs",
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("directory_id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name="pk_orgs"),
    )
    op.create_table(
        "scan_runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy_hash", sa.String(64), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_scan_runs"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.org_id"], name="fk_scan_runs_org_id_orgs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_scan_runs_org_id_started_at", "scan_runs", ["org_id", "started_at"])
    op.create_table(
        "account_snapshots",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("account_id", _ordered_id(128), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account_type", sa.String(32), nullable=False),
        sa.Column("account_status", sa.String(32), nullable=False),
        sa.Column("membership_status", sa.String(32), nullable=False),
        sa.Column("claim", sa.String(32), nullable=False),
        sa.Column("management_source", sa.String(32), nullable=False),
        sa.Column("added_to_org", _utc(), nullable=True),
        sa.Column("activity_known", sa.Boolean(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("platform_roles", sa.JSON(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "account_id", name="pk_account_snapshots"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.run_id"],
            name="fk_account_snapshots_run_id_scan_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_account_snapshots_org_id_account_id", "account_snapshots", ["org_id", "account_id"]
    )
    op.create_table(
        "planned_decisions",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("account_id", _ordered_id(128), nullable=False),
        sa.Column("rule", _ordered_id(255), nullable=False),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("product", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("verdict", sa.Integer(), nullable=False),
        sa.Column("skip_reason", sa.String(32), nullable=True),
        sa.Column("last_active", _utc(), nullable=True),
        sa.Column("measured_from", sa.String(32), nullable=True),
        sa.Column("days_inactive", sa.Integer(), nullable=True),
        sa.Column("deadline", _utc(), nullable=True),
        sa.Column("over_threshold", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "account_id", "rule", name="pk_planned_decisions"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scan_runs.run_id"],
            name="fk_planned_decisions_run_id_scan_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_planned_decisions_org_id_account_id", "planned_decisions", ["org_id", "account_id"]
    )


def downgrade() -> None:
    """Drop everything :func:`upgrade` created."""
    op.drop_index("ix_planned_decisions_org_id_account_id", table_name="planned_decisions")
    op.drop_table("planned_decisions")
    op.drop_index("ix_account_snapshots_org_id_account_id", table_name="account_snapshots")
    op.drop_table("account_snapshots")
    op.drop_index("ix_scan_runs_org_id_started_at", table_name="scan_runs")
    op.drop_table("scan_runs")
    op.drop_table("orgs")
