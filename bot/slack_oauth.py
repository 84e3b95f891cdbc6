"""Slack's OAuth install flow: one org's Slack app installed into several workspaces.

On when SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET are set
(:attr:`bot.settings.Settings.slack_oauth_enabled`). Contracts:

* ``GET /slack/install`` (under ``/o/<name>/`` with a deployment file): 302 to Slack's authorize
  URL with the bot scopes (SLACK_OAUTH_SCOPES, else :data:`DEFAULT_SCOPES`, manifest.yml's), the
  redirect URL (SLACK_OAUTH_REDIRECT_URL, else PUBLIC_BASE_URL + ``/slack/oauth_redirect``) and a
  new one-use ``state``, also set as a cookie of this browser (Bolt's ``AsyncOAuthFlow``).
* ``GET /slack/oauth_redirect``: the state must come with its cookie, be one this org issued,
  unused and at most 10 minutes old (:class:`adapters.store.slack_store.SqlSlackStates`);
  then ``code`` is exchanged with ``oauth.v2.access`` on SLACK_API_URL and the installation is
  stored for this org (:class:`adapters.store.slack_store.SqlSlackInstallations`, token encrypted
  with SLACK_TOKEN_KEY, else a key derived from SLACK_CLIENT_SECRET). The answer is a plain HTML
  page; a failure names its reason and stores nothing.
* Every event, command and click from workspace T is authorized with T's installation
  (:meth:`SlackOAuth.authorize`, Bolt's ``authorize``); a workspace without one gets Bolt's
  "please install" answer. ``app_uninstalled`` and ``tokens_revoked`` (bot tokens) delete T's
  installation.
* Warnings reach a person through the workspace where ``users.lookupByEmail`` finds them
  (:class:`adapters.slack.people.WorkspacePeople`); admin-channel posts go through
  SLACK_ADMIN_TEAM_ID's workspace, else SLACK_BOT_TOKEN's when it is set too, else the first
  workspace installed (:class:`adapters.slack.workspaces.InstalledWorkspaces`).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.notifier import slack_client
from adapters.slack.workspaces import InstalledWorkspaces
from adapters.store.database import Database, EngineStore
from adapters.store.slack_store import DEFAULT_STATE_SECONDS, SqlSlackInstallations, SqlSlackStates, TokenCipher
from bot.ratelimit import RateLimiter
from bot.server import mount
from bot.settings import Settings, SettingsError
from core.errors import StoreError

log = logging.getLogger("jira_cleanup.slack.oauth")

INSTALL_PATH: Final = "/slack/install"
REDIRECT_PATH: Final = "/slack/oauth_redirect"
#: The bot scopes of manifest.yml (a test keeps them equal).
DEFAULT_SCOPES: Final = (
    "commands",
    "chat:write",
    "im:write",
    "im:history",
    "channels:history",
    "groups:history",
    "users:read",
    "users:read.email",
    "files:write",
)
#: What a failed install page says, by Bolt's reason (anything else: Slack's own error code).
REASONS: Final = {
    "invalid_browser": "the install was not started in this browser (its state cookie is missing or differs)",
    "invalid_state": "the install link was already used, has expired (after 10 minutes) or is not this org's",
    "missing_code": "Slack sent no authorization code",
    "invalid_code": "Slack refused to exchange the authorization code (oauth.v2.access failed)",
    "storage_error": "the installation could not be stored",
    "access_denied": "the installation was cancelled in Slack",
}


def oauth_scopes(settings: Settings) -> list[str]:
    """SLACK_OAUTH_SCOPES (comma or space separated), else :data:`DEFAULT_SCOPES`."""
    asked = [s for s in re.split(r"[,\s]+", settings.slack_oauth_scopes) if s]
    return asked or list(DEFAULT_SCOPES)


def redirect_url(settings: Settings) -> str:
    """SLACK_OAUTH_REDIRECT_URL, else the org's PUBLIC_BASE_URL (with its /o/<name> prefix) + the redirect path."""
    return settings.slack_oauth_redirect_url or f"{settings.public_base_url}{REDIRECT_PATH}"


