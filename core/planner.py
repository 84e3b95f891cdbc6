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

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum
from hashlib import sha256
from operator import itemgetter
from typing import NamedTuple

from core.model import Account, AccountType, ApiUse, ProductKey
from core.policy import ANY_PRODUCT, Action, Policy, Rule


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
    USED_THROUGH_API = "used_through_api"
    API_USE_UNKNOWN = "api_use_unknown"


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
    SkipReason.USED_THROUGH_API: "review: used through the API",
    SkipReason.API_USE_UNKNOWN: "API tokens could not be read: not warned this run (failing closed)",
}


# Enum members looked up once: a class-attribute lookup of a member costs more than the comparison.
_SKIP, _WARN, _ACT, _DELETE = Verdict.SKIP, Verdict.WARN, Verdict.ACT, Verdict.DELETE
_ACTIVE, _UNKNOWN = SkipReason.ACTIVE, SkipReason.LAST_ACTIVE_UNKNOWN
_ATLASSIAN, _APP, _CUSTOMER = AccountType.ATLASSIAN, AccountType.APP, AccountType.CUSTOMER


class Decision(NamedTuple):
    """The planner's verdict for one account under one rule (an immutable record).

    ``measured_from`` says what the inactivity was measured from: ``last_active``, or
    ``added_to_org`` for accounts that never used the product; ``None`` when unknown.
    ``over_threshold`` is true when the account is past the rule's threshold even if a
    skip reason protects it (so reports can count protected-but-inactive seats).

    A named tuple rather than a frozen dataclass: a plan makes several per account, and a
    tuple is built at a fraction of the cost of twelve frozen-attribute assignments.
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
        return _CODES[self.verdict, self.skip_reason]

    def canonical(self) -> str:
        """A stable one-line text of this decision, the unit of the plan hash.

        Times are written as POSIX timestamps (exact to the microsecond for any date a plan
        meets): ``isoformat`` costs several times more and the line is only ever hashed.
        """
        last = "" if self.last_active is None else self.last_active.timestamp()
        deadline = "" if self.deadline is None else self.deadline.timestamp()
        # An action formats as its value (a StrEnum), without the enum's slower ``.value`` lookup.
        return (
            f"{self.account_id}|{self.rule}|{self.product}|{self.action}|{self.code}|"
            f"{last}|{self.measured_from or ''}|{deadline}"
        )


#: Builds a :class:`Decision` from a ready tuple without the named tuple's keyword-handling ``__new__``.
_record = tuple.__new__


def decision_code(verdict: Verdict, skip_reason: SkipReason | None) -> str:
    """``warn``, ``act``, ``delete`` or ``skip:<reason>`` (``skip:unknown`` without a reason)."""
    if verdict is Verdict.SKIP:
        return f"skip:{skip_reason.value if skip_reason else 'unknown'}"
    return verdict.label


#: Every decision code by (verdict, skip reason).
_CODES = {(v, s): decision_code(v, s) for v in Verdict for s in (None, *SkipReason)}


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
    api_review: int = 0
    monthly_savings: Decimal = Decimal(0)


@dataclass(slots=True)
class PlanSummary:
    """Figures of a whole plan: per product and in total."""

    accounts: int = 0
    billable_accounts: int = 0
    unknown_activity: int = 0
    api_review: int = 0
    api_unknown: int = 0
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


_DetailKey = tuple[Verdict, SkipReason | None, int | None, str | None]


class _Cut:
    """One rule with its thresholds turned into times for one ``now``.

    The planner then compares each account's reference time with these instants instead of
    building timedeltas per account: ``ref <= act_before`` is exactly ``now - ref - lag >=
    threshold``. Details are memoised by (verdict, skip, days, source): a plan of a million
    accounts writes only a few thousand distinct texts.
    """

    __slots__ = (
        "act_before",
        "action",
        "delete_before",
        "details",
        "key",
        "name",
        "prefix",
        "product",
        "rule",
        "threshold",
        "to_deadline",
        "to_delete",
        "warn_before",
        "warn_floor",
    )

    def __init__(self, rule: Rule, now: datetime, lag: timedelta) -> None:
        threshold = self.threshold = timedelta(days=rule.inactive_days)
        self.rule = rule
        self.name, self.product, self.action = rule.name, rule.product, rule.action
        self.key = None if rule.is_any_product else ProductKey(rule.product)
        self.prefix = f"{rule.name}|{rule.product}|{rule.action}|"  # of every canonical line
        self.act_before = now - lag - threshold
        self.warn_before = self.act_before + timedelta(days=rule.warn_days_before)
        self.to_deadline = threshold + lag
        extra = rule.delete_after_days
        self.to_delete = None if extra is None else self.to_deadline + timedelta(days=extra)
        self.delete_before = None if extra is None else self.act_before - timedelta(days=extra)
        self.warn_floor = now + timedelta(days=rule.warn_days_before)
        self.details: dict[_DetailKey, str] = {}

    def grade(self, ref: datetime) -> tuple[Verdict, datetime | None]:
        """Verdict and deadline for an account that nothing protects, measured from ``ref``."""
        if self.delete_before is not None and self.to_delete is not None and ref <= self.delete_before:
            return _DELETE, ref + self.to_delete
        if ref <= self.act_before:
            return _ACT, ref + self.to_deadline
        if ref <= self.warn_before:
            return _WARN, max(self.warn_floor, ref + self.to_deadline)
        return _SKIP, None

    def detail_for(self, key: _DetailKey) -> str:
        """The detail of a decision under this rule with ``key`` = (verdict, skip, days, measured from).

        Callers look in :attr:`details` first; this fills it.
        """
        verdict, skip, days, source = key
        detail = self.details[key] = _detail(self.rule, verdict, skip, days, source)
        return detail


def _skip_reason(account: Account, policy: Policy, new_after: datetime) -> SkipReason | None:
    """Reasons that protect an account from every rule, most fundamental first.

    ``new_after``: accounts added to the org after this time are in their grace period.
    """
    kind = account.account_type
    if kind is not _ATLASSIAN:
        if kind is _CUSTOMER:
            return SkipReason.CUSTOMER
        return SkipReason.APP_ACCOUNT if kind is _APP else SkipReason.UNKNOWN_ACCOUNT_TYPE
    if not account.is_billable:
        return SkipReason.NOT_BILLABLE
    if account.is_admin:
        return SkipReason.ADMIN
    if is_protected(account, policy):
        return SkipReason.PROTECTED
    if account.is_synced:
        return SkipReason.SCIM_SYNCED
    if account.added_to_org is not None and account.added_to_org > new_after:
        return SkipReason.TOO_NEW
    return None


def is_protected(account: Account, policy: Policy) -> bool:
    """True when the policy protects the account by id, email (any case) or a group name or id."""
    protected = policy.protected
    accounts, groups = protected.accounts, protected.groups
    if accounts and (
        account.account_id in accounts or (account.email is not None and account.email.lower() in accounts)
    ):
        return True
    if groups:
        for group in account.groups:
            if group.name in groups or group.id in groups:
                return True
    return False


class _Judge:
    """Judges accounts under one policy at one ``now`` (the rules' cut-off times made once)."""

    __slots__ = ("any_rule", "cuts", "new_after", "now", "policy")

    def __init__(self, policy: Policy, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        lag = timedelta(days=policy.last_active_lag_days)
        self.policy, self.now = policy, now
        self.new_after = now - timedelta(days=policy.new_account_grace_days)
        self.cuts = tuple(_Cut(rule, now, lag) for rule in policy.rules)
        self.any_rule = any(cut.key is None for cut in self.cuts)

    def decide(self, account: Account, lines: list[str] | None = None) -> tuple[Decision, ...]:
        """Every decision for ``account``, in the policy's rule order.

        With ``lines``, each decision's canonical line (:meth:`Decision.canonical`) is appended
        to it as well, made from the values at hand instead of read back from the record.
        """
        if not account.activity_known:
            unknown = self._unknown(account)
            if lines is not None:
                lines.extend(map(Decision.canonical, unknown))
            return unknown
        seen = {p.key: p.last_active for p in reversed(account.products)}  # the first of a key wins
        if not seen:
            return ()
        skip_all = _skip_reason(account, self.policy, self.new_after)
        anywhere = None
        if self.any_rule:
            dates = [t for t in seen.values() if t is not None]
            anywhere = max(dates) if dates else None
        added, now, account_id = account.added_to_org, self.now, account.account_id
        decisions: list[Decision] = []
        for cut in self.cuts:
            if cut.key is None:
                last = anywhere
            elif cut.key in seen:
                last = seen[cut.key]
            else:
                continue
            source: str | None = "last_active" if last is not None else "added_to_org"
            ref = last if last is not None else added
            skip = skip_all
            if ref is None:
                verdict, deadline, over, days, source = _SKIP, None, False, None, None
                skip = skip or _UNKNOWN
            else:
                days, over = (now - ref).days, ref <= cut.act_before
                verdict, deadline = (_SKIP, None) if skip is not None else cut.grade(ref)
                if verdict is _SKIP and skip is None:
                    skip = _ACTIVE
            key = (verdict, skip, days, source)
            detail = cut.details.get(key) or cut.detail_for(key)
            record = (account_id, cut.name, cut.product, cut.action, verdict, skip, last, source, days, deadline)
            decisions.append(_record(Decision, (*record, over, detail)))
            if lines is not None:
                stamps = "" if last is None else last.timestamp(), "" if deadline is None else deadline.timestamp()
                code = _CODES[verdict, skip]
                lines.append(f"{account_id}|{cut.prefix}{code}|{stamps[0]}|{source or ''}|{stamps[1]}")
        return tuple(decisions)

    def review_api(self, decisions: tuple[Decision, ...], api: ApiUse) -> tuple[Decision, ...]:
        """``decisions`` with every warn/act/delete moved aside when ``api`` shows recent use.

        A token used within the rule's threshold sends the decision to the review lane
        (``skip:used_through_api``, with the token's label and last use in the detail); tokens
        that could not be read fail closed (``skip:api_use_unknown``). Old or unused tokens
        change nothing.
        """
        out = []
        for d in decisions:
            cut = next((c for c in self.cuts if c.name == d.rule), None)
            if d.verdict is _SKIP or cut is None:
                out.append(d)
                continue
            if not api.known:
                skip, evidence = SkipReason.API_USE_UNKNOWN, api.reason
            elif api.last_access is not None and api.last_access > self.now - cut.threshold:
                skip, evidence = (
                    SkipReason.USED_THROUGH_API,
                    f"token {api.label!r} last used {api.last_access:%Y-%m-%d}",
                )
            else:
                out.append(d)
                continue
            detail = f"{_SKIP_DETAIL[skip]} ({evidence}); {d.detail.split('; ')[0]}"
            out.append(d._replace(verdict=_SKIP, skip_reason=skip, deadline=None, detail=detail))
        return tuple(out)

    def _unknown(self, account: Account) -> tuple[Decision, ...]:
        """Activity unknown: a fail-closed skip under every rule."""
        skip = _skip_reason(account, self.policy, self.new_after) or _UNKNOWN
        decisions = []
        for cut in self.cuts:
            key = (_SKIP, skip, None, None)
            detail = cut.details.get(key) or cut.detail_for(key)
            record = (account.account_id, cut.name, cut.product, cut.action, _SKIP, skip, None, None, None, None)
            decisions.append(_record(Decision, (*record, False, detail)))
        return tuple(decisions)


def review_api(decisions: tuple[Decision, ...], api: ApiUse, policy: Policy, now: datetime) -> tuple[Decision, ...]:
    """``decisions`` as the API-token evidence ``api`` leaves them at ``now`` (see :meth:`_Judge.review_api`)."""
    return _Judge(policy, now).review_api(decisions, api)


def decide(account: Account, policy: Policy, now: datetime) -> tuple[Decision, ...]:
    """Judge one account under every rule of ``policy`` that applies to it.

    A product rule applies when the account has that product; an ``any`` rule when it has
    at least one product. Accounts whose activity is unknown get a fail-closed skip under
    every rule. ``now`` must be timezone-aware.
    """
    return _Judge(policy, now).decide(account)


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


#: What the summary needs of a decision: (product, verdict, skip reason, over threshold).
_MARKS = itemgetter(2, 4, 5, 10)
#: What the summary needs of an account: (billable, activity known, product keys, marks of its decisions).
_Shape = tuple[bool, bool, tuple[str, ...], tuple[tuple[str, Verdict, SkipReason | None, bool], ...]]


class PlanBuilder:
    """Folds accounts into a plan one at a time, keeping only what the summary and hash need.

    Memory grows by one 32-byte digest per account with decisions, so a scan can stream. The
    summary is tallied by the *shape* of each account (what the figures depend on, without its
    id or dates): a plan of a million accounts has a few hundred shapes, and :attr:`summary`
    folds each shape once, times its count.
    """

    def __init__(self, policy: Policy, now: datetime) -> None:
        self.policy = policy
        self.now = now
        self._judge = _Judge(policy, now)
        self._digests: list[bytes] = []
        self._shapes: dict[_Shape, int] = {}

    def judge(self, account: Account) -> tuple[Decision, ...]:
        """The decisions for ``account`` without folding them in (to see whether it is a candidate)."""
        return self._judge.decide(account)

    def review(self, judged: tuple[Decision, ...], api: ApiUse) -> tuple[Decision, ...]:
        """``judged`` as ``api`` would leave them (see :meth:`_Judge.review_api`), without folding them in."""
        return self._judge.review_api(judged, api)

    def add(
        self, account: Account, api: ApiUse | None = None, judged: tuple[Decision, ...] | None = None
    ) -> tuple[Decision, ...]:
        """Judge ``account``, fold it into the summary and hash, and return its decisions.

        ``api`` is the evidence of its API tokens (read only for candidates, see
        :meth:`_Judge.review_api`); ``judged`` reuses decisions from :meth:`judge`.
        """
        lines: list[str] = []
        if judged is None and api is None:
            decisions = self._judge.decide(account, lines)
        else:
            decisions = judged if judged is not None else self._judge.decide(account)
            if api is not None:
                decisions = self._judge.review_api(decisions, api)
            lines = [d.canonical() for d in decisions]
        if lines:
            # One digest per account over its decisions' canonical lines (in the policy's rule order).
            self._digests.append(sha256("\n".join(lines).encode()).digest())
        keys = tuple([p.key for p in account.products])
        shape = (account.is_billable, account.activity_known, keys, tuple(map(_MARKS, decisions)))
        self._shapes[shape] = self._shapes.get(shape, 0) + 1
        return decisions

    @property
    def summary(self) -> PlanSummary:
        """The figures of every account added so far."""
        summary = PlanSummary(currency=self.policy.currency)
        for shape, count in self._shapes.items():
            _fold(summary, shape, count)
        for row in summary.products.values():
            row.monthly_savings = self.policy.price(row.product) * row.to_act
        return summary

    @property
    def plan_hash(self) -> str:
        """Order-independent SHA-256 over the policy and every account's decisions added so far."""
        h = sha256(self.policy.policy_hash.encode())
        for digest in sorted(self._digests):
            h.update(digest)
        return h.hexdigest()


def _fold(summary: PlanSummary, shape: _Shape, count: int) -> None:
    """Add ``count`` accounts of ``shape`` to ``summary`` (savings are priced afterwards)."""
    billable, known, keys, marks = shape
    summary.accounts += count
    if billable and keys:
        summary.billable_accounts += count
    if not known and billable:
        summary.unknown_activity += count
    for _product, verdict, skip, _over in marks:
        code = decision_code(verdict, skip)
        summary.decisions[code] = summary.decisions.get(code, 0) + count
    reasons = {m[2] for m in marks}
    if SkipReason.USED_THROUGH_API in reasons:
        summary.api_review += count
    if SkipReason.API_USE_UNKNOWN in reasons:
        summary.api_unknown += count
    across = [m for m in marks if m[0] == ANY_PRODUCT]
    for key in keys:
        row = summary.product(key)
        if billable:  # billable accounts are Atlassian accounts: each product is a paid seat
            row.billable_seats += count
        relevant = [m for m in marks if m[0] == key] + across
        if relevant:
            _fold_row(row, relevant, count)


def _fold_row(row: ProductSummary, relevant: list[tuple[str, Verdict, SkipReason | None, bool]], count: int) -> None:
    """Count one product row for ``count`` accounts whose decisions touching the product are ``relevant``."""
    worst = max(m[1] for m in relevant)
    over = any(m[3] for m in relevant)
    if over:
        row.inactive += count
    if worst >= Verdict.ACT:
        row.to_act += count
    elif worst is Verdict.WARN:
        row.to_warn += count
    else:
        reasons = {m[2] for m in relevant}
        if reasons & {SkipReason.PROTECTED, SkipReason.ADMIN}:
            row.protected += count
        elif SkipReason.SCIM_SYNCED in reasons and over:
            row.manage_in_idp += count
        elif SkipReason.USED_THROUGH_API in reasons:
            row.api_review += count
        elif reasons & {SkipReason.LAST_ACTIVE_UNKNOWN, SkipReason.API_USE_UNKNOWN}:
            row.unknown += count


def plan(accounts: Iterable[Account], policy: Policy, now: datetime) -> Plan:
    """Plan a whole list of accounts; decisions come back sorted by (account id, rule)."""
    builder = PlanBuilder(policy, now)
    decisions: list[Decision] = []
    for account in accounts:
        decisions.extend(builder.add(account))
    decisions.sort(key=lambda d: (d.account_id, d.rule))
    return Plan(decisions=tuple(decisions), plan_hash=builder.plan_hash, summary=builder.summary)
