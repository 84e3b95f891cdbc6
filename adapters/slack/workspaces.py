"""Which Slack workspace, and so which bot token, a call goes through.

One org's Slack app may be installed in several workspaces (Slack's OAuth install flow); each
installation has its own bot token. :class:`Workspaces` answers:

* ``client(team_id)``: the Web API client of that workspace (events, commands and clicks from
  workspace T are answered with T's token);
* ``admin_client``: the client of the admin channel's workspace;
* ``teams()``: every workspace to look a person up in (``users.lookupByEmail`` in each).

:class:`OneWorkspace` is the single-workspace bot of ``SLACK_BOT_TOKEN``: one client for everything.
:class:`InstalledWorkspaces` reads the installations on every call (so an install or an uninstall
on any replica counts at once) through :class:`InstalledClient`, an ``AsyncWebClient`` whose token
is looked up per API call; a workspace that is not (or no longer) installed fails the call with
:class:`NotInstalled` (a ``SlackClientError``: callers report it like any failed Slack call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.notifier import slack_client

__all__ = ["Installation", "InstalledClient", "InstalledWorkspaces", "NotInstalled", "OneWorkspace", "Workspaces"]


class NotInstalled(SlackClientError):
    """The workspace a call should go through has no installation (never installed, or uninstalled)."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"not_installed: the Slack app is not installed in workspace {team_id or '(none yet)'}")
        self.team_id = team_id


class Installation(Protocol):
    """One installed workspace as the store returns it."""

    @property
    def enterprise_id(self) -> str: ...
    @property
    def team_id(self) -> str: ...
    @property
    def bot_token(self) -> str: ...


class Installations(Protocol):
    """Reads the installations of one org (``adapters.store.slack_store.SqlSlackInstallations``)."""

    def find(self, enterprise_id: str | None, team_id: str | None) -> Installation | None: ...
    def installed(self) -> Sequence[Installation]: ...


class Workspaces(Protocol):
    """See the module docstring."""

    @property
    def admin_client(self) -> AsyncWebClient: ...
    def client(self, team_id: str) -> AsyncWebClient: ...
    async def teams(self) -> list[str]: ...


@dataclass
class OneWorkspace:
    """The single workspace of ``SLACK_BOT_TOKEN``: every call goes through its one client."""

    one: AsyncWebClient
    team_id: str

    @property
    def admin_client(self) -> AsyncWebClient:
        """The one client."""
        return self.one

    def client(self, team_id: str) -> AsyncWebClient:
        """The one client, whatever the team."""
        return self.one

    async def teams(self) -> list[str]:
        """The one workspace."""
        return [self.team_id]


class InstalledClient(AsyncWebClient):
    """An ``AsyncWebClient`` that looks its bot token up before every API call (``resolve``).

    ``resolve`` answers the token, or None when the workspace is not installed: the call then
    raises :class:`NotInstalled` without reaching Slack.
    """

    def __init__(self, resolve: Callable[[], Awaitable[tuple[str, str] | None]], **kwargs: Any) -> None:
        super().__init__(token=None, **kwargs)
        self._resolve = resolve

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        """Resolve the token (raising :class:`NotInstalled`), then call like the SDK does.

        A call that brings its own token (``apps.connections.open`` with the app-level token) is left alone.
        """
        if "Authorization" in (kwargs.get("headers") or {}):
            return await super().api_call(api_method, **kwargs)
        found = await self._resolve()
        if found is None:
            raise NotInstalled("")
        team_id, token = found
        if not token:
            raise NotInstalled(team_id)
        # Set and read (by the SDK, before its first await) without yielding: concurrent calls
        # on this client resolve the same workspace, so they cannot see another's token.
        self.token = token
        return await super().api_call(api_method, **kwargs)


@dataclass
class InstalledWorkspaces:
    """The workspaces of an org's OAuth installations (see the module docstring).

    ``admin_team``: the admin channel's workspace (SLACK_ADMIN_TEAM_ID); when empty, the
    workspace of ``static`` (SLACK_BOT_TOKEN's, when it is set too), else the first installed.
    ``static``: (team id, token) of SLACK_BOT_TOKEN, used for that workspace as if installed.
    """

    installations: Installations
    api_url: str
    admin_team: str = ""
    static: tuple[str, str] | None = None
    _clients: dict[str, AsyncWebClient] = field(default_factory=dict)

    def _client(self, resolve: Callable[[], Awaitable[tuple[str, str] | None]]) -> AsyncWebClient:
        base = slack_client("", self.api_url)
        return InstalledClient(resolve, base_url=base.base_url, retry_handlers=base.retry_handlers)

    def client(self, team_id: str) -> AsyncWebClient:
        """The client of ``team_id`` (one object per workspace; its token is looked up per call)."""
        cached = self._clients.get(team_id)
        if cached is None:

            async def resolve() -> tuple[str, str] | None:
                return team_id, await self.token(team_id)

            cached = self._clients[team_id] = self._client(resolve)
        return cached

    @property
    def admin_client(self) -> AsyncWebClient:
        """The client of the admin channel's workspace (see the class docstring)."""
        cached = self._clients.get("")
        if cached is None:

            async def resolve() -> tuple[str, str] | None:
                team = await self.admin_team_id()
                return None if team is None else (team, await self.token(team))

            cached = self._clients[""] = self._client(resolve)
        return cached

    async def token(self, team_id: str) -> str:
        """The bot token of ``team_id``; "" when it is not installed."""
        if self.static is not None and self.static[0] == team_id:
            return self.static[1]
        found = await asyncio.to_thread(self.installations.find, None, team_id)
        return "" if found is None else found.bot_token

    async def admin_team_id(self) -> str | None:
        """The admin channel's workspace, or None while nothing is installed."""
        if self.admin_team:
            return self.admin_team
        if self.static is not None:
            return self.static[0]
        installed = await asyncio.to_thread(self.installations.installed)
        return installed[0].team_id if installed else None

    async def teams(self) -> list[str]:
        """Every workspace: SLACK_BOT_TOKEN's first, then the installations, oldest first."""
        installed = await asyncio.to_thread(self.installations.installed)
        found = [self.static[0]] if self.static is not None else []
        return found + [w.team_id for w in installed if w.team_id and w.team_id not in found]