def installation_scope(settings: Settings) -> str:
    """Whose installations these are: the org id in a deployment of several orgs, else ""."""
    return (settings.atlassian_org_id or "") if settings.jira_cleanup_orgs is not None else ""


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


def admin_team(settings: Settings, token_team: str | None) -> str:
    """The workspace bare ids of SLACK_ADMIN_USER_IDS belong to (raises when OAuth leaves it unknown)."""
    team = settings.slack_admin_team_id or token_team or ""
    if not team and any(t is None for t, _ in settings.slack_admin_pairs()):
        raise SettingsError(
            "SLACK_ADMIN_USER_IDS: with the Slack install flow and no SLACK_BOT_TOKEN, write each admin as "
            "TEAM:USER (T…:U…) or set SLACK_ADMIN_TEAM_ID"
        )
    return team


class _ExchangeClient(AsyncWebClient):
    """Sends the client id and secret of ``oauth.v2.access`` as form fields (Slack accepts both ways),
    not through aiohttp's deprecated ``BasicAuth``."""

    async def oauth_v2_access(  # type: ignore[override]
        self, *, client_id: str, client_secret: str, code: str | None = None, redirect_uri: str | None = None
    ) -> AsyncSlackResponse:
        fields = {"client_id": client_id, "client_secret": client_secret, "code": code, "redirect_uri": redirect_uri}
        return await self.api_call("oauth.v2.access", data={k: v for k, v in fields.items() if v is not None})


class _Flow(AsyncOAuthFlow):
    """Bolt's flow, with a store failure reported as Bolt's ``storage_error`` (nothing stored)."""

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        try:
            await self.settings.installation_store.async_save(installation)
        except (StoreError, ValueError) as exc:
            raise BoltError(f"the installation could not be stored: {exc}") from exc


def _page(status: int, title: str, text: str) -> BoltResponse:
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


async def _installed(args: AsyncSuccessArgs) -> BoltResponse:
    found = args.installation
    where = found.team_name or found.enterprise_name or "your workspace"
    ident = found.team_id or found.enterprise_id or ""
    log.warning("Slack app installed in %s (%s)", ident, where)
    return _page(200, "jira-cleanup is installed", f"jira-cleanup is now installed in {where} ({ident}).")


async def _refused(args: AsyncFailureArgs) -> BoltResponse:
    words = REASONS.get(args.reason, f"Slack answered {args.reason}")
    log.warning("Slack installation refused: %s (%s)", args.reason, words)
    status = args.suggested_status_code if args.suggested_status_code >= 400 else 400
    return _page(status, "jira-cleanup was not installed", f"Installation failed ({args.reason}): {words}.")


