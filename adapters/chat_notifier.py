"""What the Slack and Teams notifiers share: the button issuer, the admin channel, seat prices and who to ask."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.wording import monthly_cost
from core.buttons import ButtonIssuer
from core.chat import Actor, Button, actor_of_audit_id
from core.chatops.replies import Reply
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule
from core.threads import ThreadKey, ThreadRef, escalation_thread, run_thread

#: Told where a platform posted a thread's parent (``core.chatops.threads.Threads.opened``).
ThreadOpened = Callable[[str, ThreadKey, ThreadRef], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Parent:
    """An admin post that opens a thread: its org, the request, and its plain words (to redraw it)."""

    org_id: str
    thread: ThreadKey
    text: str

    @classmethod
    def of_reply(cls, org_id: str, reply: Reply) -> Parent | None:
        """The parent a reply posted to the admins opens, when it belongs to a request's thread."""
        return cls(org_id, reply.thread, reply.thread_text) if reply.thread is not None else None


class ChatNotifierBase:
    """The settings every chat notifier has; subclasses add their platform's client."""

    def __init__(
        self,
        issuer: ButtonIssuer,
        *,
        admin_channel: str | None,
        price: Callable[[str], Decimal],
        currency: str,
        contact: str = "your Jira administrators",
    ) -> None:
        self.issuer = issuer
        self.admin_channel = admin_channel
        self.price = price
        self.currency = currency
        self.contact = contact
        #: Set by the composition root: where parents of admin threads are remembered.
        self.thread_opened: ThreadOpened | None = None

    async def opened(self, parent: Parent, platform: str, channel: str, message_id: str) -> None:
        """Report a parent just posted at ``message_id`` in ``channel``, so every process can reply under it."""
        if self.thread_opened is not None:
            ref = ThreadRef(platform, channel, message_id, parent.text)
            await self.thread_opened(parent.org_id, parent.thread, ref)

    @staticmethod
    def approval_parent(run: LifecycleRun, summary: str) -> Parent:
        """A held run's post as its thread's parent, with the plain words to redraw it."""
        expires = f"; expires {run.expires_at:%Y-%m-%d %H:%M} UTC" if run.expires_at is not None else ""
        text = (
            f"Approval needed: run {run.run_id[:12]} holds {run.held} access-reducing actions "
            f"({summary or 'over the safety caps'}).\nRequested by {run.requested_by} · mode {run.mode}{expires}"
        )
        return Parent(run.org_id, run_thread(run.run_id), text)

    @staticmethod
    def escalation_parent(org_id: str, case: Case, text: str) -> Parent:
        """An undelivered warning's post as its thread's parent."""
        return Parent(org_id, escalation_thread(case.case_id), f"Needs attention\n{text}")

    async def warning_buttons(self, account: Account, case: Case, recipient: Actor) -> tuple[Button, Button]:
        """Issue Keep / I don't need it for one warning, usable only by ``recipient``."""
        return await asyncio.to_thread(self.issuer.warning, case.case_id, str(account.account_id), recipient)

    async def approval_buttons(self, run: LifecycleRun, platform: str) -> tuple[Button, Button]:
        """Approve / Deny for a held run; a requester on ``platform`` may not use them (four-eyes)."""
        requester = actor_of_audit_id(run.requested_by, platform)
        return await asyncio.to_thread(self.issuer.approval, run.run_id, requester)

    def wording(self, account: Account, rule: Rule) -> dict[str, Any]:
        """The warning's money and contact words (:func:`adapters.wording.warning_text`'s keywords)."""
        return {"monthly_cost": self.monthly_cost(account, rule), "currency": self.currency, "contact": self.contact}

    def monthly_cost(self, account: Account, rule: Rule) -> Decimal:
        """What the seats the rule's action frees cost per month."""
        return monthly_cost(self.price, account, rule)
