"""The ``/jira-cleanup`` command grammar and the one registry every surface renders from.

Handlers register with ``@COMMANDS.command(name, usage=…)``; Slack, Teams, the Teams manifest
check and the help text all read the same registry, so a command exists in exactly one place.
Parsing is pure: text in, :class:`Command` or :class:`CommandError` (with usage) out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from core.chat import Actor
from core.chatops.replies import Reply, Respond

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SLACK_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


class CommandError(ValueError):
    """The text is not a valid command; ``str()`` says why and shows the usage."""


class Takes(StrEnum):
    """What a command accepts after its name."""

    NOTHING = "nothing"
    TARGET = "target"  # one email, account id or group:NAME
    REASON = "reason"  # free text


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


Handler = Callable[[Any, Actor, Command, Respond], Awaitable[Reply]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One registered command: its name, usage line, argument kind and handler."""

    name: str
    usage: str
    takes: Takes
    handler: Handler


class CommandRegistry:
    """Commands in registration order; the single source of names, usage and handlers."""

    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}

    def command(self, name: str, *, usage: str, takes: Takes = Takes.NOTHING) -> Callable[[H], H]:
        """Register the decorated handler as ``/jira-cleanup name``."""

        def register(handler: H) -> H:
            if name in self._specs:
                raise ValueError(f"command {name!r} registered twice")
            self._specs[name] = CommandSpec(name, f"{name} {usage}", takes, handler)
            return handler

        return register

    def names(self) -> tuple[str, ...]:
        """Every command name, in help order."""
        return tuple(self._specs)

    def usage(self) -> dict[str, str]:
        """Name → usage line."""
        return {name: spec.usage for name, spec in self._specs.items()}

    def spec(self, name: str) -> CommandSpec:
        """The registered command ``name`` (KeyError when there is none)."""
        return self._specs[name]

    def help_text(self) -> str:
        """The usage of every command, one per line."""
        return "\n".join(f"• /jira-cleanup {spec.usage}" for spec in self._specs.values())

    def parse(self, text: str) -> Command:
        """Parse the text after ``/jira-cleanup``. Empty text means ``help``."""
        words = text.strip().split()
        if not words:
            return Command("help")
        name, rest = words[0].lower(), words[1:]
        spec = self._specs.get(name)
        if spec is None:
            raise CommandError(f"unknown command {words[0]!r}. Commands:\n{self.help_text()}")
        if spec.takes is Takes.TARGET:
            if len(rest) != 1:
                raise CommandError(f"usage: /jira-cleanup {spec.usage}")
            return Command(name, target=parse_target(rest[0]))
        if spec.takes is Takes.REASON:
            return Command(name, reason=" ".join(rest))
        if rest:
            raise CommandError(f"{name} takes no arguments. Usage: /jira-cleanup {spec.usage}")
        return Command(name)


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
