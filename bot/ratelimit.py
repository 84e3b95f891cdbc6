"""A per-key sliding-window rate limit for the public endpoints (email pages, JSM webhook).

In memory and per process: it keeps one noisy address from hammering the pages or flooding
the admins, it is not a substitute for a reverse proxy's limits. Time comes from the injected
clock, so tests never sleep.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import timedelta

from aiohttp import web

from core.ports import Clock


def client_address(request: web.Request, *, trust_forwarded_for: bool = False) -> str:
    """Who is asking: the peer address, or behind a trusted reverse proxy the first X-Forwarded-For entry."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


class RateLimiter:
    """At most ``limit`` hits per ``window`` per key; remembers at most ``max_keys`` keys."""

    def __init__(
        self,
        clock: Clock,
        limit: int,
        window: timedelta = timedelta(minutes=1),
        max_keys: int = 10_000,
        *,
        trust_forwarded_for: bool = False,
    ):
        if limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        self.clock = clock
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.trust_forwarded_for = trust_forwarded_for
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> float | None:
        """Count a hit for ``key``: None when allowed, else the seconds until the next one is."""
        now = self.clock.now().timestamp()
        start = now - self.window.total_seconds()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._evict(start)
            hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= start:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, math.ceil(hits[0] - start))
        hits.append(now)
        return None

    def hit_request(self, scope: str, request: web.Request) -> float | None:
        """:meth:`hit` for the client of ``request`` within ``scope`` (e.g. ``email``, ``jsm``)."""
        return self.hit(f"{scope}:{client_address(request, trust_forwarded_for=self.trust_forwarded_for)}")

    def _evict(self, start: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= start]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:  # still full of live keys: forget the oldest
            del self._hits[next(iter(self._hits))]
