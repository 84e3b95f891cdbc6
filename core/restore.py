"""The restore desk: one path for every "give me my access back" request, whatever the channel.

Slack, Teams, the email page and the JSM webhook all call :meth:`RestoreDesk.submit`. The desk
rate-limits per account, asks the pure judge (:func:`core.restore_rules.judge_restore`) and then
either restores at once (an auto-approve rule matched), denies with a reason, or opens a pending
request with Approve/Deny buttons for the caller to post to the admins. An admin's click lands
in :meth:`RestoreDesk.decide`. Every step is a stored request plus an audit event; execution
goes through the lifecycle engine's restore, which re-adds exactly what was removed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

from core.audit import AuditEntry
from core.buttons import ButtonIssuer
from core.chat import Actor, Button
from core.engine import Engine
from core.engine.outcomes import RESTORE_QUEUED
from core.identity import People
from core.lifecycle import prior_keeps
from core.model import Account
from core.policy import Policy
from core.ports import Clock, Delivery, LifecycleStore, RequesterChannel, RestoreRequestStore, ScanStore, TokenStore
from core.restore_model import FINAL_STATES, ON_BEHALF, RequestState, RestoreRequest
from core.restore_rules import RestoreVerdict, Route, judge_restore, restorable
from core.threads import AdminThreads, NoThreads, restore_thread
from core.usecases import latest_account

log = logging.getLogger("jira_cleanup.restore")

EngineFactory = Callable[[], AbstractAsyncContextManager[Engine]]
#: A plain message to an account's owner: (account, subject, text) → whether it was delivered.
TellOwner = Callable[[Account, str, str], Awaitable[Delivery]]


@dataclass(frozen=True, slots=True)
class Submission:
    """What a request led to.

    ``text`` is for the requester. When ``buttons`` is set the request waits for an admin: the
    caller posts ``admin_text`` with the buttons where its admins are.
    """

    text: str
    ok: bool
    request: RestoreRequest | None = None
    buttons: tuple[Button, ...] = ()
    admin_text: str = ""
    duplicate: bool = False  # the same request was submitted before (a retried webhook)


@dataclass(frozen=True, slots=True)
class Decided:
    """What an admin's decision did; ``told`` is False when the requester could not be told."""

    text: str
    ok: bool
    request: RestoreRequest | None = None
    told: bool = False


