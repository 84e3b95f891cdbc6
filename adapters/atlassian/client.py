"""The Atlassian directory adapter: ``DirectoryReader`` and ``DirectoryWriter`` over httpx.

Endpoints follow ``notes/wire-contract.md``: Organizations API v2 for reads and writes, the user
management API for account lifecycle, and one v1 *read* (``last-active-dates``) as the fallback
for users the search left undated. No v1 write endpoint is ever called.

Every HTTP request goes through :meth:`AtlassianDirectory._request`, which applies the org-wide
rate limiter, the retry policy (:mod:`adapters.atlassian.retry`) and error mapping
(:mod:`adapters.atlassian.errors`), and counts attempts in :attr:`AtlassianDirectory.stats`
(``mutating_attempts`` is what dry-run checks assert to be zero).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from adapters.atlassian.config import AtlassianConfig
from adapters.atlassian.errors import error_from_response, request_id_of
from adapters.atlassian.limiter import Clock, OrgRateLimiter, Sleep, limiter_for, utc_now
from adapters.atlassian.mapping import (
    account_from_json,
    directory_ids,
    has_product_access,
    next_cursor,
    with_fallback_activity,
)
from adapters.atlassian.retry import (
    READ_RETRY_STATUSES,
    RETRYABLE_EXCEPTIONS,
    WRITE_RETRY_STATUSES,
    RetryPolicy,
    server_delay,
)
from core.errors import AuthenticationFailed, DirectoryError, DirectoryUnavailable
from core.model import Account, AccountId, DirectoryId, GroupId, Org, OrgId

log = logging.getLogger(__name__)

#: ``expand`` values sent with every user search.
SEARCH_EXPAND: tuple[str, ...] = ("productAccess", "groups", "platformRoles")
ALL_DIRECTORIES = "-"


def _version() -> str:
    try:
        return metadata.version("jira-cleanup-bot")
    except metadata.PackageNotFoundError:
        return "0.0.0"


USER_AGENT = f"jira-cleanup/{_version()}"


#: What Atlassian account ids look like: 24 hex digits, or ``<number>:<uuid>``; letters, digits, ``:-_``.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-]{0,127}")


def _segment(value: str) -> str:
    """Percent-encode one path segment; refuse values that could change the path's meaning."""
    if not value or value in {".", ".."}:
        raise ValueError(f"invalid id for a URL path segment: {value!r}")
    return quote(value, safe=":@-._~")


@dataclass(slots=True)
class RequestStats:
    """Counts of HTTP attempts sent by one ``AtlassianDirectory`` (retries included)."""

    attempts: int = 0
    mutating_attempts: int = 0
    retries: int = 0


