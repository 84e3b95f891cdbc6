"""The composition root: every command (``run``, ``serve``, ``approve``, ``deny``, ``restore``,
``decide-restore``, ``pause``/``resume``, ``protect``, ``report``, ``status``) gets its parts here.

:func:`open_bot` builds, from settings and the policy, and nowhere else:

* the database stores (:func:`stores`) and the Atlassian client (:func:`atlassian_config`);
* one :class:`ChatOps` (admins of every chat platform, the restore desk over the database);
* the Slack and Teams surfaces when configured, both over that ChatOps;
* the email notifier when SMTP is configured, and the email-link pages;
* the JSM webhook when its secret and the site's API credentials are set;
* one :class:`~core.notify.OrderedNotifier` over the configured channels, in the policy's
  ``lifecycle.delivery_order``: a ``jira-cleanup run`` from cron warns people and tells the
  admins exactly as the scheduler inside ``serve`` does;
* one :class:`~core.engine.Engine` with the runtime protections, the identity map and a
  transcript for dry runs.

A log line is never a delivery: without Slack, Teams or SMTP the notifier is the console
transcript, which reports nothing delivered, and a command that may act in ``mode: enforce``
is refused before anything is built (:data:`NO_CHANNEL`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.console_notifier import ConsoleNotifier
from adapters.email import EmailNotifier, SmtpConfig
from adapters.jsm import JsmClient, JsmConfig
from adapters.store import SqlChatStore, SqlRestoreStore, open_stores
from adapters.store.checkpoint import CheckpointError, CheckpointFile, load_or_create_key
from adapters.store.thread_store import SqlThreadStore
from bot.chatops import Admins, ChatOps, Reply
from bot.email_pages import EmailPages
from bot.exports import export_run, export_undo, undo_csv_path
from bot.file_links import FileLinks
from bot.jsm_webhook import JsmWebhook
from bot.lifecycle import worker_id
from bot.ratelimit import RateLimiter, parse_proxies
from bot.restore_channels import EmailChannel, JsmChannel, SlackChannel, TeamsChannel
from bot.settings import Settings, SettingsError, beside_database
from core.chatops import EngineFactory, KeepApprovals
from core.chatops.threads import Threads
from core.clock import SystemClock
from core.engine import Directory, Engine, is_undo, undo_lines
from core.engine.undo import UNDO_SUFFIX
from core.identity import IdentityError, People
from core.notify import OrderedNotifier
from core.policy import Mode, Policy
from core.ports import (
    Clock,
    LifecycleStore,
    Notifier,
    ProtectionStore,
    RestoreRequestStore,
    ScanStore,
    TokenStore,
)
from core.threads import ThreadKey, ThreadStore

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack_app import SlackIntegration
    from bot.teams_app import TeamsIntegration

log = logging.getLogger("jira_cleanup.compose")

#: Why a command that may act in enforce mode is refused when no channel reaches people.
NO_CHANNEL = (
    "mode: enforce needs a channel that reaches people, and none is configured: set SLACK_BOT_TOKEN and "
    "SLACK_SIGNING_SECRET, or MICROSOFT_APP_ID, or SMTP_HOST and SMTP_SENDER (a log is never a delivery; "
    "preview with --dry-run)"
)


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database: scans, the lifecycle, chat (tokens, protections) and restore requests."""

    scans: ScanStore
    lifecycle: LifecycleStore
    tokens: TokenStore
    protections: ProtectionStore
    restores: RestoreRequestStore
    #: Where each chat platform shows the parent of an admin thread.
    threads: ThreadStore

    def close(self) -> None:
        """Dispose of the connection pools."""
        for store in (self.scans, self.lifecycle):
            close = getattr(store, "close", None)
            if close is not None:
                close()


def stores(database_url: str) -> Stores:
    """Open (and migrate) the database at ``database_url``."""
    scans, lifecycle = open_stores(database_url)
    chat = SqlChatStore(lifecycle)
    return Stores(scans, lifecycle, chat, chat, SqlRestoreStore(lifecycle), SqlThreadStore(lifecycle))


