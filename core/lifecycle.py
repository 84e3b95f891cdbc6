"""The lifecycle of one (account, rule) pair, as pure data and pure transitions.

    (no case) ──warn──▶ WARNED ──keep──▶ KEPT ──keep expires, still inactive──▶ (new case)
                          │  └── active again / not applicable ──▶ CLOSED
                          └── deadline passed, warning delivered ──▶ ACTIONED
    ACTIONED ──delete_after_days──▶ DELETION_SCHEDULED ──14 days──▶ DELETED
    DELETION_SCHEDULED ──cancel the deletion (its undo)──▶ ACTIONED (as the action left it, never deleted again)
    ACTIONED | DELETION_SCHEDULED ──restore──▶ KEPT

A *case* is one warning cycle. Everything here is deterministic and side-effect free; the
engine (:mod:`core.engine`) carries the steps out and the store persists them.

"No delivery, no action": a warning whose delivery was never confirmed can never become due.
The warning period starts from the confirmed delivery, not from when the warning was planned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.model import Account, Claim
from core.planner import Decision, SkipReason, Verdict
from core.policy import Action, KeepRules, Policy, Rule

#: Atlassian keeps a deleted managed account restorable (cancel-delete) for this long.
DELETE_GRACE = timedelta(days=14)


class CaseState(StrEnum):
    """Where a case stands."""

    WARNED = "warned"
    KEPT = "kept"
    ACTIONED = "actioned"
    DELETION_SCHEDULED = "deletion_scheduled"
    DELETED = "deleted"
    RESTORED = "restored"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Open cases still need the engine's attention."""
        return self in _OPEN


_OPEN = frozenset({CaseState.WARNED, CaseState.KEPT, CaseState.ACTIONED, CaseState.DELETION_SCHEDULED})


class Op(StrEnum):
    """One change the engine makes in Atlassian."""

    REMOVE_PRODUCT_ACCESS = "remove_product_access"
    SUSPEND = "suspend"
    DEACTIVATE = "deactivate"
    DELETE_MANAGED = "delete_managed"
    REMOVE_FROM_DIRECTORY = "remove_from_directory"
    RESTORE = "restore"
    #: Undo a deletion only: the account goes back to how the action before it left it.
    CANCEL_DELETE = "cancel_delete"

    @property
    def reduces_access(self) -> bool:
        """Every op but the two that give something back reduces access and counts against the caps."""
        return self not in GIVING_BACK

    @property
    def undone_by(self) -> Op | None:
        """The op that gives back exactly what this one took, or None when nothing can.

        An action (product groups, suspension, deactivation) is undone by a restore of the case's
        effect; a deletion by cancelling it, which leaves the earlier action in place. Leaving the
        directory cannot be undone (only a new invitation brings the person back).
        """
        if self is Op.DELETE_MANAGED:
            return Op.CANCEL_DELETE
        if self in (Op.REMOVE_PRODUCT_ACCESS, Op.SUSPEND, Op.DEACTIVATE):
            return Op.RESTORE
        return None

    @property
    def is_deletion(self) -> bool:
        """Deletions have their own cap and approval."""
        return self in (Op.DELETE_MANAGED, Op.REMOVE_FROM_DIRECTORY)


#: The ops that give access back: a keep, a restore or an undo queues only these, and runs only these.
GIVING_BACK: frozenset[Op] = frozenset({Op.RESTORE, Op.CANCEL_DELETE})


