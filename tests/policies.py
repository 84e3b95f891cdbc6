"""Policy pieces tests share."""

from __future__ import annotations

from typing import Any, Final

#: Jira access removed after 90 days unused.
JIRA_RULE: Final[dict[str, Any]] = {
    "name": "jira",
    "product": "jira-software",
    "inactive_days": 90,
    "action": "remove_product_access",
    "warn_days_before": 14,
}
#: Suspended after 180 days unused, deleted 30 days after that.
ORG_RULE: Final[dict[str, Any]] = {
    "name": "org",
    "product": "any",
    "inactive_days": 180,
    "action": "suspend",
    "warn_days_before": 14,
    "delete_after_days": 30,
}


def uncapped() -> dict[str, Any]:
    """``safety.caps`` with every cap lifted (per run, rolling window, deletions)."""
    return {
        "per_run": {"max_actions": None, "max_percent": None},
        "window": {"max_actions": None, "max_percent": None},
        "deletions_per_run": None,
    }