def atlassian_config(settings: Settings, org_override: str | None) -> AtlassianConfig:
    """The Atlassian client settings from the environment (raises naming what is missing)."""
    org_id, api_key = settings.require_atlassian(org_override)
    return AtlassianConfig(
        org_id=org_id,
        api_key=api_key,
        base_url=settings.atlassian_api_base,
        directory_id=settings.atlassian_directory_id,
        requests_per_second=settings.atlassian_requests_per_second,
        max_attempts=settings.atlassian_max_attempts,
    )


#: Logged when admins on two chat platforms have no identity map: four-eyes cannot link them.
UNLINKED_ADMINS = (
    "ADMIN_IDENTITIES is empty while both Slack and Teams admins are configured: an admin on both "
    "platforms counts as two people, so they could approve their own run, undo or keep from the other "
    "one. Map each admin's identities (name = slack:TEAM/USER, teams:TENANT/AAD_ID, cli:LOGIN)."
)


def people_of(settings: Settings) -> People:
    """ADMIN_IDENTITIES as a :class:`People` map (raises naming the bad entry; warns when it is needed)."""
    try:
        people = People.parse(settings.admin_identities)
    except IdentityError as exc:
        raise SettingsError(str(exc)) from None
    if (
        not settings.admin_identities.strip()
        and settings.slack_admin_user_ids.strip()
        and settings.teams_admin_aad_ids.strip()
    ):
        log.warning(UNLINKED_ADMINS)
    return people


def audit_checkpoints(settings: Settings) -> CheckpointFile:
    """Where the audit chain's head is checkpointed, and the key that signs it (see adapters/store/checkpoint)."""
    path = settings.audit_checkpoint_file or beside_database(settings, ".audit-checkpoints")
    if settings.audit_key is not None and settings.audit_key.get_secret_value():
        key = settings.audit_key.get_secret_value().encode()
        if len(key) < 32:
            raise SettingsError("AUDIT_KEY: must be at least 32 characters")
    else:
        try:
            key = load_or_create_key(settings.audit_key_file or beside_database(settings, ".audit-key"))
        except (CheckpointError, OSError) as exc:
            raise SettingsError(f"AUDIT_KEY_FILE: {exc}") from None
    return CheckpointFile(path, key)


async def seal_audit(checkpoints: CheckpointFile, db: Stores) -> None:
    """Checkpoint the chain's head now (a failure is logged loudly, never hidden)."""
    try:
        await asyncio.to_thread(checkpoints.seal, db.lifecycle)
    except Exception:
        log.exception("could not write the audit checkpoint to %s", checkpoints.path)


def reaches_people(settings: Settings) -> bool:
    """True when at least one channel that confirms delivery to a person is configured."""
    return settings.slack_enabled or settings.teams_enabled or settings.email_enabled


