"""Button clicks: who may click, single use, then exactly one domain action per purpose.

Every purpose has its own handler in :attr:`ButtonActions.handlers`; a token whose purpose
has none is refused before it is used up, so an unknown button never starts anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from core.audit import AuditEntry
from core.chat import (
    ADMIN_PURPOSES,
    KEEP_DECISIONS,
    ActionToken,
    Actor,
    Purpose,
    TokenStatus,
    hash_token,
    judge_use,
)
from core.chatops.keeps import KeepApprovals
from core.chatops.replies import ClickResult, Outcome, Respond
from core.engine.judgement import ApprovalVerdict, approval_refusal
from core.identity import same_person
from core.policy import Policy
from core.threads import stored_approval_ref

if TYPE_CHECKING:
    from core.chatops.service import ChatOps


class Click(NamedTuple):
    """A click whose token was just used up: what its purpose's action needs."""

    token: ActionToken
    actor: Actor
    respond: Respond
    justification: str | None
    policy: Policy  # the effective policy, read with the token


Action = Callable[[Click], Awaitable[Outcome]]


class ButtonActions:
    """Judges a click, consumes its token once and runs the purpose's action."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops
        self.handlers: dict[Purpose, Action] = {
            Purpose.KEEP: self._keep,
            Purpose.RELEASE: self._release,
            Purpose.APPROVE: self._approve,
            Purpose.DENY: self._deny,
            Purpose.CONFIRM_RUN: self._confirm_run,
            Purpose.REQUEST_RESTORE: self._request_restore,
            Purpose.APPROVE_RESTORE: self._decide_restore,
            Purpose.DENY_RESTORE: self._decide_restore,
            Purpose.APPROVE_KEEP: self._approve_keep,
            Purpose.APPROVE_WAITING_KEEP: self._decide_waiting_keep,
            Purpose.DENY_WAITING_KEEP: self._decide_waiting_keep,
        }

    async def click(self, actor: Actor, raw: str, respond: Respond, justification: str | None) -> ClickResult:
        """Check the clicker, expiry and single use, then act once."""
        ops = self.ops
        token_hash = hash_token(raw)
        taken = await asyncio.to_thread(self._take, token_hash, actor, ops.clock.now(), justification)
        if isinstance(taken, ClickResult):
            return taken
        token, policy = taken
        done = await self.handlers[token.purpose](Click(token, actor, respond, justification, policy))
        await asyncio.to_thread(ops.tokens.set_outcome, token_hash, done.text)
        await ops.seal()
        return ClickResult(
            TokenStatus.OK, done.text, token.purpose, token.message_ref, first=True, ok=done.ok, waiting=done.waiting
        )

    def _take(
        self, token_hash: str, actor: Actor, now: datetime, justification: str | None
    ) -> tuple[ActionToken, Policy] | ClickResult:
        """Judge the click and use its token up, in one trip off the event loop.

        The token and the effective policy, or the answer to a click that must not act.
        """
        tokens = self.ops.tokens
        token = self.ops.own(tokens.get_token(token_hash))
        policy = self.ops.policy()
        refused = self._refused(token, actor, judge_use(token, actor, now), justification, policy)
        if refused is not None:
            return refused
        assert token is not None
        use = tokens.consume_token(token_hash, actor, now)
        if use.status is not TokenStatus.OK:
            current = use.token or token
            return ClickResult(use.status, refusal(use.status, current.outcome), token.purpose, current.message_ref)
        return token, policy

    def _refused(
        self, token: ActionToken | None, actor: Actor, status: TokenStatus, justification: str | None, policy: Policy
    ) -> ClickResult | None:
        """The answer to a click that must not use its token up, or None to go ahead."""
        if token is not None and token.purpose not in self.handlers:
            status = TokenStatus.UNKNOWN  # never act on a purpose nobody handles
        if token is not None and token.purpose in ADMIN_PURPOSES and not self.ops.admins.is_admin(actor):
            status = TokenStatus.WRONG_USER
        own = self._own_decision(token, actor) if status is TokenStatus.OK and token is not None else None
        if own is not None and token is not None:
            return ClickResult(TokenStatus.WRONG_USER, own, token.purpose, token.message_ref)
        if status is not TokenStatus.OK:
            return ClickResult(
                status,
                refusal(status, token.outcome if token else None),
                token.purpose if token else None,
                token.message_ref if token else None,
            )
        assert token is not None
        if (
            token.purpose is Purpose.KEEP
            and policy.lifecycle.keep.justification_required
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
        return None

    def _own_decision(self, token: ActionToken, actor: Actor) -> str | None:
        """Why ``actor`` may not decide this keep or restore (four-eyes across platforms), or None.

        Judged before the button is used up, so another admin can still decide with it; the refusal
        is audited as the decision's own refusal would be.
        """
        ops = self.ops
        if token.purpose in KEEP_DECISIONS:
            return KeepApprovals(ops).own_keep(actor, token)
        if token.purpose is Purpose.APPROVE:
            return self._own_run(token, actor)
        if token.purpose not in (Purpose.APPROVE_RESTORE, Purpose.DENY_RESTORE) or ops.restores is None:
            return None
        why = ops.desk.conflict(actor, token.forbidden, token.account_id or "")
        if why is None:
            return None
        entry = AuditEntry(
            at=ops.clock.now(),
            actor=actor.audit_id,
            action="restore.refused",
            outcome="refused",
            org_id=ops.org_id,
            subject=token.account_id,
            reason=why,
            after={"request": token.subject},
        )
        ops.lifecycle.append_audit(entry)
        return f"{why[0].upper()}{why[1:]}: another admin must decide."

    def _own_run(self, token: ActionToken, actor: Actor) -> str | None:
        """Why ``actor`` may not approve the held run behind ``token``: they requested it, under any identity.

        The button only knows the requester's identity on its own platform; a run asked for from the CLI,
        Teams or another workspace is checked against the run's requester and ADMIN_IDENTITIES here, so
        the refusal does not use the button up for the admin who may approve.
        """
        ops = self.ops
        try:
            run = ops.lifecycle.get_run(token.subject)
        except LookupError:
            return None  # the engine answers why there is nothing to approve
        if not same_person(actor.audit_id, run.requested_by, ops.people):
            return None
        reason = approval_refusal(ApprovalVerdict.OWN_RUN, run)
        entry = AuditEntry(
            at=ops.clock.now(),
            actor=actor.audit_id,
            action="approval.refused",
            outcome="refused",
            org_id=ops.org_id,
            run_id=run.run_id,
            mode=run.mode,
            approver=actor.audit_id,
            reason=reason,
            plan_hash=run.action_hash,
            after={"approval_ref": stored_approval_ref(ops.threads.store, ops.org_id, run.run_id, actor.audit_id)},
        )
        ops.lifecycle.append_audit(entry)
        return f"Not approved: {reason}. Another admin must approve it."

    # -- one action per purpose -------------------------------------------------------------

    async def _keep(self, click: Click) -> Outcome:
        token = click.token
        return await KeepApprovals(self.ops).press(
            token.subject, token.account_id or "", click.actor, click.policy, click.justification
        )

    async def _approve_keep(self, click: Click) -> Outcome:
        """An admin approves another keep: the case is kept (or given back, after the deadline) and its owner told."""
        return await KeepApprovals(self.ops).approve(click.token, click.actor, click.policy)

    async def _decide_waiting_keep(self, click: Click) -> Outcome:
        """Approve / Deny of a waiting keep shown elsewhere (the admin home): decided through its posted approval."""
        approve = click.token.purpose is Purpose.APPROVE_WAITING_KEEP
        return await KeepApprovals(self.ops).decide(click.token.subject, approve, click.actor, click.policy)

    async def _release(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            result = await engine.release(click.token.subject, click.actor.audit_id)
        if result.accepted:
            return Outcome("Thanks — the access will be removed, freeing the licence.", True)
        return Outcome(f"Nothing to do: {result.reason}.", False)

    async def _approve(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            try:
                report = await engine.approve(click.token.subject, click.actor.audit_id, click.policy)
            except (ValueError, PermissionError, LookupError) as exc:
                return Outcome(f"Not approved: {exc}", False)
        done = report.counts.get("actions_confirmed", 0)
        return Outcome(f"Approved by {click.actor.name or click.actor.audit_id}: {done} actions carried out.", True)

    async def _deny(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            try:
                await engine.deny(click.token.subject, click.actor.audit_id, "denied in chat")
            except (ValueError, LookupError) as exc:
                return Outcome(f"Not denied: {exc}", False)
        return Outcome(f"Denied by {click.actor.name or click.actor.audit_id}: nothing was changed.", True)

    async def _confirm_run(self, click: Click) -> Outcome:
        self.ops.start_run(click.actor, click.respond, dry_run=False)
        return Outcome("Running now — I'll post the result here.", True)

    async def _request_restore(self, click: Click) -> Outcome:
        submission = await self.ops.submit_restore(
            click.actor.platform,
            click.actor,
            click.token.account_id or click.token.subject,
            reply_to=click.actor.user_id if click.actor.platform == "email" else "",
        )
        return Outcome(submission.text, submission.ok)

    async def _decide_restore(self, click: Click) -> Outcome:
        decided = await self.ops.desk.decide(
            click.token.subject, click.token.purpose is Purpose.APPROVE_RESTORE, click.actor
        )
        return Outcome(decided.text, decided.ok)


def refusal(status: TokenStatus, outcome: str | None) -> str:
    """What to tell someone whose click was refused."""
    if status is TokenStatus.ALREADY_USED:
        return outcome or "This button was already used."
    if status is TokenStatus.EXPIRED:
        return "This button has expired. Ask a jira-cleanup admin if you still need help."
    if status is TokenStatus.WRONG_USER:
        return "This button is not for you."
    return "This button is no longer valid."
