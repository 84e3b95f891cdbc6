"""The sandbox's own rate limit: fixed windows counted per API key, told in ``X-RateLimit-*`` headers.

Atlassian limits per org and API key, so every key (the ``Authorization: Bearer`` token; the whole
header for other schemes, ``""`` without one) has windows of its own: one request sent with one key
never uses up another key's window. A window is aligned to the clock (a whole second, a whole
minute); once ``limit`` requests have been admitted in it, further requests are refused until it
rolls over. Refused requests use up nothing.

The headers describe one window: a refusing one when the request is refused, otherwise the one that
binds hardest (the fewest remaining requests per second left until its reset), so a client that
spreads ``X-RateLimit-Remaining`` over the time to ``X-RateLimit-Reset`` keeps within all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .wire import iso_s

#: (allowed requests, window length in seconds)
Limit = tuple[int, int]
#: Above this many (key, window) counters, counters of windows that have ended are dropped.
MAX_COUNTERS = 4096


@dataclass(slots=True)
class _Counter:
    start: datetime
    count: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request is admitted, the ``X-RateLimit-*`` headers and whole seconds to the reset."""

    allowed: bool
    headers: dict[str, str]
    retry_after: int


def api_key_of(authorization: str | None) -> str:
    """The key a request is counted under: the Bearer token, else the whole ``Authorization`` header."""
    header = authorization or ""
    return header[len("Bearer ") :] if header.startswith("Bearer ") else header


def window_start(now: datetime, period: int) -> datetime:
    """The start of the ``period``-second window holding ``now`` (aligned to the epoch, so to minutes)."""
    stamp = now.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(math.floor(stamp / period) * period, UTC)


class KeyRateLimiter:
    """Fixed windows per (API key, window length), driven by an injected clock."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._counters: dict[tuple[str, int], _Counter] = {}

    def _counter(self, key: str, period: int, now: datetime) -> _Counter:
        start = window_start(now, period)
        counter = self._counters.get((key, period))
        if counter is None or counter.start != start:
            if len(self._counters) >= MAX_COUNTERS:
                self._prune(now)
            counter = self._counters[(key, period)] = _Counter(start)
        return counter

    def _prune(self, now: datetime) -> None:
        for slot, counter in list(self._counters.items()):
            if counter.start != window_start(now, slot[1]):
                del self._counters[slot]

    def check(self, key: str, limits: Sequence[Limit], *, consume: bool = True) -> Verdict:
        """Admit one request of ``key`` if every window has room (and count it when ``consume``).

        ``limits`` must not be empty. With ``consume=False`` nothing is counted: the verdict and
        headers say what the next request would meet (for answers that are not admissions).
        """
        if not limits:
            raise ValueError("check needs at least one limit")
        now = self.clock().astimezone(UTC)
        windows = [(limit, period, self._counter(key, period, now)) for limit, period in limits]
        refusing = [w for w in windows if w[2].count >= w[0]]
        allowed = not refusing
        if allowed and consume:
            for _limit, _period, counter in windows:
                counter.count += 1

        def reset_of(window: tuple[int, int, _Counter]) -> datetime:
            return window[2].start + timedelta(seconds=window[1])

        def spare_rate(window: tuple[int, int, _Counter]) -> float:
            left = max((reset_of(window) - now).total_seconds(), 1e-6)
            return (window[0] - window[2].count) / left

        shown = max(refusing, key=reset_of) if refusing else min(windows, key=spare_rate)
        limit, _period, counter = shown
        reset = reset_of(shown)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - counter.count)),
            "X-RateLimit-Reset": iso_s(reset) or "",
        }
        return Verdict(allowed, headers, max(1, math.ceil((reset - now).total_seconds())))
