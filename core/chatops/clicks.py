"""Button clicks: who may click, single use, then exactly one domain action per purpose.

Every purpose has its own handler in :attr:`ButtonActions.handlers`; a token whose purpose
has none is refused before it is used up, so an unknown button never starts anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from core.chat import ADMIN_PURPOSES, ActionToken, Actor, Purpose, TokenStatus, hash_token, judge_use
from core.chatops.replies import ClickResult, Respond

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

#: (text for the clicker, whether the action was carried out)
Outcome = tuple[str, bool]
Action = Callable[[ActionToken, Actor, Respond, "str | None"], Awaitable[Outcome]]


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
        }

    async def click(self, actor: Actor, raw: str, respond: Respond, justification: str | None) -> ClickResult:
        """Check the clicker, expiry and single use, then act once."""
        ops = self.ops
        token_hash = hash_token(raw)
        token = ops.own(await asyncio.to_thread(ops.tokens.get_token, token_hash))
        now = ops.clock.now()
        refused = self._refused(token, actor, judge_use(token, actor, now), justification)
        if refused is not None:
            return refused
        assert token is not None
        use = await asyncio.to_thread(ops.tokens.consume_token, token_hash, actor, now)
        if use.status is not TokenStatus.OK:
            current = use.token or token
            return ClickResult(use.status, refusal(use.status, current.outcome), token.purpose, current.message_ref)
        text, ok = await self.handlers[token.purpose](token, actor, respond, justification)
        await asyncio.to_thread(ops.tokens.set_outcome, token_hash, text)
        await ops.seal()
        return ClickResult(TokenStatus.OK, text, token.purpose, token.message_ref, first=True, ok=ok)

    def _refused(
        self, token: ActionToken | None, actor: Actor, status: TokenStatus, justification: str | None
    ) -> ClickResult | None:
        """The answer to a click that must not use its token up, or None to go ahead."""
        if token is not None and token.purpose not in self.handlers:
            status = TokenStatus.UNKNOWN  # never act on a purpose nobody handles
        if token is not None and token.purpose in ADMIN_PURPOSES and not self.ops.admins.is_admin(actor):
            status = TokenStatus.WRONG_USER
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
            and self.ops.policy().lifecycle.keep.justification_required
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

    # -- one action per purpose -------------------------------------------------------------

    async def _keep(self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None) -> Outcome:
        ops = self.ops
        policy = ops.policy()
        case = await asyncio.to_thread(ops.lifecycle.get_case, token.subject)
        async with ops.open_engine() as engine:
            result = await engine.keep(
                ops.org_id, case.account_id, actor.audit_id, policy, justification=justification, rule=case.rule
            )
        if result.accepted and result.keep_until is not None:
            extra = " Your access is being restored." if result.restore_queued else ""
            return f"Thanks — your access is kept until {result.keep_until:%d %B %Y}.{extra}", True
        return f"Could not keep your access: {result.reason}.", False

    async def _release(self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None) -> Outcome:
        async with self.ops.open_engine() as engine:
            result = await engine.release(token.subject, actor.audit_id)
        if result.accepted:
            return "Thanks — the access will be removed, freeing the licence.", True
        return f"Nothing to do: {result.reason}.", False

    async def _approve(self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None) -> Outcome:
        policy = self.ops.policy()
        async with self.ops.open_engine() as engine:
            try:
                report = await engine.approve(token.subject, actor.audit_id, policy)
            except (ValueError, PermissionError, LookupError) as exc:
                return f"Not approved: {exc}", False
        done = report.counts.get("actions_confirmed", 0)
        return f"Approved by {actor.name or actor.audit_id}: {done} actions carried out.", True

    async def _deny(self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None) -> Outcome:
        async with self.ops.open_engine() as engine:
            try:
                await engine.deny(token.subject, actor.audit_id, "denied in chat")
            except (ValueError, LookupError) as exc:
                return f"Not denied: {exc}", False
        return f"Denied by {actor.name or actor.audit_id}: nothing was changed.", True

    async def _confirm_run(
        self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None
    ) -> Outcome:
        self.ops.start_run(actor, respond, dry_run=False)
        return "Running now — I'll post the result here.", True

    async def _request_restore(
        self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None
    ) -> Outcome:
        submission = await self.ops.submit_restore(
            actor.platform,
            actor,
            token.account_id or token.subject,
            reply_to=actor.user_id if actor.platform == "email" else "",
        )
        return submission.text, submission.ok

    async def _decide_restore(
        self, token: ActionToken, actor: Actor, respond: Respond, justification: str | None
    ) -> Outcome:
        decided = await self.ops.desk.decide(token.subject, token.purpose is Purpose.APPROVE_RESTORE, actor)
        return decided.text, decided.ok


def refusal(status: TokenStatus, outcome: str | None) -> str:
    """What to tell someone whose click was refused."""
    if status is TokenStatus.ALREADY_USED:
        return outcome or "This button was already used."
    if status is TokenStatus.EXPIRED:
        return "This button has expired. Ask a jira-cleanup admin if you still need help."
    if status is TokenStatus.WRONG_USER:
        return "This button is not for you."
    return "This button is no longer valid."
