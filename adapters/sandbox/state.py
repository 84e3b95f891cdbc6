"""Runtime configuration, request log and rate limiter of a sandbox app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .faults import FaultSchedule
from .jsm_state import JsmSite
from .org import SandboxOrg
from .ratelimit import KeyRateLimiter, Limit

MUTATING_METHODS = frozenset({"POST", "DELETE", "PUT", "PATCH"})


def utc_now() -> datetime:
    """Default clock: the current tz-aware UTC time."""
    return datetime.now(UTC)


@dataclass(slots=True)
class SandboxConfig:
    """Knobs of a sandbox server.

    * ``api_key``: the accepted ``Authorization: Bearer`` token.
    * ``other_api_keys``: further accepted tokens (other keys of the same
      org); each key has rate-limit windows of its own.
    * ``latency_ms``: artificial delay added before every handler (0: none).
    * ``requests_per_minute``: fixed one-minute window (aligned to the
      clock's minute) per API key; once exceeded, that key's requests get 429
      until the window rolls over.  None: no such window.  May be changed at
      runtime.
    * ``requests_per_second``: the same with one-second windows (aligned to
      the clock's second), for benchmarks that want a steady rate rather than
      a minute's budget.  Both may be set; a request must fit in both.  With
      either set, every response (admitted, refused, faulted, 401, handler
      errors) carries ``X-RateLimit-Limit/Remaining/Reset`` for its key (see
      :mod:`.ratelimit`); with neither, only injected 429 faults do.
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
    other_api_keys: tuple[str, ...] = ()
    latency_ms: float = 0
    requests_per_minute: int | None = None
    requests_per_second: int | None = None
    send_retry_after: bool = False
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    now: Callable[[], datetime] = utc_now
    control_api: bool = False
    jsm_email: str = "agent@acme.example"
    jsm_api_token: str = "jsm-api-token"  # noqa: S105 (the simulator's own test credential)

    def rate_limits(self) -> list[Limit]:
        """The configured windows as ``(requests, seconds)``; empty when the server does not limit."""
        limits: list[Limit] = []
        if self.requests_per_second is not None:
            limits.append((self.requests_per_second, 1))
        if self.requests_per_minute is not None:
            limits.append((self.requests_per_minute, 60))
        return limits


@dataclass(slots=True)
class RequestRecord:
    """One logged request.

    ``query`` maps each parameter to all its values; ``body`` is the parsed
    JSON body (None when absent or not JSON); ``status`` is None when the
    connection was reset; ``fault`` is the injected fault kind, if any;
    ``at`` is the server clock (``SandboxConfig.now``) when it arrived.
    """

    seq: int
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int | None = None
    fault: str | None = None
    at: datetime | None = None

    @property
    def is_mutating(self) -> bool:
        """True for write methods, except the read-only ``users/search`` POST."""
        if self.method not in MUTATING_METHODS:
            return False
        return not (self.method == "POST" and self.path.endswith("/users/search"))


@dataclass(slots=True)
class SandboxState:
    """Everything a running app shares: org, config, log and limiter."""

    org: SandboxOrg
    config: SandboxConfig
    log: list[RequestRecord] = field(default_factory=list)
    jsm: JsmSite = field(default_factory=JsmSite)
    limiter: KeyRateLimiter = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.limiter = KeyRateLimiter(lambda: self.config.now())

    def next_seq(self) -> int:
        """Monotonic request sequence number (never reset)."""
        self.seq += 1
        return self.seq

    def mutating_requests(self) -> list[RequestRecord]:
        """Logged write requests (every attempt, including refused/faulted)."""
        return [r for r in self.log if r.is_mutating]


STATE_KEY = web.AppKey("sandbox_state", SandboxState)
