"""Admin threads on Teams: replies in the channel post's reply chain, the parent card redrawn.

Implements ``core.threads.ThreadSurface``. A reply goes to the channel conversation id with
``;messageid=<parent activity id>`` (Bot Framework's way to answer in a channel thread); the
parent is updated in place without its buttons. Teams has no ``reply_broadcast``: the final
result is a reply like the others. Files: a bot cannot put a file into a channel thread without
Microsoft Graph, so the run CSV is named in a reply (where it was written). Failures are logged
and reported as ``False``, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from adapters.teams import cards
from adapters.teams.connector import TeamsSendError, message
from adapters.teams.notifier import TeamsNotifier
from core.threads import ThreadRef

log = logging.getLogger("jira_cleanup.teams.threads")

PLATFORM: Final = "teams"


def thread_reference(reference: Mapping[str, object], parent: str) -> dict[str, object]:
    """``reference`` (a channel's) pointed at the reply chain of the post ``parent``."""
    conversation = reference.get("conversation")
    fields = dict(conversation) if isinstance(conversation, Mapping) else {}
    base = str(fields.get("id", "")).split(";", 1)[0]
    return {**reference, "conversation": {**fields, "id": f"{base};messageid={parent}"}}


class TeamsThreads:
    """``ThreadSurface`` over the Bot Connector, through the notifier's connector and stored channel."""

    platform = PLATFORM

    def __init__(self, notifier: TeamsNotifier) -> None:
        self.notifier = notifier

    async def _channel(self, ref: ThreadRef) -> Mapping[str, object] | None:
        record = await asyncio.to_thread(self.notifier.conversations.conversation_for_channel, PLATFORM, ref.channel)
        if record is None:
            log.warning("no stored Teams reference for channel %s: thread of %s not updated", ref.channel, ref.parent)
            return None
        return record.reference

    async def reply(self, ref: ThreadRef, text: str, *, broadcast: bool = False) -> bool:
        """Post ``text`` in the parent's reply chain."""
        channel = await self._channel(ref)
        if channel is None:
            return False
        try:
            await self.notifier.connector.send(thread_reference(channel, ref.parent), message(*cards.plain(text)))
        except TeamsSendError as exc:
            log.warning("could not reply in Teams thread %s (%s)", ref.parent, exc.code)
            return False
        return True

    async def attach(self, ref: ThreadRef, path: Path, title: str) -> bool:
        """Name the CSV in the thread (a channel file needs Microsoft Graph)."""
        return await self.reply(ref, f"{title}: written to {path} on the jira-cleanup server.")

    async def settle(self, ref: ThreadRef, outcome: str) -> bool:
        """Update the parent card: its words and the outcome, no buttons."""
        channel = await self._channel(ref)
        if channel is None:
            return False
        headline, _, rest = ref.text.partition("\n")
        body = [cards.heading(headline)]
        if rest:
            body.append(cards.text_block(cards.escape(rest)))
        body.append(cards.text_block(cards.escape(outcome), weight="Bolder", color="Good"))
        try:
            await self.notifier.connector.update(channel, ref.parent, message(headline, cards.card(body)))
        except TeamsSendError as exc:
            log.warning("could not update the Teams parent %s (%s)", ref.parent, exc.code)
            return False
        return True
