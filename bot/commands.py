"""The ``/jira-cleanup`` command grammar, shared by Slack, Teams and the CLI-like chat surfaces.

    help | preview | run | status | pause [reason…] | resume | report | policy
    restore <email|account-id> | protect <email|account-id|group:NAME> | unprotect <…>

Parsing is pure: text in, :class:`Command` or :class:`CommandError` (with usage) out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USAGE = {
    "help": "help — this list",
    "preview": "preview — dry-run scan: summary and CSV",
    "run": "run — scan and act per the policy (asks to confirm)",
    "status": "status — recent runs, open warnings, approvals, kill switch",
    "pause": "pause [reason] — kill switch: stop all changes now",
    "resume": "resume — lift the kill switch",
    "restore": "restore <email|account-id> — undo what jira-cleanup did to an account",
    "protect": "protect <email|account-id|group:NAME> — never select this account or group",
    "unprotect": "unprotect <email|account-id|group:NAME> — remove a protection",
    "report": "report — seats and money saved per product",
    "policy": "policy — show the effective policy",
}
_TAKES_ARGUMENT = {"restore", "protect", "unprotect"}
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SLACK_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


class CommandError(ValueError):
    """The text is not a valid command; ``str()`` says why and shows the usage."""


@dataclass(frozen=True, slots=True)
class Target:
    """What restore/protect/unprotect point at."""

    kind: str  # email | account | group
    value: str


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command."""

    name: str
    target: Target | None = None
    reason: str = ""


def help_text() -> str:
    """The usage of every command, one per line."""
    return "\n".join(f"• /jira-cleanup {line}" for line in USAGE.values())


def parse_target(raw: str) -> Target:
    """An email (Slack may wrap it as ``<mailto:…|…>``), ``group:NAME`` or an account id."""
    value = raw.strip()
    mailto = _SLACK_MAILTO.match(value)
    if mailto:
        value = mailto.group(1)
    if value.lower().startswith("group:"):
        name = value[len("group:") :].strip()
        if not name:
            raise CommandError("group: needs a group name, e.g. group:contractors")
        return Target("group", name)
    if "@" in value:
        if not _EMAIL.match(value):
            raise CommandError(f"{value!r} is not a valid email address")
        return Target("email", value.lower())
    if not re.fullmatch(r"[A-Za-z0-9:_-]{6,128}", value):
        raise CommandError(f"{value!r} is neither an email address, group:NAME nor an Atlassian account id")
    return Target("account", value)


def parse(text: str) -> Command:
    """Parse the text after ``/jira-cleanup``. Empty text means ``help``."""
    words = text.strip().split()
    if not words:
        return Command("help")
    name = words[0].lower()
    rest = words[1:]
    if name not in USAGE:
        raise CommandError(f"unknown command {words[0]!r}. Commands:\n{help_text()}")
    if name in _TAKES_ARGUMENT:
        if len(rest) != 1:
            raise CommandError(f"usage: /jira-cleanup {USAGE[name]}")
        return Command(name, target=parse_target(rest[0]))
    if name == "pause":
        return Command(name, reason=" ".join(rest))
    if rest:
        raise CommandError(f"{name} takes no arguments. Usage: /jira-cleanup {USAGE[name]}")
    return Command(name)
