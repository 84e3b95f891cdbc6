"""What the Slack and Teams notifiers share: the button issuer, the admin channel, seat prices and who to ask."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from adapters.wording import monthly_cost
from core.buttons import ButtonIssuer
from core.chat import Actor, Button, actor_of_audit_id
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule
from core.threads import ThreadKey, ThreadRef

#: Told where a platform posted a thread's parent (``core.chatops.threads.Threads.opened``).
ThreadOpened = Callable[[str, ThreadKey, ThreadRef], Awaitable[None]]


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

    async def opened(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        """Report a parent just posted, so every process can reply under it."""
        if self.thread_opened is not None:
            await self.thread_opened(org_id, thread, ref)

    @staticmethod
    def approval_thread_text(run: LifecycleRun, summary: str) -> str:
        """The plain words of a held run's parent, kept to redraw it with its outcome."""
        expires = f"; expires {run.expires_at:%Y-%m-%d %H:%M} UTC" if run.expires_at is not None else ""
        return (
            f"Approval needed: run {run.run_id[:12]} holds {run.held} access-reducing actions "
            f"({summary or 'over the safety caps'}).\nRequested by {run.requested_by} · mode {run.mode}{expires}"
        )

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
