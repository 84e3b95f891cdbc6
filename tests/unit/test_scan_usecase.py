"""scan_and_plan over fakes: streams pages, stores everything, fails loudly and recorded."""

import pytest

from core.clock import FixedClock
from core.planner import plan
from core.policy import parse_policy
from core.usecases import scan_and_plan
from tests.fakes import NOW, FakeDirectory, FakeStore, make_account

POLICY = parse_policy(
    {"rules": [{"name": "jira", "product": "jira-software", "inactive_days": 60, "action": "remove_product_access"}]}
)


def org(n=25):
    return [make_account(f"acc-{i:03d}", products={"jira-software": i * 7}) for i in range(n)]


async def test_scan_stores_snapshot_decisions_and_matches_pure_plan():
    """The streamed scan gives the same hash and summary as planning the whole list at once."""
    accounts = org()
    directory, store = FakeDirectory(accounts, page_size=4), FakeStore()
    pages = []
    result = await scan_and_plan(directory, store, POLICY, FixedClock(NOW), on_progress=pages.append)
    expected = plan(accounts, POLICY, NOW)
    assert result.plan_hash == expected.plan_hash
    assert result.summary == expected.summary
    assert pages == [4, 8, 12, 16, 20, 24, 25]
    run = store.get_scan(result.run_id)
    assert (run.status, run.accounts, run.plan_hash) == ("completed", 25, expected.plan_hash)
    assert list(store.iter_decisions(result.run_id)) == list(expected.decisions)
    assert store.get_account(result.run_id, "acc-003") == accounts[3]
    assert directory.writes == []


async def test_callback_sees_every_account_with_its_decisions():
    """on_decisions is called once per account (the CLI writes the CSV from it)."""
    seen = []
    await scan_and_plan(
        FakeDirectory(org(5)),
        FakeStore(),
        POLICY,
        FixedClock(NOW),
        on_decisions=lambda o, a, ds: seen.append((o.org_id, a.account_id, len(ds))),
    )
    assert seen == [("org-1", f"acc-{i:03d}", 1) for i in range(5)]


async def test_failure_mid_scan_is_recorded_and_raised():
    """A directory that dies mid-scan leaves a failed run with the error text."""
    directory, store = FakeDirectory(org(), page_size=5), FakeStore()
    directory.fail_after_pages = 2
    with pytest.raises(ConnectionError):
        await scan_and_plan(directory, store, POLICY, FixedClock(NOW))
    run = store.latest_scan("org-1")
    assert run is not None
    assert (run.status, run.accounts, run.plan_hash) == ("failed", 10, None)
    assert "directory went away" in (run.error or "")
