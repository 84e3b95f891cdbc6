"""Chat operations shared by Slack and Teams: commands, button clicks, restore requests.

Platform handlers translate a payload into an :class:`~core.chat.Actor` plus text or a raw
button token, call :class:`ChatOps`, and render the :class:`Reply` it returns. Nothing here
knows Slack or Teams. Slow work (scans, runs) goes to a background task that reports back
through the ``respond`` callback the platform passes in, so handlers can ack at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.commands import Command, CommandError, Target, help_text, parse
from bot.lifecycle import run_csv_path, run_once
from core.buttons import ButtonIssuer
from core.chat import ADMIN_PURPOSES, Actor, Button, Purpose, TokenStatus, hash_token, judge_use
from core.engine import Engine, RunReport, set_paused
from core.identity import People
from core.ledger import RunStatus
from core.model import Account
from core.policy import Mode, Policy
from core.ports import (
    Clock,
    LifecycleStore,
    ProtectionStore,
    RequesterChannel,
    RestoreRequestStore,
    ScanStore,
    TokenStore,
)
from core.protection import effective_policy, set_protection
from core.restore import RestoreDesk, Submission
from core.restore_model import RestoreRequest
from core.savings import realised_savings

log = logging.getLogger("jira_cleanup.chatops")


@dataclass(frozen=True, slots=True)
class Reply:
    """What to show the person: text, optional key/value lines, buttons and a file."""

    text: str
    ok: bool = True
    title: str = ""
    lines: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    file: Path | None = None
    public: bool = False  # visible to the channel rather than only to the caller


@dataclass(frozen=True, slots=True)
class ClickResult:
    """What a button click did; ``message_ref`` is the message to update in place, if known."""

    status: TokenStatus
    text: str
    purpose: Purpose | None = None
    message_ref: str | None = None
    first: bool = False  # True only for the click that actually did something
    ok: bool = True  # False when the click was valid but the action was refused (e.g. keep limit)
    tell: Actor | None = None  # someone else to tell about the outcome (the requester of a restore)


Respond = Callable[[Reply], Awaitable[None]]
#: Posts a reply (with buttons) where a chat surface's admins are; True when it was posted.
AdminPoster = Callable[[Reply], Awaitable[bool]]

EngineFactory = Callable[[], AbstractAsyncContextManager[Engine]]


@dataclass(frozen=True, slots=True)
class Admins:
    """Who may run admin commands: an allow-list of actors (platform, tenant, user id)."""

    allowed: frozenset[tuple[str, str, str]] = frozenset()

    @classmethod
    def of(cls, actors: Iterable[Actor]) -> Admins:
        """Build from actors."""
        return cls(frozenset((a.platform, a.tenant, a.user_id) for a in actors))

    def is_admin(self, actor: Actor) -> bool:
        """True for listed actors only: names and emails never grant anything."""
        return (actor.platform, actor.tenant, actor.user_id) in self.allowed


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
    #: Who is who across platforms (four-eyes compares persons, not platform accounts).
    people: People = field(default_factory=People)
    #: Checkpoints the audit chain after each decision (set by the composition root).
    sealer: Callable[[], Awaitable[None]] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- policy ----------------------------------------------------------------------------

    def policy(self) -> Policy:
        """The effective policy: the file plus protections added at runtime (computed in core)."""
        return effective_policy(self.load_policy(), self.protections, self.org_id)

    # -- commands --------------------------------------------------------------------------

    async def command(self, actor: Actor, text: str, respond: Respond) -> Reply:
        """Handle ``/jira-cleanup <text>`` from ``actor``; slow work reports later via ``respond``."""
        if not self.admins.is_admin(actor):
            return Reply("Sorry, /jira-cleanup is for jira-cleanup admins only.", ok=False)
        try:
            command = parse(text)
        except CommandError as exc:
            return Reply(str(exc), ok=False)
        handler = getattr(self, f"_cmd_{command.name}")
        result: Reply = await handler(actor, command, respond)
        await self.seal()
        return result

    async def _cmd_help(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return Reply(help_text(), title="jira-cleanup commands")

    async def _cmd_policy(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.policy()
        lines = tuple(
            (
                r.name,
                f"{r.product}: {r.action.value} after {r.inactive_days} days, warn {r.warn_days_before} days "
                f"before" + (f", delete {r.delete_after_days} days later" if r.delete_after_days else ""),
            )
            for r in policy.rules
        )
        protected = f"{len(policy.protected.accounts)} accounts, {len(policy.protected.groups)} groups"
        return Reply(f"Mode: {policy.mode.value}. Protected: {protected}.", title="Effective policy", lines=lines)

    async def _cmd_status(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        paused = await asyncio.to_thread(self.lifecycle.is_paused, self.org_id)
        runs = await asyncio.to_thread(self.lifecycle.recent_runs, self.org_id, 5)
        cases = await asyncio.to_thread(self.lifecycle.open_cases, self.org_id)
        held = [r for r in runs if r.status is RunStatus.AWAITING_APPROVAL]
        by_state: dict[str, int] = {}
        for case in cases.values():
            by_state[case.state.value] = by_state.get(case.state.value, 0) + 1
        lines = [("Kill switch", "ON — nothing will be changed" if paused else "off")]
        lines.append(("Open cases", ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "none"))
        lines.append(("Awaiting approval", ", ".join(f"{r.run_id[:12]} ({r.held})" for r in held) or "none"))
        for run in runs:
            lines.append(
                (
                    f"Run {run.run_id[:12]}",
                    f"{run.created_at:%Y-%m-%d %H:%M} UTC · {run.mode} · {run.status.value} · by {run.requested_by}",
                )
            )
        return Reply("", title="jira-cleanup status", lines=tuple(lines))

    async def _cmd_pause(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        await asyncio.to_thread(
            set_paused, self.lifecycle, self.clock, self.org_id, True, actor.audit_id, command.reason
        )
        return Reply("Paused: jira-cleanup will change nothing until `/jira-cleanup resume`.", public=True)

    async def _cmd_resume(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        await asyncio.to_thread(set_paused, self.lifecycle, self.clock, self.org_id, False, actor.audit_id, "")
        return Reply("Resumed: pending actions continue on the next run.", public=True)

    async def _cmd_report(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.policy()
        entries = await asyncio.to_thread(self.lifecycle.entries, self.org_id)
        savings = await asyncio.to_thread(realised_savings, entries, self.scans.get_account, policy)
        lines = tuple(
            (product, f"{savings.seats[product]} seats · {savings.monthly[product]:,.2f} {savings.currency}/month")
            for product in sorted(savings.seats)
        )
        return Reply(
            f"Total: {sum(savings.seats.values())} seats, {savings.total:,.2f} {savings.currency}/month "
            f"({savings.restored} restored accounts not counted).",
            title="License savings",
            lines=lines,
        )

    async def _cmd_protect(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return await self._protect(actor, command, True)

    async def _cmd_unprotect(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return await self._protect(actor, command, False)

    async def _protect(self, actor: Actor, command: Command, protected: bool) -> Reply:
        target = command.target
        assert target is not None  # the grammar guarantees it
        kind = "group" if target.kind == "group" else "account"
        result = await asyncio.to_thread(
            set_protection,
            self.protections,
            self.lifecycle,
            self.scans,
            self.clock,
            self.org_id,
            kind,
            target.value,
            protected,
            actor.audit_id,
        )
        return Reply(result.text)

    async def _cmd_restore(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        target = command.target
        assert target is not None
        account_id = await self.resolve_account(target)
        if account_id is None:
            return Reply(f"No account matches {target.value} in the latest scan.", ok=False)
        policy = self.policy()
        async with self.open_engine() as engine:
            result = await engine.restore(
                self.org_id, account_id, actor.audit_id, policy, reason=f"requested in chat by {actor.audit_id}"
            )
        return Reply(f"{target.value}: {result.reason}.", ok=result.accepted)

    async def _cmd_preview(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        self._background(self._run(actor, respond, dry_run=True))
        return Reply("Working on a preview (dry run): I'll post the summary and the CSV here.")

    async def _cmd_run(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.policy()
        button = await asyncio.to_thread(self.buttons.confirm_run, actor)
        mode = "ENFORCE — accounts may be warned and changed" if policy.mode is Mode.ENFORCE else "dry run"
        return Reply(
            f"Run jira-cleanup now? Policy mode: {mode}. Caps and approvals still apply.",
            buttons=(button,),
        )

    async def _run(self, actor: Actor, respond: Respond, *, dry_run: bool) -> None:
        policy = self.policy()
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")
        path = run_csv_path(policy, self.report_folder, self.org_id, stamp)
        try:
            async with self.open_engine() as engine:
                report, written = await run_once(
                    engine, policy, requested_by=actor.audit_id, csv_path=path, dry_run=dry_run
                )
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

    # -- accounts --------------------------------------------------------------------------

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

    # -- restore -----------------------------------------------------------------------------

    @property
    def desk(self) -> RestoreDesk:
        """The restore desk over this org's stores (every request source goes through it)."""
        if self.restores is None:
            raise RuntimeError("ChatOps has no restore request store")
        return RestoreDesk(
            self.org_id,
            requests=self.restores,
            lifecycle=self.lifecycle,
            scans=self.scans,
            tokens=self.tokens,
            clock=self.clock,
            open_engine=self.open_engine,
            load_policy=self.policy,
            channels=self.channels,
            people=self.people,
        )

    async def post_to_admins(self, reply: Reply) -> bool:
        """Post ``reply`` to every chat surface's admins; True when at least one took it."""
        posted = False
        for poster in self.admin_posters:
            try:
                posted = await poster(reply) or posted
            except Exception:
                log.exception("posting a restore request to the admins failed")
        return posted

    # -- buttons ---------------------------------------------------------------------------

    @property
    def buttons(self) -> ButtonIssuer:
        """Issues the tokens behind this org's buttons."""
        return ButtonIssuer(self.tokens, self.clock, self.org_id)

    async def warning_buttons(self, account: Account, case_id: str, recipient: Actor) -> tuple[Button, Button]:
        """Issue the Keep / I don't need it tokens for one warning, bound to ``recipient``."""
        return await asyncio.to_thread(self.buttons.warning, case_id, account.account_id, recipient)

    async def approval_buttons(self, run_id: str, requester: Actor | None) -> tuple[Button, Button]:
        """Issue Approve / Deny tokens for a held run; the requester may not use them."""
        return await asyncio.to_thread(self.buttons.approval, run_id, requester)

    async def click(self, actor: Actor, raw: str, respond: Respond, *, justification: str | None = None) -> ClickResult:
        """A button was clicked. Checks the clicker, expiry and single use, then acts once."""
        token_hash = hash_token(raw)
        token = await asyncio.to_thread(self.tokens.get_token, token_hash)
        now = self.clock.now()
        status = judge_use(token, actor, now)
        if token is not None and token.purpose in ADMIN_PURPOSES and not self.admins.is_admin(actor):
            status = TokenStatus.WRONG_USER
        if status is not TokenStatus.OK:
            return ClickResult(
                status,
                _refusal(status, token.outcome if token else None),
                token.purpose if token else None,
                token.message_ref if token else None,
            )
        assert token is not None
        if (
            token.purpose is Purpose.KEEP
            and self.policy().lifecycle.keep.justification_required
            and not (justification and justification.strip())
        ):
            # Checked before the button is used up, so the person can still answer with a reason.
            return ClickResult(
                TokenStatus.OK,
                "Please say briefly why you still need this access.",
                token.purpose,
                token.message_ref,
                ok=False,
            )
        use = await asyncio.to_thread(self.tokens.consume_token, token_hash, actor, now)
        if use.status is not TokenStatus.OK:
            current = use.token or token
            return ClickResult(use.status, _refusal(use.status, current.outcome), token.purpose, current.message_ref)
        text, ok = await self._act_on(token.purpose, token.subject, token.account_id, actor, respond, justification)
        await asyncio.to_thread(self.tokens.set_outcome, token_hash, text)
        await self.seal()
        # Chat requesters are told by the surface that took the click (same platform); the desk
        # already told requesters on its own channels (email, JSM).
        restore = token.purpose in (Purpose.APPROVE_RESTORE, Purpose.DENY_RESTORE)
        forbidden = token.forbidden
        tell = forbidden if restore and forbidden is not None and forbidden.platform not in self.channels else None
        return ClickResult(TokenStatus.OK, text, token.purpose, token.message_ref, first=True, ok=ok, tell=tell)

    async def _act_on(
        self,
        purpose: Purpose,
        subject: str,
        account_id: str | None,
        actor: Actor,
        respond: Respond,
        justification: str | None,
    ) -> tuple[str, bool]:
        policy = self.policy()
        if purpose is Purpose.KEEP:
            case = await asyncio.to_thread(self.lifecycle.get_case, subject)
            async with self.open_engine() as engine:
                result = await engine.keep(
                    self.org_id, case.account_id, actor.audit_id, policy, justification=justification, rule=case.rule
                )
            if result.accepted and result.keep_until is not None:
                extra = " Your access is being restored." if result.restore_queued else ""
                return f"Thanks — your access is kept until {result.keep_until:%d %B %Y}.{extra}", True
            return f"Could not keep your access: {result.reason}.", False
        if purpose is Purpose.RELEASE:
            async with self.open_engine() as engine:
                result = await engine.release(subject, actor.audit_id)
            return (
                "Thanks — the access will be removed, freeing the licence."
                if result.accepted
                else f"Nothing to do: {result.reason}."
            ), result.accepted
        if purpose is Purpose.APPROVE:
            async with self.open_engine() as engine:
                try:
                    report = await engine.approve(subject, actor.audit_id, policy)
                except (ValueError, PermissionError, LookupError) as exc:
                    return f"Not approved: {exc}", False
            done = report.counts.get("actions_confirmed", 0)
            return f"Approved by {actor.name or actor.audit_id}: {done} actions carried out.", True
        if purpose is Purpose.DENY:
            async with self.open_engine() as engine:
                try:
                    await engine.deny(subject, actor.audit_id, "denied in chat")
                except (ValueError, LookupError) as exc:
                    return f"Not denied: {exc}", False
            return f"Denied by {actor.name or actor.audit_id}: nothing was changed.", True
        if purpose is Purpose.REQUEST_RESTORE:
            submission = await self.submit_restore(
                actor.platform,
                actor,
                account_id or subject,
                reply_to=actor.user_id if actor.platform == "email" else "",
            )
            return submission.text, submission.ok
        if purpose in (Purpose.APPROVE_RESTORE, Purpose.DENY_RESTORE):
            decided = await self.desk.decide(subject, purpose is Purpose.APPROVE_RESTORE, actor)
            return decided.text, decided.ok
        self._background(self._run(actor, respond, dry_run=False))
        return "Running now — I'll post the result here.", True

    async def request_restore(self, requester: Actor, email: str) -> Reply:
        """A locked-out user asks for access back in chat: the answer to them.

        Like every other source, the request reaches the admins of every configured surface
        (Slack, Teams, email), not only those of the platform it came from.
        """
        account_id = await self.resolve_account(Target("email", email.lower()))
        if account_id is None:
            return Reply(f"I could not find an Atlassian account for {email}. Please contact your IT team.", ok=False)
        submission = await self.submit_restore(requester.platform, requester, account_id)
        return Reply(submission.text, ok=submission.ok)

    async def submit_restore(
        self,
        source: str,
        requester: Actor,
        account_id: str,
        *,
        reply_to: str = "",
        request_id: str | None = None,
        answered: bool = True,
    ) -> Submission:
        """A restore request from outside chat (email page, JSM): route to the admins of every surface."""
        submission = await self.desk.submit(
            source, requester, account_id, reply_to=reply_to, request_id=request_id, answered=answered
        )
        if submission.buttons and not submission.duplicate:
            reply = Reply(submission.admin_text, title="Restore request", buttons=submission.buttons, public=True)
            if not await self.post_to_admins(reply):
                log.error("restore request %s could not be posted to any admin surface", submission.request)
                submission = replace(
                    submission,
                    ok=False,
                    text="Your request is recorded, but the admins could not be reached right now. "
                    "Please also contact your Jira administrators.",
                )
            if not answered and submission.request is not None:
                await self._acknowledge(submission.request, submission.text)
        await self.seal()
        return submission

    async def _acknowledge(self, request: RestoreRequest, text: str) -> None:
        """Tell a webhook requester their request is pending (the desk tells final outcomes)."""
        channel = self.channels.get(request.source)
        if channel is None:
            return
        try:
            await channel.tell(request, text, False)
        except Exception:
            log.exception("could not acknowledge restore request %s on %s", request.request_id, request.source)


def _find_by_email(scans: ScanStore, run_id: str, email: str) -> str | None:
    for account in scans.iter_accounts(run_id):
        if account.email is not None and account.email.lower() == email:
            return str(account.account_id)
    return None


def _refusal(status: TokenStatus, outcome: str | None) -> str:
    if status is TokenStatus.ALREADY_USED:
        return outcome or "This button was already used."
    if status is TokenStatus.EXPIRED:
        return "This button has expired. Ask a jira-cleanup admin if you still need help."
    if status is TokenStatus.WRONG_USER:
        return "This button is not for you."
    return "This button is no longer valid."
