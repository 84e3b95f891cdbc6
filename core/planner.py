"""The pure planner: accounts + policy + now -> decisions.

No I/O, no clock, no randomness. :func:`decide` judges one account; :class:`PlanBuilder`
folds accounts one at a time (so a scan can stream 100,000 accounts without holding them)
into decisions, a summary and an order-independent ``plan_hash``; :func:`plan` is the
whole-list convenience built on the same two.

Safety properties (tested with hypothesis): admins, app accounts, customers, protected
accounts and accounts in their new-account grace period are never selected; moving any
last-active time later never selects an extra account; the result does not depend on
input order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum

from core.model import Account, AccountType, ProductKey
from core.policy import Action, Policy, Rule


class Verdict(IntEnum):
    """What should happen for one (account, rule); higher values are more severe."""

    SKIP = 0
    WARN = 1
    ACT = 2
    DELETE = 3

    @property
    def label(self) -> str:
        """The lower-case name used in reports (``warn``, ``act``...)."""
        return self.name.lower()


class SkipReason(StrEnum):
    """Why an (account, rule) pair is left alone."""

    CUSTOMER = "customer"
    APP_ACCOUNT = "app_account"
    UNKNOWN_ACCOUNT_TYPE = "unknown_account_type"
    NOT_BILLABLE = "not_billable"
    ADMIN = "admin"
    PROTECTED = "protected"
    SCIM_SYNCED = "scim_synced"
    TOO_NEW = "too_new"
    LAST_ACTIVE_UNKNOWN = "last_active_unknown"
    ACTIVE = "active"


_SKIP_DETAIL = {
    SkipReason.CUSTOMER: "JSM portal customer: not a licensed seat",
    SkipReason.APP_ACCOUNT: "app/bot account: API use does not count as activity",
    SkipReason.UNKNOWN_ACCOUNT_TYPE: "unrecognised account type: left alone",
    SkipReason.NOT_BILLABLE: "already suspended, deactivated or removed",
    SkipReason.ADMIN: "administrator: never touched",
    SkipReason.PROTECTED: "protected by policy",
    SkipReason.SCIM_SYNCED: "synced from an identity provider: manage in IdP",
    SkipReason.TOO_NEW: "added to the org recently (grace period)",
    SkipReason.LAST_ACTIVE_UNKNOWN: "last-active date unknown: failing closed",
    SkipReason.ACTIVE: "active recently",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The planner's verdict for one account under one rule.

    ``measured_from`` says what the inactivity was measured from: ``last_active``, or
    ``added_to_org`` for accounts that never used the product; ``None`` when unknown.
    ``over_threshold`` is true when the account is past the rule's threshold even if a
    skip reason protects it (so reports can count protected-but-inactive seats).
    """

    account_id: str
    rule: str
    product: str
    action: Action
    verdict: Verdict
    skip_reason: SkipReason | None
    last_active: datetime | None
    measured_from: str | None
    days_inactive: int | None
    deadline: datetime | None
    over_threshold: bool
    detail: str

    @property
    def code(self) -> str:
        """Machine-readable decision: ``warn``, ``act``, ``delete`` or ``skip:<reason>``."""
        if self.verdict is Verdict.SKIP:
            return f"skip:{self.skip_reason.value if self.skip_reason else 'unknown'}"
        return self.verdict.label

    def canonical(self) -> str:
        """A stable one-line text of this decision, the unit of the plan hash."""
        return "|".join(
            [
                self.account_id,
                self.rule,
                self.product,
                self.action.value,
                self.code,
                _iso(self.last_active),
                self.measured_from or "",
                _iso(self.deadline),
            ]
        )


@dataclass(slots=True)
class ProductSummary:
    """Per-product figures of a plan. Savings are per month in the policy's currency."""

    product: str
    billable_seats: int = 0
    inactive: int = 0
    to_warn: int = 0
    to_act: int = 0
    protected: int = 0
    manage_in_idp: int = 0
    unknown: int = 0
    monthly_savings: Decimal = Decimal(0)


