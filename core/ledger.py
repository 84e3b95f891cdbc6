"""The action ledger and lifecycle runs: how "exactly once" is kept.

Every change to Atlassian is a ledger entry, unique per (org, case, op), that moves through

    HELD ─approve─▶ PLANNED ─claim─▶ CLAIMED ─final check─▶ REQUESTED ─write─▶ CONFIRMED
                                         │                       └─▶ FAILED
                                         └─▶ SKIPPED (kept, active again, already done, dry run)

``REQUESTED`` is written *before* the HTTP call. After a crash, ``CLAIMED`` entries are
released (nothing was sent) and ``REQUESTED`` entries are reconciled by reading the account's
state, never blindly re-sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.lifecycle import Case, Op


class EntryState(StrEnum):
    """Where a ledger entry stands."""

    HELD = "held"
    WAITING = "waiting"  # a restore queued while its action was in flight; runs once that action settles
    PLANNED = "planned"
    CLAIMED = "claimed"
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Confirmed, skipped and failed entries are done."""
        return self in (EntryState.CONFIRMED, EntryState.SKIPPED, EntryState.FAILED)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change to one account, carried out at most once."""

    entry_id: str
    org_id: str
    run_id: str
    case_id: str
    account_id: str
    rule: str
    op: Op
    state: EntryState
    created_at: datetime
    updated_at: datetime
    product: str | None = None
    group_ids: tuple[str, ...] = ()
    attempts: int = 0
    worker: str | None = None
    epoch: int | None = None
    outcome: str = ""
    http_status: int | None = None
    request_id: str | None = None


#: The run id of an undo is the id of the run it undoes with this suffix (see ``core.engine.undo``).
UNDO_SUFFIX = "-undo"


def is_undo(run_id: str) -> bool:
    """True for the id of an undo."""
    return run_id.endswith(UNDO_SUFFIX)


def entries_by_op(entries: Iterable[LedgerEntry]) -> dict[Op, LedgerEntry]:
    """The entries of one case by op (a case has at most one entry per op)."""
    return {e.op: e for e in entries}


def entry_id_for(org_id: str, case_id: str, op: Op) -> str:
    """The deterministic id of the one entry allowed per (org, case, op)."""
    return hashlib.sha256(f"{org_id}|{case_id}|{op.value}".encode()).hexdigest()[:32]


def planned_entry(run_id: str, case: Case, op: Op, now: datetime) -> LedgerEntry:
    """A new PLANNED entry for ``op`` on ``case`` (its id is stable per case and op)."""
    return LedgerEntry(
        entry_id=entry_id_for(case.org_id, case.case_id, op),
        org_id=case.org_id,
        run_id=run_id,
        case_id=case.case_id,
        account_id=case.account_id,
        rule=case.rule,
        op=op,
        state=EntryState.PLANNED,
        created_at=now,
        updated_at=now,
        product=None if case.product == "any" else case.product,
    )


def action_hash(entries: Iterable[LedgerEntry]) -> str:
    """Order-independent SHA-256 over what a set of entries would do (for approvals)."""
    lines = sorted(f"{e.entry_id}|{e.account_id}|{e.op.value}|{e.product or ''}|{e.rule}" for e in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class RunStatus(StrEnum):
    """Where a lifecycle run stands."""

    RUNNING = "running"
    DRY_RUN = "dry_run"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class LifecycleRun:
    """One run of the lifecycle over one org (its id is the scan's run id)."""

    run_id: str
    org_id: str
    mode: str
    status: RunStatus
    requested_by: str
    created_at: datetime
    updated_at: datetime
    plan_hash: str | None = None
    action_hash: str | None = None
    held: int = 0
    approved_by: str | None = None
    approved_at: datetime | None = None
    expires_at: datetime | None = None
    billable: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""
