"""Restore requests from every source (chat, email page, JSM) and the admin fan-out.

A request goes through the :class:`~core.restore.RestoreDesk`; its approval buttons are posted
to the admins of every configured surface (Slack, Teams, email), whatever the source.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from core.chat import Actor
from core.chatops.registry import Target
from core.chatops.replies import Reply
from core.restore import RestoreDesk, Submission
from core.restore_model import RestoreRequest
from core.threads import restore_thread
from core.usecases import latest_account

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

log = logging.getLogger("jira_cleanup.chatops")

UNREACHABLE = (
    "Your request is recorded, but the admins could not be reached right now. "
    "Please also contact your Jira administrators."
)


class AdminPosts:
    """Posts a reply to the admins of every chat surface."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    async def post(self, reply: Reply) -> bool:
        """Post ``reply`` to every surface's admins; True when at least one took it."""
        posted = False
        for poster in self.ops.admin_posters:
            try:
                posted = await poster(reply) or posted
            except Exception:
                log.exception("posting a restore request to the admins failed")
        return posted


class RestoreRequests:
    """A person asks for access back; the admins get Approve / Deny buttons."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    def desk(self) -> RestoreDesk:
        """The restore desk over this org's stores (every request source goes through it)."""
        ops = self.ops
        if ops.restores is None:
            raise RuntimeError("ChatOps has no restore request store")
        return RestoreDesk(
            ops.org_id,
            requests=ops.restores,
            lifecycle=ops.lifecycle,
            scans=ops.scans,
            tokens=ops.tokens,
            clock=ops.clock,
            open_engine=ops.open_engine,
            load_policy=ops.policy,
            channels=ops.channels,
            people=ops.people,
            threads=ops.threads,
            tell_owner=ops.owner_notice,
        )

    async def from_chat(self, requester: Actor, email: str, *, for_email: str | None = None) -> Reply:
        """A locked-out user asks in chat (or asks for ``for_email``'s access); the answer to them."""
        own = await self.ops.resolve_account(Target("email", email.lower()))
        if for_email is None or for_email.lower() == email.lower():
            if own is None:
                return Reply(
                    f"I could not find an Atlassian account for {email}. Please contact your IT team.", ok=False
                )
            submission = await self.submit(requester.platform, requester, own)
            return Reply(submission.text, ok=submission.ok)
        if not self.ops.admins.is_admin(requester) and not await self._in_on_behalf_groups(own):
            return Reply(
                "Only jira-cleanup admins and members of the groups the policy names (restore.on_behalf_groups) "
                "can ask for someone else's access. Please ask your admins.",
                ok=False,
            )
        for_email = for_email.lower()
        account_id = await self.ops.resolve_account(Target("email", for_email))
        if account_id is None:
            return Reply(f"I could not find an Atlassian account for {for_email}.", ok=False)
        submission = await self.submit(requester.platform, requester, account_id, on_behalf=True)
        text = submission.text
        if submission.buttons and submission.ok:
            text = (
                f"Thanks — your request to give {for_email} their access back was sent to the admins; "
                f"{for_email} is told too."
            )
        return Reply(text, ok=submission.ok)

    async def _in_on_behalf_groups(self, account_id: str | None) -> bool:
        """True when ``account_id`` is, as of the latest scan, in a group allowed to ask for others."""
        allowed = self.ops.policy().restore.on_behalf_groups
        if account_id is None or not allowed:
            return False
        account = await asyncio.to_thread(latest_account, self.ops.scans, self.ops.org_id, account_id)
        return account is not None and any(group.name.lower() in allowed for group in account.groups)

    async def submit(self, source: str, requester: Actor, account_id: str, **where: Any) -> Submission:
        """Record the request and route it to the admins of every surface (``where``: the desk's keywords)."""
        submission = await self.desk().submit(source, requester, account_id, **where)
        if submission.buttons and not submission.duplicate:
            thread = restore_thread(submission.request.request_id) if submission.request is not None else None
            reply = Reply(
                submission.admin_text, title="Restore request", buttons=submission.buttons, public=True, thread=thread
            )
            if not await self.ops.post_to_admins(reply):
                log.error("restore request %s could not be posted to any admin surface", submission.request)
                submission = replace(submission, ok=False, text=UNREACHABLE)
            if not where.get("answered", True) and submission.request is not None:
                await self._acknowledge(submission.request, submission.text)
        await self.ops.seal()
        return submission

    async def _acknowledge(self, request: RestoreRequest, text: str) -> None:
        """Tell a webhook requester their request is pending (the desk tells final outcomes)."""
        channel = self.ops.channels.get(request.source)
        if channel is None:
            return
        try:
            await channel.tell(request, text, False)
        except Exception:
            log.exception("could not acknowledge restore request %s on %s", request.request_id, request.source)
