"""One rate limiter per Atlassian org, shared by every caller that uses the org's API key.

Atlassian limits per org and key, not per process or coroutine, so all requests of one org go
through one :class:`OrgRateLimiter`. It paces from what the API itself says about its limit:

* **the server's window** (:meth:`OrgRateLimiter.observe`, fed from every response's
  ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset``): the allowed rate is the requests that
  remain (less those already on their way) spread over the time left until the reset, the last
  of them one gap ahead of it. Each request is taken from the window when it is sent, so callers
  never send more than the server said remain, whatever their number or the slots they reserved
  before the answer came: when none remain, every caller waits for the reset. A new window is
  then assumed to allow ``X-RateLimit-Limit`` until its first answer says more;
* **a 429** (:meth:`throttled`): the rate being sent is halved, and each success then raises it by
  5 % until it no longer binds (AIMD); :meth:`pause_until` holds every caller, including those
  already waiting for a slot, until the time the server asked for (``Retry-After``, else its reset,
  else the retry backoff; the transport decides);
* **an optional ceiling** ``requests_per_second`` (ATLASSIAN_REQUESTS_PER_SECOND) caps all of it;
* **before the server has said anything**, ``start_rate`` requests a second (the production
  registry :func:`limiter_for` starts at :data:`START_RATE`, or at the ceiling when one is set). It
  gives way to the server's own rate on the first response that carries the headers; while the
  responses carry none, each success raises it by half until it no longer paces at all. A
  limiter built with ``start_rate=None`` (the constructor's default, used by tests) does not pace
  until the server speaks.

These rates are combined as the slowest of them and enforced with a token bucket implemented as
GCRA (each caller reserves the next free slot; a pause starts the slots over at its end). The
bucket lets ``burst`` requests through at once, but never more than a tenth of what the server's
window still allows, none before the server has spoken and none after a 429.

Time comes from the injected ``clock`` and waiting from the injected ``sleep``, so tests drive it
with a fake clock and never really sleep. The limiter holds no ``asyncio`` primitives (reservation
is a synchronous step between awaits), so it is not bound to an event loop and may outlive one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, tz-aware UTC (the production clock)."""
    return datetime.now(UTC)


#: Requests a second before the server's headers have said anything (no ceiling configured).
START_RATE = 10.0
#: While responses carry no rate-limit headers, each success raises the start rate by this factor.
START_GROWTH = 1.5
#: After a 429 the rate grows by this factor with each success until it no longer binds.
PROBE_UP = 1.05
#: The slowest rate a 429 can bring the limiter down to (requests a second).
FLOOR_RATE = 0.2
#: Above this many requests a second a rate no longer paces anything.
UNPACED_RATE = 1000.0
#: A reset further away than this (seconds) is not believed: the headers are ignored.
MAX_RESET_HORIZON = 3600.0
#: The bucket's burst never exceeds this share of the requests the server's window still allows.
BURST_SHARE = 0.1
#: Seconds everyone waits when a window begun at a reset (no answer has described it yet) is used up.
UNDESCRIBED_WAIT = 0.05


@dataclass(slots=True)
class _Window:
    """What the server last said about its window, on the limiter's monotonic clock."""

    reset: datetime | None  # as the server sent it; None: begun at a reset, not yet described
    until: float  # the reset in monotonic seconds (``math.inf`` while not yet described)
    left: int  # requests this limiter may still send in the window
    interval: float  # seconds between requests that spread ``left`` over the time remaining
    limit: int | None  # the server's X-RateLimit-Limit, what a new window is assumed to allow


