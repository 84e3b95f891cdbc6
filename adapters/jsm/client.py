"""A small client for JSM's customer-request REST API: read, comment on and transition a request.

Basic auth with an agent's email and API token (the token is never logged nor put in a message).
Retries follow :mod:`adapters.atlassian.retry`: reads retry 408/429/5xx, writes (comments,
transitions) retry 408/429/502/503/504 but not a plain 500, where JSM may have half-done the write
and a second comment would be a duplicate. Transport failures are retried too. Each wait is the
server's ``Retry-After`` or a capped exponential backoff, taken through an injectable ``sleep``.

Errors (each message names the method, the issue key and the HTTP status)::

    JsmError                 any refusal (e.g. 400 for a malformed body)
    ├── JsmNotFound          404: no such request, or the agent cannot see it
    ├── JsmAuthError         401/403: bad credentials or missing permission
    └── JsmUnavailable       network failures, 5xx, or retries exhausted
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from adapters.atlassian.retry import (
    READ_RETRY_STATUSES,
    RETRYABLE_EXCEPTIONS,
    WRITE_RETRY_STATUSES,
    parse_retry_after,
)

API = "/rest/servicedeskapi/request"
#: Upper bound of one wait, whatever ``Retry-After`` asks for.
MAX_WAIT = 60.0
#: Transitions listed per page.
PAGE_LIMIT = 50


class JsmError(Exception):
    """A JSM call failed; the message names the request key and the HTTP status."""

    def __init__(self, message: str, *, issue_key: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.issue_key = issue_key
        self.status = status


class JsmNotFound(JsmError):
    """No such request (or the agent cannot see it)."""


class JsmAuthError(JsmError):
    """JSM refused the credentials or the permission (401/403)."""


class JsmUnavailable(JsmError):
    """JSM could not be reached, answered 5xx, or kept failing after the retries."""


@dataclass(frozen=True, slots=True)
class JsmConfig:
    """How to reach the site, and which requests mean "restore my access".

    ``service_desk_id`` / ``request_type_id``: only requests of that desk and type are accepted
    (None: any). ``done_transition`` / ``declined_transition``: transition names, any case.
    Raises ``ValueError`` naming the bad field.
    """

    site_url: str
    email: str
    api_token: str = field(repr=False)
    timeout: float = 10.0
    max_attempts: int = 4
    service_desk_id: str | None = None
    request_type_id: str | None = None
    done_transition: str = "Resolved"
    declined_transition: str = "Declined"

    def __post_init__(self) -> None:
        if not self.site_url.startswith(("https://", "http://")):
            raise ValueError(f"site_url: must start with https:// or http:// (got {self.site_url!r})")
        object.__setattr__(self, "site_url", self.site_url.rstrip("/"))
        if not self.email.strip():
            raise ValueError("email: required (the account the API token belongs to)")
        if not self.api_token:
            raise ValueError("api_token: required")
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be positive (got {self.timeout})")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: must be at least 1 (got {self.max_attempts})")


Sleep = Callable[[float], Awaitable[None]]


class JsmClient:
    """Comments and transitions on JSM requests (``/rest/servicedeskapi/request``).

    ``http`` replaces the default ``httpx.AsyncClient`` (tests pass one with a ``MockTransport``;
    it then carries its own base URL and auth). ``sleep`` is awaited between attempts.
    """

    def __init__(self, config: JsmConfig, *, sleep: Sleep = asyncio.sleep, http: httpx.AsyncClient | None = None):
        self.config = config
        self.sleep = sleep
        self.http = http or httpx.AsyncClient(
            base_url=config.site_url,
            auth=httpx.BasicAuth(config.email, config.api_token),
            timeout=config.timeout,
            headers={"Accept": "application/json"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def _call(
        self,
        method: str,
        key: str,
        path: str = "",
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, int] | None = None,
    ) -> httpx.Response:
        """One logical call with retries; returns the 2xx response or raises a :class:`JsmError`."""
        what = f"{method} {key}{path}"
        retry_on = READ_RETRY_STATUSES if method == "GET" else WRITE_RETRY_STATUSES
        for attempt in range(1, self.config.max_attempts + 1):
            last = attempt == self.config.max_attempts
            try:
                response = await self.http.request(method, f"{API}/{key}{path}", json=body, params=params)
            except RETRYABLE_EXCEPTIONS as exc:
                if last:
                    raise JsmUnavailable(
                        f"{what}: {type(exc).__name__} after {attempt} attempt(s)", issue_key=key
                    ) from None
                await self.sleep(_backoff(attempt))
                continue
            except httpx.HTTPError as exc:
                raise JsmUnavailable(f"{what}: {type(exc).__name__}", issue_key=key) from None
            status = response.status_code
            if status < 400:
                return response
            if status in retry_on and not last:
                wait = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                await self.sleep(min(MAX_WAIT, wait if wait is not None else _backoff(attempt)))
                continue
            raise _error(what, key, response, attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def get_request(self, issue_key: str) -> Mapping[str, Any]:
        """The customer request ``issue_key`` as JSM renders it (``CustomerRequestDTO``)."""
        data = (await self._call("GET", issue_key)).json()
        return data if isinstance(data, dict) else {}

    async def comment(self, issue_key: str, body: str, *, public: bool = True) -> None:
        """Add a comment (public: the customer sees it in the portal and by email)."""
        await self._call("POST", issue_key, "/comment", body={"body": body, "public": public})

    async def transitions(self, issue_key: str) -> list[tuple[str, str]]:
        """(id, name) of the transitions available now, across all pages."""
        found: list[tuple[str, str]] = []
        start = 0
        while True:
            params = {"start": start, "limit": PAGE_LIMIT}
            data = (await self._call("GET", issue_key, "/transition", params=params)).json()
            values = data.get("values") if isinstance(data, dict) else None
            if not isinstance(values, list):
                return found
            found += [
                (str(v["id"]), str(v["name"])) for v in values if isinstance(v, dict) and "id" in v and "name" in v
            ]
            if data.get("isLastPage", True) or not values:
                return found
            start += len(values)

    async def transition(self, issue_key: str, name: str, comment: str | None = None) -> bool:
        """Move the request through the transition named ``name`` (any case), with an optional comment.

        Returns False, and changes nothing, when no such transition is available now (for example
        the request is already resolved).
        """
        wanted = name.strip().casefold()
        match = next((tid for tid, tname in await self.transitions(issue_key) if tname.casefold() == wanted), None)
        if match is None:
            return False
        body: dict[str, Any] = {"id": match}
        if comment:
            body["additionalComment"] = {"body": comment}
        await self._call("POST", issue_key, "/transition", body=body)
        return True


def _backoff(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure when the server gave no ``Retry-After``."""
    return min(MAX_WAIT, 2.0**attempt)


def _error(what: str, key: str, response: httpx.Response, attempts: int) -> JsmError:
    """The exception for the non-2xx ``response`` to ``what``."""
    status = response.status_code
    detail = _message(response)
    if status in (401, 403):
        return JsmAuthError(
            f"{what}: HTTP {status} (check the JSM email, API token and permissions)", issue_key=key, status=status
        )
    if status == 404:
        return JsmNotFound(f"{what}: HTTP 404, no such request: {detail}", issue_key=key, status=status)
    if status == 429 or status >= 500:
        return JsmUnavailable(
            f"{what}: HTTP {status} after {attempts} attempt(s): {detail}", issue_key=key, status=status
        )
    return JsmError(f"{what}: HTTP {status}: {detail}", issue_key=key, status=status)


def _message(response: httpx.Response) -> str:
    """JSM's error text (``errorMessage`` or Jira's ``errorMessages``), shortened."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:120] or response.reason_phrase
    if isinstance(data, dict):
        messages = data.get("errorMessages")
        text = data.get("errorMessage") or ("; ".join(map(str, messages)) if isinstance(messages, list) else None)
        return str(text or data)[:120]
    return str(data)[:120]
