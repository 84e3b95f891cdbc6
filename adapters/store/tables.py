"""Tables of the scan store (SQLModel classes) and of the lifecycle store (Core tables).

These rows are *storage* shapes, deliberately separate from the frozen dataclasses of
``core.model``, ``core.planner``, ``core.lifecycle``, ``core.ledger`` and ``core.audit``;
:mod:`adapters.store.sql_store` and :mod:`adapters.store.lifecycle_store` map between them.

Every table carries ``org_id`` and is indexed by it (multi-org from day one). Datetimes are
stored as timezone-aware UTC through :class:`UtcDateTime`, which also turns the naive values
SQLite hands back into aware UTC ones, so a round trip is exact.

Identifier columns that define the order of streamed results (``account_id``, ``rule``)
use the ``C`` collation on PostgreSQL, so the database sorts them by code point, like Python
and like SQLite's default ``BINARY`` collation.

The schema is created by the hand-written Alembic migrations in
``adapters/store/migrations``; a test checks that they produce exactly this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

__all__ = [
    "ACCOUNT_SNAPSHOTS",
    "AUDIT_EVENTS",
    "CASES",
    "CONTROLS",
    "LEADER_EPOCHS",
    "LEDGER",
    "LIFECYCLE_RUNS",
    "OPEN_CASE_STATES",
    "ORGS",
    "PLANNED_DECISIONS",
    "SCAN_RUNS",
    "AccountSnapshotRow",
    "OrgRow",
    "PlannedDecisionRow",
    "ScanRunRow",
    "UtcDateTime",
    "ordered_id",
]


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware values and always returns aware UTC.

    Binding a naive datetime raises ``ValueError``: the store never guesses a time zone.
    Values are converted to UTC before they are written (SQLite keeps no offset).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; reject naive ones."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: use a tz-aware UTC value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ordered_id(length: int) -> sa.types.TypeEngine[str]:
    """A ``VARCHAR(length)`` that sorts by code point on every backend (``C`` collation on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


class OrgRow(SQLModel, table=True):
    """An Atlassian org and the directory scanned in it."""

    __tablename__ = "orgs"
    __table_args__ = (sa.PrimaryKeyConstraint("org_id", name="pk_orgs"),)

    org_id: str = Field(sa_column=sa.Column("org_id", sa.String(128), primary_key=True))
    directory_id: str = Field(sa_column=sa.Column("directory_id", sa.String(128), nullable=False))
    name: str = Field(sa_column=sa.Column("name", sa.Text(), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column("created_at", UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", UtcDateTime(), nullable=False))


class ScanRunRow(SQLModel, table=True):
    """One scan of one org: timing, policy, outcome and the plan summary (JSON)."""

    __tablename__ = "scan_runs"
    __table_args__ = (
        sa.PrimaryKeyConstraint("run_id", name="pk_scan_runs"),
        sa.Index("ix_scan_runs_org_id_started_at", "org_id", "started_at"),
    )

    run_id: str = Field(sa_column=sa.Column("run_id", sa.String(32), primary_key=True))
    org_id: str = Field(
        sa_column=sa.Column(
            "org_id",
            sa.String(128),
            sa.ForeignKey("orgs.org_id", name="fk_scan_runs_org_id_orgs", ondelete="CASCADE"),
            nullable=False,
        )
    )
    started_at: datetime = Field(sa_column=sa.Column("started_at", UtcDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column("finished_at", UtcDateTime(), nullable=True))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    policy_hash: str = Field(sa_column=sa.Column("policy_hash", sa.String(64), nullable=False))
    plan_hash: str | None = Field(default=None, sa_column=sa.Column("plan_hash", sa.String(64), nullable=True))
    accounts: int = Field(default=0, sa_column=sa.Column("accounts", sa.Integer(), nullable=False))
    summary: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column("summary", sa.JSON(none_as_null=True), nullable=True)
    )
    error: str | None = Field(default=None, sa_column=sa.Column("error", sa.Text(), nullable=True))


class AccountSnapshotRow(SQLModel, table=True):
    """One account as seen by one scan. Primary key (run_id, account_id).

    ``groups`` is ``[{"id", "name"}]`` in directory order, ``platform_roles`` a sorted list,
    ``products`` ``[{"key", "resource_id", "last_active": ISO-8601 UTC | null}]``.
    """

    __tablename__ = "account_snapshots"
    __table_args__ = (
        sa.PrimaryKeyConstraint("run_id", "account_id", name="pk_account_snapshots"),
        sa.Index("ix_account_snapshots_org_id_account_id", "org_id", "account_id"),
    )

    run_id: str = Field(
        sa_column=sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("scan_runs.run_id", name="fk_account_snapshots_run_id_scan_runs", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    account_id: str = Field(sa_column=sa.Column("account_id", ordered_id(128), primary_key=True))
    org_id: str = Field(sa_column=sa.Column("org_id", sa.String(128), nullable=False))
    email: str | None = Field(default=None, sa_column=sa.Column("email", sa.Text(), nullable=True))
    name: str = Field(sa_column=sa.Column("name", sa.Text(), nullable=False))
    account_type: str = Field(sa_column=sa.Column("account_type", sa.String(32), nullable=False))
    account_status: str = Field(sa_column=sa.Column("account_status", sa.String(32), nullable=False))
    membership_status: str = Field(sa_column=sa.Column("membership_status", sa.String(32), nullable=False))
    claim: str = Field(sa_column=sa.Column("claim", sa.String(32), nullable=False))
    management_source: str = Field(sa_column=sa.Column("management_source", sa.String(32), nullable=False))
    added_to_org: datetime | None = Field(
        default=None, sa_column=sa.Column("added_to_org", UtcDateTime(), nullable=True)
    )
    activity_known: bool = Field(sa_column=sa.Column("activity_known", sa.Boolean(), nullable=False))
    groups: list[dict[str, str]] = Field(sa_column=sa.Column("groups", sa.JSON(), nullable=False))
    platform_roles: list[str] = Field(sa_column=sa.Column("platform_roles", sa.JSON(), nullable=False))
    products: list[dict[str, str | None]] = Field(sa_column=sa.Column("products", sa.JSON(), nullable=False))
    scheduled_for_deletion: bool = Field(
        default=False,
        sa_column=sa.Column("scheduled_for_deletion", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


class PlannedDecisionRow(SQLModel, table=True):
    """One planner decision of one scan. Primary key (run_id, account_id, rule)."""

    __tablename__ = "planned_decisions"
    __table_args__ = (
        sa.PrimaryKeyConstraint("run_id", "account_id", "rule", name="pk_planned_decisions"),
        sa.Index("ix_planned_decisions_org_id_account_id", "org_id", "account_id"),
    )

    run_id: str = Field(
        sa_column=sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("scan_runs.run_id", name="fk_planned_decisions_run_id_scan_runs", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    account_id: str = Field(sa_column=sa.Column("account_id", ordered_id(128), primary_key=True))
    rule: str = Field(sa_column=sa.Column("rule", ordered_id(255), primary_key=True))
    org_id: str = Field(sa_column=sa.Column("org_id", sa.String(128), nullable=False))
    product: str = Field(sa_column=sa.Column("product", sa.String(255), nullable=False))
    action: str = Field(sa_column=sa.Column("action", sa.String(32), nullable=False))
    verdict: int = Field(sa_column=sa.Column("verdict", sa.Integer(), nullable=False))
    skip_reason: str | None = Field(default=None, sa_column=sa.Column("skip_reason", sa.String(32), nullable=True))
    last_active: datetime | None = Field(default=None, sa_column=sa.Column("last_active", UtcDateTime(), nullable=True))
    measured_from: str | None = Field(default=None, sa_column=sa.Column("measured_from", sa.String(32), nullable=True))
    days_inactive: int | None = Field(default=None, sa_column=sa.Column("days_inactive", sa.Integer(), nullable=True))
    deadline: datetime | None = Field(default=None, sa_column=sa.Column("deadline", UtcDateTime(), nullable=True))
    over_threshold: bool = Field(sa_column=sa.Column("over_threshold", sa.Boolean(), nullable=False))
    detail: str = Field(sa_column=sa.Column("detail", sa.Text(), nullable=False))
    code: str = Field(sa_column=sa.Column("code", sa.String(64), nullable=False))


#: The Core tables behind the row classes, for bulk statements.
ORGS: sa.Table = SQLModel.metadata.tables["orgs"]
SCAN_RUNS: sa.Table = SQLModel.metadata.tables["scan_runs"]
ACCOUNT_SNAPSHOTS: sa.Table = SQLModel.metadata.tables["account_snapshots"]
PLANNED_DECISIONS: sa.Table = SQLModel.metadata.tables["planned_decisions"]


# --------------------------------------------------------------------------- lifecycle (0002)
#
# Plain Core tables on the same metadata: the lifecycle store only speaks Core, so no row
# classes are needed. :mod:`adapters.store.lifecycle_store` maps them to ``core.lifecycle``,
# ``core.ledger`` and ``core.audit`` dataclasses.

#: The ``CaseState`` values of open cases (``CaseState.is_open``), in the partial unique index.
OPEN_CASE_STATES: tuple[str, ...] = ("warned", "kept", "actioned", "deletion_scheduled")
_OPEN_CASE_WHERE = "state IN ('warned', 'kept', 'actioned', 'deletion_scheduled')"

CASES: sa.Table = sa.Table(
    "cases",
    SQLModel.metadata,
    sa.Column("case_id", sa.String(64), nullable=False),
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("account_id", ordered_id(128), nullable=False),
    sa.Column("rule", ordered_id(255), nullable=False),
    sa.Column("product", sa.String(255), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("deadline", UtcDateTime(), nullable=True),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Column("delivery_channel", sa.Text(), nullable=True),
    sa.Column("escalated_at", UtcDateTime(), nullable=True),
    sa.Column("keep_until", UtcDateTime(), nullable=True),
    sa.Column("keep_reason", sa.Text(), nullable=True),
    sa.Column("keeps", sa.JSON(), nullable=False),  # ISO-8601 UTC strings
    sa.Column("actioned_at", UtcDateTime(), nullable=True),
    sa.Column("effect", sa.JSON(none_as_null=True), nullable=True),  # {op, group_ids, product} | NULL
    sa.Column("delete_due_at", UtcDateTime(), nullable=True),
    sa.Column("deleted_at", UtcDateTime(), nullable=True),
    sa.Column("restored_at", UtcDateTime(), nullable=True),
    sa.Column("closed_reason", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
    sa.Index("ix_cases_org_id_account_id", "org_id", "account_id"),
    # At most one open case per (org, account, rule); closed ones do not count.
    sa.Index(
        "ux_cases_open_org_id_account_id_rule",
        "org_id",
        "account_id",
        "rule",
        unique=True,
        sqlite_where=sa.text(_OPEN_CASE_WHERE),
        postgresql_where=sa.text(_OPEN_CASE_WHERE),
    ),
)

LEDGER: sa.Table = sa.Table(
    "ledger",
    SQLModel.metadata,
    sa.Column("entry_id", sa.String(64), nullable=False),
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("rule", sa.String(255), nullable=False),
    sa.Column("op", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("product", sa.String(255), nullable=True),
    sa.Column("group_ids", sa.JSON(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("epoch", sa.BigInteger(), nullable=True),
    sa.Column("outcome", sa.Text(), nullable=False),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("request_id", sa.String(255), nullable=True),
    sa.PrimaryKeyConstraint("entry_id", name="pk_ledger"),
    sa.Index("ix_ledger_org_id_state", "org_id", "state"),
    sa.Index("ix_ledger_run_id", "run_id"),
    sa.Index("ix_ledger_case_id", "case_id"),
)

LIFECYCLE_RUNS: sa.Table = sa.Table(
    "lifecycle_runs",
    SQLModel.metadata,
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("requested_by", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("plan_hash", sa.String(64), nullable=True),
    sa.Column("action_hash", sa.String(64), nullable=True),
    sa.Column("held", sa.Integer(), nullable=False),
    sa.Column("approved_by", sa.Text(), nullable=True),
    sa.Column("approved_at", UtcDateTime(), nullable=True),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("billable", sa.Integer(), nullable=False),
    sa.Column("counts", sa.JSON(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("run_id", name="pk_lifecycle_runs"),
    sa.Index("ix_lifecycle_runs_org_id_created_at", "org_id", "created_at"),
)

CONTROLS: sa.Table = sa.Table(
    "controls",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", name="pk_controls"),
)

#: Append-only: the application never updates or deletes rows. Production should also
#: ``REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM <app role>``; on PostgreSQL the
#: migration installs a trigger that refuses UPDATE, DELETE and TRUNCATE regardless.
AUDIT_EVENTS: sa.Table = sa.Table(
    "audit_events",
    SQLModel.metadata,
    sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
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
    # The org's own chain (migration 0011; None on rows written before it).
    sa.Column("org_seq", sa.BigInteger(), nullable=True),
    sa.Column("org_prev_hash", sa.String(64), nullable=True),
    sa.Column("org_hash", sa.String(64), nullable=True),
    sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    sa.UniqueConstraint("event_id", name="uq_audit_events_event_id"),
    sa.Index("ix_audit_events_at", "at"),
    sa.Index("ux_audit_events_org_id_org_seq", "org_id", "org_seq", unique=True),
)


#: Where the audit chain in ``audit_events`` starts after older rows were archived (0008): one row per
#: archive, the newest (highest ``seq``) is the current start. Written only by ``audit archive``.
AUDIT_ANCHORS: sa.Table = sa.Table(
    "audit_anchors",
    SQLModel.metadata,
    sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("archived_at", UtcDateTime(), nullable=False),
    sa.Column("archive", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("seq", name="pk_audit_anchors"),
)


# --------------------------------------------------------------------------- leader election (0003)

#: The fencing epoch of each org's current leader (see :mod:`adapters.store.leader`). A new
#: leadership bumps ``epoch``; fenced writes of the lifecycle store check it in their own
#: transaction (``FOR SHARE`` on PostgreSQL), so a stale leader cannot write.
LEADER_EPOCHS: sa.Table = sa.Table(
    "leader_epochs",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("holder", sa.Text(), nullable=True),
    sa.Column("acquired_at", UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("org_id", name="pk_leader_epochs"),
)


# --------------------------------------------------------------------------- API-token evidence (0013)

#: The latest known API-token evidence of each account (``core.token_evidence`` reuses it while it is
#: young enough): the most recently used token's label and last use (NULL: never used), and when it was read.
API_TOKEN_EVIDENCE: sa.Table = sa.Table(
    "api_token_evidence",
    SQLModel.metadata,
    sa.Column("org_id", sa.String(128), nullable=False),
    sa.Column("account_id", sa.String(128), nullable=False),
    sa.Column("label", sa.Text(), nullable=False),
    sa.Column("last_access", UtcDateTime(), nullable=True),
    sa.Column("read_at", UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "account_id", name="pk_api_token_evidence"),
)
