"""Retry policy: which failures are retried and how long to wait before the next attempt.

Pure functions over headers, a clock reading and an injected ``random.Random``; the request
loop in :mod:`adapters.atlassian.transport` does the sleeping.

Wait, in order of preference:

1. ``Retry-After`` (delta seconds or an HTTP date), on any retried response;
2. ``X-RateLimit-Reset`` (ISO 8601 UTC, e.g. ``2026-11-24T10:15:00Z`` or ``2023-10-11T12:34Z``) on a 429:
   wait until then;
3. capped exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**retry)]``.

Why writes may be retried: the writes this adapter sends are idempotent at Atlassian (suspending a
suspended user, restoring an active one, adding an existing membership, disabling a disabled account
all succeed without further change), so repeating a write whose response was lost cannot do more
than the first attempt did. Writes still do not retry a plain 500, where Atlassian may have failed
half-way; only 429 (not processed), 408/502/503/504 (gateway) and transport errors are retried.
One caveat: ``lifecycle/delete`` and ``lifecycle/cancel-delete`` answer 409 when the account is already
in the target state, so a retry after a lost response can surface as ``NotManageable`` (status 409)
although the first attempt succeeded. Callers re-read the account before treating a 409 as a refusal.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from adapters.atlassian.mapping import parse_timestamp

#: Statuses retried for reads (GET and the read-only POST users/search).
READ_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses retried for writes: never a plain 500 (see the module docstring).
WRITE_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 502, 503, 504})
#: Transport failures worth another attempt (timeouts, refused/reset connections, broken responses).
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry budget of one logical request.

    ``max_attempts`` counts the first attempt; ``max_total_wait`` bounds the sum of all waits
    (seconds). A wait that would overrun the budget is not taken: the request fails at once.
    """

    max_attempts: int = 6
    max_total_wait: float = 300.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full-jitter backoff for the ``retry``-th retry (0-based), never above ``backoff_cap``."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** min(retry, 62)))
        return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait per a ``Retry-After`` header (delta seconds or HTTP date); ``None`` if absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


#: An ISO 8601 date and time, with or without seconds (and fraction), with ``Z``, an offset or neither.
_RESET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?", re.ASCII)


def parse_rate_limit_reset(value: str | None) -> datetime | None:
    """The reset instant of an ``X-RateLimit-Reset`` header (ISO 8601, UTC when naive), ``None`` if invalid.

    Atlassian sends minutes only (``2023-10-11T12:34Z``); seconds, fractions and offsets are accepted
    too. Anything else (epoch numbers, dates without a time, stray characters) is not a reset time.
    """
    if value is None or not _RESET.fullmatch(value.strip()):
        return None
    return parse_timestamp(value)


def server_delay(response: httpx.Response, now: datetime) -> float | None:
    """The wait the server asked for, in seconds, or ``None`` when it asked for nothing usable.

    ``Retry-After`` wins; ``X-RateLimit-Reset`` counts only on a 429 and only when it lies in the future.
    """
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if retry_after is not None:
        return retry_after
    if response.status_code == 429:
        reset = parse_rate_limit_reset(response.headers.get("X-RateLimit-Reset"))
        if reset is not None and reset > now:
            return (reset - now).total_seconds()
    return None
