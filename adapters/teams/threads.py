"""Admin threads on Teams: replies in the channel post's reply chain, the parent card redrawn.

Implements ``core.threads.ThreadSurface``. A reply goes to the channel conversation id with
``;messageid=<parent activity id>`` (Bot Framework's way to answer in a channel thread); the
parent is updated in place without its buttons. Teams has no ``reply_broadcast``: the final
result is a reply like the others. Files: a bot cannot put a file into a channel thread without
Microsoft Graph, so the run CSV comes as a signed, expiring download link served by ``serve``.
Failures are logged and reported as ``False``, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

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

    def __init__(self, notifier: TeamsNotifier, link: Callable[[Path], str | None] | None = None) -> None:
        self.notifier = notifier
        #: Makes a download link for a report file (``bot.file_links``), when ``serve`` can serve one.
        self.link = link

    async def _channel(self, ref: ThreadRef) -> Mapping[str, object] | None:
        record = await asyncio.to_thread(self.notifier.conversations.conversation_for_channel, PLATFORM, ref.channel)
        if record is None:
            log.warning("no stored Teams reference for channel %s: thread of %s not updated", ref.channel, ref.parent)
            return None
        return record.reference

    async def reply(self, ref: ThreadRef, text: str, *, broadcast: bool = False) -> bool:
        """Post ``text`` in the parent's reply chain."""
        return await self._send(ref, *cards.plain(text))

    async def _send(self, ref: ThreadRef, text: str, card: Mapping[str, Any]) -> bool:
        channel = await self._channel(ref)
        if channel is None:
            return False
        try:
            await self.notifier.connector.send(thread_reference(channel, ref.parent), message(text, card))
        except TeamsSendError as exc:
            log.warning("could not reply in Teams thread %s (%s)", ref.parent, exc.code)
            return False
        return True

    async def attach(self, ref: ThreadRef, path: Path, title: str) -> bool:
        """A signed, expiring download link in the thread (a channel file needs Microsoft Graph).

        Without a link maker (no ``LINK_SECRET``), the reply names where the file was written.
        """
        url = self.link(path) if self.link is not None else None
        if url is None:
            return await self.reply(ref, f"{title}: written to {path} on the jira-cleanup server.")
        text = f"{title}: {path.name}"
        card = {**cards.card([cards.text_block(cards.escape(text))]), "actions": [cards.download_action(url)]}
        return await self._send(ref, text, card)

    async def settle(self, ref: ThreadRef, outcome: str) -> bool:
        """Update the parent card: its words and the outcome, no buttons."""
        channel = await self._channel(ref)
        if channel is None:
            return False
        headline, _, rest = ref.text.partition("\n")
        card = cards.outcome(headline, outcome, detail=rest)
        try:
            await self.notifier.connector.update(channel, ref.parent, message(headline, card))
        except TeamsSendError as exc:
            log.warning("could not update the Teams parent %s (%s)", ref.parent, exc.code)
            return False
        return True
