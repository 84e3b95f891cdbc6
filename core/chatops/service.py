"""The chat use cases behind every surface: commands, button clicks, restore requests.

Platform handlers translate a payload into an :class:`~core.chat.Actor` plus text or a raw
button token, call :class:`ChatOps`, and render the :class:`~core.chatops.replies.Reply` it
returns. Nothing here knows Slack or Teams. Slow work (scans, runs) goes to a background task
that reports back through the ``respond`` callback the platform passes in, so handlers can ack
at once; the scan-and-run job itself is a port (:data:`RunJob`) the composition root provides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.buttons import ButtonIssuer
from core.chat import ActionToken, Actor, Button, TokenStatus, hash_token, judge_use
from core.chatops.clicks import ButtonActions
from core.chatops.commands import COMMANDS, AdminCommands
from core.chatops.registry import CommandError, Target
from core.chatops.replies import AdminNotice, AdminPoster, Admins, ClickResult, Reply, Respond
from core.chatops.restores import AdminPosts, RestoreRequests
from core.chatops.threads import ThreadAnswer, ThreadDecisions, Threads
from core.engine import Engine, RunReport
from core.identity import People
from core.ledger import RunStatus
from core.model import Account
from core.policy import Policy
from core.ports import (
    Clock,
    LifecycleStore,
    ProtectionStore,
    RequesterChannel,
    RestoreRequestStore,
    ScanStore,
    TokenStore,
)
from core.protection import effective_policy
from core.restore import RestoreDesk, Submission, TellOwner
from core.threads import NoThreadStore

log = logging.getLogger("jira_cleanup.chatops")

EngineFactory = Callable[[], AbstractAsyncContextManager[Engine]]
#: Scan (writing the run CSV) and run once: (policy, requested by, dry run) → report and CSV path.
RunJob = Callable[[Policy, str, bool], Awaitable[tuple[RunReport, Path | None]]]


@dataclass
class ChatOps:
    """The platform-neutral use cases behind every chat surface."""

    org_id: str
    load_policy: Callable[[], Policy]
    open_engine: EngineFactory
    scans: ScanStore
    lifecycle: LifecycleStore
    tokens: TokenStore
    protections: ProtectionStore
    admins: Admins
    clock: Clock
    report_folder: Path = Path("reports")
    restores: RestoreRequestStore | None = None
    #: Where to answer requesters who asked outside chat (``email``, ``jsm``), by source.
    channels: dict[str, RequesterChannel] = field(default_factory=dict)
    #: Post a restore approval request to the admins of every chat surface (requests from email/JSM).
    admin_posters: list[AdminPoster] = field(default_factory=list)
    #: Admins without admin threads (email): told what the threads hear of a keep waiting for them.
    admin_notices: list[AdminNotice] = field(default_factory=list)
    #: Who is who across platforms (four-eyes compares persons, not platform accounts).
    people: People = field(default_factory=People)
    #: Checkpoints the audit chain after each decision (set by the composition root).
    sealer: Callable[[], Awaitable[None]] | None = None
    #: Tells an account's owner about a restore someone else asked for them (set by the composition root).
    owner_notice: TellOwner | None = None
    #: Draws the report chart (a PNG in the report folder) for ``report`` (set by the composition root).
    chart: Callable[[], Awaitable[Path]] | None = None
    #: A public, signed link to a report file (None: no LINK_SECRET; set by the composition root).
    file_link: Callable[[Path], str | None] | None = None
    #: When the scheduled run fires next (set by ``serve``; None elsewhere).
    next_run: Callable[[], datetime | None] | None = None
    #: Scans and runs for ``preview`` and a confirmed ``run`` (set by the composition root).
    run_job: RunJob | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: The admin threads of held runs on every chat surface (the composition root adds the surfaces).
    threads: Threads = field(default_factory=lambda: Threads(NoThreadStore()))

    def policy(self) -> Policy:
        """The effective policy: the file plus protections added at runtime (computed in core)."""
        return effective_policy(self.load_policy(), self.protections, self.org_id)

    @property
    def buttons(self) -> ButtonIssuer:
        """Issues the tokens behind this org's buttons."""
        return ButtonIssuer(self.tokens, self.clock, self.org_id)

    @property
    def desk(self) -> RestoreDesk:
        """The restore desk over this org's stores (every request source goes through it)."""
        return RestoreRequests(self).desk()

    # -- the use cases adapters call --------------------------------------------------------

    async def command(self, actor: Actor, text: str, respond: Respond) -> Reply:
        """Handle ``/jira-cleanup <text>`` from ``actor``; slow work reports later via ``respond``."""
        if not self.admins.is_admin(actor):
            return Reply("Sorry, /jira-cleanup is for jira-cleanup admins only.", ok=False)
        try:
            command = COMMANDS.parse(text)
        except CommandError as exc:
            return Reply(str(exc), ok=False)
        result = await AdminCommands(self).dispatch(actor, command, respond)
        await self.seal()
        return result

    async def thread_reply(self, actor: Actor, platform: str, channel: str, parent: str, text: str) -> ThreadAnswer:
        """A message under a thread parent: ``approve`` / ``deny because …`` decide its request."""
        return await ThreadDecisions(self).answer(actor, platform, channel, parent, text)

    async def click(self, actor: Actor, raw: str, respond: Respond, *, justification: str | None = None) -> ClickResult:
        """A button was clicked. Checks the clicker, expiry and single use, then acts once."""
        return await ButtonActions(self).click(actor, raw, respond, justification)

    def own(self, token: ActionToken | None) -> ActionToken | None:
        """``token`` when it belongs to this org, else None: a button of another org of the deployment
        (one database holds them all) is unknown here, whoever presents it."""
        return token if token is not None and token.org_id == self.org_id else None

    async def peek(self, raw: str, actor: Actor | None = None) -> tuple[ActionToken | None, TokenStatus]:
        """The token behind a raw button value and whether ``actor`` (default: the one it is for)
        may use it now; consumes nothing."""
        token = self.own(await asyncio.to_thread(self.tokens.get_token, hash_token(raw)))
        if token is None:
            return None, TokenStatus.UNKNOWN
        who = actor or token.intended
        if who is None:
            return token, TokenStatus.UNKNOWN
        return token, judge_use(token, who, self.clock.now())

    async def request_restore(self, requester: Actor, email: str, *, for_email: str | None = None) -> Reply:
        """A locked-out user asks for access back in chat (``email``: theirs): the answer to them.

        Like every other source, the request reaches the admins of every configured surface
        (Slack, Teams, email), not only those of the platform it came from. ``for_email``: the
        requester asks for that person's access (admins and ``restore.on_behalf_groups`` only).
        """
        return await RestoreRequests(self).from_chat(requester, email, for_email=for_email)

    async def submit_restore(self, source: str, requester: Actor, account_id: str, **where: Any) -> Submission:
        """A restore request from outside chat (email page, JSM): route to the admins of every surface.

        ``where`` are :meth:`core.restore.RestoreDesk.submit`'s keywords (reply_to, request_id, answered).
        """
        return await RestoreRequests(self).submit(source, requester, account_id, **where)

    async def post_to_admins(self, reply: Reply) -> bool:
        """Post ``reply`` to every chat surface's admins; True when at least one took it."""
        return await AdminPosts(self).post(reply)

    async def warning_buttons(self, account: Account, case_id: str, recipient: Actor) -> tuple[Button, Button]:
        """Issue the Keep / I don't need it tokens for one warning, bound to ``recipient``."""
        return await asyncio.to_thread(self.buttons.warning, case_id, account.account_id, recipient)

    async def approval_buttons(self, run_id: str, requester: Actor | None) -> tuple[Button, Button]:
        """Issue Approve / Deny tokens for a held run; the requester may not use them."""
        return await asyncio.to_thread(self.buttons.approval, run_id, requester)

    async def resolve_account(self, target: Target) -> str | None:
        """Account id for an email or id, from the latest scan."""
        if target.kind == "account":
            return target.value
        if target.kind != "email":
            return None
        latest = await asyncio.to_thread(self.scans.latest_scan, self.org_id)
        if latest is None:
            return None
        return await asyncio.to_thread(_find_by_email, self.scans, latest.run_id, target.value)

    # -- runs, audit and background work -------------------------------------------------

    def start_run(self, actor: Actor, respond: Respond, *, dry_run: bool) -> None:
        """Scan and run in the background; the report goes to ``respond``."""
        self._background(self._run(actor, respond, dry_run=dry_run))

    async def _run(self, actor: Actor, respond: Respond, *, dry_run: bool) -> None:
        if self.run_job is None:
            raise RuntimeError("ChatOps has no run job")
        try:
            report, written = await self.run_job(self.policy(), actor.audit_id, dry_run)
        except Exception as exc:
            log.exception("chat-requested run failed")
            await self.seal()
            await respond(Reply(f"The run failed: {type(exc).__name__}: {exc}", ok=False))
            return
        await self.seal()
        await respond(self.render_run(report, written))

    @staticmethod
    def render_run(report: RunReport, csv_path: Path | None = None) -> Reply:
        """A run report as a reply."""
        lines = tuple((k.replace("_", " "), f"{v:,}") for k, v in sorted(report.counts.items()))
        scan = report.scan
        if scan is not None:
            summary = scan.summary
            lines = (
                ("Accounts scanned", f"{scan.accounts:,}"),
                ("Estimated savings", f"{summary.monthly_savings:,.2f} {summary.currency}/month"),
                *lines,
            )
        text = report.note or ("Done." if report.status is not RunStatus.AWAITING_APPROVAL else "")
        return Reply(text, title=f"Run {report.run_id[:12]} · {report.status.value}", lines=lines, file=csv_path)

    async def seal(self) -> None:
        """Checkpoint the audit chain, when the composition root gave a sealer."""
        if self.sealer is not None:
            await self.sealer()

    def _background(self, job: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for background work (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def _find_by_email(scans: ScanStore, run_id: str, email: str) -> str | None:
    for account in scans.iter_accounts(run_id):
        if account.email is not None and account.email.lower() == email:
            return str(account.account_id)
    return None
