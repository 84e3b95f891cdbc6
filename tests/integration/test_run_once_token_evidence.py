"""The run every entry point takes (``jira-cleanup run``, serve's scheduler, chat) reuses API-token evidence.

``run_once`` scans into the run CSV before the engine steps; its scan must see the open cases,
or delivered warnings would have their tokens read on every run (and a failed read would
reach them at scan time). Over loopback HTTP against the sandbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from bot.lifecycle import run_once
from core.token_evidence import recheck_due
from tests.integration.test_api_token_evidence import ORG_RULE, token_reads


async def test_run_once_reuses_the_evidence_of_delivered_warnings(world_factory, tmp_path) -> None:
    world = await world_factory(users=80)
    start = world.clock.now()
    first, _ = await run_once(world.engine, ORG_RULE, requested_by="cli:alice", csv_path=tmp_path / "1.csv")
    warned = {account for account, _rule in world.notifier.warnings} & set(token_reads(world, 0))
    assert first.scan is not None
    assert warned

    world.clock.advance(timedelta(days=1))
    mark = len(world.sandbox.request_log)
    second, csv = await run_once(world.engine, ORG_RULE, requested_by="cli:alice", csv_path=tmp_path / "2.csv")
    assert second.scan is not None
    # Only those whose own point of the 7-day recheck window (api_token_recheck_days) passed in the day.
    due = {a for a in warned if recheck_due(a, start, timedelta(days=7)) < world.clock.now()}
    assert len(due) < len(warned), (len(due), len(warned))
    assert warned & set(token_reads(world, mark)) == due, "other delivered warnings are not read the next day"
    assert second.scan.api_reused >= len(warned - due)
    assert csv.exists()
