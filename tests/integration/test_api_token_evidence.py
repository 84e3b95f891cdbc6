"""API-token evidence kept between runs, over loopback HTTP against the sandbox (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from adapters.sandbox.org import ApiToken
from tests.integration.test_lifecycle_sandbox import POLICY

ORG_RULE = replace(POLICY, rules=(POLICY.rules[1],))  # suspend after 180 days, 14 days' warning


def token_reads(world, since: int) -> list[str]:
    """Account ids whose API tokens were asked for after the ``since``-th logged request."""
    return [r.path.split("/")[-3] for r in world.sandbox.request_log[since:] if r.path.endswith("/manage/api-tokens")]


async def test_tokens_are_read_to_warn_and_to_act_and_not_every_day_in_between(world_factory) -> None:
    world = await world_factory(users=150)
    engine, users = world.engine, world.sandbox.org.users
    first = await engine.run(ORG_RULE, requested_by="cli:alice")
    read_first = token_reads(world, 0)
    assert first.scan is not None
    assert first.scan.api_reads == len(read_first) > 5
    # Unmanaged accounts' tokens are refused to every org: only managed candidates are read.
    warned = {account for account, _rule in world.notifier.warnings} & set(read_first)
    assert warned

    late = sorted(warned)[0]
    daily: list[list[str]] = []
    for day in range(1, 13):  # days 1..12 of the 14-day notice: nothing is due
        world.clock.advance(timedelta(days=1))
        if day == 10:  # a token of one warned account is used, after the last read before the deadline
            users[late].api_tokens = (ApiToken("t-late", "nightly-sync", world.clock.now(), world.clock.now()),)
        mark = len(world.sandbox.request_log)
        report = await engine.run(ORG_RULE, requested_by="cli:alice")
        assert report.scan is not None
        daily.append(token_reads(world, mark))
        assert report.scan.api_reads == len(daily[-1])
        assert report.scan.api_reused > 0
    # Delivered warnings reuse the evidence they were sent on, until it is older than
    # lifecycle.api_token_recheck_days (7): day 8 reads them once more.
    assert [bool(warned & set(reads)) for reads in daily] == [False] * 7 + [True] + [False] * 4
    assert warned <= set(daily[7])
    assert sum(map(len, daily)) <= 2 * len(read_first), "twelve days cost about two first scans, not twelve"

    world.clock.advance(timedelta(days=2))  # the deadline: the run that acts reads every warned account again
    mark = len(world.sandbox.request_log)
    acted = await engine.run(ORG_RULE, requested_by="cli:alice")
    assert warned <= set(token_reads(world, mark))
    assert acted.counts.get("actions_confirmed", 0) > 0
    assert users[late].membership_status != "suspended", "the token used during the notice stopped the action"
    others = [a for a in warned if a != late and users[a].api_tokens == ()]
    assert others
    assert all(users[a].membership_status == "suspended" for a in others)
