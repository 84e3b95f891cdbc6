"""Loopback simulator of the Atlassian Cloud Admin and User management APIs.

Speaks Atlassian's JSON over HTTP (aiohttp) from an in-memory, seeded org, so
that our client is tested against the wire contract rather than against
itself.  Imports nothing from the rest of the project.
"""

from .faults import Fault, FaultKind, FaultSchedule
from .generate import Mix, generate_org
from .org import Group, Product, SandboxOrg, User
from .server import SandboxServer, build_app, serve
from .state import STATE_KEY, RequestRecord, SandboxConfig, SandboxState

__all__ = [
    "STATE_KEY",
    "Fault",
    "FaultKind",
    "FaultSchedule",
    "Group",
    "Mix",
    "Product",
    "RequestRecord",
    "SandboxConfig",
    "SandboxOrg",
    "SandboxServer",
    "SandboxState",
    "User",
    "build_app",
    "generate_org",
    "serve",
]
