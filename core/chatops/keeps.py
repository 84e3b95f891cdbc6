"""Keep my access, and the keeps that wait for an admin (``keep.approval_after``): one path for every surface.

Every "Keep my access" a person presses — a Slack or Teams warning, the Home tab or ``status``
card, the link in a warning email — is a click on a KEEP token that lands in :meth:`KeepApprovals.press`.
Past ``keep.approval_after`` the engine does not keep on its own; the admins are asked once per
warning: one **Approve keep** button (any admin but that person) posted as a thread of its own on
every chat surface (and by email to EMAIL_ADMIN_ADDRESSES, with the ``decide-keep`` command). A
later press, from any surface, finds that approval still open and is told it waits. An admin
decides with the button, by replying ``approve`` / ``deny`` in the thread, with Approve / Deny on
the admin home, or with ``jira-cleanup decide-keep``: all go through the same rules (nobody decides
a keep of their own access, single use, the owner is told).

The deadline stands while the approval waits. If the access is removed at the deadline, the thread
(and the email admins, who have none) and the person hear that an approval still gives it back,
until the button expires.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from core.audit import AuditEntry
from core.chat import ActionToken, Actor, Purpose, TokenStatus, hash_token
from core.chatops.replies import Outcome, Reply
from core.engine import KeepResult
from core.lifecycle import Case
from core.policy import Policy
from core.threads import keep_thread
from core.usecases import latest_account

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

log = logging.getLogger("jira_cleanup.keeps")

#: Who withdraws an Approve keep button that reached no admin (so the next press asks again).
SYSTEM = Actor("system", "", "jira-cleanup")
ASKED = "You kept this access several times without using it: an admin must approve this keep (asked)."
STILL_WAITING = "Your keep is already waiting for an admin's approval; you will be told when they decide."
UNREACHABLE = "Your keep needs an admin's approval, but the admins could not be reached. Please contact them."
NOT_WAITING = "No keep of this warning waits for an approval (it was decided, it expired, or none was asked)."


class KeepApprovals:
    """Keeps from every surface, and the admins' decisions on those that wait for them."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    # -- the person ----------------------------------------------------------------------------

    async def press(
        self, case_id: str, account_id: str, person: Actor, policy: Policy, justification: str | None
    ) -> Outcome:
        """ "Keep my access" on warning ``case_id``: kept, or asked of the admins once, or refused."""
        async with self.ops.open_engine() as engine:
            result = await engine.keep_warned(case_id, person.audit_id, policy, justification=justification)
        if result.accepted and result.keep_until is not None:
            extra = " Your access is being restored." if result.restore_queued else ""
            return Outcome(f"Thanks — your access is kept until {result.keep_until:%d %B %Y}.{extra}", True)
        if result.needs_approval:
            return await self._ask(case_id, account_id, person, policy, result.reason, justification)
        return Outcome(f"Could not keep your access: {result.reason}.", False)

    async def _ask(
        self, case_id: str, account_id: str, person: Actor, policy: Policy, why: str, justification: str | None
    ) -> Outcome:
        """Past ``keep.approval_after``: one Approve keep per warning, in its own admin thread."""
        ops = self.ops
        button = await asyncio.to_thread(ops.buttons.keep_approval, case_id, account_id, person)
        if button is None:  # an approval of this warning is open (taken atomically: presses at once ask once)
            return Outcome(STILL_WAITING, False, waiting=True)
        case = await asyncio.to_thread(ops.lifecycle.get_case, case_id)
        account = await asyncio.to_thread(latest_account, ops.scans, ops.org_id, account_id)
        who = person.name or person.audit_id
        whose = account.email if account is not None and account.email else f"account {account_id}"
        deadline = f"The deadline ({case.deadline:%d %b %Y}) stands" if case.deadline else "The deadline stands"
        reason = f" Their reason: “{justification}”." if justification else ""
        text = (
            f"{who} pressed Keep again for {whose} ({case.product}; {why}).{reason} Approve to keep the access "
            f"for another {policy.lifecycle.keep.days} days. {deadline} until an admin approves; approved later, "
            "the access is given back. Their keeps: `/jira-cleanup keeps`. "
            f"From a terminal: jira-cleanup decide-keep {case_id} --approve (or --deny)."
        )
        reply = Reply(text, title="Keep needs approval", buttons=(button,), public=True, thread=keep_thread(case_id))
        if not await ops.post_to_admins(reply):
            # Nobody saw the button: withdraw it, so the next press asks again instead of "already waiting".
            withdrawn = hash_token(button.token)
            await asyncio.to_thread(ops.tokens.consume_token, withdrawn, SYSTEM, ops.clock.now())
            await asyncio.to_thread(ops.tokens.set_outcome, withdrawn, "withdrawn: no admin could be reached")
            return Outcome(UNREACHABLE, False)
        return Outcome(ASKED, False, waiting=True)

    # -- the admins ----------------------------------------------------------------------------

    def own_keep(self, admin: Actor, token: ActionToken) -> str | None:
        """Why ``admin`` may not decide the keep behind ``token`` (four-eyes across platforms), or None.

        The person who pressed Keep (any of their identities in ADMIN_IDENTITIES) and the owner of
        the account cannot approve it. Synchronous (reads the latest scan): call it off the event loop.
        """
        if not self.is_own_keep(admin, token):
            return None
        self._audit(token, admin, "refused", "the person who asked, or the account's owner, cannot decide the keep")
        return "You cannot decide a keep of your own access: another admin must."

    def is_own_keep(self, admin: Actor, token: ActionToken) -> bool:
        """Whether ``admin`` pressed the keep behind ``token`` or owns its account (under any identity).

        Synchronous (reads the latest scan): call it off the event loop.
        """
        people = self.ops.people
        asker = token.forbidden
        if asker is not None and (admin == asker or people.same(admin.audit_id, asker.audit_id)):
            return True
        if not token.account_id:
            return False
        account = latest_account(self.ops.scans, self.ops.org_id, token.account_id)
        emails = [account.email] if account is not None and account.email else []
        return people.owns_account(admin.audit_id, token.account_id, emails)

    async def decide(self, case_id: str, approve: bool, admin: Actor, policy: Policy, reason: str = "") -> Outcome:
        """An admin decides the keep waiting on warning ``case_id`` (a thread reply, the CLI): the button's rules."""
        ops = self.ops
        now = ops.clock.now()
        waiting = await asyncio.to_thread(ops.tokens.open_tokens, ops.org_id, Purpose.APPROVE_KEEP, case_id, now)
        if not waiting:
            return Outcome(NOT_WAITING, False)
        token = waiting[0]
        refusal = await asyncio.to_thread(self.own_keep, admin, token)
        if refusal is not None:
            return Outcome(refusal, False)
        use = await asyncio.to_thread(ops.tokens.consume_token, token.token_hash, admin, now)
        if use.status is not TokenStatus.OK:
            return Outcome("Already decided by someone else.", False)
        done = await (self.approve(token, admin, policy) if approve else self.decline(token, admin, reason))
        await asyncio.to_thread(ops.tokens.set_outcome, token.token_hash, done.text)
        return done

    async def approve(self, token: ActionToken, admin: Actor, policy: Policy) -> Outcome:
        """Approve the keep behind ``token`` (already used up): kept 45 days, or given back after the deadline."""
        ops, case_id = self.ops, token.subject
        async with ops.open_engine() as engine:
            result = await engine.keep_warned(case_id, admin.audit_id, policy, approved_by=admin.audit_id)
        who = admin.name or admin.audit_id
        if result.already or not (result.accepted and result.keep_until is not None):
            said = f"Not kept: {_why_not(result)}."
            await self._close(case_id, "Nothing to approve", said)
            return Outcome(said, False)
        until = f"{result.keep_until:%d %B %Y}"
        back = " The access removed at the deadline is being given back." if result.restore_queued else ""
        said = f"Keep approved by {who}: kept until {until}.{back}"
        await self._close(case_id, f"Approved by {who}", said)
        await self._tell_owner(token, f"An admin approved keeping your Atlassian access until {until}.{back}")
        return Outcome(said, True)

    async def decline(self, token: ActionToken, admin: Actor, reason: str = "") -> Outcome:
        """Do not approve the keep behind ``token`` (already used up): the deadline stands; the owner is told."""
        ops, case_id = self.ops, token.subject
        case = await asyncio.to_thread(ops.lifecycle.get_case, case_id)
        await asyncio.to_thread(self._audit, token, admin, "denied", reason or "an admin did not approve the keep")
        who = admin.name or admin.audit_id
        because = f" ({reason})" if reason else ""
        stands = f"on {case.deadline:%d %B %Y}" if case.deadline is not None else "at the deadline"
        said = f"Keep not approved by {who}{because}: the access is removed {stands} as planned."
        await self._close(case_id, f"Not approved by {who}", said, case)
        await self._tell_owner(
            token, f"An admin did not approve keeping your Atlassian access{because}: it is removed {stands}."
        )
        return Outcome(said, True)

    # -- the engine ----------------------------------------------------------------------------

    async def deadline_passed(self, case: Case) -> None:
        """``case``'s access was removed at its deadline: a keep of it still waiting is told so, and so is the owner.

        The approval stays open: approving it later gives the access back (until the button expires).
        Best effort: the removal is done and audited whatever happens here.
        """
        ops = self.ops
        now = ops.clock.now()
        try:
            waiting = await asyncio.to_thread(
                ops.tokens.open_tokens, ops.org_id, Purpose.APPROVE_KEEP, case.case_id, now
            )
        except Exception:
            log.exception("could not read the keep approval of case %s", case.case_id)
            return
        if not waiting:
            return
        until = max(t.expires_at for t in waiting)
        said = (
            f"The deadline passed before anyone approved this keep: the access was removed on {now:%d %B %Y}. "
            f"Approving it still gives the access back (until {until:%d %B %Y})."
        )
        await ops.threads.say(ops.org_id, keep_thread(case.case_id), said, final=True)
        await self._tell_threadless(case, said)
        await self._tell_owner(
            waiting[0],
            "Your keep was still waiting for an admin when the deadline came, so your access was removed. "
            "If an admin approves the keep, your access comes back and you will be told.",
        )

    # -- helpers -------------------------------------------------------------------------------

    async def _close(self, case_id: str, outcome: str, said: str, case: Case | None = None) -> None:
        """The keep is decided: its thread shows ``outcome`` and hears ``said``; so do the email-only admins."""
        ops = self.ops
        await ops.threads.close(ops.org_id, keep_thread(case_id), outcome, said)
        if ops.admin_notices:
            if case is None:
                case = await asyncio.to_thread(ops.lifecycle.get_case, case_id)
            await self._tell_threadless(case, said, decided=True)

    async def _tell_threadless(self, case: Case, said: str, *, decided: bool = False) -> None:
        """What the keep's thread heard, to the admins no thread reaches (email), with which keep it is.

        They were asked by mail too, so they hear how it ends (``decided``) as well as what is still open.
        """
        ops = self.ops
        if not ops.admin_notices:
            return
        account = await asyncio.to_thread(latest_account, ops.scans, ops.org_id, case.account_id)
        whose = account.email if account is not None and account.email else f"account {case.account_id}"
        if decided:
            text = f"Keep decided — {whose} ({case.product}): {said} Nothing is left to decide."
        else:
            text = (
                f"Keep needs approval — {whose} ({case.product}): {said} "
                f"From a terminal: jira-cleanup decide-keep {case.case_id} --approve (or --deny)."
            )
        for notice in ops.admin_notices:
            try:
                await notice(text)
            except Exception:
                log.exception("could not tell the email admins about the keep of case %s", case.case_id)

    async def _tell_owner(self, token: ActionToken, text: str) -> None:
        ops = self.ops
        if ops.owner_notice is None or not token.account_id:
            return
        account = await asyncio.to_thread(latest_account, ops.scans, ops.org_id, token.account_id)
        if account is None:
            return
        try:
            await ops.owner_notice(account, "Your Atlassian access", text)
        except Exception:
            log.exception("could not tell the owner of %s about their keep", token.account_id)

    def _audit(self, token: ActionToken, admin: Actor, outcome: str, reason: str) -> None:
        entry = AuditEntry(
            at=self.ops.clock.now(),
            actor=admin.audit_id,
            action="keep.approval",
            outcome=outcome,
            org_id=self.ops.org_id,
            subject=token.account_id,
            reason=reason,
            after={"case": token.subject},
        )
        self.ops.lifecycle.append_audit(entry)


def _why_not(result: KeepResult) -> str:
    if result.already and result.keep_until is not None:
        return f"already kept until {result.keep_until:%d %B %Y}"
    return result.reason