@dataclass(frozen=True, slots=True)
class Effect:
    """What an op changed, so that a restore can undo exactly that."""

    op: Op
    group_ids: tuple[str, ...] = ()
    product: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One warning cycle of one account under one rule."""

    case_id: str
    org_id: str
    account_id: str
    rule: str
    product: str
    action: Action
    state: CaseState
    opened_at: datetime
    updated_at: datetime
    deadline: datetime | None = None
    delivered_at: datetime | None = None
    delivery_channel: str | None = None
    escalated_at: datetime | None = None
    keep_until: datetime | None = None
    keep_reason: str | None = None
    keeps: tuple[datetime, ...] = ()
    actioned_at: datetime | None = None
    effect: Effect | None = None
    delete_due_at: datetime | None = None
    deleted_at: datetime | None = None
    restored_at: datetime | None = None
    closed_reason: str | None = None


class StepKind(StrEnum):
    """What the engine should do with a case in this run."""

    NOTHING = "nothing"
    OPEN_WARNING = "open_warning"
    RETRY_DELIVERY = "retry_delivery"
    CLOSE = "close"
    REOPEN = "reopen"  # a keep expired and the account is still inactive: close and warn again
    DUE_ACTION = "due_action"
    DUE_DELETE = "due_delete"
    DELETION_DONE = "deletion_done"


@dataclass(frozen=True, slots=True)
class Step:
    """A transition chosen by :func:`advance`; ``deadline`` is set for new warnings."""

    kind: StepKind
    reason: str = ""
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeepVerdict:
    """Whether a keep request is accepted, and why not."""

    accepted: bool
    reason: str
    keep_until: datetime | None = None
    needs_restore: bool = False
    #: The case is already kept: nothing changes.
    already: bool = False
    #: Refused for now: an admin must approve another keep (``keep.approval_after``).
    needs_approval: bool = False


@dataclass(frozen=True, slots=True)
class OpPlan:
    """The op that carries out a rule's action on an account (``op`` is None when skipped)."""

    op: Op | None
    reason: str = ""


def warning_deadline(decision: Decision, rule: Rule, now: datetime) -> datetime:
    """At least ``warn_days_before`` days from now, and never before the threshold date."""
    floor = now + timedelta(days=rule.warn_days_before)
    return max(floor, decision.deadline) if decision.verdict is Verdict.WARN and decision.deadline else floor


def advance(case: Case | None, decision: Decision | None, rule: Rule, now: datetime) -> Step:
    """Choose the next step for a case given this run's decision (``None``: no decision this run)."""
    inactive = decision is not None and decision.verdict is not Verdict.SKIP
    if case is None or not case.state.is_open:
        if inactive and decision is not None:
            return Step(StepKind.OPEN_WARNING, decision.detail, warning_deadline(decision, rule, now))
        return Step(StepKind.NOTHING)
    if case.state is CaseState.WARNED:
        if decision is not None and decision.skip_reason is SkipReason.API_USE_UNKNOWN:
            # No evidence either way: withdrawing would restart the notice, acting would ignore it.
            return Step(StepKind.NOTHING, "API tokens unreadable this run: the warning stands, nothing is done")
        if not inactive:
            why = decision.code if decision is not None else "no longer applicable"
            return Step(StepKind.CLOSE, f"warning withdrawn: {why}")
        if case.delivered_at is None:
            return Step(StepKind.RETRY_DELIVERY, "warning not delivered yet: no delivery, no action")
        if case.deadline is not None and now >= case.deadline:
            return Step(StepKind.DUE_ACTION, "deadline passed after a delivered warning")
        return Step(StepKind.NOTHING)
    if case.state is CaseState.KEPT:
        if case.keep_until is not None and now >= case.keep_until:
            if inactive and decision is not None:
                return Step(StepKind.REOPEN, "keep expired", warning_deadline(decision, rule, now))
            return Step(StepKind.CLOSE, "keep expired; active again")
        return Step(StepKind.NOTHING)
    if case.state is CaseState.ACTIONED:
        if case.restored_at is not None:
            # Its deletion was undone (cancelled): an admin decided against it, so it is not redone.
            return Step(StepKind.NOTHING)
        due = (
            case.actioned_at + timedelta(days=rule.delete_after_days)
            if rule.delete_after_days is not None and case.actioned_at is not None
            else None
        )
        if due is not None and now >= due:
            return Step(StepKind.DUE_DELETE, f"{rule.delete_after_days} days after the action")
        return Step(StepKind.NOTHING)
    if case.state is CaseState.DELETION_SCHEDULED and case.delete_due_at is not None and now >= case.delete_due_at:
        return Step(StepKind.DELETION_DONE, "Atlassian's 14-day deletion grace period ended")
    return Step(StepKind.NOTHING)


def deliver(case: Case, at: datetime, channel: str, rule: Rule) -> Case:
    """Record a confirmed delivery: the warning period restarts from the delivery time."""
    floor = at + timedelta(days=rule.warn_days_before)
    deadline = max(case.deadline, floor) if case.deadline is not None else floor
    return _touch(case, at, delivered_at=at, delivery_channel=channel, deadline=deadline)