class AtlassianDirectory:
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

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: AtlassianConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        limiter: OrgRateLimiter | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._limiter = limiter or OrgRateLimiter(
            config.org_id,
            requests_per_second=config.requests_per_second,
            burst=config.burst,
            clock=clock,
            sleep=sleep,
        )
        self._policy = RetryPolicy(
            max_attempts=config.max_attempts,
            max_total_wait=config.max_total_wait,
            backoff_base=config.backoff_base,
            backoff_cap=config.backoff_cap,
        )
        self._org: Org | None = None
        self._org_path = f"/admin/v2/orgs/{_segment(config.org_id)}"
        self.stats = RequestStats()

    def __repr__(self) -> str:
        return f"AtlassianDirectory(org_id={self._config.org_id!r}, base_url={str(self._client.base_url)!r})"

    @property
    def config(self) -> AtlassianConfig:
        """The configuration this directory was built with."""
        return self._config

    # -- transport ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._config.api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    async def _request(
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
        retry_statuses = WRITE_RETRY_STATUSES if mutating else READ_RETRY_STATUSES
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            self.stats.attempts += 1
            if mutating:
                self.stats.mutating_attempts += 1
            try:
                response = await self._client.request(
                    method, path, params=tuple(params or ()), json=json, headers=self._headers()
                )
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
                    return response
                status = response.status_code
                if status not in retry_statuses:
                    raise error_from_response(response, org_id=self._config.org_id, account_id=account_id)
                now = self._clock()
                asked = server_delay(response, now)
                delay = asked if asked is not None else self._policy.backoff(attempt - 1, self._rng)
                if status == 429:
                    # Everyone sharing the org's key waits, not just this caller (bounded by the budget).
                    self._limiter.pause_until(now + timedelta(seconds=min(delay, self._policy.max_total_wait)))
                if not self._may_retry(attempt, waited, delay):
                    raise error_from_response(
                        response,
                        org_id=self._config.org_id,
                        account_id=account_id,
                        retry_after=delay if status == 429 else None,
                    )
                log.warning(
                    "atlassian %s %s -> %d (request id %s); retry in %.2fs",
                    method,
                    path,
                    status,
                    request_id_of(response),
                    delay,
                )
            self.stats.retries += 1
            waited += delay
            await self._sleep(delay)

    def _may_retry(self, attempt: int, waited: float, delay: float) -> bool:
        return attempt < self._policy.max_attempts and waited + delay <= self._policy.max_total_wait

    @staticmethod
    def _json(response: httpx.Response) -> Mapping[str, Any]:
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

    # -- directory resolution ----------------------------------------------------------------

    async def describe_org(self) -> Org:
        """Resolve the org and its directory (``GET /admin/v2/orgs/{orgId}/directories``).

        The directory is ``config.directory_id`` when set, else the org's only directory, else
        ``"-"`` (all directories: fine for reads, refused for writes). ``Org.extra["directories"]``
        lists every directory id, comma-separated. The result is cached for later writes.
        Raises ``AccountNotFound(org_id, code="ADMIN-404-2")`` for an unknown org.
        """
        path = f"{self._org_path}/directories"
        found: list[tuple[DirectoryId, str]] = []
        cursor: str | None = None
        while True:
            params = [("cursor", cursor)] if cursor else None
            page = self._json(await self._request("GET", path, params=params, mutating=False))
            found.extend(directory_ids(page))
            following = next_cursor(page)
            if following is None:
                break
            if following == cursor:
                raise DirectoryError(f"GET {path}: the server repeated cursor {following!r}")
            cursor = following
        names = dict(found)
        configured = self._config.directory_id
        if configured is not None:
            directory_id = DirectoryId(configured)
        elif len(found) == 1:
            directory_id = found[0][0]
        else:
            directory_id = DirectoryId(ALL_DIRECTORIES)
        org = Org(
            org_id=OrgId(self._config.org_id),
            directory_id=directory_id,
            name=names.get(directory_id, ""),
            extra={"directories": ",".join(names)},
        )
        self._org = org
        return org

    async def _read_directory(self) -> str:
        if self._config.directory_id is not None:
            return self._config.directory_id
        if self._org is None:
            await self.describe_org()
        assert self._org is not None
        return self._org.directory_id

    async def _write_directory(self) -> str:
        directory_id = await self._read_directory()
        if directory_id == ALL_DIRECTORIES:
            known = self._org.extra.get("directories", "") if self._org else ""
            raise DirectoryError(
                f"org {self._config.org_id!r} has several directories ({known or 'unknown'}); "
                "set AtlassianConfig.directory_id to the one to change (writes cannot use '-')"
            )
        return directory_id

    async def _users_path(self, *, write: bool) -> str:
        directory_id = await (self._write_directory() if write else self._read_directory())
        return f"{self._org_path}/directories/{_segment(directory_id)}/users"

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
            page = self._json(await self._request("POST", path, json=body, mutating=False))
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

    def _account(self, account_id: str) -> str:
        """The path segment of an Atlassian account id; an email, the org id or the directory id is refused
        before any request is sent (ids of the wrong kind are how a cleanup hits the wrong thing)."""
        value = str(account_id)
        if "@" in value:
            raise ValueError(f"account_id: {value!r} is an email address, not an Atlassian account id")
        if value.lower() in {self._config.org_id.lower(), (self._config.directory_id or "").lower()}:
            raise ValueError(f"account_id: {value!r} is this org's (or directory's) id, not an account id")
        if _ACCOUNT_ID.fullmatch(value) is None:
            raise ValueError(f"account_id: {value!r} is not an Atlassian account id")
        return _segment(value)

    async def _last_active_dates(self, account_id: AccountId) -> Mapping[str, Any]:
        """``GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates``, all pages merged."""
        org = _segment(self._config.org_id)
        path = f"/admin/v1/orgs/{org}/directory/users/{self._account(account_id)}/last-active-dates"
        merged: dict[str, Any] = {}
        products: list[Any] = []
        cursor: str | None = None
        while True:
            params = [("cursor", cursor)] if cursor else None
            page = self._json(await self._request("GET", path, params=params, mutating=False, account_id=account_id))
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
            body = self._json(await self._request("GET", f"{path}/count", mutating=False))
        except DirectoryError:
            return None
        count = body.get("count")
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

    async def get_account(self, account_id: AccountId) -> Account:
        """``GET .../users/{accountId}``: one account, fully expanded (completed like search results).

        Raises ``AccountNotFound`` (404 ``ADMIN-404-8``).
        """
        path = f"{await self._users_path(write=False)}/{self._account(account_id)}"
        body = self._json(await self._request("GET", path, mutating=False, account_id=account_id))
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
        body = self._json(await self._request("GET", path, params=params, mutating=False, account_id=account_id))
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

    # -- writes (v2 + user management; see retry.py on idempotency) ---------------------------

    async def _write(
        self, method: str, path: str, account_id: AccountId, json: Mapping[str, Any] | None = None
    ) -> None:
        await self._request(method, path, mutating=True, json=json, account_id=account_id)

    async def suspend(self, account_id: AccountId) -> None:
        """``POST .../users/{id}/suspend`` (204). Groups and roles are kept. Idempotent.

        Raises ``NotManageable(reason="ADMIN-403-3")`` for org admins, ``AccountNotFound``.
        """
        await self._write(
            "POST", f"{await self._users_path(write=True)}/{self._account(account_id)}/suspend", account_id
        )

    async def restore(self, account_id: AccountId) -> None:
        """``POST .../users/{id}/restore`` (204): undo a suspension. Idempotent."""
        await self._write(
            "POST", f"{await self._users_path(write=True)}/{self._account(account_id)}/restore", account_id
        )

    async def remove_from_directory(self, account_id: AccountId) -> None:
        """``DELETE .../users/{id}`` (204): the user leaves the directory; coming back needs a re-invite.

        Raises ``NotManageable(reason="ADMIN-403-3")`` for org admins, ``AccountNotFound``.
        """
        await self._write("DELETE", f"{await self._users_path(write=True)}/{self._account(account_id)}", account_id)

    async def _memberships_path(self, group_id: GroupId) -> str:
        directory_id = await self._write_directory()
        return f"{self._org_path}/directories/{_segment(directory_id)}/groups/{_segment(group_id)}/memberships"

    async def add_to_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """``POST .../groups/{groupId}/memberships`` with ``{"accountId"}``. Idempotent.

        Raises ``NotManageable(reason="ADMIN-403-5")`` for SCIM-synced users or groups,
        ``AccountNotFound`` for an unknown user, ``DirectoryError`` (``ADMIN-404-10``) for an unknown group.
        """
        await self._write("POST", await self._memberships_path(group_id), account_id, {"accountId": account_id})

    async def remove_from_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """``DELETE .../groups/{groupId}/memberships/{accountId}``. Idempotent; errors as :meth:`add_to_group`."""
        await self._write("DELETE", f"{await self._memberships_path(group_id)}/{self._account(account_id)}", account_id)

    def _lifecycle_path(self, account_id: AccountId, action: str) -> str:
        return f"/users/{self._account(account_id)}/manage/lifecycle/{action}"

    async def deactivate(self, account_id: AccountId, message: str | None = None) -> None:
        """``POST /users/{id}/manage/lifecycle/disable`` with ``{"message"}`` (204). Idempotent.

        Raises ``NotManageable`` with ``managedAccount`` (unmanaged) or ``externalDirectory.scim``
        (IdP-owned), ``AccountNotFound``.
        """
        body = {"message": message} if message is not None else {}
        await self._write("POST", self._lifecycle_path(account_id, "disable"), account_id, body)

    async def activate(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/enable`` (204). Idempotent; errors as :meth:`deactivate`."""
        await self._write("POST", self._lifecycle_path(account_id, "enable"), account_id)

    async def delete_managed(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/delete`` (200): delete after Atlassian's 14-day grace.

        Raises ``NotManageable(reason=<first errorCodes code>, status=409)`` when not eligible, which
        includes "already scheduled" (so not idempotent: re-read the account after a 409), plus the
        refusals of :meth:`deactivate`.
        """
        await self._write("POST", self._lifecycle_path(account_id, "delete"), account_id)

    async def cancel_delete(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/cancel-delete`` (200): the account is active again.

        Raises ``NotManageable(status=409)`` when no deletion is scheduled, plus the refusals of :meth:`deactivate`.
        """
        await self._write("POST", self._lifecycle_path(account_id, "cancel-delete"), account_id)


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
    clock: Clock | None = None,
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
