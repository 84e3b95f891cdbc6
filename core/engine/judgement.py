"""Pure judgements of the engine: caps and approvals, the final check, "already done".

Nothing here reads a store or the network: every function takes what it judges and returns a
value, so each rule has its own unit tests (``tests/unit/test_judgement.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import assert_never

from core.engine.outcomes import REMOVED_FROM_DIRECTORY
from core.identity import People, same_person
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, action_hash, is_undo
from core.lifecycle import Case, CaseState, Effect, Op
from core.model import Account, AccountStatus, ApiUse, MembershipStatus, ProductKey
from core.planner import SkipReason, Verdict, decide, is_protected, review_api
from core.policy import Caps, Policy, Rule


@dataclass(frozen=True, slots=True)
class Hold:
    """Which due actions wait for an admin, and why.

    ``whole_run`` is set when a cap is exceeded: every reducing action waits and the run itself
    awaits approval. Deletions that merely need approval are held while the rest goes ahead.
    """

    held: tuple[LedgerEntry, ...] = ()
    reasons: tuple[str, ...] = ()
    whole_run: bool = False

    @property
    def note(self) -> str:
        """The reasons as one line for the run, the audit trail and the admins."""
        return "; ".join(self.reasons)


def judge_caps(
    reducing: Sequence[LedgerEntry],
    *,
    billable: int,
    recent: int,
    caps: Caps,
    window_days: int,
    deletions_need_approval: bool,
    earlier: Sequence[LedgerEntry] = (),
) -> Hold:
    """Hold actions over the per-run, rolling-window or deletion caps, or deletions needing approval.

    ``recent`` is how many access-reducing actions the org saw in the last ``window_days``.
    ``earlier``: reductions earlier runs left planned (a canary or breaker stop, the kill switch, a
    transient failure retried), which this run would carry out too: they count against every cap
    (a whole-run hold stops them with the rest) but were judged for approval when first planned.
    """
    billable = max(billable, 0)
    per_run = Caps.limit(caps.per_run_max, caps.per_run_percent, billable)
    window = Caps.limit(caps.window_max, caps.window_percent, billable)
    deletions = tuple(e for e in reducing if e.op.is_deletion)
    total = len(reducing) + len(earlier)
    deleting = len(deletions) + sum(1 for e in earlier if e.op.is_deletion)
    reasons: list[str] = []
    if per_run is not None and total > per_run:
        reasons.append(f"{total} actions exceed the per-run cap of {per_run}")
    if window is not None and recent + total > window:
        reasons.append(
            f"{recent} actions in the last {window_days} days plus {total} exceed the rolling cap of {window}"
        )
    if caps.deletions_per_run is not None and deleting > caps.deletions_per_run:
        reasons.append(f"{deleting} deletions exceed the deletion cap of {caps.deletions_per_run}")
    if reasons and earlier:
        reasons.append(f"{len(earlier)} of the actions were left planned by earlier runs")
    if reasons:
        return Hold(tuple(reducing), tuple(reasons), whole_run=True)
    if deletions and deletions_need_approval:
        return Hold(deletions, (f"{len(deletions)} deletions need approval",))
    return Hold()


class ApprovalVerdict(Enum):
    """Whether an approval may be applied."""

    GRANTED = "granted"
    NOT_AWAITING = "not awaiting approval"
    OWN_RUN = "the requester of a run cannot approve it"
    EXPIRED = "expired"
    CHANGED = "changed since it was held"


def overdue(run: LifecycleRun, now: datetime) -> bool:
    """True when ``run``'s approval window has passed."""
    return run.expires_at is not None and now > run.expires_at


def judge_approval(
    run: LifecycleRun, approver: str, held: Sequence[LedgerEntry], now: datetime, people: People
) -> ApprovalVerdict:
    """Judge ``approver``'s approval of ``run`` whose held entries are ``held``, at ``now``."""
    if run.status is not RunStatus.AWAITING_APPROVAL:
        return ApprovalVerdict.NOT_AWAITING
    if same_person(approver, run.requested_by, people):
        return ApprovalVerdict.OWN_RUN
    if overdue(run, now):
        return ApprovalVerdict.EXPIRED
    if action_hash(held) != run.action_hash:
        return ApprovalVerdict.CHANGED
    return ApprovalVerdict.GRANTED


