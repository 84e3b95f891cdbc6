"""Policy pieces tests share."""

from __future__ import annotations

from typing import Any


def uncapped() -> dict[str, Any]:
    """``safety.caps`` with every cap lifted (per run, rolling window, deletions)."""
    return {
        "per_run": {"max_actions": None, "max_percent": None},
        "window": {"max_actions": None, "max_percent": None},
        "deletions_per_run": None,
    }