def op_for_action(account: Account, rule: Rule, policy: Policy) -> OpPlan:
    """Which op carries out ``rule.action`` on ``account`` (deactivate needs a managed account)."""
    if account.is_synced:
        return OpPlan(None, "synced from an identity provider: manage in IdP")
    if rule.action is Action.REMOVE_PRODUCT_ACCESS:
        if not policy.lifecycle.groups_for(rule.product):
            return OpPlan(None, f"no access groups known for product {rule.product!r}: add lifecycle.access_groups")
        return OpPlan(Op.REMOVE_PRODUCT_ACCESS)
    if rule.action is Action.SUSPEND:
        return OpPlan(Op.SUSPEND)
    if account.claim is Claim.MANAGED:
        return OpPlan(Op.DEACTIVATE)
    if policy.lifecycle.unmanaged_deactivate == "suspend":
        return OpPlan(Op.SUSPEND, "unmanaged account: suspended instead of deactivated")
    return OpPlan(None, "unmanaged account cannot be deactivated and the policy says skip")


def op_for_deletion(account: Account) -> OpPlan:
    """Managed accounts are deleted (14-day grace); others are removed from the directory."""
    if account.is_synced:
        return OpPlan(None, "synced from an identity provider: delete in IdP")
    if account.claim is Claim.MANAGED:
        return OpPlan(Op.DELETE_MANAGED)
    return OpPlan(Op.REMOVE_FROM_DIRECTORY)


def judge_keep(
    case: Case,
    policy: Policy,
    now: datetime,
    justification: str | None,
    *,
    prior_keeps: int = 0,
    approved_by: str | None = None,
) -> KeepVerdict:
    """Accept or refuse a keep request on ``case``.

    Accepted keeps last ``keep.days``. A keep after the action was taken is accepted too and
    asks for a restore, so a keep is never lost to a race with the executor. ``prior_keeps``:
    earlier keeps of the same access within the period; from ``keep.approval_after`` of them on,
    a keep needs an admin (``approved_by``).
    """
    rules = policy.lifecycle.keep
    if rules.justification_required and not (justification and justification.strip()) and approved_by is None:
        # An admin's approval needs no reason of its own: the person gave theirs when they asked.
        return KeepVerdict(False, "a short justification is required to keep access")
    if case.state is CaseState.KEPT and case.keep_until is not None and case.keep_until > now:
        return KeepVerdict(True, "already kept", case.keep_until, already=True)
    if case.state not in (CaseState.WARNED, CaseState.ACTIONED, CaseState.DELETION_SCHEDULED):
        return KeepVerdict(False, f"nothing to keep: this warning is {case.state.value}")
    since = now - timedelta(days=rules.period_days)
    recent = [k for k in case.keeps if k > since]
    if len(recent) >= rules.max_per_period and approved_by is None:
        return KeepVerdict(False, f"keep limit reached ({rules.max_per_period} per {rules.period_days} days)")
    why = needs_keep_approval(rules, prior_keeps)
    if why is not None and approved_by is None:
        return KeepVerdict(False, why, needs_approval=True)
    needs_restore = case.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED)
    return KeepVerdict(True, "kept", now + timedelta(days=rules.days), needs_restore)


def prior_keeps(cases: Iterable[Case], rule: str, since: datetime) -> int:
    """Keeps of one access (the cases of an account under ``rule``, every warning cycle) after ``since``.

    What ``keep.approval_after`` counts, for a keep press and for a restore request alike.
    """
    return sum(sum(1 for at in c.keeps if at > since) for c in cases if c.rule == rule)


def needs_keep_approval(rules: KeepRules, kept: int) -> str | None:
    """Why another keep of an access kept ``kept`` times needs an admin, or None when it does not."""
    if rules.approval_after is None or kept < rules.approval_after:
        return None
    return f"{kept_times(kept)} in {rules.period_days} days: an admin must approve another keep"


def kept_times(n: int) -> str:
    """``kept once`` / ``kept 3 times``."""
    return "kept once" if n == 1 else f"kept {n} times"


def _touch(case: Case, now: datetime, **changes: object) -> Case:
    return replace(case, updated_at=now, **changes)  # type: ignore[arg-type]


def transition(case: Case, now: datetime, state: CaseState, **changes: object) -> Case:
    """A copy of ``case`` in ``state`` with ``changes`` applied and ``updated_at`` set."""
    return _touch(case, now, state=state, **changes)
