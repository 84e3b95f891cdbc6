"""Reading a policy: validate plain data (e.g. parsed YAML) and report the first problem for people."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from core.errors import PolicyError
from core.policy.fields import PROBLEM
from core.policy.file import PolicyFile
from core.policy.model import Policy


def parse_policy(data: object, source: str = "policy") -> Policy:
    """Validate ``data`` (a mapping, e.g. parsed YAML) into a :class:`Policy`.

    Raises :class:`PolicyError` naming ``source``, the field path and the bad value of the first
    problem found, e.g. ``policy.yml: rules[1].inactive_days: must be a whole number >= 1 (got -5)``.
    Unknown keys are errors: a typo must not silently disable a rule.
    """
    try:
        return PolicyFile.model_validate(data).to_policy()
    except ValidationError as exc:
        raise policy_error(exc, source) from None


def policy_error(exc: ValidationError, source: str) -> PolicyError:
    """The first problem of ``exc`` as a :class:`PolicyError` of ``source``."""
    first = exc.errors(include_url=False)[0]
    ctx: dict[str, Any] = dict(first.get("ctx") or {})
    if first["type"] == PROBLEM:
        where, message, got = (*first["loc"], *ctx["at"]), ctx["message"], ctx["got"]
    else:  # a constraint the field's own check does not word (none is expected)
        where, message, got = first["loc"], first["msg"], first["input"]
    return PolicyError(source, field_path(where), message, got)


def field_path(loc: tuple[str | int, ...]) -> str:
    """``("rules", 1, "name")`` → ``rules[1].name``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file, for editors (``# yaml-language-server: $schema=...``)."""
    schema = PolicyFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
