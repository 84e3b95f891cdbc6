"""The composition root of ``jira-cleanup serve``: one ChatOps, every surface, one notifier.

Everything the running bot is made of is built here, from settings, and nowhere else:

* one :class:`ChatOps` (admins of every chat platform, the restore desk over the database);
* the Slack and Teams surfaces when configured, both over that ChatOps;
* the email notifier when SMTP is configured, and the email-link pages;
* the JSM webhook when its secret and the site's API credentials are set;
* one :class:`~core.notify.OrderedNotifier` over the configured channels, in the policy's
  ``lifecycle.delivery_order``; the engine is bound once it is opened (:meth:`Surfaces.bind`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.email import EmailNotifier, SmtpConfig
from adapters.jsm import JsmClient, JsmConfig
from bot.chatops import Admins, ChatOps, Reply
from bot.email_pages import EmailPages
from bot.jsm_webhook import JsmWebhook
from bot.lifecycle import SharedEngine, Stores
from bot.ratelimit import RateLimiter
from bot.restore_channels import EmailChannel, JsmChannel, SlackChannel, TeamsChannel
from bot.settings import Settings, SettingsError
from core.clock import SystemClock
from core.engine import Engine
from core.notify import OrderedNotifier
from core.policy import Policy
from core.ports import Clock, Notifier

if TYPE_CHECKING:
    from bot.slack_app import SlackIntegration
    from bot.teams_app import TeamsIntegration

log = logging.getLogger("jira_cleanup.compose")


@dataclass
class Surfaces:
    """What ``serve`` runs: the shared ChatOps, the surfaces, and the notifier for the engine."""

    chatops: ChatOps
    shared_engine: SharedEngine
    notifier: Notifier | None
    mounts: list[Callable[[web.Application], None]] = field(default_factory=list)
    starts: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    closers: AsyncExitStack = field(default_factory=AsyncExitStack)
    slack: SlackIntegration | None = None
    teams: TeamsIntegration | None = None
    names: list[str] = field(default_factory=list)

    def bind(self, engine: Engine) -> None:
        """Give every surface the engine ``serve`` opened."""
        self.shared_engine.engine = engine

    def mount(self, app: web.Application) -> None:
        """Add every surface's routes."""
        for mount in self.mounts:
            mount(app)

    async def start(self) -> None:
        """Start what needs a connection of its own (Slack Socket Mode)."""
        for start in self.starts:
            await start()

    async def housekeeping(self) -> None:
        """After each scheduled run: tell restore requesters whose outcome did not reach them yet."""
        try:
            told = await self.chatops.desk.retell()
        except Exception:
            log.exception("telling restore requesters again failed")
            return
        if told:
            log.info("told %s restore requesters their outcome on a second try", told)

    async def aclose(self) -> None:
        """Close every surface and client."""
        await self.closers.aclose()


