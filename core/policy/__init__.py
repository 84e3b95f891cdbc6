"""Cleanup policy ("policy as code").

- :mod:`core.policy.model`: the policy as the rest of the code sees it, frozen values with their defaults;
- :mod:`core.policy.file`: the policy file as pydantic models, every key with its constraint and description;
- :mod:`core.policy.fields`: the field types the file is made of, and the wording of their errors;
- :mod:`core.policy.parse`: validating plain data into a policy, and the file's JSON Schema;
- :mod:`core.policy.mapping`: a policy back as plain data (what ``policy_hash`` is taken of).

pydantic is used here, and only here in core: it is a modelling library, not an SDK.
"""

from core.policy.model import (
    ANY_PRODUCT,
    AUDIT_RETENTION_FLOOR_DAYS,
    DEFAULT_ACCESS_GROUPS,
    DELIVERY_CHANNELS,
    RESTORE_SOURCES,
    Action,
    AutoApprove,
    Caps,
    KeepRules,
    Lifecycle,
    Mode,
    Policy,
    Protection,
    RestoreRules,
    Rule,
    Safety,
)
from core.policy.parse import parse_policy, policy_json_schema

__all__ = [
    "ANY_PRODUCT",
    "AUDIT_RETENTION_FLOOR_DAYS",
    "DEFAULT_ACCESS_GROUPS",
    "DELIVERY_CHANNELS",
    "RESTORE_SOURCES",
    "Action",
    "AutoApprove",
    "Caps",
    "KeepRules",
    "Lifecycle",
    "Mode",
    "Policy",
    "Protection",
    "RestoreRules",
    "Rule",
    "Safety",
    "parse_policy",
    "policy_json_schema",
]
