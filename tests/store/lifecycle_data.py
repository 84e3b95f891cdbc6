"""Builders of cases, ledger entries, runs and audit entries for the lifecycle store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from core.audit import AuditEntry
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, entry_id_for
from core.lifecycle import Case, CaseState, Effect, Op
from core.policy import Action

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
ORG = "org-1"


def at(minutes: int) -> datetime:
    """``NOW`` plus ``minutes``."""
    return NOW + timedelta(minutes=minutes)


def make_case(
    case_id: str = "case-1",
    *,
    org_id: str = ORG,
    account_id: str = "acc-1",
    rule: str = "jira-90d",
    state: CaseState = CaseState.WARNED,
    opened: int = 0,
    **changes: Any,
) -> Case:
    """A case opened ``opened`` minutes after ``NOW``."""
    fields: dict[str, Any] = {
        "case_id": case_id,
        "org_id": org_id,
        "account_id": account_id,
        "rule": rule,
        "product": "jira-software",
        "action": Action.REMOVE_PRODUCT_ACCESS,
        "state": state,
        "opened_at": at(opened),
        "updated_at": at(opened),
        "deadline": at(opened) + timedelta(days=14),
    }
    fields.update(changes)
    return Case(**fields)


def full_case(case_id: str = "case-full") -> Case:
    """A case with every optional field set (and times in a non-UTC zone)."""
    return make_case(
        case_id,
        state=CaseState.DELETION_SCHEDULED,
        account_id="acc-ü-1",
        rule="Confluence-60d",
        action=Action.SUSPEND,
        opened_at=at(0).astimezone(IST),
        updated_at=at(5),
        deadline=at(60),
        delivered_at=at(1),
        delivery_channel="slack:T1/U2",
        escalated_at=at(2),
        keep_until=at(3),
        keep_reason="on leave — back in March",
        keeps=(at(3).astimezone(IST), at(4)),
        actioned_at=at(10),
        effect=Effect(Op.REMOVE_PRODUCT_ACCESS, ("g-1", "g-2"), "confluence"),
        delete_due_at=at(20),
        deleted_at=at(21),
        restored_at=at(22),
        closed_reason="withdrawn",
    )


def make_entry(
    case_id: str = "case-1",
    op: Op = Op.REMOVE_PRODUCT_ACCESS,
    *,
    org_id: str = ORG,
    run_id: str = "run-1",
    state: EntryState = EntryState.PLANNED,
    created: int = 0,
    entry_id: str | None = None,
    **changes: Any,
) -> LedgerEntry:
    """A ledger entry created ``created`` minutes after ``NOW`` (id from :func:`entry_id_for` by default)."""
    fields: dict[str, Any] = {
        "entry_id": entry_id or entry_id_for(org_id, case_id, op),
        "org_id": org_id,
        "run_id": run_id,
        "case_id": case_id,
        "account_id": "acc-1",
        "rule": "jira-90d",
        "op": op,
        "state": state,
        "created_at": at(created),
        "updated_at": at(created),
    }
    fields.update(changes)
    return LedgerEntry(**fields)


def make_run(run_id: str = "run-1", *, org_id: str = ORG, created: int = 0, **changes: Any) -> LifecycleRun:
    """A lifecycle run created ``created`` minutes after ``NOW``."""
    fields: dict[str, Any] = {
        "run_id": run_id,
        "org_id": org_id,
        "mode": "enforce",
        "status": RunStatus.RUNNING,
        "requested_by": "cli:alice",
        "created_at": at(created),
        "updated_at": at(created),
    }
    fields.update(changes)
    return LifecycleRun(**fields)


def audit(action: str = "warn", *, org_id: str = ORG, minute: int = 0, **changes: Any) -> AuditEntry:
    """An audit entry at ``minute`` minutes after ``NOW``."""
    fields: dict[str, Any] = {
        "at": at(minute),
        "actor": "system:worker-1",
        "action": action,
        "outcome": "ok",
        "org_id": org_id,
        "subject": "acc-1",
    }
    fields.update(changes)
    return AuditEntry(**fields)
