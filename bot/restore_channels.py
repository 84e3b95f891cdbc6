"""Answering restore requesters outside chat: a JSM comment (and transition), or an email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.slack import blocks as bk
from core.chatops.conversation import told_text
from core.restore_model import RequestState, RestoreRequest

if TYPE_CHECKING:  # the SDKs behind these load only when their channel is configured
    from adapters.email import EmailNotifier
    from adapters.jsm import JsmClient
    from adapters.slack.notifier import SlackNotifier
    from adapters.teams.notifier import TeamsNotifier


@dataclass
class JsmChannel:
    """Implements ``core.ports.RequesterChannel`` on the JSM request the person raised."""

    client: JsmClient
    done_transition: str = "Resolved"
    declined_transition: str = "Declined"

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        """Comment publicly on the request; resolve or decline it once the outcome is final."""
        key = request.reply_to
        if request.state is RequestState.RESTORED:
            if not await self.client.transition(key, self.done_transition, text):
                await self.client.comment(key, text)
            return
        if request.state in (RequestState.DENIED, RequestState.FAILED):
            if not await self.client.transition(key, self.declined_transition, text):
                await self.client.comment(key, text)
            return
        await self.client.comment(key, text)


@dataclass
class EmailChannel:
    """Implements ``core.ports.RequesterChannel`` by email to the address the request came from."""

    notifier: EmailNotifier

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        """Send the outcome; raise when the mail server refused it (the desk logs it)."""
        delivery = await self.notifier.send(request.reply_to, "Your request to get access back", text)
        if not delivery.delivered:
            raise RuntimeError(f"email to the requester not delivered: {delivery.detail}")


@dataclass
class SlackChannel:
    """Implements ``core.ports.RequesterChannel`` with a DM to the Slack requester."""

    notifier: SlackNotifier

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        """DM the requester the outcome."""
        await self.notifier.dm(request.requester.user_id, *bk.plain(told_text(text)), team=request.requester.tenant)


@dataclass
class TeamsChannel:
    """Implements ``core.ports.RequesterChannel`` with a 1:1 message to the Teams requester."""

    notifier: TeamsNotifier

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        """Message the requester the outcome; raise when Teams has no conversation with them."""
        if not await self.notifier.dm_actor(request.requester, told_text(text)):
            raise RuntimeError(f"no Teams conversation with {request.requester.audit_id}")
