"""What the replica test and its replica processes share: the policy and the client settings."""

from __future__ import annotations

from adapters.atlassian import AtlassianConfig
from core.policy import Policy, parse_policy

#: The sandbox's default API key (``tests.chaos.sandbox_proc`` serves with it).
API_KEY = "sandbox-key"
RULE = "replica-idle"

#: One org-wide suspend rule; every rail that could hold or stop the run switched off.
POLICY: Policy = parse_policy(
    {
        "mode": "enforce",
        "new_account_grace_days": 0,
        "last_active_lag_days": 0,
        "rules": [{"name": RULE, "product": "any", "inactive_days": 1, "action": "suspend", "warn_days_before": 0}],
        "safety": {
            "caps": {
                "per_run": {"max_actions": None, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
                "deletions_per_run": None,
            },
            "canary": {"size": 0},
            "circuit_breaker": {"consecutive_failures": 1_000_000},
        },
    },
    source="replica policy",
)


def directory_config(base_url: str, org_id: str) -> AtlassianConfig:
    """The real client against the sandbox: no client-side rate limit, short waits."""
    return AtlassianConfig(
        org_id=org_id,
        api_key=API_KEY,
        base_url=base_url,
        requests_per_second=None,
        timeout=30.0,
        backoff_base=0.1,
        backoff_cap=1.0,
    )
