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
    daily: list[list[str]] = [read_first]  # daily[d]: the token reads of day d (day 0: the first run)
    for _day in range(1, 13):  # days 1..12 of the 14-day notice: nothing is due
        world.clock.advance(timedelta(days=1))
        mark = len(world.sandbox.request_log)
        report = await engine.run(ORG_RULE, requested_by="cli:alice")
        assert report.scan is not None
        daily.append(token_reads(world, mark))
        assert report.scan.api_reads == len(daily[-1])
        assert report.scan.api_reused > 0
    # Delivered warnings reuse the evidence they were sent on until the account's own point of the
    # lifecycle.api_token_recheck_days (7) window: each is read again within 7 days, then every 7 days.
    read_on = {account: [day for day, reads in enumerate(daily) if account in reads] for account in warned}
    for account, days in read_on.items():
        assert all(b - a <= 7 for a, b in zip(days, [*days, 12][1:], strict=True)), f"{account}: kept > 7 days"
        assert 1 <= days[1] <= 7, account
        assert days[1:] == list(range(days[1], 13, 7)), f"{account}: then once a week"
    assert len({days[1] for days in read_on.values()}) > 1, "the re-reads are spread over the week, not one day"
    later = [account for reads in daily[1:] for account in reads]
    assert max(later.count(account) for account in later) <= 2, "at most twice in twelve days: once a week"
    assert len(later) <= 3 * len(read_first), "twelve days cost under three first scans, not twelve"

    # A token of one warned account is used after its last read before the deadline.
    users[late].api_tokens = (ApiToken("t-late", "nightly-sync", world.clock.now(), world.clock.now()),)
    world.clock.advance(timedelta(days=2))  # the deadline: the run that acts reads every warned account again
    mark = len(world.sandbox.request_log)
    acted = await engine.run(ORG_RULE, requested_by="cli:alice")
    assert warned <= set(token_reads(world, mark))
    assert acted.counts.get("actions_confirmed", 0) > 0
    assert users[late].membership_status != "suspended", "the token used during the notice stopped the action"
    others = [a for a in warned if a != late and users[a].api_tokens == ()]
    assert others
    assert all(users[a].membership_status == "suspended" for a in others)
