"""The domain core of jira-cleanup: model, policy, pure planner, ports, use cases, errors.

It imports no SDK. Adapters implement :mod:`core.ports`; the bot wires them together.
"""

from core.errors import (
    AccountNotFound,
    AuthenticationFailed,
    CleanupError,
    DirectoryError,
    DirectoryUnavailable,
    NotManageable,
    PolicyError,
    RateLimited,
    StoreError,
)
from core.model import (
    Account,
    AccountId,
    AccountStatus,
    AccountType,
    Claim,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    Org,
    OrgId,
    ProductAccess,
    ProductKey,
)
from core.planner import Decision, Plan, PlanBuilder, PlanSummary, SkipReason, Verdict, decide, plan
from core.policy import Action, Mode, Policy, Rule, parse_policy

__all__ = [
    "Account",
    "AccountId",
    "AccountNotFound",
    "AccountStatus",
    "AccountType",
    "Action",
    "AuthenticationFailed",
    "Claim",
    "CleanupError",
    "Decision",
    "DirectoryError",
    "DirectoryUnavailable",
    "Group",
    "GroupId",
    "ManagementSource",
    "MembershipStatus",
    "Mode",
    "NotManageable",
    "Org",
    "OrgId",
    "Plan",
    "PlanBuilder",
    "PlanSummary",
    "Policy",
    "PolicyError",
    "ProductAccess",
    "ProductKey",
    "RateLimited",
    "Rule",
    "SkipReason",
    "StoreError",
    "Verdict",
    "decide",
    "parse_policy",
    "plan",
]