@dataclass(slots=True)
class PlanSummary:
    """Figures of a whole plan: per product and in total."""

    accounts: int = 0
    billable_accounts: int = 0
    unknown_activity: int = 0
    products: dict[str, ProductSummary] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    currency: str = "USD"

    @property
    def monthly_savings(self) -> Decimal:
        """Estimated money per month freed by the ``act`` and ``delete`` decisions."""
        return sum((p.monthly_savings for p in self.products.values()), Decimal(0))

    def product(self, key: str) -> ProductSummary:
        """The row for ``key``, created empty on first use."""
        row = self.products.get(key)
        if row is None:
            row = self.products[key] = ProductSummary(product=key)
        return row


@dataclass(frozen=True, slots=True)
class Plan:
    """A complete plan: decisions sorted by (account, rule), its hash and its summary."""

    decisions: tuple[Decision, ...]
    plan_hash: str
    summary: PlanSummary


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _rule_applies(account: Account, rule: Rule) -> bool:
    if not account.activity_known:
        return True
    if rule.is_any_product:
        return bool(account.products)
    return account.product(ProductKey(rule.product)) is not None


def _measure(account: Account, rule: Rule) -> tuple[datetime | None, datetime | None, str | None]:
    """Return (last_active, reference time, what it was measured from)."""
    if not account.activity_known:
        return None, None, None
    if rule.is_any_product:
        last = account.last_active_anywhere()
    else:
        access = account.product(ProductKey(rule.product))
        last = access.last_active if access is not None else None
    if last is not None:
        return last, last, "last_active"
    if account.added_to_org is not None:
        return None, account.added_to_org, "added_to_org"
    return None, None, None


def _skip_reason(account: Account, policy: Policy, now: datetime) -> SkipReason | None:
    """Reasons that protect an account from every rule, most fundamental first."""
    if account.account_type is AccountType.CUSTOMER:
        return SkipReason.CUSTOMER
    if account.account_type is AccountType.APP:
        return SkipReason.APP_ACCOUNT
    if account.account_type is not AccountType.ATLASSIAN:
        return SkipReason.UNKNOWN_ACCOUNT_TYPE
    if not account.is_billable:
        return SkipReason.NOT_BILLABLE
    if account.is_admin:
        return SkipReason.ADMIN
    if is_protected(account, policy):
        return SkipReason.PROTECTED
    if account.is_synced:
        return SkipReason.SCIM_SYNCED
    if account.added_to_org is not None and now - account.added_to_org < timedelta(days=policy.new_account_grace_days):
        return SkipReason.TOO_NEW
    return None


def is_protected(account: Account, policy: Policy) -> bool:
    """True when the policy protects the account by id, email (any case) or a group name or id."""
    protected = policy.protected
    if account.account_id in protected.accounts:
        return True
    if account.email is not None and account.email.lower() in protected.accounts:
        return True
    return any(g.name in protected.groups or g.id in protected.groups for g in account.groups)