class RestoreDesk:
    """Takes restore requests from every channel and carries them to a decision."""

    def __init__(
        self,
        org_id: str,
        *,
        requests: RestoreRequestStore,
        lifecycle: LifecycleStore,
        scans: ScanStore,
        tokens: TokenStore,
        clock: Clock,
        open_engine: EngineFactory,
        load_policy: Callable[[], Policy],
        channels: Mapping[str, RequesterChannel] | None = None,
        people: People | None = None,
        threads: AdminThreads | None = None,
        tell_owner: TellOwner | None = None,
    ) -> None:
        self.org_id = org_id
        #: Tells an account's owner about a request someone else made for them (None: nobody is told).
        self.tell_owner = tell_owner
        #: The admin threads of requests posted with buttons (their parents show the decision).
        self.threads: AdminThreads = threads or NoThreads()
        #: Who is who across platforms: nobody decides their own request or a restore of their own account.
        self.people = people or People()
        self.requests = requests
        self.lifecycle = lifecycle
        self.scans = scans
        self.tokens = tokens
        self.clock = clock
        self.open_engine = open_engine
        self.load_policy = load_policy
        self.channels: dict[str, RequesterChannel] = dict(channels or {})

    # -- submit ------------------------------------------------------------------------------

    async def submit(
        self,
        source: str,
        requester: Actor,
        account_id: str,
        *,
        reply_to: str = "",
        request_id: str | None = None,
        answered: bool = True,
        on_behalf: bool = False,
    ) -> Submission:
        """Handle one request for ``account_id`` from ``source``.

        ``request_id`` makes a redelivered request (same id) a no-op that answers like the first.
        ``answered``: the caller shows ``Submission.text`` to the requester itself (a page, a DM);
        when False (a webhook) the desk tells them a final outcome on their channel (a pending
        request is acknowledged by the caller, once it knows whether the admins could be reached).
        ``on_behalf``: ``requester`` asks for someone else's account (never auto-approved; the owner is told).
        """
        if request_id is not None and (known := await self._known(request_id)) is not None:
            return known
        policy, now = self.load_policy(), self.clock.now()
        recent = await asyncio.to_thread(self.requests.count_requests, self.org_id, account_id, now - timedelta(days=1))
        if recent >= policy.restore.requests_per_day:
            return Submission(
                "Your request is already with the admins; please wait for their answer before asking again.", False
            )
        account, verdict = await self._judge(source, account_id, policy, now)
        if on_behalf and verdict.route is not Route.DENY:
            who = requester.name or requester.audit_id
            verdict = RestoreVerdict(Route.ADMIN, f"{who} asked for someone else's access", ON_BEHALF)
        denied = verdict.route is Route.DENY
        request = RestoreRequest(
            request_id=request_id or f"rq-{secrets.token_hex(12)}",
            org_id=self.org_id,
            account_id=account_id,
            source=source,
            requester=requester,
            created_at=now,
            state=RequestState.DENIED if denied else RequestState.PENDING,
            route=verdict.route.value,
            reason=verdict.reason,
            reply_to=reply_to,
            rule=verdict.rule,
            decided_at=now if denied else None,
            decided_by="policy" if denied else None,
            told_at=now if denied and answered else None,
        )
        audit = self._audit(request, "restore.denied" if denied else "restore.requested", request.state.value)
        if not await asyncio.to_thread(self.requests.create_request, request, audit):
            # Lost a race with the same redelivered request: answer like the first one.
            known = await self._known(request.request_id)
            if known is None:
                raise LookupError(f"restore request {request.request_id} vanished while it was being created")
            return known
        submission = await self._route(request, verdict, account, answered=answered)
        if request.on_behalf and submission.buttons:
            await self._tell_owner(request, _owner_text(request))
        return submission

    async def _judge(
        self, source: str, account_id: str, policy: Policy, now: datetime
    ) -> tuple[Account | None, RestoreVerdict]:
        """The account as of the latest scan and the judge's verdict on restoring it.

        ``kept``: the most keeps of one restorable access within the keep period, so a restore
        never gets past ``keep.approval_after`` where a late keep would not.
        """
        rules, keep = policy.restore, policy.lifecycle.keep
        account = await asyncio.to_thread(self._account, account_id)
        cases = await asyncio.to_thread(self.lifecycle.find_cases, self.org_id, account_id)
        since = now - timedelta(days=rules.limit_days)
        restored = await asyncio.to_thread(self.requests.count_auto_restored, self.org_id, account_id, since)
        keep_since = now - timedelta(days=keep.period_days)
        kept = max((prior_keeps(cases, c.rule, keep_since) for c in restorable(cases)), default=0)
        return account, judge_restore(
            account, cases, rules, source=source, restored_recently=restored, kept=kept, keep=keep
        )

    async def _known(self, request_id: str) -> Submission | None:
        """The answer to a request already on record (a redelivery), or None."""
        try:
            existing = await asyncio.to_thread(self.requests.get_request, request_id)
        except LookupError:
            return None
        return Submission(_state_text(existing), existing.state is not RequestState.DENIED, existing, duplicate=True)

    async def _route(
        self, request: RestoreRequest, verdict: RestoreVerdict, account: Account | None, *, answered: bool
    ) -> Submission:
        """Deny, restore at once (a rule approved it), or ask the admins with buttons."""
        match verdict.route:
            case Route.DENY:
                if not answered:
                    await self._tell(request)
                return Submission(_state_text(request), False, request)
            case Route.AUTO:
                done = await self._execute(request, "policy", f"auto-approved by restore rule {verdict.rule}")
                if answered:
                    await asyncio.to_thread(self.requests.mark_told, done.request_id, self.clock.now())
                else:
                    await self._tell(done)
                return Submission(_state_text(done), done.state in (RequestState.RESTORED, RequestState.APPROVED), done)
            case Route.ADMIN:
                return await self._to_admins(request, verdict, account)
            case _:
                assert_never(verdict.route)

    async def _to_admins(self, request: RestoreRequest, verdict: RestoreVerdict, account: Account | None) -> Submission:
        """A pending request: the buttons and the text the admins get."""
        account_id, requester = request.account_id, request.requester
        buttons = await asyncio.to_thread(
            ButtonIssuer(self.tokens, self.clock, self.org_id).restore_request,
            request.request_id,
            account_id,
            requester,
        )
        who = requester.name or requester.audit_id
        email = account.email if account is not None and account.email else account_id
        admin_text = (
            f"{who} asks to get access back for {email} (account {account_id}) via {request.source}. "
            f"Why an admin is asked: {verdict.reason}. "
            f"From a terminal: jira-cleanup decide-restore {request.request_id} --approve (or --deny)."
        )
        return Submission(_SENT_TO_ADMINS, True, request, buttons=buttons, admin_text=admin_text)

    # -- decide ------------------------------------------------------------------------------

    async def decide(self, request_id: str, approve: bool, actor: Actor, reason: str = "") -> Decided:
        """An admin approves or denies a pending request; the requester is told on their channel."""
        try:
            request = await asyncio.to_thread(self.requests.get_request, request_id)
        except LookupError:
            return Decided("This restore request no longer exists.", False)
        if request.state is not RequestState.PENDING:
            return Decided(f"Already decided: {_state_text(request)}", False, request)
        refusal = await self._conflict(request, actor)
        if refusal is not None:
            audit = self._audit(request, "restore.refused", "refused", actor=actor.audit_id, reason=refusal)
            await asyncio.to_thread(self.lifecycle.append_audit, audit)
            return Decided(f"{refusal[0].upper()}{refusal[1:]}.", False, request)
        who = actor.name or actor.audit_id
        if not approve:
            denied = replace(
                request,
                state=RequestState.DENIED,
                reason=reason or "an admin declined the request",
                decided_at=self.clock.now(),
                decided_by=actor.audit_id,
            )
            audit = self._audit(denied, "restore.denied", "ok", actor=actor.audit_id)
            if not await asyncio.to_thread(self.requests.update_request, denied, RequestState.PENDING, audit):
                return Decided("Already decided by someone else.", False, request)
            told = await self._tell(denied)
            await self._tell_owner(denied, _owner_text(denied))
            await self._close(request_id, f"Denied by {actor.audit_id}", f"Restore denied by {who}: {denied.reason}.")
            return Decided(f"Restore denied by {who}.", True, denied, told)
        done = await self._execute(request, actor.audit_id, f"restore request approved by {actor.audit_id}")
        if done.state is RequestState.PENDING:
            return Decided("Already decided by someone else.", False, done)
        told = await self._tell(done)
        await self._tell_owner(done, _owner_text(done))
        if done.state is RequestState.RESTORED:
            await self._close(request_id, f"Approved by {actor.audit_id}", f"Restored by {who}: {done.reason}.")
            return Decided(f"Restore approved by {who}: {done.reason}.", True, done, told)
        if done.state is RequestState.APPROVED:
            said = f"Restore approved by {who}: queued — it runs when jira-cleanup carries out changes again."
            await self._close(request_id, f"Approved by {actor.audit_id}", said)
            return Decided(said, True, done, told)
        await self._close(request_id, f"Approved by {actor.audit_id}", f"Restore could not be done: {done.reason}.")
        return Decided(f"Restore could not be done: {done.reason}.", False, done, told)

    async def _close(self, request_id: str, outcome: str, said: str) -> None:
        """The request's admin threads: the parent shows the decision, a reply says what happened."""
        await self.threads.close(self.org_id, restore_thread(request_id), outcome, said)

    # -- helpers -----------------------------------------------------------------------------

    async def _conflict(self, request: RestoreRequest, actor: Actor) -> str | None:
        """Why ``actor`` may not decide ``request`` (same person as the requester, or their own account)."""
        return await asyncio.to_thread(self.conflict, actor, request.requester, request.account_id)

    def conflict(self, actor: Actor, requester: Actor | None, account_id: str) -> str | None:
        """Why ``actor`` may not decide a request of ``requester`` for ``account_id``, or None (synchronous).

        Four-eyes compares persons (ADMIN_IDENTITIES), not platform accounts: a Slack admin who asked
        through JSM or email is still the requester, and nobody decides a restore of their own account.
        """
        if requester is not None and (actor == requester or self.people.same(actor.audit_id, requester.audit_id)):
            return "you cannot decide your own restore request"
        account = self._account(account_id)
        emails = [account.email] if account is not None and account.email else []
        if self.people.owns_account(actor.audit_id, account_id, emails):
            return "you cannot decide a restore of your own account"
        return None

    async def _execute(self, request: RestoreRequest, decided_by: str, why: str) -> RestoreRequest:
        """PENDING → APPROVED (so a concurrent deny loses), then restore, then RESTORED or FAILED.

        A restore the engine only queued (the kill switch is on; another replica carries actions
        out) stays APPROVED with the reason :data:`RESTORE_QUEUED`: :meth:`settle_queued` finishes it
        once the access is back, so nobody is told "restored" before it is.
        """
        approved = replace(request, state=RequestState.APPROVED, decided_at=self.clock.now(), decided_by=decided_by)
        audit = self._audit(approved, "restore.approved", "ok", actor=decided_by, reason=why)
        if not await asyncio.to_thread(self.requests.update_request, approved, RequestState.PENDING, audit):
            return request
        try:
            async with self.open_engine() as engine:
                result = await engine.restore(
                    self.org_id, request.account_id, decided_by, self.load_policy(), reason=why
                )
        except Exception as exc:
            log.exception("restore of %s failed", request.account_id)
            ok, reason = False, f"the restore failed ({type(exc).__name__}); an admin has to retry it"
        else:
            if result.queued:
                waiting = replace(approved, reason=RESTORE_QUEUED)
                audit = self._audit(waiting, "restore.queued", "ok", actor=decided_by, reason=why)
                await asyncio.to_thread(self.requests.update_request, waiting, RequestState.APPROVED, audit)
                return waiting
            ok, reason = result.accepted, result.reason
        final = replace(approved, state=RequestState.RESTORED if ok else RequestState.FAILED, reason=reason)
        await asyncio.to_thread(
            self.requests.update_request,
            final,
            RequestState.APPROVED,
            self._audit(final, "restore.done" if ok else "restore.failed", "ok" if ok else "failed", actor=decided_by),
        )
        return final

    async def _tell(self, request: RestoreRequest, text: str | None = None) -> bool:
        """Tell the requester on their channel; a final outcome told is remembered (see :meth:`retell`)."""
        channel = self.channels.get(request.source)
        if channel is None:
            return False
        try:
            await channel.tell(request, text or _state_text(request), request.state is RequestState.RESTORED)
        except Exception:
            log.exception("could not tell the requester of %s on %s", request.request_id, request.source)
            return False
        if request.state in FINAL_STATES:
            await asyncio.to_thread(self.requests.mark_told, request.request_id, self.clock.now())
        return True

    async def _tell_owner(self, request: RestoreRequest, text: str) -> None:
        """Tell the account's owner about a request made for them (best effort, audited)."""
        if not request.on_behalf or self.tell_owner is None:
            return
        account = await asyncio.to_thread(self._account, request.account_id)
        if account is None:
            log.warning(
                "the owner of %s is not in the latest scan: not told of %s", request.account_id, request.request_id
            )
            return
        try:
            delivery = await self.tell_owner(account, "Your Atlassian access", text)
        except Exception:
            log.exception("could not tell the owner of %s about %s", request.account_id, request.request_id)
            return
        outcome = "ok" if delivery.delivered else "failed"
        audit = self._audit(request, "restore.owner_told", outcome, reason=f"{delivery.channel}: {delivery.detail}")
        await asyncio.to_thread(self.lifecycle.append_audit, audit)

    async def settle_queued(self) -> int:
        """Queued restores whose access is back (the case restored since the approval): RESTORED, and told.

        Called after each scheduled run (which carries queued restores out); returns how many settled.
        """
        settled = 0
        for request in await asyncio.to_thread(self.requests.approved_requests, self.org_id):
            if request.reason != RESTORE_QUEUED or not await asyncio.to_thread(self._restored_since, request):
                continue
            done = replace(request, state=RequestState.RESTORED, reason="restored")
            audit = self._audit(done, "restore.done", "ok", actor=request.decided_by or "system")
            if not await asyncio.to_thread(self.requests.update_request, done, RequestState.APPROVED, audit):
                continue
            settled += 1
            await self._tell(done)
            await self._tell_owner(done, _owner_text(done))
        return settled

    def _restored_since(self, request: RestoreRequest) -> bool:
        since = request.decided_at or request.created_at
        cases = self.lifecycle.find_cases(self.org_id, request.account_id)
        return any(c.restored_at is not None and c.restored_at >= since for c in cases)

    async def retell(self) -> int:
        """Try again to tell requesters whose outcome did not reach them (channel down, not configured)."""
        told = 0
        for request in await asyncio.to_thread(self.requests.untold_requests, self.org_id):
            if request.source in self.channels and await self._tell(request):
                told += 1
        return told

    def _account(self, account_id: str) -> Account | None:
        return latest_account(self.scans, self.org_id, account_id)

    def _audit(
        self, request: RestoreRequest, action: str, outcome: str, *, actor: str | None = None, reason: str | None = None
    ) -> AuditEntry:
        return AuditEntry(
            at=self.clock.now(),
            actor=actor or request.requester.audit_id,
            action=action,
            outcome=outcome,
            org_id=self.org_id,
            subject=request.account_id,
            reason=reason if reason is not None else request.reason,
            after={"request": request.request_id, "source": request.source, "state": request.state.value},
        )


