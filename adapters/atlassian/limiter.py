"""One rate limiter per Atlassian org, shared by every caller that uses the org's API key.

Atlassian limits per org and key, not per process or coroutine, so all requests of one org go
through one :class:`OrgRateLimiter`:

* a token bucket (implemented as GCRA: each caller reserves the next free slot) paces requests
  to ``requests_per_second`` with a burst of ``burst``;
* :meth:`OrgRateLimiter.pause_until` (called when any request got a 429) makes *every* caller
  wait until the reset time, including callers already waiting for a slot.

Time comes from the injected ``clock`` and waiting from the injected ``sleep``, so tests drive it
with a fake clock and never really sleep. The limiter holds no ``asyncio`` primitives (reservation
is a synchronous step between awaits), so it is not bound to an event loop and may outlive one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, tz-aware UTC (the production clock)."""
    return datetime.now(UTC)


class OrgRateLimiter:
    """Token bucket plus shared 429 pause for one org.

    ``requests_per_second=None`` disables pacing; pauses still apply.
    """

    def __init__(
        self,
        org_id: str,
        *,
        requests_per_second: float | None = 5.0,
        burst: int = 10,
        clock: Now = utc_now,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive or None")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.org_id = org_id
        self._interval = 0.0 if requests_per_second is None else 1.0 / requests_per_second
        self._tolerance = self._interval * (burst - 1)
        self._clock = clock
        self._sleep = sleep
        # Slots and pauses are counted on a monotonic clock, so a wall-clock step (NTP, a VM resume)
        # never makes a caller wait an hour; the wall clock only converts a server's reset time.
        # With an injected (test) clock and no monotonic one, that clock serves as both.
        if monotonic is None:
            monotonic = time.monotonic if clock is utc_now else (lambda: clock().timestamp())
        self._monotonic = monotonic
        self._tat: float | None = None  # theoretical arrival time of the next request (monotonic seconds)
        self._paused_until: float | None = None  # monotonic seconds

    @property
    def paused_until(self) -> datetime | None:
        """When the current 429 pause ends, ``None`` when not paused."""
        if self._paused_until is None or self._paused_until <= self._now():
            return None
        return self._clock() + timedelta(seconds=self._paused_until - self._now())

    def _now(self) -> float:
        return self._monotonic()

    def _reserve(self, now: float) -> float:
        """Reserve the next slot for a caller arriving at ``now``; return how long it must wait."""
        start = now
        if self._paused_until is not None and self._paused_until > start:
            start = self._paused_until
        if self._interval:
            tat = max(self._tat if self._tat is not None else start, start)
            start = max(start, tat - self._tolerance)
            self._tat = tat + self._interval
        return start - now

    async def acquire(self) -> None:
        """Wait until this caller may send one request (a slot is free and no pause is active)."""
        while True:
            wait = self._reserve(self._now())
            if wait > 0:
                await self._sleep(wait)
            if self._paused_until is None or self._paused_until <= self._now():
                return
            # A 429 arrived while we waited for our slot: wait out the pause and queue again.

    def pause_until(self, until: datetime) -> None:
        """Hold every caller until ``until`` (tz-aware); an earlier pause never shortens a later one."""
        if until.tzinfo is None:
            raise ValueError("pause_until needs a tz-aware datetime")
        stamp = self._now() + max(0.0, (until - self._clock()).total_seconds())
        if self._paused_until is None or stamp > self._paused_until:
            self._paused_until = stamp


_REGISTRY: dict[str, OrgRateLimiter] = {}


def limiter_for(org_id: str, *, requests_per_second: float | None = 5.0, burst: int = 10) -> OrgRateLimiter:
    """The process-wide limiter of ``org_id`` (real clock and ``asyncio.sleep``), created on first use.

    Later calls return the same object and ignore the rate arguments. Tests that inject a fake
    clock build their own ``OrgRateLimiter`` instead of using the registry.
    """
    limiter = _REGISTRY.get(org_id)
    if limiter is None:
        limiter = _REGISTRY[org_id] = OrgRateLimiter(org_id, requests_per_second=requests_per_second, burst=burst)
    return limiter
