"""Where the Atlassian adapter works: the org, its directory, and the paths and ids it sends.

:class:`OrgScope` holds the transport and resolves the directory (:meth:`OrgScope.describe_org`);
the reads (:mod:`adapters.atlassian.client`) and writes (:mod:`adapters.atlassian.writes`) build on it.
"""

from __future__ import annotations

import asyncio
import random
import re

import httpx

from adapters.atlassian.config import AtlassianConfig
from adapters.atlassian.limiter import Now, OrgRateLimiter, Sleep, utc_now
from adapters.atlassian.mapping import directory_ids, next_cursor
from adapters.atlassian.transport import AtlassianTransport, RequestStats, json_object, segment
from core.errors import DirectoryError
from core.model import DirectoryId, Org, OrgId

ALL_DIRECTORIES = "-"

#: What Atlassian account ids look like: 24 hex digits, or ``<number>:<uuid>``; letters, digits, ``:-_``.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-]{0,127}")


class OrgScope:
    """The org a directory adapter works on, with its transport; see :class:`AtlassianDirectory`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: AtlassianConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Now = utc_now,
        rng: random.Random | None = None,
        limiter: OrgRateLimiter | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._http = AtlassianTransport(
            client,
            config,
            sleep=sleep,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
            limiter=limiter
            or OrgRateLimiter(
                config.org_id,
                requests_per_second=config.requests_per_second,
                burst=config.burst,
                clock=clock,
                sleep=sleep,
            ),
        )
        self._org: Org | None = None
        self._org_path = f"/admin/v2/orgs/{segment(config.org_id)}"
        self.stats: RequestStats = self._http.stats

    def __repr__(self) -> str:
        return f"AtlassianDirectory(org_id={self._config.org_id!r}, base_url={str(self._client.base_url)!r})"

    @property
    def config(self) -> AtlassianConfig:
        """The configuration this directory was built with."""
        return self._config

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
            page = json_object(await self._http.request("GET", path, params=params, mutating=False))
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
        return f"{self._org_path}/directories/{segment(directory_id)}/users"

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
        return segment(value)