_SENT_TO_ADMINS = "Thanks — your request to get access back was sent to the admins. You will be told when they decide."


def _state_text(request: RestoreRequest) -> str:
    """The requester-facing sentence for a request's state."""
    if request.state is RequestState.RESTORED:
        return "Your access has been restored. It can take a few minutes to show in Atlassian."
    if request.state is RequestState.DENIED:
        if request.decided_by == "policy":
            return f"Sorry, your access cannot be restored through self-service: {request.reason}."
        return f"Your request to get access back was declined: {request.reason}."
    if request.state is RequestState.FAILED:
        return f"Your request was approved, but the restore could not be done: {request.reason}. The admins were told."
    if request.state is RequestState.APPROVED and request.reason == RESTORE_QUEUED:
        return (
            "Your request was approved. jira-cleanup is not carrying out changes right now (an admin paused it, "
            "or another server does them): your access comes back when they resume, and you will be told."
        )
    if request.state is RequestState.APPROVED:
        return "Your request was approved; your access is being restored."
    return "Your request to get access back is with the admins. You will hear back soon."


def _owner_text(request: RestoreRequest) -> str:
    """What the owner of an account hears when a request someone else made for them is decided."""
    who = request.requester.name or request.requester.audit_id
    if request.state is RequestState.PENDING:
        return (
            f"{who} asked the jira-cleanup admins to give you back the Atlassian access that was removed. "
            "You will be told when they decide."
        )
    if request.state is RequestState.RESTORED:
        return f"Your Atlassian access has been restored (asked for by {who}). It can take a few minutes to show."
    if request.state is RequestState.DENIED:
        return f"The request {who} made to give you back your Atlassian access was declined: {request.reason}."
    if request.state is RequestState.APPROVED:
        return (
            f"The request {who} made for your Atlassian access was approved; it comes back when jira-cleanup "
            "carries out changes again, and you will be told."
        )
    return f"The request {who} made for your Atlassian access was approved, but the restore failed: {request.reason}."


def is_final(request: RestoreRequest) -> bool:
    """True once nothing more will happen to ``request``."""
    return request.state in FINAL_STATES
