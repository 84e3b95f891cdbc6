"""Background work of a chat integration: ack at once, work later, never lose a failure silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.chatops import ChatOps

log = logging.getLogger("jira_cleanup.chat")


class Background:
    """Mixin for Slack and Teams integrations; needs ``tasks`` (a set) and ``chatops``."""

    tasks: set[asyncio.Task[None]]
    chatops: ChatOps
    platform: str = "chat"

    async def drain(self) -> None:
        """Wait until no background work (ours or ChatOps') is left (tests, shutdown)."""
        while self.tasks or self.chatops.tasks:
            await asyncio.gather(*self.tasks, *self.chatops.tasks, return_exceptions=True)

    async def settle(self, grace: float) -> None:
        """Give background work ``grace`` seconds, then cancel what is left."""
        try:
            async with asyncio.timeout(grace):
                await self.drain()
        except TimeoutError:
            for task in list(self.tasks) + list(self.chatops.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, *self.chatops.tasks, return_exceptions=True)

    def spawn(self, job: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``job`` in the background; failures are logged, never lost silently."""

        async def guarded() -> None:
            try:
                await job
            except Exception:
                log.exception("%s background job failed: %s", self.platform, what)

        task = asyncio.ensure_future(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
