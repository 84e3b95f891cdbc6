"""``SlackNotifier``: the lifecycle's :class:`core.ports.Notifier` over the Slack Web API.

Warnings go to the account's owner by DM; approvals, escalations and notices go to the admin
channel. Contracts:

* ``warn`` returns ``Delivery(True, "slack", …)`` only when ``chat.postMessage`` answered ``ok``
  (the lifecycle's "no delivery, no action" rests on it). Every other outcome — no email,
  no Slack user, a deleted / guest / external / bot user, ``conversations.open`` or
  ``chat.postMessage`` refused, rate limits still hit after the client's retries, network
  errors — is ``Delivery(False, "slack", "<error_code>: <words>")`` and never raises.
* ``actioned`` (the notice after an action) reaches the person the same way and reports the
  same way; it has no buttons: the Slack app takes ``restore`` typed in the DM.
* The buttons' raw tokens come from :meth:`core.buttons.ButtonIssuer.warning`, bound to the
  Slack user the email resolved to, and are attached to ``"<channel>:<ts>"`` once posted.
* Rate limits: pass a client whose ``retry_handlers`` include
  ``AsyncRateLimitErrorRetryHandler`` (see :func:`slack_client`), which honours ``Retry-After``.
* Admin-channel posts (``request_approval``, ``escalate``, ``notify_admins``) are best effort:
  failures are logged, never raised, because the run's state is already stored and visible
  through ``status`` and the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat_notifier import ChatNotifierBase, Parent
from adapters.slack import blocks as bk
from adapters.slack.people import EmailDirectory, Lookup, SlackUser
from core.buttons import ButtonIssuer
from core.chat import Actor, Button, actor_of_audit_id
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule
from core.ports import Delivery

log = logging.getLogger("jira_cleanup.slack.notifier")

CHANNEL: Final = "slack"
DEFAULT_RATE_LIMIT_RETRIES: Final = 5


class SlackShapeError(Exception):
    """Slack answered ``ok`` but without a field the bot needs."""


#: What a failed Slack call raises (the caller logs it and reports a failure).
SLACK_ERRORS = (SlackClientError, SlackShapeError, aiohttp.ClientError, OSError, TimeoutError)


def slack_client(token: str, base_url: str, *, rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES) -> AsyncWebClient:
    """An ``AsyncWebClient`` that retries connection errors and honours 429 ``Retry-After``.

    ``base_url`` must end with ``/`` (``https://slack.com/api/`` or a fake's). The client opens a
    session per call, so there is nothing to close.
    """
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


def actor_from_audit_id(audit_id: str | None) -> Actor | None:
    """``slack:T0ACME/U123`` back to a Slack :class:`Actor`; anything else (cli:…, system:…) is None."""
    return actor_of_audit_id(audit_id, "slack")


def error_code(exc: BaseException) -> str:
    """A short reason for a failed Slack call: Slack's error code, or the exception's class."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"http_{exc.response.status_code}")
    if isinstance(exc, SlackShapeError):
        return str(exc)
    return f"unreachable: {type(exc).__name__}"


class People(Protocol):
    """Finds the Slack user of an email (:class:`EmailDirectory`, or ``WorkspacePeople`` across workspaces)."""

    async def find(self, email: str) -> Lookup: ...
    def forget(self, email: str) -> None: ...


class SlackNotifier(ChatNotifierBase):
    """Implements ``core.ports.Notifier`` over Slack (see the module docstring for the contract).

    ``price(product)`` is the monthly price of one seat; ``contact`` names who users should ask.
    ``admin_channel`` is a channel id the bot is a member of (``None``: admin posts are only logged).

    ``client`` posts to the admin channel. With ``clients`` (one org's app installed in several
    workspaces) a person is found through ``people`` in any workspace and their DMs go through
    ``clients(<their team id>)``; otherwise everything goes through ``client``.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        issuer: ButtonIssuer,
        team_id: str,
        *,
        people: People | None = None,
        clients: Callable[[str], AsyncWebClient] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(issuer, **common)  # admin_channel, price, currency, contact
        self.client = client
        self.team_id = team_id
        self.people: People = people or EmailDirectory(client, team_id)
        self.clients = clients
        self._dms: dict[str, str] = {}

    def client_for(self, team_id: str | None) -> AsyncWebClient:
        """The client of workspace ``team_id`` (the one client of a single-workspace bot)."""
        if self.clients is None or not team_id:
            return self.client
        return self.clients(team_id)

    # -- posting ---------------------------------------------------------------------------

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        client: AsyncWebClient | None = None,
    ) -> tuple[str, str]:
        """``chat.postMessage`` (through ``client``, else the admin workspace's); returns (channel id, ts).

        Raises ``SlackApiError`` unless ok.
        """
        response = await (client or self.client).chat_postMessage(
            channel=channel, text=text, blocks=list(blocks) if blocks is not None else None
        )
        return str(response["channel"]), str(response["ts"])

    async def open_dm(self, user_id: str, *, client: AsyncWebClient | None = None) -> str:
        """The D… channel of the bot's DM with ``user_id`` (``conversations.open``, cached)."""
        cached = self._dms.get(user_id)
        if cached is not None:
            return cached
        response = await (client or self.client).conversations_open(users=user_id)
        channel = response.get("channel") or {}
        dm = str(channel.get("id", ""))
        if not dm:
            raise SlackShapeError("invalid_response: conversations.open returned no channel id")
        self._dms[user_id] = dm
        return dm

    async def dm(
        self, user_id: str, text: str, blocks: Sequence[dict[str, Any]] | None = None, *, team: str | None = None
    ) -> tuple[str, str]:
        """Post a DM to ``user_id`` of workspace ``team``; returns (D-channel, ts). Raises like :meth:`post`."""
        client = self.client_for(team)
        return await self.post(await self.open_dm(user_id, client=client), text, blocks, client=client)

    async def post_admins(
        self,
        text: str,
        blocks: Sequence[dict[str, Any]],
        buttons: tuple[Button, ...] = (),
        *,
        parent: Parent | None = None,
    ) -> tuple[str, str] | None:
        """Post to the admin channel and attach ``buttons``' tokens; None (logged) when it failed.

        ``parent``: the post opens that request's admin thread (its place is remembered).
        """
        if not self.admin_channel:
            log.warning("no SLACK_ADMIN_CHANNEL_ID: admin message not posted: %s", text)
            return None
        try:
            channel, ts = await self.post(self.admin_channel, text, blocks)
        except SLACK_ERRORS as exc:
            log.error("could not post to the admin channel (%s): %s", error_code(exc), text)
            return None
        if buttons:
            await self._attach(buttons, channel, ts)
        if parent is not None:
            await self.opened(parent, CHANNEL, channel, ts)
        return channel, ts

    async def _attach(self, buttons: tuple[Button, ...], channel: str, ts: str) -> None:
        try:
            await asyncio.to_thread(self.issuer.attach, buttons, f"{channel}:{ts}")
        except Exception:  # the message is out; updating it in place later is a nicety
            log.exception("could not attach message %s:%s to its buttons", channel, ts)

    # -- Notifier --------------------------------------------------------------------------

    async def _reach(self, account: Account) -> tuple[SlackUser, str, AsyncWebClient] | Delivery:
        """(Slack user, DM channel, their workspace's client) of the account's owner, found by email.

        Or the failed :class:`Delivery`.
        """
        if not account.email:
            return Delivery(False, CHANNEL, "no_email: the Atlassian account has no email to find it in Slack")
        found = await self.people.find(account.email)
        if found.user is None:
            return Delivery(False, CHANNEL, found.reason)
        user: SlackUser = found.user
        client = self.client_for(user.team_id)
        try:
            dm = await self.open_dm(user.user_id, client=client)
        except SLACK_ERRORS as exc:
            self.people.forget(account.email)
            return Delivery(False, CHANNEL, f"{error_code(exc)}: could not open a DM with {user.user_id}")
        return user, dm, client

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """DM the account's owner with Keep / I don't need it; delivered only on ``ok``."""
        reached = await self._reach(account)
        if isinstance(reached, Delivery):
            return reached
        user, dm, client = reached
        recipient = Actor(CHANNEL, user.team_id or self.team_id, user.user_id, user.name)
        buttons = await self.warning_buttons(account, case, recipient)
        text, blocks = bk.warning(account, case, rule, buttons=buttons, **self.wording(account, rule))
        try:
            channel, ts = await self.post(dm, text, blocks, client=client)
        except SLACK_ERRORS as exc:
            self._dms.pop(user.user_id, None)
            return Delivery(False, CHANNEL, f"{error_code(exc)}: chat.postMessage to {user.user_id} failed")
        await self._attach(buttons, channel, ts)
        return Delivery(True, CHANNEL, f"DM {channel}:{ts} to {user.user_id}")

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """DM the owner what was removed and that replying ``restore`` asks for it back; no buttons.

        Found like :meth:`warn`; delivered only when ``chat.postMessage`` answered ``ok``. Never raises.
        """
        reached = await self._reach(account)
        if isinstance(reached, Delivery):
            return reached
        user, dm, client = reached
        text, blocks = bk.actioned(account, case, contact=self.contact)
        try:
            channel, ts = await self.post(dm, text, blocks, client=client)
        except SLACK_ERRORS as exc:
            self._dms.pop(user.user_id, None)
            return Delivery(False, CHANNEL, f"{error_code(exc)}: chat.postMessage to {user.user_id} failed")
        return Delivery(True, CHANNEL, f"DM {channel}:{ts} to {user.user_id}")

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """DM the owner ``text`` (found like :meth:`warn`); delivered only when Slack answered ``ok``."""
        reached = await self._reach(account)
        if isinstance(reached, Delivery):
            return reached
        user, dm, client = reached
        message, blocks = bk.plain(text)
        try:
            channel, ts = await self.post(dm, message, blocks, client=client)
        except SLACK_ERRORS as exc:
            self._dms.pop(user.user_id, None)
            return Delivery(False, CHANNEL, f"{error_code(exc)}: chat.postMessage to {user.user_id} failed")
        return Delivery(True, CHANNEL, f"DM {channel}:{ts} to {user.user_id}")

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Post the case and the reason to the admin channel (best effort)."""
        text, blocks = bk.escalation(org_id, account, case, reason)
        await self.post_admins(text, blocks, parent=self.escalation_parent(org_id, case, text))

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Post Approve / Deny for a held run to the admin channel; a Slack requester may not use them."""
        buttons = await self.approval_buttons(run, CHANNEL)
        text, blocks = bk.approval(run, summary, buttons)
        await self.post_admins(text, blocks, buttons, parent=self.approval_parent(run, summary))

    async def notify_admins(self, org_id: str, text: str) -> None:
        """A plain notice to the admin channel (best effort)."""
        message, blocks = bk.notice(org_id, text)
        await self.post_admins(message, blocks)