@dataclass
class SlackOAuth:
    """The install flow, the installations and the per-workspace clients of one org (see the module docstring)."""

    installations: SqlSlackInstallations
    states: SqlSlackStates
    workspaces: InstalledWorkspaces
    flow: AsyncOAuthFlow
    #: The per-address limit of the public pages (PUBLIC_REQUESTS_PER_MINUTE): each install writes a state.
    limiter: RateLimiter | None = None

    def authorizer(self) -> Callable[..., Awaitable[AuthorizeResult | None]]:
        """:meth:`authorize` as the plain function Bolt wants (it passes arguments by their names)."""

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
            return await self.authorize(enterprise_id, team_id)

        return authorize

    async def authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        """Bolt's ``authorize``: the bot of the request's workspace, or None when it is not installed."""
        static = self.workspaces.static
        if static is not None and team_id == static[0]:
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=static[1])
        found = await self.installations.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if found is None:
            log.warning("Slack request from %s/%s, where the app is not installed", enterprise_id, team_id)
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token=found.bot_token,
            bot_id=found.bot_id,
            bot_user_id=found.bot_user_id,
            bot_scopes=found.bot_scopes,
        )

    async def install(self, request: web.Request) -> web.StreamResponse:
        """``GET /slack/install``: 302 to Slack with a new state (and its cookie); 429 past the address's limit."""
        return self._limited(request) or await to_aiohttp_response(
            await self.flow.handle_installation(_bolt_request(request))
        )

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        """``GET /slack/oauth_redirect``: check the state, exchange the code, store the installation."""
        return self._limited(request) or await to_aiohttp_response(
            await self.flow.handle_callback(_bolt_request(request))
        )

    def _limited(self, request: web.Request) -> web.StreamResponse | None:
        wait = self.limiter.hit_request("slack-install", request) if self.limiter is not None else None
        if wait is None:
            return None
        text = "Too many install attempts from this address: try again in a minute."
        return web.Response(status=429, text=text, headers={"Retry-After": str(max(1, int(wait)))})

    def mount(self, web_app: web.Application) -> None:
        """Add both GET routes to the bot's aiohttp app."""
        mount(web_app, "GET", INSTALL_PATH, self.install)
        mount(web_app, "GET", REDIRECT_PATH, self.redirect)

    def register(self, app: AsyncApp) -> None:
        """Listen for ``app_uninstalled`` and ``tokens_revoked`` (ack, then forget the installation)."""

        async def on_removed(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await self.uninstalled(body)

        app.event("app_uninstalled")(on_removed)
        app.event("tokens_revoked")(on_removed)

    async def uninstalled(self, body: Mapping[str, Any]) -> None:
        """``app_uninstalled`` / ``tokens_revoked`` (with bot tokens): forget that workspace's installation."""
        event = body.get("event") or {}
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens were revoked: the bot's stays
        enterprise = body.get("enterprise_id") or None
        grid_wide = any(a.get("is_enterprise_install") for a in body.get("authorizations") or [])
        team = None if grid_wide else str(body.get("team_id") or "") or None
        await self.installations.async_delete_all(enterprise_id=enterprise, team_id=team)
        log.warning("Slack app removed from %s/%s (%s): installation deleted", enterprise, team, event.get("type"))


def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body="", query=request.query_string, headers={key: request.headers.getall(key) for key in request.headers}
    )


def build_oauth(
    settings: Settings,
    database: EngineStore | Database,
    *,
    static: tuple[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SlackOAuth:
    """Compose the install flow over the bot's database (nothing touches the network here).

    ``static``: (team id, token) of SLACK_BOT_TOKEN when it is set too. ``now``: the states' clock.
    """
    scope = installation_scope(settings)
    key = _secret(settings.slack_token_key) or _secret(settings.slack_client_secret)
    installations = SqlSlackInstallations(database, TokenCipher(key), scope)
    states = SqlSlackStates(database, scope, expiration_seconds=DEFAULT_STATE_SECONDS, now=now)
    cookie = "jira-cleanup-slack-state" + (f"-{re.sub(r'[^A-Za-z0-9-]', '', scope)}" if scope else "")
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id.strip(),
        client_secret=_secret(settings.slack_client_secret),
        scopes=oauth_scopes(settings),
        user_scopes=[],
        redirect_uri=redirect_url(settings),
        install_page_rendering_enabled=False,
        callback_options=AsyncCallbackOptions(success=_installed, failure=_refused),
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=states,
        state_cookie_name=cookie,
        state_expiration_seconds=DEFAULT_STATE_SECONDS,
        logger=log,
    )
    base = slack_client("", settings.slack_api_url)
    exchange = _ExchangeClient(base_url=base.base_url, retry_handlers=base.retry_handlers)
    flow = _Flow(client=exchange, settings=oauth_settings, logger=log)
    workspaces = InstalledWorkspaces(
        installations, settings.slack_api_url, admin_team=settings.slack_admin_team_id or "", static=static
    )
    return SlackOAuth(installations, states, workspaces, flow)
