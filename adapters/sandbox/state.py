"""Runtime configuration, request log and rate limiter of a sandbox app."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from .faults import FaultSchedule
from .jsm_state import JsmSite
from .org import SandboxOrg
from .wire import iso_s

MUTATING_METHODS = frozenset({"POST", "DELETE", "PUT", "PATCH"})


def utc_now() -> datetime:
    """Default clock: the current tz-aware UTC time."""
    return datetime.now(UTC)


@dataclass(slots=True)
class SandboxConfig:
    """Knobs of a sandbox server.

    * ``api_key``: the only accepted ``Authorization: Bearer`` token.
    * ``latency_ms``: artificial delay added before every handler (0: none).
    * ``requests_per_minute``: fixed one-minute window (aligned to the
      clock's minute) per server; once exceeded, requests get 429 until the
      window rolls over.  None disables limiting.  May be changed at runtime.
    * ``send_retry_after``: also send ``Retry-After`` (whole seconds) on 429s.
    * ``faults``: the :class:`FaultSchedule`, mutable at runtime.
    * ``now``: tz-aware clock used for the rate-limit window, the
      ``X-RateLimit-Reset`` header and lifecycle timestamps.
    * ``control_api``: serve the test-only ``/_sandbox/*`` routes (request
      log, raw user state; see :mod:`.control`).  Off by default.
    * ``jsm_email`` / ``jsm_api_token``: the site user whose Basic auth the
      JSM routes (``/rest/servicedeskapi/*``) accept; nothing else is.
    """

    api_key: str = "sandbox-key"
    latency_ms: float = 0
    requests_per_minute: int | None = None
    send_retry_after: bool = False
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    now: Callable[[], datetime] = utc_now
    control_api: bool = False
    jsm_email: str = "agent@acme.example"
    jsm_api_token: str = "jsm-api-token"  # noqa: S105 (the simulator's own test credential)


@dataclass(slots=True)
class RequestRecord:
    """One logged request.

    ``query`` maps each parameter to all its values; ``body`` is the parsed
    JSON body (None when absent or not JSON); ``status`` is None when the
    connection was reset; ``fault`` is the injected fault kind, if any.
    """

    seq: int
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int | None = None
    fault: str | None = None

    @property
    def is_mutating(self) -> bool:
        """True for write methods, except the read-only ``users/search`` POST."""
        if self.method not in MUTATING_METHODS:
            return False
        return not (self.method == "POST" and self.path.endswith("/users/search"))


class RateLimiter:
    """Fixed-window limiter driven by an injected clock."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.window: datetime | None = None
        self.count = 0

    def _roll(self) -> tuple[datetime, datetime]:
        now = self.clock().astimezone(UTC)
        window = now.replace(second=0, microsecond=0)
        if window != self.window:
            self.window, self.count = window, 0
        return now, window + timedelta(minutes=1)

    def acquire(self, limit: int) -> tuple[bool, dict[str, str], int]:
        """Take one of ``limit`` slots in the current window.

        Returns (allowed, ``X-RateLimit-*`` headers, seconds until reset).
        Refused requests do not consume a slot.
        """
        now, reset = self._roll()
        allowed = self.count < limit
        if allowed:
            self.count += 1
        retry = max(1, math.ceil((reset - now).total_seconds()))
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - self.count)),
            "X-RateLimit-Reset": iso_s(reset) or "",
        }
        return allowed, headers, retry


@dataclass(slots=True)
class SandboxState:
    """Everything a running app shares: org, config, log and limiter."""

    org: SandboxOrg
    config: SandboxConfig
    log: list[RequestRecord] = field(default_factory=list)
    jsm: JsmSite = field(default_factory=JsmSite)
    limiter: RateLimiter = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(lambda: self.config.now())

    def next_seq(self) -> int:
        """Monotonic request sequence number (never reset)."""
        self.seq += 1
        return self.seq

    def mutating_requests(self) -> list[RequestRecord]:
        """Logged write requests (every attempt, including refused/faulted)."""
        return [r for r in self.log if r.is_mutating]


STATE_KEY = web.AppKey("sandbox_state", SandboxState)
