"""Map an Atlassian account's email to a Slack user who may receive a warning.

``users.lookupByEmail`` is Tier 3 (about 50 calls a minute), so answers are cached in memory
for ``ttl`` seconds: hits and definitive misses (``users_not_found``, rejected users) alike.
Transient failures (rate limit exhausted, 5xx, network) are never cached.

A Slack user is *reachable* only when the warning would really reach the person whose
Atlassian access is at stake: deleted users, bots, guests (``is_restricted`` /
``is_ultra_restricted``) and people from other workspaces (``is_stranger`` or another
``team_id``, i.e. Slack Connect) are refused with a reason, so the lifecycle escalates instead
of treating the warning as delivered.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

DEFAULT_TTL_SECONDS: Final = 3600.0
DEFAULT_MAX_ENTRIES: Final = 50_000


@dataclass(frozen=True, slots=True)
class SlackUser:
    """A Slack user of this workspace who can be sent a DM."""

    user_id: str
    team_id: str
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer for one email: ``user`` when reachable, else ``reason`` (a short code + words)."""

    user: SlackUser | None
    reason: str = ""
    definitive: bool = True  # False for transient failures (not cached)


def judge_user(user: Mapping[str, Any], team_id: str) -> Lookup:
    """Whether a Slack user object (``users.info`` / ``users.lookupByEmail``) may receive warnings."""
    uid = str(user.get("id", ""))
    if user.get("deleted"):
        return Lookup(None, f"user_deleted: Slack user {uid} is deactivated")
    if user.get("is_bot") or user.get("is_app_user"):
        return Lookup(None, f"user_is_bot: Slack user {uid} is a bot")
    if user.get("is_ultra_restricted") or user.get("is_restricted"):
        return Lookup(None, f"user_is_guest: Slack user {uid} is a guest account")
    if user.get("is_stranger") or (user.get("team_id") and str(user.get("team_id")) != team_id):
        return Lookup(None, f"user_is_external: Slack user {uid} belongs to another workspace")
    profile = user.get("profile") or {}
    name = str(profile.get("real_name") or user.get("real_name") or user.get("name") or uid)
    email = profile.get("email")
    return Lookup(SlackUser(uid, team_id, name, str(email) if email else None))


class EmailDirectory:
    """``users.lookupByEmail`` behind a TTL cache; see the module docstring for the rules.

    ``monotonic`` (seconds) is injectable so tests can expire entries without sleeping.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        team_id: str,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be > 0")
        self.client = client
        self.team_id = team_id
        self.ttl = ttl
        self.max_entries = max_entries
        self._now = monotonic
        self._cache: OrderedDict[str, tuple[float, Lookup]] = OrderedDict()
        self.api_calls = 0

    async def find(self, email: str) -> Lookup:
        """The reachable Slack user for ``email``, or why there is none. Never raises for Slack errors."""
        key = email.strip().lower()
        now = self._now()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        found = await self._lookup(email.strip())
        if found.definitive:
            self._cache[key] = (now, found)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return found

    def forget(self, email: str) -> None:
        """Drop one cached answer (e.g. after Slack said the DM could not be opened)."""
        self._cache.pop(email.strip().lower(), None)

    async def _lookup(self, email: str) -> Lookup:
        self.api_calls += 1
        try:
            response = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error == "users_not_found":
                return Lookup(None, "users_not_found: no Slack user in this workspace has this email")
            return Lookup(None, f"{error}: users.lookupByEmail failed", definitive=False)
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return Lookup(None, f"unreachable: {type(exc).__name__}", definitive=False)
        user = response.get("user")
        if not isinstance(user, Mapping):
            return Lookup(None, "invalid_response: users.lookupByEmail returned no user", definitive=False)
        return judge_user(user, self.team_id)


class Teams(Protocol):
    """The workspaces to search and their clients (``adapters.slack.workspaces.Workspaces``)."""

    def client(self, team_id: str) -> AsyncWebClient: ...
    async def teams(self) -> list[str]: ...


class WorkspacePeople:
    """A person looked up in every workspace the app is installed in (each behind its own cache).

    The first workspace where the email belongs to a reachable member wins (a Slack Connect
    stranger in one workspace may be a member of another). Otherwise the answer says why:
    ``users_not_found`` when no workspace knows the email, else the first other refusal; it is
    cached only when every workspace answered definitively.
    """

    def __init__(self, workspaces: Teams, **cache: Any) -> None:
        self.workspaces = workspaces
        self._cache = cache  # ttl, max_entries, monotonic for each workspace's EmailDirectory
        self._directories: dict[str, EmailDirectory] = {}

    def directory(self, team_id: str) -> EmailDirectory:
        """The cached lookups of one workspace."""
        found = self._directories.get(team_id)
        if found is None:
            found = self._directories[team_id] = EmailDirectory(self.workspaces.client(team_id), team_id, **self._cache)
        return found

    async def find(self, email: str) -> Lookup:
        """The reachable Slack user for ``email`` in any installed workspace, or why there is none."""
        teams = await self.workspaces.teams()
        if not teams:
            return Lookup(None, "not_installed: the Slack app is not installed in any workspace", definitive=False)
        refusals: list[Lookup] = []
        for team in teams:
            found = await self.directory(team).find(email)
            if found.user is not None:
                return found
            refusals.append(found)
        definitive = all(r.definitive for r in refusals)
        other = [r for r in refusals if not r.reason.startswith("users_not_found")]
        if other:
            return Lookup(None, other[0].reason, definitive=definitive)
        where = "this workspace" if len(teams) == 1 else f"the {len(teams)} installed workspaces"
        return Lookup(None, f"users_not_found: no Slack user in {where} has this email", definitive=definitive)

    def forget(self, email: str) -> None:
        """Drop the cached answers for ``email`` in every workspace."""
        for directory in self._directories.values():
            directory.forget(email)