class SharedEngine:
    """ChatOps' ``open_engine`` over the one engine of this process (bound once it exists).

    The engine needs the notifier of the chat surfaces and ChatOps needs the engine, so the
    surfaces are built first and the engine bound afterwards; using it before raises ``RuntimeError``.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Engine]:
        if self.engine is None:
            raise RuntimeError("the engine is not open (this command works without Atlassian)")
        yield self.engine


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
    #: The per-address limit of /slack/events and /api/messages (the server's input guard applies it).
    chat_limiter: RateLimiter | None = None

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
        """After each scheduled run: settle the queued restores it carried out, tell requesters not told yet."""
        try:
            settled = await self.chatops.desk.settle_queued()
        except Exception:
            log.exception("settling queued restores failed")
        else:
            if settled:
                log.info("%s queued restores are done; their requesters were told", settled)
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


@dataclass
class Bot:
    """What one command works with, built by :func:`open_bot`."""

    settings: Settings
    org_id: str
    policy: Policy
    db: Stores
    clock: Clock
    surfaces: Surfaces
    #: The configured channels in delivery order, or the console transcript (never a delivery).
    notifier: Notifier
    #: What a dry run would tell people (printed by the CLI after a preview).
    preview: ConsoleNotifier
    people: People
    checkpoints: CheckpointFile
    engine: Engine | None = None

    @property
    def chatops(self) -> ChatOps:
        """The chat use cases (and the restore desk) over this bot's stores and surfaces."""
        return self.surfaces.chatops

    def require_engine(self) -> Engine:
        """The engine; only commands opened with Atlassian have one."""
        if self.engine is None:
            raise RuntimeError("this command was opened without Atlassian")
        return self.engine

    async def draw_chart(self) -> Path:
        """The report chart of this org now, drawn into the report folder (see :mod:`bot.charts`)."""
        from bot.charts import report_chart

        chatops = self.surfaces.chatops
        return await report_chart(
            self.db.lifecycle, self.db.scans, self.org_id, chatops.policy(), chatops.report_folder, self.clock.now()
        )

    async def seal(self) -> None:
        """Checkpoint the audit chain's head (after every run and decision)."""
        await seal_audit(self.checkpoints, self.db)

    async def tell_admins(self, text: str, *, thread: ThreadKey | None = None) -> None:
        """Tell the admins on every configured channel (best effort: the log when none is).

        With ``thread``: platforms that show that request's thread already heard it there, so
        only the other channels (email...) get ``text`` as a notice of its own.
        """
        notifier = self.notifier
        try:
            if thread is not None and isinstance(notifier, OrderedNotifier):
                shown = {r.platform for r in await asyncio.to_thread(self.db.threads.threads_of, self.org_id, thread)}
                rest = {name: channel for name, channel in notifier.channels.items() if name not in shown}
                if not rest:
                    return
                notifier = OrderedNotifier(rest, notifier.order)
            await notifier.notify_admins(self.org_id, text)
        except Exception:
            log.exception("telling the admins failed")


@asynccontextmanager
async def open_bot(
    settings: Settings,
    policy: Policy,
    *,
    org_id: str | None = None,
    atlassian: bool = True,
    acts: bool = False,
    directory: Directory | None = None,
    clock: Clock | None = None,
    db: Stores | None = None,
    checkpoints: CheckpointFile | None = None,
) -> AsyncIterator[Bot]:
    """Build everything a command needs; close it all on exit.

    ``atlassian=False`` for commands that only touch the database and chat (``deny``, ``pause``,
    ``status``...): no API key is needed. ``acts``: the command may reduce access, so in
    ``mode: enforce`` it is refused (:class:`SettingsError`, :data:`NO_CHANNEL`) unless a
    channel reaches people. ``directory`` and ``clock`` are for tests (a simulated clock).
    ``db`` and ``checkpoints``: the stores and audit checkpoints of a process serving several
    orgs (shared, left open); by default this bot opens (and closes) its own.
    """
    if acts and policy.mode is Mode.ENFORCE and not reaches_people(settings):
        raise SettingsError(NO_CHANNEL)
    clock = clock or SystemClock()
    people = people_of(settings)
    config = atlassian_config(settings, org_id) if atlassian else None
    org = config.org_id if config is not None else settings.org_for(org_id)
    if not org:
        raise SettingsError("missing ATLASSIAN_ORG_ID (or --org)")
    checkpoints = checkpoints or audit_checkpoints(settings)
    owned = db is None
    db = db or stores(settings.database_url)
    async with AsyncExitStack() as stack:
        if owned:
            stack.callback(db.close)
        surfaces = await compose(settings, db, policy, org, clock=clock, people=people)
        stack.push_async_callback(surfaces.aclose)
        notifier = surfaces.notifier or ConsoleNotifier()
        bot = Bot(settings, org, policy, db, clock, surfaces, notifier, ConsoleNotifier(), people, checkpoints)
        stack.push_async_callback(bot.seal)  # whatever the command did, its audit rows are sealed
        surfaces.chatops.sealer = bot.seal
        surfaces.chatops.owner_notice = notifier.tell  # the owner hears of a restore asked for them
        surfaces.chatops.chart = bot.draw_chart
        if config is not None:
            if directory is None:
                directory = await stack.enter_async_context(open_directory(config))
            bot.engine = bot_engine(bot, directory)
            surfaces.bind(bot.engine)
        yield bot


