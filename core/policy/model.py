"""The cleanup policy as the rest of the code sees it: frozen values with their defaults.

:mod:`core.policy.file` validates a policy file into these values (and takes its defaults from
them); :mod:`core.policy.mapping` turns them back into plain data.

Why ``last_active_lag_days``: Atlassian's last-active data lags by up to 24 hours, so an
account that looks N days inactive may have been active yesterday. The planner subtracts
the lag before comparing with a threshold, which errs on the side of keeping access.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.policy.mapping import policy_mapping

ANY_PRODUCT = "any"
#: Where a person may ask to get their access back (``restore.sources``).
RESTORE_SOURCES: tuple[str, ...] = ("slack", "teams", "email", "jsm")
#: Channels a warning can be delivered on, in the default order (``lifecycle.delivery_order``).
DELIVERY_CHANNELS: tuple[str, ...] = ("slack", "teams", "email")
#: What to do instead of deactivating an unmanaged account (``lifecycle.unmanaged_deactivate``).
UNMANAGED_DEACTIVATE: tuple[str, ...] = ("suspend", "skip")


class Action(StrEnum):
    """What a rule does to an inactive account at its deadline."""

    REMOVE_PRODUCT_ACCESS = "remove_product_access"
    SUSPEND = "suspend"
    DEACTIVATE = "deactivate"


class Mode(StrEnum):
    """``dry_run`` makes no change in Atlassian; ``enforce`` lets the lifecycle act."""

    DRY_RUN = "dry_run"
    ENFORCE = "enforce"


@dataclass(frozen=True, slots=True)
class Rule:
    """One inactivity rule.

    ``product`` is a product key or ``"any"``. A product rule measures inactivity in that
    product only and may only remove that product's access; an ``any`` rule measures the most
    recent activity across all products and may suspend or deactivate the whole account.
    """

    name: str
    product: str
    inactive_days: int
    action: Action
    warn_days_before: int = 14
    delete_after_days: int | None = None

    @property
    def is_any_product(self) -> bool:
        """True for an org-wide rule (``product: any``)."""
        return self.product == ANY_PRODUCT


@dataclass(frozen=True, slots=True)
class Protection:
    """Accounts and groups the planner never selects."""

    accounts: frozenset[str] = frozenset()  # account ids, and emails in lower case
    groups: frozenset[str] = frozenset()  # group names or ids

    def adding(self, accounts: Iterable[str], groups: Iterable[str]) -> Protection:
        """These protections and more (emails lower-cased): protections only ever add up."""
        return Protection(
            accounts=self.accounts | {a.lower() if "@" in a else a for a in accounts},
            groups=self.groups | frozenset(groups),
        )


DEFAULT_ACCESS_GROUPS: Mapping[str, tuple[str, ...]] = {
    "jira-software": ("jira-software-users",),
    "confluence": ("confluence-users",),
    "jira-servicedesk": ("jira-servicemanagement-users", "jira-servicedesk-users"),
    "jira-product-discovery": ("jira-product-discovery-users",),
    "jira": ("jira-users",),
}


@dataclass(frozen=True, slots=True)
class Caps:
    """Blast-radius caps over every access-reducing action (product removal, suspend, deactivate, delete).

    A limit of ``None`` is off. When both an absolute and a percentage limit are set the stricter
    one applies. Percentages are of the org's billable users at the time of the run.
    """

    per_run_max: int | None = 50
    per_run_percent: Decimal | None = Decimal(5)
    window_days: int = 7
    window_max: int | None = 200
    window_percent: Decimal | None = Decimal(10)
    deletions_per_run: int | None = 20

    @staticmethod
    def limit(absolute: int | None, percent: Decimal | None, billable: int) -> int | None:
        """The stricter of an absolute and a percentage limit (``None`` when both are off)."""
        limits = [absolute] if absolute is not None else []
        if percent is not None:
            limits.append(int(Decimal(billable) * percent / 100))
        return min(limits) if limits else None


@dataclass(frozen=True, slots=True)
class Safety:
    """Safety rails of enforcement: caps, canary, circuit breaker and approvals."""

    caps: Caps = field(default_factory=Caps)
    canary_size: int = 5
    canary_max_error_rate: Decimal = Decimal("0.2")
    breaker_failures: int = 5
    approval_expires_hours: int = 72
    deletions_need_approval: bool = True
    max_unknown_percent: Decimal = Decimal(5)


@dataclass(frozen=True, slots=True)
class KeepRules:
    """How "Keep my access" works: how long a keep lasts and how often one may keep."""

    days: int = 90
    max_per_period: int = 3
    period_days: int = 365
    justification_required: bool = False
    review_after: int = 2  # keeps within the period, with no activity since the first, that list an account
    #: Keeps of the same access within the period after which another keep needs an admin (None: never).
    approval_after: int | None = None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """How warnings turn into actions, and what an action removes."""

    keep: KeepRules = field(default_factory=KeepRules)
    unmanaged_deactivate: str = "suspend"  # suspend | skip: deactivate only works on managed accounts
    access_groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ACCESS_GROUPS))
    schedule_cron: str | None = None  # five-field cron, evaluated in UTC
    digest_cron: str | None = None  # the weekly digest to the admin channels (None: none)
    report_folder: str | None = None
    delivery_order: tuple[str, ...] = DELIVERY_CHANNELS  # channels tried in this order
    #: API-token evidence is reused at most this long (each account due on its own day of it) where a newer read
    #: could not change the outcome (0: never).
    api_token_recheck_days: int = 7

    def groups_for(self, product: str) -> tuple[str, ...]:
        """Names of the groups that grant ``product`` (empty when unknown)."""
        return tuple(self.access_groups.get(product, ()))


@dataclass(frozen=True, slots=True)
class AutoApprove:
    """One auto-approve rule of self-service restore.

    The conditions present are ANDed; within one condition any listed value matches. Absent
    conditions are empty sets, and at least one condition is present. Every value is lower case.

    - ``groups``: the account is in one of these groups (names, case-insensitive, or ids) as of the
      latest scan. Product-access groups jira-cleanup removed are gone by then: use ``products``.
    - ``email_domains``: the account's email domain is exactly one of these; ``*.acme.com`` matches
      any subdomain of acme.com (but not acme.com itself).
    - ``products``: a restore would give back one of these products (the ``product`` of a
      restorable case; ``any`` for the org-wide suspend/deactivate rules).
    """

    name: str
    groups: frozenset[str] = frozenset()
    email_domains: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RestoreRules:
    """Self-service restore: where people may ask, what is approved at once, and the limits.

    ``auto_approve`` rules are tried in order and ORed. At most ``limit_max`` auto-approved restores
    per account per ``limit_days`` (0: never auto-approve); above that an admin decides. Members of
    ``deny_groups`` are never restored through self-service. Only ``requests_per_day`` requests per
    account per day are considered at all. Members of ``on_behalf_groups`` may ask for someone else
    (an admin always decides those).
    """

    sources: frozenset[str] = frozenset(RESTORE_SOURCES)
    auto_approve: tuple[AutoApprove, ...] = ()
    limit_max: int = 2
    limit_days: int = 30
    deny_groups: frozenset[str] = frozenset()
    requests_per_day: int = 3
    #: Members of these groups (and chat admins) may ask for access back for someone else.
    on_behalf_groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated cleanup policy."""

    rules: tuple[Rule, ...]
    mode: Mode = Mode.DRY_RUN
    protected: Protection = field(default_factory=Protection)
    new_account_grace_days: int = 30
    last_active_lag_days: int = 1
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    currency: str = "USD"
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    safety: Safety = field(default_factory=Safety)
    restore: RestoreRules = field(default_factory=RestoreRules)
    #: How long audit events stay in the database before ``jira-cleanup audit archive`` moves them to a CSV.
    audit_retention_days: int = 400

    def with_protections(self, accounts: Iterable[str], groups: Iterable[str]) -> Policy:
        """The effective policy: this one plus protections added at runtime (chat, CLI); never fewer."""
        return replace(self, protected=self.protected.adding(accounts, groups))

    def price(self, product: str) -> Decimal:
        """Monthly price of one seat of ``product`` (0 when the policy does not say)."""
        return self.prices.get(product, Decimal(0))

    def to_mapping(self) -> dict[str, Any]:
        """The normalised policy as plain data (the inverse of :func:`parse_policy`)."""
        return policy_mapping(self)

    @property
    def policy_hash(self) -> str:
        """SHA-256 of the canonical normalised policy; equal policies hash equal."""
        canonical = json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


#: Audit events are kept at least this long (the retention job never removes younger ones).
AUDIT_RETENTION_FLOOR_DAYS = 365