class OrgRateLimiter:
    """The org's pace: the slowest of its server's window, an AIMD rate after 429s and a ceiling.

    ``requests_per_second``: optional ceiling (``None``: none). ``start_rate``: requests a second
    before the server's headers arrive (``None``: unpaced until then; ignored under a ceiling,
    which is the start rate then). ``burst``: requests the bucket lets through at once.
    """

    def __init__(
        self,
        org_id: str,
        *,
        requests_per_second: float | None = None,
        burst: int = 10,
        start_rate: float | None = None,
        clock: Now = utc_now,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        for name, value in (("requests_per_second", requests_per_second), ("start_rate", start_rate)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number or None (got {value!r})")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.org_id = org_id
        self._clock = clock
        self._sleep = sleep
        # Slots and pauses are counted on a monotonic clock, so a wall-clock step (NTP, a VM resume)
        # never makes a caller wait an hour; the wall clock only converts a server's reset time.
        # With an injected (test) clock and no monotonic one, that clock serves as both.
        if monotonic is None:
            monotonic = time.monotonic if clock is utc_now else (lambda: clock().timestamp())
        self._monotonic = monotonic
        self._burst = burst
        self._ceiling = 0.0 if requests_per_second is None else 1.0 / requests_per_second
        self._start = 0.0 if start_rate is None or requests_per_second is not None else 1.0 / start_rate
        self._window: _Window | None = None
        self._aimd: float | None = None  # requests/s after a 429, probed back up; None: not binding
        self._tat: float | None = None  # theoretical arrival time of the next request (monotonic seconds)
        self._paused_until: float | None = None  # monotonic seconds
        self._sent: deque[float] = deque(maxlen=64)  # when recent requests went out, for the rate sent
        self._in_flight = 0  # requests sent whose response has not been seen

    @property
    def paused_until(self) -> datetime | None:
        """When the current pause (after a 429, or until a used-up window resets) ends; ``None``: none."""
        if self._paused_until is None or self._paused_until <= self._now():
            return None
        return self._clock() + timedelta(seconds=self._paused_until - self._now())

    @property
    def rate(self) -> float | None:
        """Requests per second allowed right now (``None``: not paced)."""
        interval = self._interval(self._now())
        return 1.0 / interval if interval else None

    def _now(self) -> float:
        return self._monotonic()

    def _live_window(self, now: float) -> _Window | None:
        """The server's window; once its reset has passed, a new one allowing ``limit`` (if known)."""
        window = self._window
        if window is not None and now >= window.until:
            window = self._window = (
                None if window.limit is None else _Window(None, math.inf, window.limit, 0.0, window.limit)
            )
        return window

    def _interval(self, now: float, *, aimd: bool = True) -> float:
        """Seconds between requests right now: the slowest of every rate that applies (0: unpaced)."""
        interval = max(self._ceiling, self._start)
        window = self._live_window(now)
        if window is not None:
            interval = max(interval, window.interval)
        if aimd and self._aimd is not None:
            interval = max(interval, 1.0 / self._aimd)
        return interval

    def _admit(self, now: float) -> bool:
        """At a caller's slot: may it send now? Takes one request of the server's window if so.

        Not while a pause lasts. When the window has none left, everyone is held until its reset
        (or, for a window not yet described, briefly, while an answer in flight may describe it).
        """
        if self._paused_until is not None and self._paused_until > now:
            return False
        window = self._live_window(now)
        if window is not None and window.left <= 0:
            if window.until < math.inf:
                self._hold(window.until)
                return False
            if self._in_flight:
                self._hold(now + UNDESCRIBED_WAIT)  # an answer on its way may describe the window
                return False
            window = self._window = None  # nothing can describe it: unpaced until an answer does
        if window is not None:
            window.left -= 1
        self._sent.append(now)
        self._in_flight += 1
        return True

    def _tolerance(self, interval: float) -> float:
        """How far ahead of the steady pace a caller may go (the bucket's burst), in seconds."""
        if self._aimd is not None or self._start:
            return 0.0  # recovering from a 429, or not yet told anything: no bursts
        extra = self._burst - 1
        if self._window is not None:
            extra = min(extra, int(self._window.left * BURST_SHARE))
        return interval * max(0, extra)

    def _reserve(self, now: float) -> float:
        """Reserve the next slot for a caller arriving at ``now``; return how long it must wait."""
        start = now
        if self._paused_until is not None and self._paused_until > start:
            start = self._paused_until
        interval = self._interval(now)
        if interval:
            tat = max(self._tat if self._tat is not None else start, start)
            start = max(start, tat - self._tolerance(interval))
            self._tat = tat + interval
        return start - now

    async def acquire(self) -> None:
        """Wait until this caller may send one request: its slot has come, the server's window has
        room and no pause is active. It then counts as in flight until :meth:`finished`."""
        while True:
            wait = self._reserve(self._now())
            if wait > 0:
                await self._sleep(wait)
            if self._admit(self._now()):
                return
            # Paused meanwhile (a 429, or the window ran out): wait for the pause and queue again.

    def observe(self, limit: int | None, remaining: int | None, reset: datetime | None) -> None:
        """What a response's ``X-RateLimit-*`` headers said; missing or implausible values change nothing.

        The allowed rate becomes the requests that remain, less the others in flight, spread over the
        time left until ``reset``; when none remain, callers wait for the reset. Call it while the
        answered request still counts as in flight (before :meth:`finished`).
        """
        if remaining is None or reset is None or remaining < 0 or (limit is not None and limit < remaining):
            return
        if reset.tzinfo is None:
            raise ValueError("observe needs a tz-aware reset time")
        left_s = (reset - self._clock()).total_seconds()
        if not 0 < left_s <= MAX_RESET_HORIZON:
            return
        if self._start:  # the server speaks: its own window paces from now on
            self._start, self._tat = 0.0, None
        now = self._now()
        left = remaining - max(0, self._in_flight - 1)  # requests already on their way count too
        window = self._live_window(now)
        if window is not None and window.reset == reset:
            left = min(left, window.left)  # an older answer about the same window says more remain
        # ``left`` requests fit strictly before the reset, the last one a gap ahead of it.
        interval = left_s / (left + 1) if left > 0 else 0.0
        self._window = _Window(reset, now + left_s, left, interval, limit)

    def finished(self) -> None:
        """One request sent after :meth:`acquire` got its answer (or failed): it no longer counts as in flight."""
        self._in_flight = max(0, self._in_flight - 1)

    def throttled(self) -> None:
        """A 429: halve the rate being sent (multiplicative decrease); successes probe it back up."""
        now = self._now()
        sent = [t for t in self._sent if now - 5.0 < t <= now]
        interval = self._interval(now)
        if len(sent) >= 2 and sent[-1] > sent[0]:
            current = (len(sent) - 1) / (sent[-1] - sent[0])
        else:
            current = 1.0 / interval if interval else START_RATE
        if interval:
            current = min(current, 1.0 / interval)
        self._aimd = max(FLOOR_RATE, current / 2)

    def succeeded(self) -> None:
        """A request went through: probe the rate up after a 429, or the start rate while no header came."""
        if self._aimd is not None:
            self._aimd *= PROBE_UP
            others = self._interval(self._now(), aimd=False)
            if self._aimd > UNPACED_RATE or (others and self._aimd >= 1.0 / others):
                self._aimd = None  # no longer binds
        if self._start:
            self._start /= START_GROWTH
            if self._start < 1.0 / UNPACED_RATE:
                self._start = 0.0

    def pause_until(self, until: datetime) -> None:
        """Hold every caller until ``until`` (tz-aware); an earlier pause never shortens a later one."""
        if until.tzinfo is None:
            raise ValueError("pause_until needs a tz-aware datetime")
        self._hold(self._now() + max(0.0, (until - self._clock()).total_seconds()))

    def _hold(self, stamp: float) -> None:
        """Pause every caller until ``stamp`` (monotonic); the slots reserved so far start over then."""
        if self._paused_until is None or stamp > self._paused_until:
            self._paused_until = stamp
            self._tat = None


_REGISTRY: dict[str, OrgRateLimiter] = {}


def limiter_for(
    org_id: str, *, requests_per_second: float | None = None, burst: int = 10, start_rate: float | None = START_RATE
) -> OrgRateLimiter:
    """The process-wide limiter of ``org_id`` (real clock and ``asyncio.sleep``), created on first use.

    It starts at ``start_rate`` (or the ceiling ``requests_per_second``) until the server's headers
    say more. Later calls return the same object and ignore the rate arguments. Tests that inject a
    fake clock build their own ``OrgRateLimiter`` instead of using the registry.
    """
    limiter = _REGISTRY.get(org_id)
    if limiter is None:
        limiter = _REGISTRY[org_id] = OrgRateLimiter(
            org_id, requests_per_second=requests_per_second, burst=burst, start_rate=start_rate
        )
    return limiter