def bot_engine(bot: Bot, directory: Directory) -> Engine:
    """The engine of every command, the scheduler and ``serve``: the bot's stores, channels, threads and keeps."""
    chatops = bot.surfaces.chatops
    return Engine(
        directory,
        bot.db.scans,
        bot.db.lifecycle,
        bot.notifier,
        bot.clock,
        worker_id=worker_id(),
        protections=bot.db.protections,
        preview=bot.preview,
        people=bot.people,
        threads=chatops.threads,
        waiting_keeps=KeepApprovals(chatops),  # a keep waiting for an admin hears when the deadline passes
    )


async def compose(
    settings: Settings,
    db: Stores,
    policy: Policy,
    org_id: str,
    *,
    clock: Clock | None = None,
    people: People | None = None,
) -> Surfaces:
    """Build every configured surface (the part of :func:`open_bot` tests also use on its own).

    Raises :class:`SettingsError` naming a bad setting.
    """
    clock = clock or SystemClock()
    shared = SharedEngine()
    workspace = await slack_workspace(settings)
    admins = chat_admins(settings, slack_team(settings, workspace))
    chatops = chat_ops(
        db,
        org_id,
        lambda: policy,
        shared,
        admins,
        clock,
        report_folder=Path(policy.lifecycle.report_folder or "reports"),
        people=people or people_of(settings),
    )
    surfaces = Surfaces(chatops=chatops, shared_engine=shared, notifier=None)
    channels: dict[str, Notifier] = {}
    links = file_links(settings, chatops)
    if links is not None and (settings.slack_enabled or settings.teams_enabled):
        surfaces.mounts.append(links.mount)  # report files (CSVs, the chart) behind signed links
        chatops.file_link = links.link
    if settings.slack_enabled:
        _add_slack(surfaces, settings, workspace, channels, (db, clock))
    if settings.teams_enabled:
        _add_teams(surfaces, settings, db, channels, links)
    proxies = parse_proxies(settings.trusted_proxies)
    limiter = RateLimiter(clock, settings.public_requests_per_minute, proxies=proxies)
    surfaces.chat_limiter = RateLimiter(clock, settings.chat_requests_per_minute, proxies=proxies)
    if surfaces.slack is not None and surfaces.slack.oauth is not None:
        surfaces.slack.oauth.limiter = limiter  # the install pages are public
    if settings.email_enabled:
        email = email_notifier(settings, chatops, clock)
        channels["email"] = email
        chatops.channels["email"] = EmailChannel(email)
        if email.config.admin_addresses:
            chatops.admin_posters.append(email_admins(email, org_id))
            chatops.admin_notices.append(email_notice(email, org_id))
        surfaces.names.append(f"email via {settings.smtp_host}:{settings.smtp_port}")
    surfaces.mounts.append(EmailPages(chatops, link_secret(settings), limiter, settings.public_base_url).mount)
    if settings.jsm_enabled:
        _add_jsm(surfaces, settings, limiter)
    if channels:
        surfaces.notifier = OrderedNotifier(channels, lambda: policy.lifecycle.delivery_order)
    return surfaces


