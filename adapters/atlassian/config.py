"""Configuration of the Atlassian directory adapter.

``AtlassianConfig`` is a frozen value object: the composition root builds it from settings and
hands it to :func:`adapters.atlassian.open_directory`. The API key is a high-value credential
(an org API key can deactivate anyone), so it never appears in ``repr``/``str`` output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api.atlassian.com"


@dataclass(frozen=True, slots=True, repr=False)
class AtlassianConfig:
    """Everything the adapter needs to talk to one Atlassian org.

    Attributes:
        org_id: the org id (as in ``admin.atlassian.com/o/{orgId}``).
        api_key: the org API key, sent as ``Authorization: Bearer``; masked in ``repr``.
        base_url: scheme and host of the APIs; paths ``/admin/...`` and ``/users/...`` are appended.
        directory_id: the directory to scan and change. ``None`` resolves it once from
            ``GET /admin/v2/orgs/{orgId}/directories``: the only directory when there is exactly
            one, else ``"-"`` (all directories), which is valid for reads only.
        page_size: users per search page, 1..100.
        timeout: read/write/pool timeout in seconds of one HTTP attempt.
        connect_timeout: connect timeout in seconds of one HTTP attempt.
        max_attempts: attempts per request including the first (retry budget).
        max_total_wait: seconds one request may spend waiting between attempts (retry budget).
        backoff_base: first backoff ceiling in seconds (full jitter: delay is uniform in
            ``[0, min(backoff_cap, backoff_base * 2**retry)]``).
        backoff_cap: ceiling of any backoff delay in seconds.
        requests_per_second: optional ceiling of the org-wide rate; ``None`` (the default) lets the
            API's own ``X-RateLimit-*`` headers and 429s pace the requests (see ``limiter``). The
            process-wide limiter starts at this ceiling, or without one at ``limiter.START_RATE``,
            until the first response's headers say what the server allows.
        burst: requests the bucket lets through at once before pacing.
        fallback_concurrency: how many v1 last-active-dates calls run at once within a page.
    """

    org_id: str
    api_key: str
    base_url: str = DEFAULT_BASE_URL
    directory_id: str | None = None
    page_size: int = 100
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 6
    max_total_wait: float = 300.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    requests_per_second: float | None = None
    burst: int = 10
    fallback_concurrency: int = 8

    def __post_init__(self) -> None:
        if not self.org_id or "/" in self.org_id:
            raise ValueError("org_id must be a non-empty id without '/'")
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if self.directory_id is not None and (not self.directory_id or "/" in self.directory_id):
            raise ValueError("directory_id must be None or a non-empty id without '/'")
        if not 1 <= self.page_size <= 100:
            raise ValueError(f"page_size must be within 1..100 (got {self.page_size})")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_total_wait < 0 or self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("retry waits must not be negative")
        rate = self.requests_per_second
        if rate is not None and not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"requests_per_second must be a positive number or None (got {rate!r})")
        if self.burst < 1 or self.fallback_concurrency < 1:
            raise ValueError("burst and fallback_concurrency must be at least 1")

    def __repr__(self) -> str:
        return (
            f"AtlassianConfig(org_id={self.org_id!r}, api_key='***', base_url={self.base_url!r}, "
            f"directory_id={self.directory_id!r}, page_size={self.page_size}, timeout={self.timeout}, "
            f"max_attempts={self.max_attempts}, max_total_wait={self.max_total_wait}, "
            f"requests_per_second={self.requests_per_second})"
        )

    __str__ = __repr__
