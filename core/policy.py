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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from core.errors import PolicyError
from core.model import ProductKey

ANY_PRODUCT = "any"
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
        }

    @property
    def policy_hash(self) -> str:
        """SHA-256 of the canonical normalised policy; equal policies hash equal."""
        canonical = json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


_TOP_KEYS = {
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
    )


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
