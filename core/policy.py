"""Cleanup policy ("policy as code") and its validation.

A policy arrives as a plain mapping (adapters parse YAML into one) and is validated here
into frozen dataclasses. Every validation error names the source, the field path and the
bad value, e.g. ``policy.yml: rules[1].inactive_days: must be a whole number >= 1 (got -5)``.

Why ``last_active_lag_days``: Atlassian's last-active data lags by up to 24 hours, so an
account that looks N days inactive may have been active yesterday. The planner subtracts
the lag before comparing with a threshold, which errs on the side of keeping access.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from core.errors import PolicyError
from core.model import ProductKey

ANY_PRODUCT = "any"
#: Where a person may ask to get their access back (``restore.sources``).
RESTORE_SOURCES: tuple[str, ...] = ("slack", "teams", "email", "jsm")
#: Channels a warning can be delivered on, in the default order (``lifecycle.delivery_order``).
DELIVERY_CHANNELS: tuple[str, ...] = ("slack", "teams", "email")
_E = TypeVar("_E", bound=StrEnum)


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


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """How warnings turn into actions, and what an action removes."""

    keep: KeepRules = field(default_factory=KeepRules)
    unmanaged_deactivate: str = "suspend"  # suspend | skip: deactivate only works on managed accounts
    access_groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ACCESS_GROUPS))
    schedule_cron: str | None = None  # five-field cron, evaluated in UTC
    report_folder: str | None = None
    delivery_order: tuple[str, ...] = DELIVERY_CHANNELS  # channels tried in this order

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
    account per day are considered at all.
    """

    sources: frozenset[str] = frozenset(RESTORE_SOURCES)
    auto_approve: tuple[AutoApprove, ...] = ()
    limit_max: int = 2
    limit_days: int = 30
    deny_groups: frozenset[str] = frozenset()
    requests_per_day: int = 3


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
        return {
            "mode": self.mode.value,
            "rules": [
                {
                    "name": r.name,
                    "product": r.product,
                    "inactive_days": r.inactive_days,
                    "action": r.action.value,
                    "warn_days_before": r.warn_days_before,
                    "delete_after_days": r.delete_after_days,
                }
                for r in self.rules
            ],
            "protected": {
                "accounts": sorted(self.protected.accounts),
                "groups": sorted(self.protected.groups),
            },
            "new_account_grace_days": self.new_account_grace_days,
            "last_active_lag_days": self.last_active_lag_days,
            "prices": {k: str(v) for k, v in sorted(self.prices.items())},
            "currency": self.currency,
            "lifecycle": _lifecycle_mapping(self.lifecycle),
            "safety": _safety_mapping(self.safety),
            "restore": _restore_mapping(self.restore),
            "audit": {"retention_days": self.audit_retention_days},
        }

    @property
    def policy_hash(self) -> str:
        """SHA-256 of the canonical normalised policy; equal policies hash equal."""
        canonical = json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _lifecycle_mapping(lc: Lifecycle) -> dict[str, Any]:
    data: dict[str, Any] = {
        "keep": {
            "days": lc.keep.days,
            "max_per_period": lc.keep.max_per_period,
            "period_days": lc.keep.period_days,
            "justification_required": lc.keep.justification_required,
        },
        "unmanaged_deactivate": lc.unmanaged_deactivate,
        "access_groups": {k: list(v) for k, v in sorted(lc.access_groups.items())},
        "delivery_order": list(lc.delivery_order),  # the order matters: not sorted
    }
    if lc.schedule_cron is not None:
        data["schedule"] = lc.schedule_cron
    if lc.report_folder is not None:
        data["report_folder"] = lc.report_folder
    return data