def approval_refusal(verdict: ApprovalVerdict, run: LifecycleRun) -> str:
    """Why an approval of ``run`` was refused (empty when granted)."""
    match verdict:
        case ApprovalVerdict.GRANTED:
            return ""
        case ApprovalVerdict.NOT_AWAITING:
            return f"run {run.run_id} is {run.status.value}, not awaiting approval"
        case ApprovalVerdict.OWN_RUN:
            return "the requester of a run cannot approve it"
        case ApprovalVerdict.EXPIRED:
            expired = run.expires_at.isoformat() if run.expires_at is not None else "?"
            return f"the approval of run {run.run_id} expired at {expired}"
        case ApprovalVerdict.CHANGED:
            return f"run {run.run_id} changed since it was held (action hash mismatch): refusing to apply it"
        case _:
            assert_never(verdict)


def final_check(
    entry: LedgerEntry,
    case: Case,
    account: Account,
    rule: Rule | None,
    policy: Policy,
    now: datetime,
    api: ApiUse | None = None,
) -> str | None:
    """Why not to act now, or None. Called under the case lock, so keeps cannot slip past it.

    ``api`` is the account's API-token evidence read right before (None: not read, e.g. an
    unmanaged account's tokens, which Atlassian refuses to every org): a token used within the
    rule's threshold since the warning stops the action like page views do.
    """
    if entry.op is Op.RESTORE:
        if is_undo(entry.run_id) and case.state is CaseState.DELETION_SCHEDULED:
            # The undo of an action must not cancel a deletion nobody asked to undo.
            return "deleted since the undo was asked: undo the deletion's run first"
        return None
    if entry.op is Op.CANCEL_DELETE:
        if case.state is not CaseState.DELETION_SCHEDULED:
            return f"no deletion to cancel: the account's case is {case.state.value}"
        if case.delete_due_at is not None and now >= case.delete_due_at:
            return "Atlassian's 14-day grace period is over: the deletion can no longer be cancelled"
        return None
    if case.state is CaseState.KEPT:
        return "kept by the user"
    if rule is None:
        return "the rule was removed from the policy"
    if is_protected(account, policy):
        return "protected now"
    if entry.op.is_deletion:
        return _deletion_check(case, account)
    if case.state is not CaseState.WARNED:
        return f"case is {case.state.value}"
    if case.delivered_at is None:
        return "warning never delivered: no delivery, no action"
    verdicts = [d for d in decide(account, policy, now) if d.rule == entry.rule]
    if not verdicts:
        return "active again: the rule no longer applies"
    fresh = verdicts[0]
    if fresh.verdict >= Verdict.ACT and api is not None:
        fresh = review_api((fresh,), api, policy, now)[0]
        if fresh.skip_reason is SkipReason.USED_THROUGH_API:
            return f"used through the API since the warning: {fresh.detail.split('; ')[0]}"
    if fresh.verdict >= Verdict.ACT:
        return None
    if fresh.skip_reason is SkipReason.NOT_BILLABLE:
        return "already without access (suspended, deactivated or removed)"
    return f"active again or protected now: {fresh.code}"


def _deletion_check(case: Case, account: Account) -> str | None:
    if case.state is not CaseState.ACTIONED:
        return f"case is {case.state.value}, not actioned"
    if (
        account.membership_status is MembershipStatus.ACTIVE
        and account.account_status is AccountStatus.ACTIVE
        and case.effect is not None
        and case.effect.op is not Op.REMOVE_PRODUCT_ACCESS
    ):
        return "restored outside jira-cleanup since the action"
    return None


def already_done(entry: LedgerEntry, case: Case, account: Account) -> bool:
    """True when Atlassian already shows what ``entry`` would change (the write is skipped)."""
    match entry.op:
        case Op.REMOVE_PRODUCT_ACCESS:
            if entry.group_ids:
                return not any(g.id in entry.group_ids for g in account.groups)
            return account.product(ProductKey(entry.product or "")) is None
        case Op.SUSPEND:
            return account.membership_status is MembershipStatus.SUSPENDED
        case Op.DEACTIVATE:
            return account.account_status is AccountStatus.INACTIVE
        case Op.DELETE_MANAGED:
            return account.scheduled_for_deletion
        case Op.REMOVE_FROM_DIRECTORY:
            return account.membership_status is MembershipStatus.NO_MEMBERSHIP
        case Op.RESTORE:
            return _restored(case, account)
        case Op.CANCEL_DELETE:
            return not account.scheduled_for_deletion and as_left(case.effect, account)
        case _:
            assert_never(entry.op)


