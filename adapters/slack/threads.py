"""Admin threads on Slack: replies with the parent's ``thread_ts``, files in the thread, the parent redrawn.

Implements ``core.threads.ThreadSurface``. The final result is also shown in the channel
(``reply_broadcast``); everything else stays in the thread. Failures are logged and reported
as ``False``, never raised: the request's state is already stored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks as bk
from adapters.slack.notifier import SLACK_ERRORS, error_code
from core.threads import ThreadRef

log = logging.getLogger("jira_cleanup.slack.threads")

PLATFORM: Final = "slack"


class SlackThreads:
    """``ThreadSurface`` over the Slack Web API (the bot must be in the admin channel)."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def reply(self, ref: ThreadRef, text: str, *, broadcast: bool = False) -> bool:
        """``chat.postMessage`` under the parent."""
        message, blocks = bk.plain(text)
        try:
            await self.client.chat_postMessage(
                channel=ref.channel, thread_ts=ref.parent, text=message, blocks=blocks, reply_broadcast=broadcast
            )
        except SLACK_ERRORS as exc:
            log.warning("could not reply in thread %s:%s (%s)", ref.channel, ref.parent, error_code(exc))
            return False
        return True

    async def attach(self, ref: ThreadRef, path: Path, title: str) -> bool:
        """Upload ``path`` into the thread (``files_upload_v2`` with ``thread_ts``)."""
        try:
            await self.client.files_upload_v2(
                channel=ref.channel, thread_ts=ref.parent, file=str(path), filename=path.name, title=title
            )
        except SLACK_ERRORS as exc:
            log.warning("could not upload %s to thread %s:%s (%s)", path.name, ref.channel, ref.parent, error_code(exc))
            return False
        return True

    async def settle(self, ref: ThreadRef, outcome: str) -> bool:
        """``chat.update`` the parent: its words, the outcome, no buttons."""
        headline, _, rest = ref.text.partition("\n")
        blocks = [bk.section(f"*{bk.escape(headline)}*" + (f"\n{bk.escape(rest)}" if rest else ""))]
        blocks = bk.resolved(blocks, outcome)
        try:
            await self.client.chat_update(
                channel=ref.channel, ts=ref.parent, text=bk.escape(f"{headline} — {outcome}"), blocks=blocks
            )
        except SLACK_ERRORS as exc:
            log.warning("could not update the parent %s:%s (%s)", ref.channel, ref.parent, error_code(exc))
            return False
        return True