def _safety_mapping(sf: Safety) -> dict[str, Any]:
    caps = sf.caps
    return {
        "caps": {
            "per_run": {"max_actions": caps.per_run_max, "max_percent": _num(caps.per_run_percent)},
            "window": {
                "days": caps.window_days,
                "max_actions": caps.window_max,
                "max_percent": _num(caps.window_percent),
            },
            "deletions_per_run": caps.deletions_per_run,
        },
        "canary": {"size": sf.canary_size, "max_error_rate": str(sf.canary_max_error_rate)},
        "circuit_breaker": {"consecutive_failures": sf.breaker_failures},
        "approval": {"expires_hours": sf.approval_expires_hours, "deletions_need_approval": sf.deletions_need_approval},
        "max_unknown_percent": str(sf.max_unknown_percent),
    }


def _restore_mapping(rs: RestoreRules) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for rule in rs.auto_approve:  # the order of the rules is kept: the first match names the verdict
        data: dict[str, Any] = {"name": rule.name}
        for key, values in (
            ("groups", rule.groups),
            ("email_domains", rule.email_domains),
            ("products", rule.products),
        ):
            if values:  # an absent condition is left out: an empty list would not parse back
                data[key] = sorted(values)
        rules.append(data)
    return {
        "sources": sorted(rs.sources),
        "auto_approve": rules,
        "limit": {"max": rs.limit_max, "per_days": rs.limit_days},
        "deny_groups": sorted(rs.deny_groups),
        "requests_per_day": rs.requests_per_day,
    }


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


#: Audit events are kept at least this long (the retention job never removes younger ones).
AUDIT_RETENTION_FLOOR_DAYS = 365

_TOP_KEYS = {
    "audit",
    "lifecycle",
    "restore",
    "safety",
    "version",
    "mode",
    "rules",
    "protected",
    "new_account_grace_days",
    "last_active_lag_days",
    "prices",
    "currency",
}
_RULE_KEYS = {"name", "product", "inactive_days", "action", "warn_days_before", "delete_after_days"}
_PROTECTED_KEYS = {"accounts", "groups"}


def parse_policy(data: object, source: str = "policy") -> Policy:
    """Validate ``data`` (a mapping, e.g. parsed YAML) into a :class:`Policy`.

    Raises :class:`PolicyError` naming ``source``, the field path and the bad value on the
    first problem found. Unknown keys are errors: a typo must not silently disable a rule.
    """
    top = _mapping(data, source, "")
    _no_unknown_keys(top, _TOP_KEYS, source, "")
    version = top.get("version", 1)
    if version != 1:
        raise PolicyError(source, "version", "only version 1 is supported", version)

    mode_raw = top.get("mode", Mode.DRY_RUN.value)
    mode = _enum(Mode, mode_raw, source, "mode")

    rules_raw = top.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise PolicyError(source, "rules", "must be a non-empty list of rules", rules_raw)
    rules = tuple(_rule(item, source, f"rules[{i}]") for i, item in enumerate(rules_raw))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise PolicyError(source, f"rules[{i}].name", "duplicate rule name", rule.name)
        seen.add(rule.name)

    protected = _protection(top.get("protected", {}), source)
    grace = _int(top.get("new_account_grace_days", 30), source, "new_account_grace_days", minimum=0)
    lag = _int(top.get("last_active_lag_days", 1), source, "last_active_lag_days", minimum=0)
    prices = _prices(top.get("prices", {}), source)
    currency = top.get("currency", "USD")
    if not isinstance(currency, str) or not (len(currency) == 3 and currency.isalpha()):
        raise PolicyError(source, "currency", "must be a 3-letter currency code", currency)
    return Policy(
        rules=rules,
        mode=mode,
        protected=protected,
        new_account_grace_days=grace,
        last_active_lag_days=lag,
        prices=prices,
        currency=currency.upper(),
        lifecycle=_lifecycle(top.get("lifecycle", {}), source),
        safety=_safety(top.get("safety", {}), source),
        restore=_restore(top.get("restore", {}), source),
        audit_retention_days=_audit_retention(top.get("audit", {}), source),
    )


