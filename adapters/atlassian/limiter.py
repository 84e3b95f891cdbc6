"""One rate limiter per Atlassian org, shared by every caller that uses the org's API key.

Atlassian limits per org and key, not per process or coroutine, so all requests of one org go
through one :class:`OrgRateLimiter`. It paces from what the API itself says:

* a token bucket (implemented as GCRA: each caller reserves the next free slot) with a burst of
  ``burst``, at the slowest of these rates: the optional ceiling ``requests_per_second``
  (ATLASSIAN_REQUESTS_PER_SECOND); the rate the server's ``X-RateLimit-Remaining`` /
  ``X-RateLimit-Reset`` leave once few requests remain in its window (:meth:`observe`: the rest
  is spread over the time left, so the window is used up without a 429); and, after a 429, a
  rate halved from what was being sent and probed back up by 5 % with every success (AIMD);
* :meth:`OrgRateLimiter.pause_until` (called when any request got a 429, and when the server
  says nothing remains) makes *every* caller wait until the reset time, including callers
  already waiting for a slot.

Without headers, a 429 or a ceiling, requests are not paced at all.

Time comes from the injected ``clock`` and waiting from the injected ``sleep``, so tests drive it
with a fake clock and never really sleep. The limiter holds no ``asyncio`` primitives (reservation
is a synchronous step between awaits), so it is not bound to an event loop and may outlive one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, tz-aware UTC (the production clock)."""
    return datetime.now(UTC)


#: When the server says this share of its window (or fewer than 2 requests) remains, spread the rest.
LOW_REMAINING = 0.1
#: After a 429 the rate grows by this factor with each success until it is no longer needed.
PROBE_UP = 1.05


class OrgRateLimiter:
    """Token bucket at the slowest of a ceiling, the server's window and an AIMD rate, plus a shared pause.

    ``requests_per_second=None``: no ceiling (the server's headers and 429s still pace).
    """

    def __init__(
        self,
        org_id: str,
        *,
        requests_per_second: float | None = None,
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
        self._burst = burst
        self._ceiling = self._interval
        self._window: tuple[float, float] | None = None  # (interval spreading the window's rest, until)
        self._aimd: float | None = None  # requests/s after a 429, probed back up; None: not limiting
        self._sent: deque[float] = deque(maxlen=64)  # recent reservation times, for the rate being sent
        self._in_flight = 0  # requests sent whose response has not been seen
        self._budget: tuple[int, float] | None = None  # (requests the window still allows, until when)

    @property
    def paused_until(self) -> datetime | None:
        """When the current 429 pause ends, ``None`` when not paused."""
        if self._paused_until is None or self._paused_until <= self._now():
            return None
        return self._clock() + timedelta(seconds=self._paused_until - self._now())

    def _now(self) -> float:
        return self._monotonic()

    def _current(self, now: float) -> float:
        """The interval between requests right now: the slowest of ceiling, window and AIMD (0: unpaced)."""
        interval = self._ceiling
        if self._window is not None:
            if now < self._window[1]:
                interval = max(interval, self._window[0])
            else:
                self._window = None
        if self._aimd is not None:
            interval = max(interval, 1.0 / self._aimd)
        return interval

    def _spend(self, start: float) -> float:
        """Take one request from the server's window; when it has none left, start at its reset."""
        if self._budget is None:
            return start
        left, until = self._budget
        if start >= until:
            self._budget = None  # a new window: the next response says how much it allows
            return start
        if left <= 0:
            self._budget = None
            return until
        self._budget = (left - 1, until)
        return start

    @property
    def rate(self) -> float | None:
        """Requests per second allowed right now (None: not paced)."""
        interval = self._current(self._now())
        return 1.0 / interval if interval else None

    def _reserve(self, now: float) -> float:
        """Reserve the next slot for a caller arriving at ``now``; return how long it must wait."""
        start = now
        if self._paused_until is not None and self._paused_until > start:
            start = self._paused_until
        start = self._spend(start)
        self._interval = self._current(now)
        self._tolerance = self._interval * (self._burst - 1)
        if self._window is not None or self._aimd is not None:
            self._tolerance = 0.0  # spreading a scarce window: no bursts
        self._sent.append(start)
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
                self._in_flight += 1
                return
            # A 429 arrived while we waited for our slot: wait out the pause and queue again.

    def observe(self, limit: int | None, remaining: int | None, reset: datetime | None) -> None:
        """What a response's ``X-RateLimit-*`` headers said (any of them may be missing).

        Nothing remains: everyone waits for the reset. Few remain: the rest is spread over the
        time left until the reset. Otherwise the window does not pace.
        """
        if remaining is None or reset is None:
            return
        if reset.tzinfo is None:
            raise ValueError("observe needs a tz-aware reset time")
        left = (reset - self._clock()).total_seconds()
        if left <= 0:
            return
        remaining -= max(0, self._in_flight - 1)  # requests already on their way count against the window
        self._budget = (remaining, self._now() + left)
        if remaining <= 0:
            return
        low = max(2.0, (limit or 0) * LOW_REMAINING)
        if remaining <= low:
            self._window = (left / remaining, self._now() + left)

    def finished(self) -> None:
        """One request sent after :meth:`acquire` got its answer (or failed): it no longer counts as in flight."""
        self._in_flight = max(0, self._in_flight - 1)

    def throttled(self) -> None:
        """A 429: halve the rate being sent (multiplicative decrease); successes probe it back up."""
        now = self._now()
        sent = [t for t in self._sent if t > now - 5.0]
        if len(sent) >= 2 and sent[-1] > sent[0]:
            current = (len(sent) - 1) / (sent[-1] - sent[0])
        else:
            current = 1.0 / self._interval if self._interval else 10.0
        self._aimd = max(0.2, min(current, self._aimd or current) / 2)

    def succeeded(self) -> None:
        """A request went through: probe the rate up after a 429, until it no longer limits."""
        if self._aimd is None:
            return
        self._aimd *= PROBE_UP
        if self._aimd > 1000 or (self._ceiling and self._aimd >= 1.0 / self._ceiling):
            self._aimd = None

    def pause_until(self, until: datetime) -> None:
        """Hold every caller until ``until`` (tz-aware); an earlier pause never shortens a later one."""
        if until.tzinfo is None:
            raise ValueError("pause_until needs a tz-aware datetime")
        stamp = self._now() + max(0.0, (until - self._clock()).total_seconds())
        if self._paused_until is None or stamp > self._paused_until:
            self._paused_until = stamp


_REGISTRY: dict[str, OrgRateLimiter] = {}


def limiter_for(org_id: str, *, requests_per_second: float | None = None, burst: int = 10) -> OrgRateLimiter:
    """The process-wide limiter of ``org_id`` (real clock and ``asyncio.sleep``), created on first use.

    Later calls return the same object and ignore the rate arguments. Tests that inject a fake
    clock build their own ``OrgRateLimiter`` instead of using the registry.
    """
    limiter = _REGISTRY.get(org_id)
    if limiter is None:
        limiter = _REGISTRY[org_id] = OrgRateLimiter(org_id, requests_per_second=requests_per_second, burst=burst)
    return limiter