async def compose(
    settings: Settings, db: Stores, policy: Policy, org_id: str, *, clock: Clock | None = None
) -> Surfaces:
    """Build every configured surface. Raises :class:`SettingsError` naming a bad setting."""
    clock = clock or SystemClock()
    shared = SharedEngine()
    admins: set[tuple[str, str, str]] = set()
    slack_client = team_id = None
    if settings.slack_enabled:
        from slack_sdk.errors import SlackApiError

        from adapters.slack.notifier import error_code
        from adapters.slack.notifier import slack_client as make_client
        from bot.slack_app import _secret, slack_admins, workspace_team_id

        slack_client = make_client(_secret(settings.slack_bot_token), settings.slack_api_url)
        try:
            team_id = await workspace_team_id(slack_client)
        except SlackApiError as exc:
            raise SettingsError(f"SLACK_BOT_TOKEN: auth.test failed ({error_code(exc)})") from None
        admins |= slack_admins(settings, team_id).allowed
    if settings.teams_enabled:
        from bot.teams_app import teams_admins

        admins |= teams_admins(settings).allowed
    chatops = ChatOps(
        org_id=org_id,
        load_policy=lambda: policy,
        open_engine=shared,
        scans=db.scans,
        lifecycle=db.lifecycle,
        tokens=db.tokens,
        protections=db.protections,
        admins=Admins(frozenset(admins)),
        clock=clock,
        report_folder=Path(policy.lifecycle.report_folder or "reports"),
        restores=db.restores,
    )
    surfaces = Surfaces(chatops=chatops, shared_engine=shared, notifier=None)
    channels: dict[str, Notifier] = {}
    if slack_client is not None and team_id is not None:
        from bot.slack_app import build_slack

        slack = build_slack(settings, chatops, team_id=team_id, client=slack_client)
        surfaces.slack = slack
        surfaces.mounts.append(slack.mount)
        surfaces.starts.append(slack.start)
        surfaces.closers.push_async_callback(slack.aclose)
        chatops.admin_posters.append(slack.post_to_admins)
        chatops.channels["slack"] = SlackChannel(slack.notifier)
        channels["slack"] = slack.notifier
        surfaces.names.append("Slack at /slack/events")
    if settings.teams_enabled:
        from bot.teams_app import build_teams, conversation_store

        teams = build_teams(settings, chatops, conversation_store(db))
        surfaces.teams = teams
        surfaces.mounts.append(teams.mount)
        surfaces.closers.push_async_callback(teams.aclose)
        chatops.admin_posters.append(teams.post_to_admins)
        chatops.channels["teams"] = TeamsChannel(teams.notifier)
        channels["teams"] = teams.notifier
        surfaces.names.append("Teams at /api/messages")
    limiter = RateLimiter(clock, settings.public_requests_per_minute, trust_forwarded_for=settings.trust_forwarded_for)
    if settings.email_enabled:
        email = email_notifier(settings, chatops, clock)
        channels["email"] = email
        chatops.channels["email"] = EmailChannel(email)
        if email.config.admin_addresses:
            chatops.admin_posters.append(email_admins(email, org_id))
        surfaces.names.append(f"email via {settings.smtp_host}:{settings.smtp_port}")
    pages = EmailPages(chatops, link_secret(settings), limiter, settings.public_base_url)
    surfaces.mounts.append(pages.mount)
    if settings.jsm_enabled:
        config = jsm_config(settings)
        client = JsmClient(config)
        surfaces.closers.push_async_callback(client.aclose)
        jsm_channel = JsmChannel(client, config.done_transition, config.declined_transition)
        chatops.channels["jsm"] = jsm_channel
        secret = settings.jsm_webhook_secret.get_secret_value() if settings.jsm_webhook_secret else ""
        webhook = JsmWebhook(chatops, secret, config, limiter)
        surfaces.mounts.append(webhook.mount)
        surfaces.names.append("JSM webhook at /jsm/webhook")
    if channels:
        surfaces.notifier = OrderedNotifier(channels, lambda: policy.lifecycle.delivery_order)
    return surfaces


def email_admins(email: EmailNotifier, org_id: str) -> Callable[[Reply], Awaitable[bool]]:
    """An admin poster that emails EMAIL_ADMIN_ADDRESSES (they decide with ``jira-cleanup decide-restore``)."""

    async def post(reply: Reply) -> bool:
        await email.notify_admins(org_id, f"{reply.title}: {reply.text}" if reply.title else reply.text)
        return True

    return post


def link_secret(settings: Settings) -> bytes:
    """LINK_SECRET, or a per-process random key (links then only confirm on the replica that showed them)."""
    if settings.link_secret is not None and settings.link_secret.get_secret_value():
        return settings.link_secret.get_secret_value().encode()
    if settings.email_enabled:
        log.warning("LINK_SECRET is not set: email page forms only work on this process; set it for replicas")
    return secrets.token_bytes(32)


def jsm_config(settings: Settings) -> JsmConfig:
    """The JSM client configuration from JSM_* settings."""
    token = settings.jsm_api_token.get_secret_value() if settings.jsm_api_token else ""
    try:
        return JsmConfig(
            site_url=settings.jsm_site_url or "",
            email=settings.jsm_email or "",
            api_token=token,
            service_desk_id=settings.jsm_service_desk_id,
            request_type_id=settings.jsm_request_type_id,
            done_transition=settings.jsm_done_transition,
            declined_transition=settings.jsm_declined_transition,
        )
    except ValueError as exc:
        raise SettingsError(f"JSM_SITE_URL: {exc}") from None


def email_notifier(settings: Settings, chatops: ChatOps, clock: Clock) -> EmailNotifier:
    """The email notifier from SMTP_* settings."""
    admins = tuple(a.strip() for a in settings.email_admin_addresses.split(",") if a.strip())
    try:
        config = SmtpConfig(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            sender=settings.smtp_sender or "",
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls,
            admin_addresses=admins,
        )
    except ValueError as exc:
        raise SettingsError(f"SMTP_*: {exc}") from None
    try:
        return EmailNotifier(
            config,
            chatops.buttons,
            base_url=settings.public_base_url,
            price=lambda product: chatops.load_policy().price(product),
            currency=chatops.load_policy().currency,
            contact=settings.email_warning_contact,
            clock=clock,
            templates_dir=settings.email_templates_dir,
        )
    except ValueError as exc:
        raise SettingsError(f"EMAIL_TEMPLATES_DIR: {exc}") from None
