"""The chat use cases, platform-neutral: commands, clicks, restore requests, admin fan-out."""

from core.chatops.keeps import KeepApprovals
from core.chatops.registry import Command, CommandError, CommandRegistry, Takes, Target, parse_target
from core.chatops.replies import AdminPoster, Admins, ClickResult, Reply, Respond
from core.chatops.service import ChatOps, EngineFactory, RunJob

__all__ = [
    "AdminPoster",
    "Admins",
    "ChatOps",
    "ClickResult",
    "Command",
    "CommandError",
    "CommandRegistry",
    "EngineFactory",
    "KeepApprovals",
    "Reply",
    "Respond",
    "RunJob",
    "Takes",
    "Target",
    "parse_target",
]
