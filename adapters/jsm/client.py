"""A small client for JSM's customer-request REST API: comment on a request and transition it.

Basic auth with an agent's email and API token (never logged). 429 and 502/503/504 are retried
with the server's ``Retry-After`` or a capped backoff, through an injectable sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from adapters.atlassian.retry import parse_retry_after

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class JsmError(Exception):
    """A JSM call failed; the message names the request key and the HTTP status."""


class JsmNotFound(JsmError):
    """No such request (or the agent cannot see it)."""


class JsmAuthError(JsmError):
    """JSM refused the credentials (401/403)."""


class JsmUnavailable(JsmError):
    """JSM could not be reached, or kept failing after the retries."""


@dataclass(frozen=True, slots=True)
class JsmConfig:
    """How to reach the site, and which requests mean "restore my access"."""

    site_url: str
    email: str
    api_token: str
    timeout: float = 10.0
    max_attempts: int = 4
    service_desk_id: str | None = None
    request_type_id: str | None = None
    done_transition: str = "Resolved"
    declined_transition: str = "Declined"

    def __post_init__(self) -> None:
        if not self.site_url.startswith(("https://", "http://")):
            raise ValueError(f"site_url: must start with https:// (got {self.site_url!r})")
        object.__setattr__(self, "site_url", self.site_url.rstrip("/"))
        if not self.email or not self.api_token:
            raise ValueError("email and api_token: both are required")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: must be at least 1 (got {self.max_attempts})")


Sleep = Callable[[float], Awaitable[None]]


class JsmClient:
    """Comments and transitions on JSM requests (``/rest/servicedeskapi``)."""

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

    async def _call(self, method: str, path: str, key: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        url = f"/rest/servicedeskapi/request/{key}{path}"
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                response = await self.http.request(method, url, json=body)
            except httpx.HTTPError as exc:
                if attempt == self.config.max_attempts:
                    raise JsmUnavailable(f"{method} {key}{path}: {type(exc).__name__}") from None
                await self.sleep(min(30.0, 2.0**attempt))
                continue
            status = response.status_code
            if status in RETRY_STATUSES and attempt < self.config.max_attempts:
                wait = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                await self.sleep(min(60.0, wait if wait is not None else 2.0**attempt))
                continue
            if status in (401, 403):
                raise JsmAuthError(f"{method} {key}{path}: HTTP {status} (check JSM_EMAIL and JSM_API_TOKEN)")
            if status == 404:
                raise JsmNotFound(f"{method} {key}{path}: HTTP 404, no such request")
            if status >= 400:
                raise (JsmUnavailable if status >= 500 else JsmError)(
                    f"{method} {key}{path}: HTTP {status}: {_message(response)}"
                )
            return response
        raise JsmUnavailable(f"{method} {key}{path}: no attempt left")  # pragma: no cover (loop returns or raises)

    async def get_request(self, issue_key: str) -> Mapping[str, Any]:
        """The customer request ``issue_key``."""
        data = (await self._call("GET", "", issue_key)).json()
        return data if isinstance(data, dict) else {}

    async def comment(self, issue_key: str, body: str, *, public: bool = True) -> None:
        """Add a comment (public: the customer sees it in the portal and by email)."""
        await self._call("POST", "/comment", issue_key, {"body": body, "public": public})

    async def transitions(self, issue_key: str) -> list[tuple[str, str]]:
        """(id, name) of the transitions available now, across pages."""
        found: list[tuple[str, str]] = []
        start = 0
        while True:
            data = (await self._call("GET", f"/transition?start={start}&limit=50", issue_key)).json()
            values = data.get("values", []) if isinstance(data, dict) else []
            found += [(str(v["id"]), str(v["name"])) for v in values if isinstance(v, dict) and "id" in v]
            if not isinstance(data, dict) or data.get("isLastPage", True) or not values:
                return found
            start += len(values)

    async def transition(self, issue_key: str, name: str, comment: str | None = None) -> bool:
        """Move the request through the transition named ``name`` (any case); False if not available now."""
        wanted = name.strip().lower()
        match = next((tid for tid, tname in await self.transitions(issue_key) if tname.lower() == wanted), None)
        if match is None:
            return False
        body: dict[str, Any] = {"id": match}
        if comment:
            body["additionalComment"] = {"body": comment}
        await self._call("POST", "/transition", issue_key, body)
        return True


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:120]
    if isinstance(data, dict):
        return str(data.get("errorMessage") or data.get("errorMessages") or data)[:120]
    return str(data)[:120]