def as_left(effect: Effect | None, account: Account) -> bool:
    """True when ``account`` still shows what the action recorded in ``effect`` did to it."""
    if effect is None:
        return True
    match effect.op:
        case Op.REMOVE_PRODUCT_ACCESS:
            return not any(g.id in effect.group_ids for g in account.groups)
        case Op.SUSPEND:
            return account.membership_status is MembershipStatus.SUSPENDED
        case Op.DEACTIVATE:
            return account.account_status is AccountStatus.INACTIVE
        case _:
            return True


def _restored(case: Case, account: Account) -> bool:
    if case.state is CaseState.DELETION_SCHEDULED and account.scheduled_for_deletion:
        return False
    effect = case.effect
    if effect is None:
        return True
    if effect.op is Op.REMOVE_PRODUCT_ACCESS:
        have = {g.id for g in account.groups}
        return all(g in have for g in effect.group_ids)
    if effect.op is Op.SUSPEND:
        return account.membership_status is MembershipStatus.ACTIVE
    if effect.op is Op.DEACTIVATE:
        return account.account_status is AccountStatus.ACTIVE
    return False


def state_after(op: Op) -> CaseState:
    """The case state a confirmed ``op`` leads to (for the audit row)."""
    match op:
        case Op.RESTORE:
            return CaseState.KEPT
        case Op.CANCEL_DELETE:
            return CaseState.ACTIONED
        case Op.DELETE_MANAGED:
            return CaseState.DELETION_SCHEDULED
        case Op.REMOVE_FROM_DIRECTORY:
            return CaseState.DELETED
        case Op.REMOVE_PRODUCT_ACCESS | Op.SUSPEND | Op.DEACTIVATE:
            return CaseState.ACTIONED
        case _:
            assert_never(op)


def unrestorable(case: Case) -> str | None:
    """Why the engine cannot undo what it did to ``case``, or None."""
    if case.state is CaseState.DELETED:
        if case.closed_reason == REMOVED_FROM_DIRECTORY:
            return "the account was removed from the directory; invite the person again"
        return (
            "the account was deleted and Atlassian's 14-day grace period is over; "
            "it cannot be restored (invite the person again)"
        )
    if case.state is CaseState.DELETION_SCHEDULED and case.effect is None:
        return "the account was removed from the directory; invite the person again"
    return None


def undo_refusal(case: Case, undone: Op, entries: Mapping[Op, LedgerEntry], undo_id: str, now: datetime) -> str | None:
    """Why the undo ``undo_id`` cannot give back what ``undone`` (an op its run confirmed on ``case``) took.

    None when it can. ``entries`` are the case's ledger entries by op. Each op is undone by its
    own entry (:attr:`Op.undone_by`): an action by a restore, a deletion by cancelling it, which
    leaves the action before it in place. A restore of anyone else's (a keep, a single restore)
    means the account was given back, or is being given back, without the undo. An action whose
    account was deleted since is undone after that deletion is (undoing it first would cancel a
    deletion nobody asked to undo).
    """
    op = undone.undone_by
    if op is None:
        return "the account was removed from the directory; invite the person again"
    restore = entries.get(Op.RESTORE)
    if restore is not None and restore.run_id != undo_id:
        if restore.state is EntryState.CONFIRMED:
            return "restored since the run (a keep or a restore)"
        if not restore.state.is_final:
            return "a restore of this account is already queued (a keep or a restore)"
    refusal = unrestorable(case)
    if refusal is not None:
        return refusal
    if case.state is CaseState.DELETION_SCHEDULED and case.delete_due_at is not None and now >= case.delete_due_at:
        return "the account was deleted and Atlassian's 14-day grace period is over; it cannot be restored"
    if case.state is CaseState.KEPT:
        return "kept or restored since the run"
    if op is Op.CANCEL_DELETE:
        if case.state is not CaseState.DELETION_SCHEDULED:
            return f"no deletion to cancel: the account's case is {case.state.value}"
        return None
    if case.state is CaseState.DELETION_SCHEDULED:
        deletion = entries.get(Op.DELETE_MANAGED)
        by = f"run {deletion.run_id}" if deletion is not None else "a later run"
        return f"deleted since by {by}: undo that run first, then this one"
    if case.state is not CaseState.ACTIONED:
        return f"nothing to restore: the account's case is {case.state.value}"
    return None
