"""What the chaos test and its worker process share: the policy, the rule and the client settings."""

from __future__ import annotations

from core.policy import Policy
from tests.loopback_world import API_KEY, directory_config, suspend_policy

__all__ = ["API_KEY", "POLICY", "RULE", "directory_config"]

RULE = "chaos-idle"

#: One org-wide suspend rule, every rail that could hold or stop the run switched off.
POLICY: Policy = suspend_policy(RULE, "chaos policy")
