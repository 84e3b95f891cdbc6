"""A per-key sliding-window rate limit for the public endpoints (email pages, JSM webhook, chat).

In memory and per process: it keeps one noisy address from hammering the pages or flooding
the admins, it is not a substitute for a reverse proxy's limits. Time comes from the injected
clock, so tests never sleep.

Behind a reverse proxy the client is read from ``X-Forwarded-For`` only when the peer is one of
the configured proxies (``TRUSTED_PROXIES``), and from the right: each hop appends the address it
saw, so the rightmost entry that is not a trusted proxy is the client. Entries to its left are
whatever the client wrote and are never believed.
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import timedelta

from aiohttp import web

from core.ports import Clock

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(text: str) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES``: comma-separated addresses or CIDR ranges; raises ``ValueError`` naming a bad one."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: web.Request, proxies: Sequence[Network] = ()) -> str:
    """Who is asking: the peer, or behind trusted proxies the rightmost X-Forwarded-For entry not a proxy."""
    peer = request.remote or "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class RateLimiter:
    """At most ``limit`` hits per ``window`` per key; remembers at most ``max_keys`` keys."""

    def __init__(
        self,
        clock: Clock,
        limit: int,
        window: timedelta = timedelta(minutes=1),
        max_keys: int = 10_000,
        *,
        proxies: Sequence[Network] = (),
    ):
        if limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        self.clock = clock
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        #: Reverse proxies whose X-Forwarded-For is believed (see the module docstring).
        self.proxies = tuple(proxies)
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
        return self.hit(f"{scope}:{client_address(request, self.proxies)}")

    def _evict(self, start: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= start]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:  # still full of live keys: forget the oldest
            del self._hits[next(iter(self._hits))]
