"""The Atlassian directory adapter: ``DirectoryReader`` and ``DirectoryWriter`` over httpx.

Endpoints: Organizations API v2 for reads and writes, the user management API for account
lifecycle, and one v1 *read* (``last-active-dates``) as the fallback for users the search left
undated. No v1 write endpoint is ever called. The sandbox (:mod:`adapters.sandbox.admin_api`,
:mod:`adapters.sandbox.manage_api`) serves the same endpoints, and
``tests/atlassian/test_contract_sandbox.py`` holds the adapter and the sandbox to them.

The reads are here, the writes in :mod:`adapters.atlassian.writes`, the org and directory
resolution in :mod:`adapters.atlassian.scope`. Every HTTP request goes through
:class:`adapters.atlassian.transport.AtlassianTransport`, which applies the org-wide rate
limiter, the retry policy (:mod:`adapters.atlassian.retry`) and error mapping
(:mod:`adapters.atlassian.errors`), and counts attempts in :attr:`AtlassianDirectory.stats`
(``mutating_attempts`` is what dry-run checks assert to be zero).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from adapters.atlassian.config import AtlassianConfig
from adapters.atlassian.limiter import Now, OrgRateLimiter, Sleep, limiter_for, utc_now
from adapters.atlassian.mapping import (
    account_from_json,
    api_use_from_tokens,
    has_product_access,
    next_cursor,
    with_fallback_activity,
)
from adapters.atlassian.scope import ALL_DIRECTORIES
from adapters.atlassian.transport import USER_AGENT, RequestStats, json_object, segment
from adapters.atlassian.writes import DirectoryWrites
from core.errors import AuthenticationFailed, DirectoryError
from core.model import Account, AccountId, ApiUse

log = logging.getLogger(__name__)

#: ``expand`` values sent with every user search.
SEARCH_EXPAND: tuple[str, ...] = ("productAccess", "groups", "platformRoles")


class AtlassianDirectory(DirectoryWrites):
    """Reads and changes the accounts of one Atlassian org.

    Implements ``core.ports.DirectoryReader`` and ``core.ports.DirectoryWriter``. The injected
    ``client`` must have ``base_url`` set to the API host (``config.base_url`` in production, the
    sandbox in tests); this class adds the Bearer key, ``Accept`` and ``User-Agent`` to each request.
    ``sleep`` and ``clock`` drive every wait (retries and the rate limiter), ``rng`` the backoff jitter,
    and ``limiter`` is the org's shared limiter (a private one is built from ``config`` when omitted).

    Errors raised by every method: ``AuthenticationFailed`` (401, or 403 on org-level calls),
    ``RateLimited`` and ``DirectoryUnavailable`` once the retry budget is spent, ``DirectoryError``
    for anything else unexpected; per method as documented below.
    """

    # -- reads --------------------------------------------------------------------------------

    async def iter_accounts(self) -> AsyncGenerator[Sequence[Account], None]:
        """Yield every account of the directory, one search page at a time (streamed).

        ``POST .../users/search`` with ``limit=page_size`` and every ``expand``, following the
        opaque ``links.next`` cursor until it is absent or null. No status filter is sent: the
        planner reports suspended and deactivated accounts too and skips non-billable ones itself.
        Users whose record lacks ``productAccess`` are completed from the v1 last-active-dates
        read (at most ``fallback_concurrency`` at once); when that fails they are yielded with
        ``activity_known=False``. Records without an ``accountId`` are logged and skipped.
        """
        path = f"{await self._users_path(write=False)}/search"
        body: dict[str, Any] = {"limit": self._config.page_size, "expand": list(SEARCH_EXPAND)}
        previous: str | None = None
        while True:
            page = json_object(await self._http.request("POST", path, json=body, mutating=False))
            data = page.get("data")
            users = [u for u in data if isinstance(u, Mapping)] if isinstance(data, list) else []
            accounts = await self._complete_page(users)
            if accounts:
                yield accounts
            cursor = next_cursor(page)
            if cursor is None:
                return
            if cursor == previous:
                raise DirectoryError(f"POST {path}: the server repeated cursor {cursor!r}")
            previous = cursor
            body = {**body, "cursor": cursor}

    async def _complete_page(self, users: Sequence[Mapping[str, Any]]) -> list[Account]:
        accounts: list[Account] = []
        undated: list[int] = []
        for user in users:
            try:
                account = account_from_json(user)
            except ValueError:
                log.warning("atlassian search returned a user without accountId; skipped")
                continue
            if not has_product_access(user):
                undated.append(len(accounts))
            accounts.append(account)
        if undated:
            limit = asyncio.Semaphore(self._config.fallback_concurrency)

            async def fill(index: int) -> None:
                async with limit:
                    accounts[index] = await self._with_fallback(accounts[index])

            try:
                async with asyncio.TaskGroup() as group:
                    for index in undated:
                        group.create_task(fill(index))
            except BaseExceptionGroup as failures:
                raise failures.exceptions[0] from None
        return accounts

    async def _with_fallback(self, account: Account) -> Account:
        """Complete an undated account from v1 last-active-dates; on failure mark activity unknown."""
        try:
            data = await self._last_active_dates(account.account_id)
        except AuthenticationFailed:
            raise
        except DirectoryError as exc:
            log.warning(
                "atlassian last-active-dates failed for %s (%s, status %s, request id %s); activity unknown",
                account.account_id,
                type(exc).__name__,
                exc.status,
                exc.request_id,
            )
            return account
        return with_fallback_activity(account, data)

    async def _last_active_dates(self, account_id: AccountId) -> Mapping[str, Any]:
        """``GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates``, all pages merged."""
        org = segment(self._config.org_id)
        path = f"/admin/v1/orgs/{org}/directory/users/{self._account(account_id)}/last-active-dates"
        merged: dict[str, Any] = {}
        products: list[Any] = []
        cursor: str | None = None
        while True:
            params = [("cursor", cursor)] if cursor else None
            response = await self._http.request("GET", path, params=params, mutating=False, account_id=account_id)
            page = json_object(response)
            data = page.get("data")
            if not isinstance(data, Mapping):
                raise DirectoryError(f"GET {path}: response without a data object")
            if not merged:
                merged.update(data)
            access = data.get("product_access")
            if isinstance(access, list):
                products.extend(access)
            following = next_cursor(page)
            if following is None or following == cursor:
                break
            cursor = following
        merged["product_access"] = products
        return merged

    async def count_accounts(self) -> int | None:
        """How many users a full scan will return (``GET .../users/count``), for progress and ETA.

        Best effort: returns ``None`` instead of raising when the count is unavailable, because a
        scan must never fail for want of a progress bar.
        """
        try:
            path = await self._users_path(write=False)
            body = json_object(await self._http.request("GET", f"{path}/count", mutating=False))
        except DirectoryError:
            return None
        count = body.get("count")
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

    async def get_account(self, account_id: AccountId) -> Account:
        """``GET .../users/{accountId}``: one account, fully expanded (completed like search results).

        Raises ``AccountNotFound`` (404 ``ADMIN-404-8``).
        """
        path = f"{await self._users_path(write=False)}/{self._account(account_id)}"
        body = json_object(await self._http.request("GET", path, mutating=False, account_id=account_id))
        user = body.get("data")
        if not isinstance(user, Mapping):
            raise DirectoryError(f"GET {path}: response without a data object")
        try:
            account = account_from_json(user)
        except ValueError as exc:
            raise DirectoryError(f"GET {path}: user record without accountId") from exc
        if not has_product_access(user):
            account = await self._with_fallback(account)
        return account

    async def api_use(self, account_id: AccountId) -> ApiUse:
        """``GET /users/{accountId}/manage/api-tokens``: when the account's latest token was used.

        Fails closed: 403, 404 or any error left after the retries gives ``ApiUse.unknown`` with
        the reason (never "unused"); the planner then leaves the account alone this run.
        """
        path = f"/users/{self._account(account_id)}/manage/api-tokens"
        try:
            response = await self._http.request("GET", path, mutating=False, account_id=account_id)
            return api_use_from_tokens(response.json())
        except (DirectoryError, ValueError) as exc:
            status = getattr(exc, "status", None)
            return ApiUse.unknown(f"api-tokens: HTTP {status}" if status else f"api-tokens: {exc}")

    async def manageability(self, account_id: AccountId, privileges: Iterable[str]) -> Mapping[str, str | None]:
        """``GET /users/{accountId}/manage?privileges=...``: each privilege -> ``None`` or the reason key.

        A privilege the answer leaves out maps to ``"notReported"``; a refusal without a reason
        to ``"notAllowed"``. Raises ``AccountNotFound`` for an unknown account.
        """
        wanted = list(dict.fromkeys(privileges))
        if not wanted:
            return {}
        path = f"/users/{self._account(account_id)}/manage"
        params = [("privileges", p) for p in wanted]
        body = json_object(await self._http.request("GET", path, params=params, mutating=False, account_id=account_id))
        result: dict[str, str | None] = {}
        for privilege in wanted:
            entry = body.get(privilege)
            if not isinstance(entry, Mapping):
                result[privilege] = "notReported"
            elif entry.get("allowed") is True:
                result[privilege] = None
            else:
                reason = entry.get("reason")
                key = reason.get("key") if isinstance(reason, Mapping) else None
                result[privilege] = key if isinstance(key, str) and key else "notAllowed"
        return result


def build_client(config: AtlassianConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``config``: base URL, explicit timeouts, ``User-Agent``, no redirects.

    The Bearer key is added per request by :class:`AtlassianDirectory`, never stored on the client.
    """
    return httpx.AsyncClient(
        base_url=config.base_url,
        transport=transport,
        timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


@asynccontextmanager
async def open_directory(
    config: AtlassianConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Now | None = None,
    rng: random.Random | None = None,
    limiter: OrgRateLimiter | None = None,
) -> AsyncIterator[AtlassianDirectory]:
    """Build the client and the directory for ``config``; close the client on exit.

    ``async with open_directory(config) as directory: ...``. Without an explicit ``limiter`` the
    process-wide limiter of the org (:func:`limiter_for`) is used when the real clock and sleep are
    in effect; with an injected ``clock``/``sleep`` a private limiter on those is built instead.
    """
    if limiter is None and clock is None and sleep is None:
        limiter = limiter_for(config.org_id, requests_per_second=config.requests_per_second, burst=config.burst)
    async with build_client(config, transport=transport) as client:
        yield AtlassianDirectory(
            client,
            config,
            sleep=sleep or asyncio.sleep,
            clock=clock or utc_now,
            rng=rng,
            limiter=limiter,
        )


__all__ = [
    "ALL_DIRECTORIES",
    "SEARCH_EXPAND",
    "USER_AGENT",
    "AtlassianDirectory",
    "RequestStats",
    "build_client",
    "open_directory",
]


if TYPE_CHECKING:
    from core.ports import DirectoryReader, DirectoryWriter

    def _implements_ports(directory: AtlassianDirectory) -> tuple[DirectoryReader, DirectoryWriter]:
        """Static check (mypy only) that the adapter satisfies both ports."""
        return directory, directory