def _audit_retention(data: object, source: str) -> int:
    raw = _mapping(data if data is not None else {}, source, "audit")
    _no_unknown_keys(raw, {"retention_days"}, source, "audit")
    return _int(raw.get("retention_days", 400), source, "audit.retention_days", minimum=AUDIT_RETENTION_FLOOR_DAYS)


def _lifecycle(data: object, source: str) -> Lifecycle:
    raw = _mapping(data if data is not None else {}, source, "lifecycle")
    _no_unknown_keys(
        raw,
        {"keep", "unmanaged_deactivate", "access_groups", "schedule", "report_folder", "delivery_order"},
        source,
        "lifecycle",
    )
    keep_raw = _mapping(raw.get("keep", {}) or {}, source, "lifecycle.keep")
    _no_unknown_keys(
        keep_raw, {"days", "max_per_period", "period_days", "justification_required"}, source, "lifecycle.keep"
    )
    keep = KeepRules(
        days=_int(keep_raw.get("days", 90), source, "lifecycle.keep.days", minimum=1),
        max_per_period=_int(keep_raw.get("max_per_period", 3), source, "lifecycle.keep.max_per_period", minimum=0),
        period_days=_int(keep_raw.get("period_days", 365), source, "lifecycle.keep.period_days", minimum=1),
        justification_required=_bool(
            keep_raw.get("justification_required", False), source, "lifecycle.keep.justification_required"
        ),
    )
    fallback = raw.get("unmanaged_deactivate", "suspend")
    if fallback not in ("suspend", "skip"):
        raise PolicyError(source, "lifecycle.unmanaged_deactivate", "must be one of: suspend, skip", fallback)
    groups: dict[str, tuple[str, ...]] = dict(DEFAULT_ACCESS_GROUPS)
    for key, names in _mapping(raw.get("access_groups", {}) or {}, source, "lifecycle.access_groups").items():
        groups[key] = tuple(_str_list(names, source, f"lifecycle.access_groups.{key}"))
    cron = raw.get("schedule")
    if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5):
        raise PolicyError(source, "lifecycle.schedule", "must be a five-field cron expression (UTC)", cron)
    folder = raw.get("report_folder")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise PolicyError(source, "lifecycle.report_folder", "must be a folder path", folder)
    return Lifecycle(
        keep=keep,
        unmanaged_deactivate=str(fallback),
        access_groups=groups,
        schedule_cron=cron,
        report_folder=folder,
        delivery_order=_delivery_order(raw.get("delivery_order", list(DELIVERY_CHANNELS)), source),
    )


def _delivery_order(value: object, source: str) -> tuple[str, ...]:
    path = "lifecycle.delivery_order"
    allowed = ", ".join(DELIVERY_CHANNELS)
    if not isinstance(value, list) or not value:
        raise PolicyError(source, path, f"must be a non-empty list of channels ({allowed})", value)
    order: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or item not in DELIVERY_CHANNELS:
            raise PolicyError(source, f"{path}[{i}]", f"must be one of: {allowed}", item)
        if item in order:
            raise PolicyError(source, f"{path}[{i}]", "duplicate channel", item)
        order.append(item)
    return tuple(order)


_RESTORE_KEYS = {"sources", "auto_approve", "limit", "deny_groups", "requests_per_day"}
_AUTO_APPROVE_KEYS = {"name", "groups", "email_domains", "products"}


