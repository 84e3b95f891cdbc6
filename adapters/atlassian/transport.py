"""The HTTP transport of the Atlassian adapter: every request goes through :class:`AtlassianTransport`.

It applies the org-wide rate limiter, the retry policy (:mod:`adapters.atlassian.retry`) and error
mapping (:mod:`adapters.atlassian.errors`), and counts attempts in :attr:`AtlassianTransport.stats`
(``mutating_attempts`` is what dry-run checks assert to be zero).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from typing import Any
from urllib.parse import quote

import httpx

from adapters.atlassian.config import AtlassianConfig
from adapters.atlassian.errors import error_from_response, request_id_of
from adapters.atlassian.limiter import Now, OrgRateLimiter, Sleep
from adapters.atlassian.retry import (
    READ_RETRY_STATUSES,
    RETRYABLE_EXCEPTIONS,
    WRITE_RETRY_STATUSES,
    RetryPolicy,
    parse_rate_limit_reset,
    server_delay,
)
from core.errors import DirectoryError, DirectoryUnavailable

log = logging.getLogger("adapters.atlassian.client")


def _version() -> str:
    try:
        return metadata.version("jira-cleanup-bot")
    except metadata.PackageNotFoundError:
        return "0.0.0"


USER_AGENT = f"jira-cleanup/{_version()}"


def segment(value: str) -> str:
    """Percent-encode one path segment; refuse values that could change the path's meaning."""
    if not value or value in {".", ".."}:
        raise ValueError(f"invalid id for a URL path segment: {value!r}")
    return quote(value, safe=":@-._~")


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON object in ``response``; ``DirectoryError`` when the body is not one."""
    try:
        body = response.json()
    except ValueError as exc:
        raise DirectoryError(
            f"{response.request.method} {response.request.url.path}: response is not JSON",
            status=response.status_code,
            request_id=request_id_of(response),
        ) from exc
    if not isinstance(body, Mapping):
        raise DirectoryError(
            f"{response.request.method} {response.request.url.path}: expected a JSON object",
            status=response.status_code,
            request_id=request_id_of(response),
        )
    return body


@dataclass(slots=True)
class RequestStats:
    """Counts of HTTP attempts sent by one ``AtlassianDirectory`` (retries included)."""

    attempts: int = 0
    mutating_attempts: int = 0
    retries: int = 0


class AtlassianTransport:
    """Sends requests for one org with rate limiting, retries and error mapping.

    ``client`` has ``base_url`` set to the API host; this class adds the Bearer key, ``Accept``
    and ``User-Agent`` to each request. ``sleep`` and ``clock`` drive every wait, ``rng`` the
    backoff jitter, ``limiter`` is the org's shared limiter.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: AtlassianConfig,
        *,
        sleep: Sleep,
        clock: Now,
        rng: random.Random,
        limiter: OrgRateLimiter,
    ) -> None:
        self.client = client
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._limiter = limiter
        self._policy = RetryPolicy(
            max_attempts=config.max_attempts,
            max_total_wait=config.max_total_wait,
            backoff_base=config.backoff_base,
            backoff_cap=config.backoff_cap,
        )
        self.stats = RequestStats()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._config.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    async def request(
        self,
        method: str,
        path: str,
        *,
        mutating: bool,
        params: list[tuple[str, str]] | None = None,
        json: Mapping[str, Any] | None = None,
        account_id: str | None = None,
    ) -> httpx.Response:
        """Send one logical request with rate limiting and retries; return the 2xx response.

        ``mutating`` marks writes: they are counted in ``stats.mutating_attempts`` and are not
        retried on a plain 500 (see :mod:`adapters.atlassian.retry`). ``account_id`` names the
        account for error mapping. Raises the ``core.errors`` exception for the final failure.
        """
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            self.stats.attempts += 1
            if mutating:
                self.stats.mutating_attempts += 1
            try:
                response = await self._send(method, path, params, json)
            except RETRYABLE_EXCEPTIONS as exc:
                delay = self._policy.backoff(attempt - 1, self._rng)
                if not self._may_retry(attempt, waited, delay):
                    raise DirectoryUnavailable(
                        f"{method} {path}: {type(exc).__name__} after {attempt} attempt(s)"
                    ) from exc
                log.warning("atlassian %s %s failed (%s); retry in %.2fs", method, path, type(exc).__name__, delay)
            except httpx.HTTPError as exc:
                raise DirectoryError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.is_success:
                    self._limiter.succeeded()
                    return response
                delay = self._retry_delay(response, f"{method} {path}", attempt, waited, mutating, account_id)
            self.stats.retries += 1
            waited += delay
            await self._sleep(delay)

    async def _send(
        self, method: str, path: str, params: list[tuple[str, str]] | None, json: Mapping[str, Any] | None
    ) -> httpx.Response:
        """One attempt, after :meth:`OrgRateLimiter.acquire`; the limiter hears the headers of its answer."""
        try:
            response = await self.client.request(
                method, path, params=tuple(params or ()), json=json, headers=self._headers()
            )
            self._observe(response)
            return response
        finally:
            self._limiter.finished()

    def _observe(self, response: httpx.Response) -> None:
        """Tell the org's limiter what the response's ``X-RateLimit-*`` headers said (garbage is ignored)."""
        headers = response.headers
        if "X-RateLimit-Remaining" not in headers:
            return
        if response.status_code == 429 and "Retry-After" in headers:
            return  # the 429's own Retry-After is more precise than its window (the reference's order)
        self._limiter.observe(
            _integer(headers.get("X-RateLimit-Limit")),
            _integer(headers.get("X-RateLimit-Remaining")),
            parse_rate_limit_reset(headers.get("X-RateLimit-Reset")),
        )

    def _retry_delay(
        self, response: httpx.Response, what: str, attempt: int, waited: float, mutating: bool, account_id: str | None
    ) -> float:
        """How long to wait before retrying a failed ``response``; raises when it must not be retried."""
        status = response.status_code
        if status not in (WRITE_RETRY_STATUSES if mutating else READ_RETRY_STATUSES):
            raise error_from_response(response, org_id=self._config.org_id, account_id=account_id)
        now = self._clock()
        asked = server_delay(response, now)
        delay = asked if asked is not None else self._policy.backoff(attempt - 1, self._rng)
        if status == 429:
            # Everyone sharing the org's key waits, not just this caller (bounded by the budget),
            # and then sends at half the rate it was sending, probing back up.
            self._limiter.throttled()
            self._limiter.pause_until(now + timedelta(seconds=min(delay, self._policy.max_total_wait)))
        if not self._may_retry(attempt, waited, delay):
            raise error_from_response(
                response,
                org_id=self._config.org_id,
                account_id=account_id,
                retry_after=delay if status == 429 else None,
            )
        log.warning(
            "atlassian %s -> %d (request id %s); retry in %.2fs",
            what,
            status,
            request_id_of(response),
            delay,
        )
        return delay

    def _may_retry(self, attempt: int, waited: float, delay: float) -> bool:
        return attempt < self._policy.max_attempts and waited + delay <= self._policy.max_total_wait


def _integer(value: str | None) -> int | None:
    """A header's whole number, or None when missing or not one."""
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None
