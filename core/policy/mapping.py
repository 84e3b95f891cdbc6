"""A policy as plain data: the normalised form ``to_mapping`` returns and ``policy_hash`` is taken of.

The output parses back to an equal policy. Sets are sorted so equal policies give equal data; the
order of rules, auto-approve rules and delivery channels is kept because it means something.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.policy.model import Lifecycle, Policy, RestoreRules, Rule, Safety


def policy_mapping(policy: Policy) -> dict[str, Any]:
    """The normalised ``policy`` as plain data, in the policy file's shape (without ``version``)."""
    return {
        "mode": policy.mode.value,
        "rules": [_rule_mapping(r) for r in policy.rules],
        "protected": {
            "accounts": sorted(policy.protected.accounts),
            "groups": sorted(policy.protected.groups),
        },
        "new_account_grace_days": policy.new_account_grace_days,
        "last_active_lag_days": policy.last_active_lag_days,
        "prices": {k: str(v) for k, v in sorted(policy.prices.items())},
        "currency": policy.currency,
        "lifecycle": _lifecycle_mapping(policy.lifecycle),
        "safety": _safety_mapping(policy.safety),
        "restore": _restore_mapping(policy.restore),
        "audit": {"retention_days": policy.audit_retention_days},
    }


def _rule_mapping(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "product": rule.product,
        "inactive_days": rule.inactive_days,
        "action": rule.action.value,
        "warn_days_before": rule.warn_days_before,
        "delete_after_days": rule.delete_after_days,
    }


def _lifecycle_mapping(lc: Lifecycle) -> dict[str, Any]:
    from core.policy.model import KeepRules, Lifecycle  # the model module imports this one

    keep_default, lifecycle_default = KeepRules(), Lifecycle()
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
    # Keys added after policies were first hashed appear only when they differ from their default,
    # so the hash of a policy that does not use them stays what it was.
    if lc.keep.review_after != keep_default.review_after:
        data["keep"]["review_after"] = lc.keep.review_after
    if lc.keep.approval_after is not None:
        data["keep"]["approval_after"] = lc.keep.approval_after
    if lc.api_token_recheck_days != lifecycle_default.api_token_recheck_days:
        data["api_token_recheck_days"] = lc.api_token_recheck_days
    if lc.digest_cron is not None:
        data["digest"] = lc.digest_cron
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
