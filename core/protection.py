"""Protections added at runtime (chat, CLI): stored, merged into the effective policy, applied at once.

The policy file's ``protected:`` lists and the protections added later are one set: every
planner call, every preview and the engine's final check before each write use
``policy.with_protections(...)`` over the stored ones (see :meth:`core.engine.Engine.effective`).
Protecting an account also withdraws its open warnings straight away, so nobody keeps a
warning about an action that can no longer happen; a protected group's members are withdrawn
the same way, found in the latest scan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.audit import AuditEntry
from core.ledger import EntryState
from core.lifecycle import CaseState, transition
from core.planner import is_protected
from core.policy import Policy, Protection
from core.ports import Clock, LifecycleStore, ProtectionStore, ScanStore

KINDS = ("account", "group")


@dataclass(frozen=True, slots=True)
class ProtectResult:
    """What a protect or unprotect did."""

    kind: str
    value: str
    protected: bool
    withdrawn: int = 0

    @property
    def text(self) -> str:
        """One sentence for chat and the terminal."""
        verb = "is now protected" if self.protected else "is no longer protected"
        plural = "s" if self.withdrawn != 1 else ""
        extra = f" {self.withdrawn} open warning{plural} withdrawn." if self.withdrawn else ""
        return f"{self.kind.capitalize()} {self.value} {verb}.{extra}"


def effective_policy(policy: Policy, protections: ProtectionStore | None, org_id: str) -> Policy:
    """``policy`` with the protections stored for ``org_id`` added (the file's own are kept)."""
    if protections is None:
        return policy
    accounts, groups = protections.protections(org_id)
    return policy.with_protections(accounts, groups)


def set_protection(
    protections: ProtectionStore,
    lifecycle: LifecycleStore,
    scans: ScanStore,
    clock: Clock,
    org_id: str,
    kind: str,
    value: str,
    protected: bool,
    actor: str,
) -> ProtectResult:
    """Protect or unprotect an account (id or email) or a group (name or id), audited.

    Protecting withdraws every open warning of the accounts it covers (in the latest scan, or
    by account id), with their planned or held actions, each with its own audit row.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected account or group (got {kind!r})")
    value = value.strip()
    if not value:
        raise ValueError(f"{kind}: empty")
    if kind == "account" and "@" in value:
        value = value.lower()
    audit = AuditEntry(
        at=clock.now(),
        actor=actor,
        action="protect" if protected else "unprotect",
        outcome="ok",
        org_id=org_id,
        subject=value if kind == "account" else None,
        reason=f"{kind} {value}",
    )
    protections.set_protection(org_id, kind, value, protected, audit)
    if not protected:
        return ProtectResult(kind, value, False)
    only = Protection(accounts=frozenset({value})) if kind == "account" else Protection(groups=frozenset({value}))
    covered = _covered_accounts(scans, org_id, only, value if kind == "account" else None)
    withdrawn = sum(withdraw_warnings(lifecycle, clock, org_id, account_id, actor) for account_id in covered)
    return ProtectResult(kind, value, True, withdrawn)


def _covered_accounts(scans: ScanStore, org_id: str, only: Protection, account_id: str | None) -> set[str]:
    """Account ids the protection covers: the id itself, and matches in the latest scan."""
    found = {account_id} if account_id is not None and "@" not in account_id else set()
    latest = scans.latest_scan(org_id)
    if latest is None:
        return found
    probe = Policy(rules=(), protected=only)
    found.update(a.account_id for a in scans.iter_accounts(latest.run_id) if is_protected(a, probe))
    return found


def withdraw_warnings(lifecycle: LifecycleStore, clock: Clock, org_id: str, account_id: str, actor: str) -> int:
    """Close the account's open warnings (and drop their pending actions); return how many."""
    withdrawn = 0
    for case in lifecycle.find_cases(org_id, account_id):
        if case.state is not CaseState.WARNED:
            continue
        with lifecycle.lock_case(case.case_id) as tx:
            if tx.case.state is not CaseState.WARNED:
                continue
            now = clock.now()
            reason = f"warning withdrawn: protected by {actor}"
            for entry in tx.entries:
                if entry.op.reduces_access and entry.state in (EntryState.PLANNED, EntryState.HELD):
                    tx.save_entry(replace(entry, state=EntryState.SKIPPED, outcome="protected", updated_at=now))
            tx.save_case(transition(tx.case, now, CaseState.CLOSED, closed_reason=reason))
            tx.audit(
                AuditEntry(
                    at=now,
                    actor=actor,
                    action="case.closed",
                    outcome="ok",
                    org_id=org_id,
                    subject=account_id,
                    reason=reason,
                    before={"state": CaseState.WARNED.value},
                    after={"state": CaseState.CLOSED.value},
                )
            )
            withdrawn += 1
    return withdrawn
