"""CSV exports: one run's flagged accounts and actions, and the audit trail."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from core.audit import AuditEvent
from core.engine import UndoLine
from core.engine.undo import UNDO_SUFFIX
from core.keep_review import KeepReview
from core.ledger import LedgerEntry
from core.model import Account
from core.ports import LifecycleStore, ScanStore
from core.report import AUDIT_COLUMNS, RUN_COLUMNS, audit_row, preview_row, safe_cell, write_csv


def _atomic(path: Path) -> contextlib.AbstractContextManager[Path]:
    @contextlib.contextmanager
    def cm() -> Iterator[Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            yield partial
            if partial.exists():  # a writer that found nothing to write removed it: no file at all
                partial.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    return cm()


def export_run(scans: ScanStore, lifecycle: LifecycleStore, run_id: str, path: Path) -> int:
    """Write every decision of scan ``run_id`` with the ledger's outcome for it; return the row count."""
    run = scans.get_scan(run_id)
    entries: dict[tuple[str, str], LedgerEntry] = {}
    for entry in lifecycle.entries(run.org_id, run_id=run_id):
        key = (entry.account_id, entry.rule)
        if entry.op.reduces_access or key not in entries:
            entries[key] = entry
    accounts: dict[str, Account | None] = {}

    def rows() -> Iterator[dict[str, str]]:
        for decision in scans.iter_decisions(run_id):
            if decision.account_id not in accounts:
                accounts.clear()
                accounts[decision.account_id] = scans.get_account(run_id, decision.account_id)
            account = accounts[decision.account_id]
            if account is None:
                continue
            row = preview_row(run.org_id, account, decision)
            entry = entries.get((decision.account_id, decision.rule))
            row["ledger_op"] = entry.op.value if entry else ""
            row["ledger_state"] = entry.state.value if entry else ""
            row["ledger_outcome"] = safe_cell(entry.outcome) if entry else ""
            yield row

    with _atomic(path) as partial, partial.open("w", encoding="utf-8", newline="") as stream:
        return write_csv(stream, RUN_COLUMNS, rows())


#: ``undo`` says what the undo gives back to the account, e.g. ``cancel the deletion; stays suspended``.
UNDO_COLUMNS = ("account_id", "undone_op", "undo", "outcome", "reason")


def undo_csv_path(folder: Path, org_id: str, run_id: str) -> Path:
    """Where the undo of ``run_id`` (or the undo run itself) is reported: beside the run's outcome CSV."""
    return folder / f"jira-cleanup-run-{org_id}-{run_id.removesuffix(UNDO_SUFFIX)[:12]}-undo.csv"


def export_undo(lines: list[UndoLine], path: Path) -> int:
    """Write what an undo does or did per account (and why not), beside the run's CSVs; return the row count."""
    rows = (
        {
            "account_id": x.account_id,
            "undone_op": x.undone_op,
            "undo": safe_cell(x.does),
            "outcome": x.outcome,
            "reason": safe_cell(x.reason),
        }
        for x in lines
    )
    with _atomic(path) as partial, partial.open("w", encoding="utf-8", newline="") as stream:
        return write_csv(stream, UNDO_COLUMNS, rows)


def export_audit_before(lifecycle: LifecycleStore, path: Path, cutoff: datetime) -> AuditEvent | None:
    """Write the oldest events, up to the first one at or after ``cutoff``, to ``path``; the last one written.

    Nothing is written (and None returned) when no event is older than ``cutoff``.
    """
    last: list[AuditEvent] = []

    def older() -> Iterator[dict[str, str]]:
        for event in lifecycle.iter_audit():
            if event.entry.at >= cutoff:
                return
            last[:] = [event]
            yield audit_row(event)

    with _atomic(path) as partial:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            write_csv(stream, AUDIT_COLUMNS, older())
        if not last:
            partial.unlink()
    return last[0] if last else None


def export_audit(
    lifecycle: LifecycleStore, path: Path, *, since: datetime | None = None, org_id: str | None = None
) -> int:
    """Write the audit trail (from ``since``; ``org_id``: only that org's) with its hashes; return the row count."""
    events = lifecycle.iter_audit(since=since, org_id=org_id)
    with _atomic(path) as partial, partial.open("w", encoding="utf-8", newline="") as stream:
        return write_csv(stream, AUDIT_COLUMNS, (audit_row(e) for e in events))


#: Columns of ``jira-cleanup keeps --csv``.
KEEP_REVIEW_COLUMNS = (
    "account_id",
    "rule",
    "email",
    "name",
    "keeps",
    "first_keep",
    "last_keep",
    "keep_dates",
    "kept_by",
    "reasons",
    "last_active",
)


def export_keep_review(reviews: Iterable[KeepReview], path: Path) -> int:
    """Write the keep review (one row per account, its whole keep history); return the row count."""

    def rows() -> Iterator[dict[str, str]]:
        for review in reviews:
            presses = review.presses
            yield {
                "account_id": review.account_id,
                "rule": review.rule,
                "email": safe_cell(review.email or ""),
                "name": safe_cell(review.name),
                "keeps": str(len(presses)),
                "first_keep": presses[0].at.isoformat(),
                "last_keep": presses[-1].at.isoformat(),
                "keep_dates": " ".join(p.at.isoformat() for p in presses),
                "kept_by": safe_cell(" ".join(dict.fromkeys(p.actor for p in presses))),
                "reasons": safe_cell(" | ".join(review.reasons)),
                "last_active": review.last_active.isoformat() if review.last_active else "",
            }

    with _atomic(path) as partial, partial.open("w", encoding="utf-8", newline="") as stream:
        return write_csv(stream, KEEP_REVIEW_COLUMNS, rows())