def _restore(data: object, source: str) -> RestoreRules:
    raw = _mapping(data if data is not None else {}, source, "restore")
    _no_unknown_keys(raw, _RESTORE_KEYS, source, "restore")
    default = RestoreRules()
    sources_raw = raw.get("sources", sorted(default.sources))
    if not isinstance(sources_raw, list):
        raise PolicyError(source, "restore.sources", "must be a list of sources", sources_raw)
    for i, item in enumerate(sources_raw):
        if not isinstance(item, str) or item not in RESTORE_SOURCES:
            raise PolicyError(source, f"restore.sources[{i}]", f"must be one of: {', '.join(RESTORE_SOURCES)}", item)
    rules_raw = raw.get("auto_approve", [])
    if rules_raw is None:
        rules_raw = []
    if not isinstance(rules_raw, list):
        raise PolicyError(source, "restore.auto_approve", "must be a list of rules", rules_raw)
    rules = tuple(_auto_approve(item, source, f"restore.auto_approve[{i}]") for i, item in enumerate(rules_raw))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise PolicyError(source, f"restore.auto_approve[{i}].name", "duplicate rule name", rule.name)
        seen.add(rule.name)
    limit = _mapping(raw.get("limit", {}) or {}, source, "restore.limit")
    _no_unknown_keys(limit, {"max", "per_days"}, source, "restore.limit")
    deny = raw.get("deny_groups", [])
    return RestoreRules(
        sources=frozenset(sources_raw),
        auto_approve=rules,
        limit_max=_int(limit.get("max", default.limit_max), source, "restore.limit.max", minimum=0),
        limit_days=_int(limit.get("per_days", default.limit_days), source, "restore.limit.per_days", minimum=1),
        deny_groups=frozenset(
            g.lower() for g in _str_list([] if deny is None else deny, source, "restore.deny_groups")
        ),
        requests_per_day=_int(
            raw.get("requests_per_day", default.requests_per_day), source, "restore.requests_per_day", minimum=1
        ),
    )


def _auto_approve(item: object, source: str, path: str) -> AutoApprove:
    raw = _mapping(item, source, path)
    _no_unknown_keys(raw, _AUTO_APPROVE_KEYS, source, path)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(source, f"{path}.name", "must be a non-empty string", name)
    groups = _condition(raw, "groups", source, path)
    domains = _condition(raw, "email_domains", source, path)
    for i, domain in enumerate(domains):
        if not _is_domain_pattern(domain):
            raise PolicyError(
                source,
                f"{path}.email_domains[{i}]",
                "must be a domain such as acme.com, or *.acme.com for its subdomains",
                raw["email_domains"][i],
            )
    rule = AutoApprove(
        name=name.strip(),
        groups=frozenset(groups),
        email_domains=frozenset(domains),
        products=frozenset(_condition(raw, "products", source, path)),
    )
    if not (rule.groups or rule.email_domains or rule.products):
        raise PolicyError(
            source, path, "an auto-approve rule needs at least one condition: groups, email_domains or products"
        )
    return rule


def _condition(raw: Mapping[str, Any], key: str, source: str, path: str) -> list[str]:
    """One condition's values in lower case (empty when absent; an empty list is an error, not "no condition")."""
    if key not in raw:
        return []
    values = raw[key]
    if isinstance(values, list) and not values:
        raise PolicyError(
            source, f"{path}.{key}", "must list at least one value (leave the field out for no condition)", values
        )
    return [v.lower() for v in _str_list(values, source, f"{path}.{key}")]


