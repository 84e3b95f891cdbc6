"""The ``/jira-cleanup`` command grammar, read from the one registry in :mod:`core.chatops`.

help | preview | run | status | pause [reason…] | resume | report | policy
restore <email|account-id> | protect <email|account-id|group:NAME> | unprotect <…>
"""

from __future__ import annotations

from core.chatops.commands import COMMANDS
from core.chatops.registry import Command, CommandError, Target, parse_target

__all__ = ["USAGE", "Command", "CommandError", "Target", "help_text", "parse", "parse_target"]

#: Name → usage line of every command, in help order.
USAGE = COMMANDS.usage()


def help_text() -> str:
    """The usage of every command, one per line."""
    return COMMANDS.help_text()


def parse(text: str) -> Command:
    """Parse the text after ``/jira-cleanup``. Empty text means ``help``."""
    return COMMANDS.parse(text)
