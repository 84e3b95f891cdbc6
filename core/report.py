"""Pure reporting helpers: summary <-> plain data, and the preview CSV rows.

The CSV follows RFC 4180 (the stdlib ``csv`` module with ``\\r\\n`` line ends) and defuses
spreadsheet formulas: a cell starting with ``= + - @`` (or a tab/CR) gets a leading ``'``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from core.audit import AuditEvent
from core.model import Account
from core.planner import Decision, PlanSummary, ProductSummary

PREVIEW_COLUMNS: tuple[str, ...] = (
    "org_id",
    "account_id",
    "email",
    "name",
    "product",
    "last_active",
    "days_inactive",
    "decision",
    "action",
    "deadline",
    "reason",
    "rule",
)

#: What spreadsheets may read as the start of a formula: = + - @, their full-width forms (some
#: spreadsheets fold them), and leading whitespace (some trim it before looking).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_COUNT_FIELDS = (
    "billable_seats",
    "inactive",
    "to_warn",
    "to_act",
    "protected",
    "manage_in_idp",
    "unknown",
    "api_review",
)


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formula injection by prefixing risky cells with ``'``."""
    if value.startswith(_FORMULA_PREFIXES) or value[:1].isspace():
        return "'" + value
    return value


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def preview_row(org_id: str, account: Account, decision: Decision) -> dict[str, str]:
    """One CSV row for ``decision`` about ``account``; every value already made safe."""
    raw = {
        "org_id": org_id,
        "account_id": account.account_id,
        "email": account.email or "",
        "name": account.name,
        "product": decision.product,
        "last_active": _iso(decision.last_active),
        "days_inactive": "" if decision.days_inactive is None else str(decision.days_inactive),
        "decision": decision.code,
        "action": decision.action.value,
        "deadline": _iso(decision.deadline),
        "reason": decision.detail,
        "rule": decision.rule,
    }
    return {k: safe_cell(v) for k, v in raw.items()}


class PreviewCsv:
    """Writes preview rows to a text stream opened with ``newline=""``."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=PREVIEW_COLUMNS, lineterminator="\r\n")
        self._writer.writeheader()
        self.rows = 0

    def write(self, org_id: str, account: Account, decisions: tuple[Decision, ...] | list[Decision]) -> None:
        """Write one row per decision about ``account``."""
        for decision in decisions:
            self._writer.writerow(preview_row(org_id, account, decision))
            self.rows += 1


def summary_to_mapping(summary: PlanSummary) -> dict[str, Any]:
    """Plain JSON-ready data for ``summary`` (money as strings, exact)."""
    return {
        "accounts": summary.accounts,
        "billable_accounts": summary.billable_accounts,
        "unknown_activity": summary.unknown_activity,
        "api_review": summary.api_review,
        "api_unknown": summary.api_unknown,
        "currency": summary.currency,
        "decisions": dict(sorted(summary.decisions.items())),
        "products": {
            key: {**{f: getattr(row, f) for f in _COUNT_FIELDS}, "monthly_savings": str(row.monthly_savings)}
            for key, row in sorted(summary.products.items())
        },
    }


def summary_from_mapping(data: Mapping[str, Any]) -> PlanSummary:
    """Inverse of :func:`summary_to_mapping`."""
    summary = PlanSummary(
        accounts=int(data.get("accounts", 0)),
        billable_accounts=int(data.get("billable_accounts", 0)),
        unknown_activity=int(data.get("unknown_activity", 0)),
        api_review=int(data.get("api_review", 0)),
        api_unknown=int(data.get("api_unknown", 0)),
        currency=str(data.get("currency", "USD")),
        decisions={str(k): int(v) for k, v in dict(data.get("decisions", {})).items()},
    )
    for key, row in dict(data.get("products", {})).items():
        summary.products[str(key)] = ProductSummary(
            product=str(key),
            monthly_savings=Decimal(str(row.get("monthly_savings", "0"))),
            **{f: int(row.get(f, 0)) for f in _COUNT_FIELDS},
        )
    return summary


AUDIT_COLUMNS: tuple[str, ...] = (
    "seq",
    "event_id",
    "at",
    "actor",
    "approver",
    "action",
    "outcome",
    "org_id",
    "subject",
    "reason",
    "run_id",
    "plan_hash",
    "mode",
    "before",
    "after",
    "http_status",
    "request_id",
    "prev_hash",
    "hash",
    "org_seq",
    "org_prev_hash",
    "org_hash",
)

RUN_COLUMNS: tuple[str, ...] = (*PREVIEW_COLUMNS, "ledger_op", "ledger_state", "ledger_outcome")


def audit_row(event: AuditEvent) -> dict[str, str]:
    """One CSV row for an audit event (JSON for before/after; formula-safe)."""
    e = event.entry
    raw = {
        "seq": str(event.seq),
        "event_id": event.event_id,
        "at": _iso(e.at),
        "actor": e.actor,
        "approver": e.approver or "",
        "action": e.action,
        "outcome": e.outcome,
        "org_id": e.org_id,
        "subject": e.subject or "",
        "reason": e.reason,
        "run_id": e.run_id or "",
        "plan_hash": e.plan_hash or "",
        "mode": e.mode or "",
        "before": json.dumps(dict(e.before), sort_keys=True, default=str) if e.before else "",
        "after": json.dumps(dict(e.after), sort_keys=True, default=str) if e.after else "",
        "http_status": "" if e.http_status is None else str(e.http_status),
        "request_id": e.request_id or "",
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "org_seq": "" if event.org is None else str(event.org.seq),
        "org_prev_hash": "" if event.org is None else event.org.prev_hash,
        "org_hash": "" if event.org is None else event.org.hash,
    }
    return {k: safe_cell(v) for k, v in raw.items()}


def write_csv(stream: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> int:
    """Write an RFC 4180 CSV (CRLF line ends) with a header; return the number of rows."""
    writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count
