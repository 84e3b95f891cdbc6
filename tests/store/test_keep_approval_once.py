"""Two Keep presses of one warning at the same moment ask the admins once, on SQLite and on PostgreSQL.

The keep use case (:class:`core.chatops.KeepApprovals`) runs over the SQL token store; both presses are
let through the engine before either asks, so both reach the store's one-approval-per-warning step together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.store import create_lifecycle_store
from adapters.store.chat_store import SqlChatStore
from core.chat import Purpose
from core.chatops.keeps import ASKED, STILL_WAITING
from core.engine import Engine
from core.lifecycle import CaseState
from tests.unit.test_keep_approvals import press_keep, warned_again


async def test_two_keep_presses_at_once_post_exactly_one_approval(database_url: str) -> None:
    h = await warned_again()
    sql = create_lifecycle_store(database_url)
    try:
        h.tokens = h.ops.tokens = SqlChatStore(sql)
        together = asyncio.Barrier(2)
        engine = h.engine

        class BothJudged:
            """The engine, but a keep's answer waits until the other press has its answer too."""

            async def keep_warned(self, *args, **kwargs):
                result = await engine.keep_warned(*args, **kwargs)
                await together.wait()
                return result

        @asynccontextmanager
        async def open_engine() -> AsyncIterator[Engine]:
            yield BothJudged()  # type: ignore[misc]

        h.ops.open_engine = open_engine
        first, second = await asyncio.gather(press_keep(h, "email"), press_keep(h, "slack"))

        assert sorted([first.text, second.text]) == sorted([ASKED, STILL_WAITING])
        assert (first.waiting, second.waiting) == (True, True)
        assert len(h.admin_posts) == 1  # one "Keep needs approval" for the two presses
        case_id = h.case("a1").case_id
        assert len(h.tokens.open_tokens("org-1", Purpose.APPROVE_KEEP, case_id, h.clock.now())) == 1
        assert h.case("a1").state is CaseState.WARNED
    finally:
        sql.close()