def decide(account: Account, policy: Policy, now: datetime) -> tuple[Decision, ...]:
    """Judge one account under every rule of ``policy`` that applies to it.

    A product rule applies when the account has that product; an ``any`` rule when it has
    at least one product. Accounts whose activity is unknown get a fail-closed skip under
    every rule. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    account_skip = _skip_reason(account, policy, now)
    lag = timedelta(days=policy.last_active_lag_days)
    decisions: list[Decision] = []
    for rule in policy.rules:
        if not _rule_applies(account, rule):
            continue
        last, ref, source = _measure(account, rule)
        verdict, skip, deadline, over, days = Verdict.SKIP, account_skip, None, False, None
        if ref is not None:
            days = (now - ref).days
            inactive_for = now - ref - lag
            threshold = timedelta(days=rule.inactive_days)
            threshold_at = ref + threshold + lag
            over = inactive_for >= threshold
            if skip is None:
                verdict, deadline = _grade(rule, now, inactive_for, threshold_at)
                if verdict is Verdict.SKIP:
                    skip = SkipReason.ACTIVE
        elif skip is None:
            skip = SkipReason.LAST_ACTIVE_UNKNOWN
        decisions.append(
            Decision(
                account_id=account.account_id,
                rule=rule.name,
                product=rule.product,
                action=rule.action,
                verdict=verdict,
                skip_reason=skip,
                last_active=last,
                measured_from=source,
                days_inactive=days,
                deadline=deadline,
                over_threshold=over,
                detail=_detail(rule, verdict, skip, days, source),
            )
        )
    return tuple(decisions)


def _grade(
    rule: Rule, now: datetime, inactive_for: timedelta, threshold_at: datetime
) -> tuple[Verdict, datetime | None]:
    """Verdict and deadline for an account that nothing protects, from how long it has been inactive."""
    threshold = timedelta(days=rule.inactive_days)
    if rule.delete_after_days is not None and inactive_for >= threshold + timedelta(days=rule.delete_after_days):
        return Verdict.DELETE, threshold_at + timedelta(days=rule.delete_after_days)
    if inactive_for >= threshold:
        return Verdict.ACT, threshold_at
    if inactive_for >= threshold - timedelta(days=rule.warn_days_before):
        return Verdict.WARN, max(now + timedelta(days=rule.warn_days_before), threshold_at)
    return Verdict.SKIP, None


def _detail(rule: Rule, verdict: Verdict, skip: SkipReason | None, days: int | None, source: str | None) -> str:
    scope = "any product" if rule.is_any_product else rule.product
    if days is None:
        inactivity = "last active: unknown"
    elif source == "added_to_org":
        inactivity = f"never active in {scope}, added {days} days ago"
    else:
        inactivity = f"inactive {days} days in {scope}"
    limit = f"threshold {rule.inactive_days} days"
    if verdict is Verdict.SKIP and skip is not None:
        return f"{_SKIP_DETAIL[skip]}; {inactivity}, {limit}"
    return f"{inactivity}, {limit}; {rule.action.value}"


class PlanBuilder:
    """Folds accounts into a plan one at a time, keeping only what the summary and hash need.

    Memory grows by one 32-byte digest per decision, not by accounts, so a scan can stream.
    """

    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self.summary = PlanSummary(currency=policy.currency)
        self._digests: list[bytes] = []

    def add(self, account: Account) -> tuple[Decision, ...]:
        """Judge ``account``, fold it into the summary and hash, and return its decisions."""
        decisions = decide(account, self.policy, self.now)
        self.summary.accounts += 1
        if account.is_billable and account.products:
            self.summary.billable_accounts += 1
        if not account.activity_known and account.is_billable:
            self.summary.unknown_activity += 1
        for d in decisions:
            self._digests.append(hashlib.sha256(d.canonical().encode()).digest())
            self.summary.decisions[d.code] = self.summary.decisions.get(d.code, 0) + 1
        self._fold_products(account, decisions)
        return decisions

    def _fold_products(self, account: Account, decisions: tuple[Decision, ...]) -> None:
        for access in account.products:
            row = self.summary.product(access.key)
            if account.is_billable and account.account_type is AccountType.ATLASSIAN:
                row.billable_seats += 1
            relevant = [d for d in decisions if d.product in (access.key, "any")]
            if not relevant:
                continue
            worst = max(d.verdict for d in relevant)
            if any(d.over_threshold for d in relevant):
                row.inactive += 1
            if worst >= Verdict.ACT:
                row.to_act += 1
                row.monthly_savings += self.policy.price(access.key)
            elif worst is Verdict.WARN:
                row.to_warn += 1
            else:
                reasons = {d.skip_reason for d in relevant}
                if reasons & {SkipReason.PROTECTED, SkipReason.ADMIN}:
                    row.protected += 1
                elif SkipReason.SCIM_SYNCED in reasons and any(d.over_threshold for d in relevant):
                    row.manage_in_idp += 1
                elif SkipReason.LAST_ACTIVE_UNKNOWN in reasons:
                    row.unknown += 1

    @property
    def plan_hash(self) -> str:
        """Order-independent SHA-256 over the policy and every decision added so far."""
        h = hashlib.sha256(self.policy.policy_hash.encode())
        for digest in sorted(self._digests):
            h.update(digest)
        return h.hexdigest()


def plan(accounts: Iterable[Account], policy: Policy, now: datetime) -> Plan:
    """Plan a whole list of accounts; decisions come back sorted by (account id, rule)."""
    builder = PlanBuilder(policy, now)
    decisions: list[Decision] = []
    for account in accounts:
        decisions.extend(builder.add(account))
    decisions.sort(key=lambda d: (d.account_id, d.rule))
    return Plan(decisions=tuple(decisions), plan_hash=builder.plan_hash, summary=builder.summary)