async def slack_workspace(settings: Settings) -> tuple[AsyncWebClient, str] | None:
    """The Slack client of SLACK_BOT_TOKEN and the workspace id it is installed in; None without one."""
    if (
        not settings.slack_enabled
        or settings.slack_bot_token is None
        or not settings.slack_bot_token.get_secret_value()
    ):
        return None
    from slack_sdk.errors import SlackApiError

    from adapters.slack.notifier import error_code
    from adapters.slack.notifier import slack_client as make_client
    from bot.slack_app import _secret, workspace_team_id

    client = make_client(_secret(settings.slack_bot_token), settings.slack_api_url)
    try:
        return client, await workspace_team_id(client)
    except SlackApiError as exc:
        raise SettingsError(f"SLACK_BOT_TOKEN: auth.test failed ({error_code(exc)})") from None


def slack_team(settings: Settings, workspace: tuple[AsyncWebClient, str] | None) -> str | None:
    """The workspace of bare ids in SLACK_ADMIN_USER_IDS (SLACK_BOT_TOKEN's; with OAuth, see bot.slack_oauth)."""
    if settings.slack_oauth_enabled:
        from bot.slack_oauth import admin_team

        return admin_team(settings, workspace[1] if workspace is not None else None)
    return workspace[1] if workspace is not None else None


def chat_admins(settings: Settings, team_id: str | None) -> Admins:
    """The admins of every enabled chat surface."""
    admins: set[tuple[str, str, str]] = set()
    if team_id is not None:
        from bot.slack_app import slack_admins

        admins |= slack_admins(settings, team_id).allowed
    if settings.teams_enabled:
        from bot.teams_app import teams_admins

        admins |= teams_admins(settings).allowed
    return Admins(frozenset(admins))


def _add_slack(
    surfaces: Surfaces,
    settings: Settings,
    workspace: tuple[AsyncWebClient, str] | None,
    channels: dict[str, Notifier],
    where: tuple[Stores, Clock],
) -> None:
    from bot.slack_app import build_slack

    oauth = None
    if settings.slack_oauth_enabled:
        from adapters.store import SqlLifecycleStore
        from bot.slack_app import _secret
        from bot.slack_oauth import build_oauth

        db, clock = where
        if not isinstance(db.lifecycle, SqlLifecycleStore):
            raise NotImplementedError("the Slack install flow needs the SQL lifecycle store for installations")
        static = (workspace[1], _secret(settings.slack_bot_token)) if workspace is not None else None
        oauth = build_oauth(settings, db.lifecycle, static=static, now=clock.now)
    client, team_id = workspace if oauth is None and workspace is not None else (None, slack_team(settings, workspace))
    slack = build_slack(settings, surfaces.chatops, team_id=team_id or "", client=client, oauth=oauth)
    surfaces.slack = slack
    surfaces.mounts.append(slack.mount)
    surfaces.starts.append(slack.start)
    surfaces.closers.push_async_callback(slack.aclose)
    attach_slack(surfaces.chatops, slack)
    channels["slack"] = slack.notifier
    surfaces.names.append("Slack at /slack/events" + (" (installs at /slack/install)" if oauth is not None else ""))


def _add_teams(
    surfaces: Surfaces, settings: Settings, db: Stores, channels: dict[str, Notifier], links: FileLinks | None
) -> None:
    from bot.teams_app import build_teams, conversation_store

    # Orgs of one deployment file keep their own references (two orgs' bots may talk to one person).
    scope = (settings.atlassian_org_id or "") if settings.jira_cleanup_orgs is not None else ""
    teams = build_teams(settings, surfaces.chatops, conversation_store(db, scope))
    surfaces.teams = teams
    surfaces.mounts.append(teams.mount)
    surfaces.closers.push_async_callback(teams.aclose)
    attach_teams(surfaces.chatops, teams, links)
    channels["teams"] = teams.notifier
    surfaces.names.append("Teams at /api/messages")


