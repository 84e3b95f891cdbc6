"""The run every entry point takes (``jira-cleanup run``, serve's scheduler, chat) reuses API-token evidence.

``run_once`` scans into the run CSV before the engine steps; its scan must see the open cases,
or delivered warnings would have their tokens read on every run (and a failed read would
reach them at scan time). Over loopback HTTP against the sandbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from bot.lifecycle import run_once
from tests.integration.test_api_token_evidence import ORG_RULE, token_reads


async def test_run_once_reuses_the_evidence_of_delivered_warnings(world_factory, tmp_path) -> None:
    world = await world_factory(users=80)
    first, _ = await run_once(world.engine, ORG_RULE, requested_by="cli:alice", csv_path=tmp_path / "1.csv")
    warned = {account for account, _rule in world.notifier.warnings} & set(token_reads(world, 0))
    assert first.scan is not None
    assert warned

    world.clock.advance(timedelta(days=1))
    mark = len(world.sandbox.request_log)
    second, csv = await run_once(world.engine, ORG_RULE, requested_by="cli:alice", csv_path=tmp_path / "2.csv")
    assert second.scan is not None
    assert not warned & set(token_reads(world, mark)), "delivered warnings are not read again the next day"
    assert second.scan.api_reused >= len(warned)
    assert csv.exists()