def _is_domain_pattern(text: str) -> bool:
    """``acme.com`` or ``*.acme.com``: two or more dot-separated labels of letters, digits and hyphens."""
    labels = text.removeprefix("*.").split(".")
    return len(labels) >= 2 and all(
        label and not label.startswith("-") and not label.endswith("-") and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


def _safety(data: object, source: str) -> Safety:
    raw = _mapping(data if data is not None else {}, source, "safety")
    _no_unknown_keys(raw, {"caps", "canary", "circuit_breaker", "approval", "max_unknown_percent"}, source, "safety")
    caps_raw = _mapping(raw.get("caps", {}) or {}, source, "safety.caps")
    _no_unknown_keys(caps_raw, {"per_run", "window", "deletions_per_run"}, source, "safety.caps")
    per_run = _mapping(caps_raw.get("per_run", {}) or {}, source, "safety.caps.per_run")
    _no_unknown_keys(per_run, {"max_actions", "max_percent"}, source, "safety.caps.per_run")
    window = _mapping(caps_raw.get("window", {}) or {}, source, "safety.caps.window")
    _no_unknown_keys(window, {"days", "max_actions", "max_percent"}, source, "safety.caps.window")
    default = Caps()
    caps = Caps(
        per_run_max=_opt_int(per_run, "max_actions", default.per_run_max, source, "safety.caps.per_run"),
        per_run_percent=_opt_pct(per_run, "max_percent", default.per_run_percent, source, "safety.caps.per_run"),
        window_days=_int(window.get("days", default.window_days), source, "safety.caps.window.days", minimum=1),
        window_max=_opt_int(window, "max_actions", default.window_max, source, "safety.caps.window"),
        window_percent=_opt_pct(window, "max_percent", default.window_percent, source, "safety.caps.window"),
        deletions_per_run=_opt_int(caps_raw, "deletions_per_run", default.deletions_per_run, source, "safety.caps"),
    )
    canary = _mapping(raw.get("canary", {}) or {}, source, "safety.canary")
    _no_unknown_keys(canary, {"size", "max_error_rate"}, source, "safety.canary")
    breaker = _mapping(raw.get("circuit_breaker", {}) or {}, source, "safety.circuit_breaker")
    _no_unknown_keys(breaker, {"consecutive_failures"}, source, "safety.circuit_breaker")
    approval = _mapping(raw.get("approval", {}) or {}, source, "safety.approval")
    _no_unknown_keys(approval, {"expires_hours", "deletions_need_approval"}, source, "safety.approval")
    rate = _decimal(canary.get("max_error_rate", "0.2"), source, "safety.canary.max_error_rate")
    if rate > 1:
        raise PolicyError(source, "safety.canary.max_error_rate", "must be a fraction between 0 and 1", rate)
    return Safety(
        caps=caps,
        canary_size=_int(canary.get("size", 5), source, "safety.canary.size", minimum=0),
        canary_max_error_rate=rate,
        breaker_failures=_int(
            breaker.get("consecutive_failures", 5), source, "safety.circuit_breaker.consecutive_failures", minimum=1
        ),
        approval_expires_hours=_int(
            approval.get("expires_hours", 72), source, "safety.approval.expires_hours", minimum=1
        ),
        deletions_need_approval=_bool(
            approval.get("deletions_need_approval", True), source, "safety.approval.deletions_need_approval"
        ),
        max_unknown_percent=_or_off(_opt_pct(raw, "max_unknown_percent", Decimal(5), source, "safety")),
    )


def _or_off(percent: Decimal | None) -> Decimal:
    """``None`` (null in YAML) switches a percentage guard off, i.e. 100 %."""
    return Decimal(100) if percent is None else percent


def _opt_int(raw: Mapping[str, Any], key: str, default: int | None, source: str, path: str) -> int | None:
    if key not in raw:
        return default
    value = raw[key]
    return None if value is None else _int(value, source, f"{path}.{key}", minimum=0)


def _opt_pct(raw: Mapping[str, Any], key: str, default: Decimal | None, source: str, path: str) -> Decimal | None:
    if key not in raw:
        return default
    value = raw[key]
    if value is None:
        return None
    pct = _decimal(value, source, f"{path}.{key}")
    if pct > 100:
        raise PolicyError(source, f"{path}.{key}", "must be a percentage between 0 and 100", value)
    return pct


def _decimal(value: object, source: str, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PolicyError(source, path, "must be a number", value)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PolicyError(source, path, "must be a number", value) from None
    if not number.is_finite() or number < 0:
        raise PolicyError(source, path, "must be a number >= 0", value)
    return number


def _bool(value: object, source: str, path: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(source, path, "must be true or false", value)
    return value


def _rule(item: object, source: str, path: str) -> Rule:
    raw = _mapping(item, source, path)
    _no_unknown_keys(raw, _RULE_KEYS, source, path)
    product = raw.get("product")
    if not isinstance(product, str) or not product.strip():
        raise PolicyError(source, f"{path}.product", "must be a product key or 'any'", product)
    product = product.strip()
    inactive = _int(raw.get("inactive_days"), source, f"{path}.inactive_days", minimum=1)
    action = _enum(Action, raw.get("action"), source, f"{path}.action")
    if product == ANY_PRODUCT and action is Action.REMOVE_PRODUCT_ACCESS:
        raise PolicyError(
            source, f"{path}.action", "remove_product_access needs a specific product, not 'any'", action.value
        )
    if product != ANY_PRODUCT and action is not Action.REMOVE_PRODUCT_ACCESS:
        raise PolicyError(
            source,
            f"{path}.action",
            f"{action.value} affects every product, so it needs product: any "
            f"(inactivity in one product must not lock someone out of the others)",
            action.value,
        )
    warn = _int(raw.get("warn_days_before", 14), source, f"{path}.warn_days_before", minimum=0)
    if warn >= inactive:
        raise PolicyError(source, f"{path}.warn_days_before", f"must be smaller than inactive_days ({inactive})", warn)
    delete_raw = raw.get("delete_after_days")
    delete = None if delete_raw is None else _int(delete_raw, source, f"{path}.delete_after_days", minimum=1)
    if delete is not None and product != ANY_PRODUCT:
        raise PolicyError(
            source,
            f"{path}.delete_after_days",
            "deleting an account needs an org-wide rule (product: any), not a single-product rule",
            delete,
        )
    name = raw.get("name", f"{product}-{inactive}d-{action.value}")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(source, f"{path}.name", "must be a non-empty string", name)
    return Rule(
        name=name.strip(),
        product=product,
        inactive_days=inactive,
        action=action,
        warn_days_before=warn,
        delete_after_days=delete,
    )


def _protection(data: object, source: str) -> Protection:
    raw = _mapping(data if data is not None else {}, source, "protected")
    _no_unknown_keys(raw, _PROTECTED_KEYS, source, "protected")
    accounts = _str_list(raw.get("accounts", []), source, "protected.accounts")
    groups = _str_list(raw.get("groups", []), source, "protected.groups")
    return Protection(
        accounts=frozenset(a.lower() if "@" in a else a for a in accounts),
        groups=frozenset(groups),
    )


def _prices(data: object, source: str) -> dict[str, Decimal]:
    raw = _mapping(data if data is not None else {}, source, "prices")
    prices: dict[str, Decimal] = {}
    for key, value in raw.items():
        path = f"prices.{key}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise PolicyError(source, path, "must be a number", value)
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise PolicyError(source, path, "must be a number", value) from None
        if not amount.is_finite() or amount < 0:
            raise PolicyError(source, path, "must be a number >= 0", value)
        prices[ProductKey(str(key))] = amount
    return prices


def _mapping(data: object, source: str, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PolicyError(source, path, "must be a mapping", type(data).__name__)
    for key in data:
        if not isinstance(key, str):
            raise PolicyError(source, path, "keys must be strings", key)
    return data


def _no_unknown_keys(data: Mapping[str, Any], allowed: set[str], source: str, path: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise PolicyError(source, where, f"unknown field (expected one of: {', '.join(sorted(allowed))})")


def _int(value: object, source: str, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(source, path, f"must be a whole number >= {minimum}", value)
    if value < minimum:
        raise PolicyError(source, path, f"must be a whole number >= {minimum}", value)
    return value


def _enum(cls: type[_E], value: object, source: str, path: str) -> _E:
    allowed = ", ".join(m.value for m in cls)
    if not isinstance(value, str):
        raise PolicyError(source, path, f"must be one of: {allowed}", value)
    try:
        return cls(value)
    except ValueError:
        raise PolicyError(source, path, f"must be one of: {allowed}", value) from None


def _str_list(value: object, source: str, path: str) -> Sequence[str]:
    if not isinstance(value, list):
        raise PolicyError(source, path, "must be a list of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise PolicyError(source, f"{path}[{i}]", "must be a non-empty string", item)
    return [str(v).strip() for v in value]