def _add_jsm(surfaces: Surfaces, settings: Settings, limiter: RateLimiter) -> None:
    config = jsm_config(settings)
    client = JsmClient(config)
    surfaces.closers.push_async_callback(client.aclose)
    surfaces.chatops.channels["jsm"] = JsmChannel(client, config.done_transition, config.declined_transition)
    secret = settings.jsm_webhook_secret.get_secret_value() if settings.jsm_webhook_secret else ""
    surfaces.mounts.append(JsmWebhook(surfaces.chatops, secret, config, limiter).mount)
    surfaces.names.append("JSM webhook at /jsm/webhook")


def chat_ops(
    db: Stores,
    org_id: str,
    load_policy: Callable[[], Policy],
    open_engine: EngineFactory,
    admins: Admins,
    clock: Clock,
    *,
    report_folder: Path,
    people: People | None = None,
) -> ChatOps:
    """The chat use cases over ``db`` (serve, the CLI and the chat test worlds all build them here)."""
    stores = (db.scans, db.lifecycle, db.tokens, db.protections)

    def export(org: str, run_id: str) -> Path:
        if is_undo(run_id):  # an undo's CSV says, per account, what was restored and why not
            path = undo_csv_path(report_folder, org, run_id)
            export_undo(undo_lines(db.lifecycle, run_id.removesuffix(UNDO_SUFFIX), clock.now()), path)
            return path
        path = report_folder / f"jira-cleanup-run-{org}-{run_id[:12]}-outcome.csv"
        export_run(db.scans, db.lifecycle, run_id, path)
        return path

    return ChatOps(
        org_id,
        load_policy,
        open_engine,
        *stores,
        admins,
        clock,
        report_folder,
        db.restores,
        people=people or People(),
        threads=Threads(db.threads, export_run=export),
    )


def attach_slack(chatops: ChatOps, slack: SlackIntegration) -> None:
    """Slack takes admin posts, keeps admin threads and tells Slack requesters their restore outcome."""
    from adapters.slack.threads import SlackThreads

    chatops.admin_posters.append(slack.post_to_admins)
    chatops.channels["slack"] = SlackChannel(slack.notifier)
    chatops.threads.add(SlackThreads(slack.notifier.client))
    slack.notifier.thread_opened = chatops.threads.opened


def attach_teams(chatops: ChatOps, teams: TeamsIntegration, links: FileLinks | None = None) -> None:
    """Teams takes admin posts, keeps admin threads and tells Teams requesters their restore outcome.

    ``links``: CSVs (a held run's in its thread, a command's in its answer) reach Teams as signed
    download links (without: the reply names the file on the server).
    """
    from adapters.teams.threads import TeamsThreads

    chatops.admin_posters.append(teams.post_to_admins)
    chatops.channels["teams"] = TeamsChannel(teams.notifier)
    link = links.link if links is not None else None
    teams.file_link = link  # a command's CSV (preview, run) as a download link in its answer
    chatops.threads.add(TeamsThreads(teams.notifier, link))
    teams.notifier.thread_opened = chatops.threads.opened


def email_admins(email: EmailNotifier, org_id: str) -> Callable[[Reply], Awaitable[bool]]:
    """An admin poster that emails EMAIL_ADMIN_ADDRESSES (they decide with ``jira-cleanup decide-restore``)."""

    async def post(reply: Reply) -> bool:
        await email.notify_admins(org_id, f"{reply.title}: {reply.text}" if reply.title else reply.text)
        return True

    return post


def email_notice(email: EmailNotifier, org_id: str) -> Callable[[str], Awaitable[None]]:
    """A plain notice to EMAIL_ADMIN_ADDRESSES (what an admin thread says, for admins who have none)."""

    async def tell(text: str) -> None:
        await email.notify_admins(org_id, text)

    return tell


def file_links(settings: Settings, chatops: ChatOps) -> FileLinks | None:
    """Download links for report files, when LINK_SECRET is set (every replica must verify them)."""
    if settings.link_secret is None or not settings.link_secret.get_secret_value():
        return None
    return FileLinks(link_secret(settings), chatops.report_folder, settings.public_base_url, chatops.clock.now)


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
