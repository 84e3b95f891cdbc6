"""Several notifiers as one: a warning goes to the first channel that delivers, in policy order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule
from core.ports import Delivery, Notifier

log = logging.getLogger("jira_cleanup.notify")


class OrderedNotifier:
    """A :class:`core.ports.Notifier` over named channels (``slack``, ``teams``, ``email``).

    ``order()`` gives the channel order (the policy's ``lifecycle.delivery_order``, read on
    every message so a policy reload applies at once); channels that are not configured are
    skipped. A person-facing message stops at the first confirmed delivery and returns every
    attempt in ``Delivery.attempts``; admin messages go to every channel.
    """

    def __init__(self, channels: Mapping[str, Notifier], order: Callable[[], Sequence[str]]) -> None:
        if not channels:
            raise ValueError("OrderedNotifier needs at least one channel")
        self.channels = dict(channels)
        self.order = order

    def _ordered(self) -> list[tuple[str, Notifier]]:
        named = [(name, self.channels[name]) for name in self.order() if name in self.channels]
        return named or list(self.channels.items())

    async def _first(self, send: Callable[[Notifier], Awaitable[Delivery]]) -> Delivery:
        attempts: list[tuple[str, bool, str]] = []
        for name, notifier in self._ordered():
            try:
                delivery = await send(notifier)
            except Exception as exc:  # a channel bug must not stop the next channel
                delivery = Delivery(False, name, f"error: {type(exc).__name__}")
            attempts.extend(delivery.tried())
            if delivery.delivered:
                return Delivery(True, delivery.channel, delivery.detail, tuple(attempts))
        detail = "; ".join(f"{channel}: {why}" for channel, _, why in attempts)
        return Delivery(False, "+".join(name for name, _ in self._ordered()), detail, tuple(attempts))

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """The first channel, in order, that confirms delivery."""
        return await self._first(lambda n: n.warn(account, case, rule))

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Like :meth:`warn`: the first channel that delivers."""
        return await self._first(lambda n: n.actioned(account, case))

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """Like :meth:`warn`: the first channel that delivers."""
        return await self._first(lambda n: n.tell(account, subject, text))

    async def _all(self, what: str, send: Callable[[Notifier], Awaitable[None]]) -> None:
        for name, notifier in self.channels.items():
            try:
                await send(notifier)
            except Exception:  # one channel down must not keep the others' admins uninformed
                log.exception("%s on %s failed", what, name)

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Every configured channel, whatever the delivery order."""
        await self._all("escalation", lambda n: n.escalate(org_id, account, case, reason))

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Every channel (the first Approve/Deny used wins; the others then answer "already decided")."""
        await self._all("approval request", lambda n: n.request_approval(run, summary))

    async def notify_admins(self, org_id: str, text: str) -> None:
        """Every configured channel."""
        await self._all("admin notice", lambda n: n.notify_admins(org_id, text))
