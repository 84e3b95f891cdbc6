"""Button clicks: who may click, single use, then exactly one domain action per purpose.

Every purpose has its own handler in :attr:`ButtonActions.handlers`; a token whose purpose
has none is refused before it is used up, so an unknown button never starts anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from core.chat import ADMIN_PURPOSES, ActionToken, Actor, Purpose, TokenStatus, hash_token, judge_use
from core.chatops.replies import ClickResult, Reply, Respond
from core.policy import Policy
from core.usecases import latest_account

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

#: (text for the clicker, whether the action was carried out)
Outcome = tuple[str, bool]


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
        }

    async def click(self, actor: Actor, raw: str, respond: Respond, justification: str | None) -> ClickResult:
        """Check the clicker, expiry and single use, then act once."""
        ops = self.ops
        token_hash = hash_token(raw)
        taken = await asyncio.to_thread(self._take, token_hash, actor, ops.clock.now(), justification)
        if isinstance(taken, ClickResult):
            return taken
        token, policy = taken
        text, ok = await self.handlers[token.purpose](Click(token, actor, respond, justification, policy))
        await asyncio.to_thread(ops.tokens.set_outcome, token_hash, text)
        await ops.seal()
        return ClickResult(TokenStatus.OK, text, token.purpose, token.message_ref, first=True, ok=ok)

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

    # -- one action per purpose -------------------------------------------------------------

    async def _keep(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            result = await engine.keep_warned(
                click.token.subject, click.actor.audit_id, click.policy, justification=click.justification
            )
        if result.accepted and result.keep_until is not None:
            extra = " Your access is being restored." if result.restore_queued else ""
            return f"Thanks — your access is kept until {result.keep_until:%d %B %Y}.{extra}", True
        if result.needs_approval:
            return await self._ask_admins_to_keep(click, result.reason)
        return f"Could not keep your access: {result.reason}.", False

    async def _ask_admins_to_keep(self, click: Click, why: str) -> Outcome:
        """Past ``keep.approval_after``: the admins get Approve keep; the person is told it waits for them."""
        ops, token = self.ops, click.token
        account_id = token.account_id or ""
        button = await asyncio.to_thread(ops.buttons.keep_approval, token.subject, account_id, click.actor)
        who = click.actor.name or click.actor.audit_id
        text = (
            f"{who} pressed Keep again for account {account_id} ({why}). Approve to keep the access for "
            f"another {click.policy.lifecycle.keep.days} days; without an approval the deadline stands. "
            "Their keeps: `/jira-cleanup keeps`."
        )
        if not await ops.post_to_admins(Reply(text, title="Keep needs approval", buttons=(button,), public=True)):
            return (
                "Your keep needs an admin's approval, but the admins could not be reached. Please contact them.",
                False,
            )
        return "You kept this access several times without using it: an admin must approve this keep (asked).", False

    async def _approve_keep(self, click: Click) -> Outcome:
        """An admin approves another keep: the case is kept (or given back, after the deadline) and its owner told."""
        admin = click.actor.audit_id
        async with self.ops.open_engine() as engine:
            result = await engine.keep_warned(click.token.subject, admin, click.policy, approved_by=admin)
        if not (result.accepted and result.keep_until is not None):
            return f"Not kept: {result.reason}.", False
        await self._tell_owner(
            click, f"An admin approved keeping your Atlassian access until {result.keep_until:%d %B %Y}."
        )
        who = click.actor.name or admin
        return f"Keep approved by {who}: kept until {result.keep_until:%d %B %Y}.", True

    async def _tell_owner(self, click: Click, text: str) -> None:
        ops = self.ops
        if ops.owner_notice is None or not click.token.account_id:
            return
        account = await asyncio.to_thread(latest_account, ops.scans, ops.org_id, click.token.account_id)
        if account is not None:
            await ops.owner_notice(account, "Your Atlassian access", text)

    async def _release(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            result = await engine.release(click.token.subject, click.actor.audit_id)
        if result.accepted:
            return "Thanks — the access will be removed, freeing the licence.", True
        return f"Nothing to do: {result.reason}.", False

    async def _approve(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            try:
                report = await engine.approve(click.token.subject, click.actor.audit_id, click.policy)
            except (ValueError, PermissionError, LookupError) as exc:
                return f"Not approved: {exc}", False
        done = report.counts.get("actions_confirmed", 0)
        return f"Approved by {click.actor.name or click.actor.audit_id}: {done} actions carried out.", True

    async def _deny(self, click: Click) -> Outcome:
        async with self.ops.open_engine() as engine:
            try:
                await engine.deny(click.token.subject, click.actor.audit_id, "denied in chat")
            except (ValueError, LookupError) as exc:
                return f"Not denied: {exc}", False
        return f"Denied by {click.actor.name or click.actor.audit_id}: nothing was changed.", True

    async def _confirm_run(self, click: Click) -> Outcome:
        self.ops.start_run(click.actor, click.respond, dry_run=False)
        return "Running now — I'll post the result here.", True

    async def _request_restore(self, click: Click) -> Outcome:
        submission = await self.ops.submit_restore(
            click.actor.platform,
            click.actor,
            click.token.account_id or click.token.subject,
            reply_to=click.actor.user_id if click.actor.platform == "email" else "",
        )
        return submission.text, submission.ok

    async def _decide_restore(self, click: Click) -> Outcome:
        decided = await self.ops.desk.decide(
            click.token.subject, click.token.purpose is Purpose.APPROVE_RESTORE, click.actor
        )
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
