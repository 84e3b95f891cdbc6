"""Load a policy from a YAML file ("policy as code")."""

from __future__ import annotations

from pathlib import Path

import yaml

from core.errors import PolicyError
from core.policy import Policy, parse_policy


def load_policy_text(text: str, source: str) -> Policy:
    """Parse YAML ``text`` and validate it; errors name ``source``, the field and the value.

    YAML syntax errors are reported with their line and column.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise PolicyError(source, where, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(source, "", f"invalid YAML: {exc}") from None
    if data is None:
        raise PolicyError(source, "", "the file is empty")
    return parse_policy(data, source)


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate the policy at ``path``; raises :class:`PolicyError` when unreadable or invalid."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(file), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(file), "", f"cannot read the file: {exc}") from None
    return load_policy_text(text, str(file))
