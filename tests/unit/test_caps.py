"""Safety bars 1 and 2: the percentage cap at threshold −1, 0 and +1, counting every access-reducing action."""

import pytest

from core.ledger import RunStatus
from tests.policies import ORG_RULE, uncapped
from tests.unit.test_engine import World, policy, stale


def _world(due_removals: int, due_deactivations: int) -> World:
    """20 billable accounts; some unused for 95 days (Jira removed), some for 200 (deactivated)."""
    accounts = [stale(f"r{n}", days=95) for n in range(due_removals)]
    accounts += [stale(f"d{n}", days=200) for n in range(due_deactivations)]
    accounts += [stale(f"ok{n}", days=1) for n in range(20 - len(accounts))]
    pol = policy(
        rules=[
            {
                "name": "jira",
                "product": "jira-software",
                "inactive_days": 90,
                "action": "remove_product_access",
                "warn_days_before": 14,
            },
            {"name": "org", "product": "any", "inactive_days": 180, "action": "deactivate", "warn_days_before": 14},
        ],
        safety={
            "caps": {
                "per_run": {"max_actions": None, "max_percent": 10},  # 10 % of 20 billable = 2 actions
                "window": {"max_actions": None, "max_percent": None},
            },
            "canary": {"size": 0},
        },
    )
    return World(accounts, pol)


@pytest.mark.parametrize(
    ("removals", "deactivations", "held"),
    [(1, 0, False), (1, 1, False), (2, 1, True), (0, 3, True)],
    ids=["below", "at-the-cap", "one-over-mixed", "one-over-deactivations"],
)
async def test_the_percentage_cap_counts_removals_and_deactivations_alike(removals, deactivations, held):
    w = _world(removals, deactivations)
    await w.run()
    report = await w.run(days=15)
    due = removals + deactivations
    assert report.counts["due"] == due
    if held:
        assert report.status is RunStatus.AWAITING_APPROVAL
        assert report.held == due
        assert w.directory.writes == []
        assert len(w.notifier.approvals) == 1
        assert "per-run cap of 2" in report.note
    else:
        assert report.status is RunStatus.COMPLETED
        kinds = sorted(op.split(":")[0] for op, _ in w.directory.writes)
        assert kinds == sorted(["remove_from_group"] * removals + ["deactivate"] * deactivations)


async def test_a_deletion_is_refused_one_day_before_delete_after_days_and_done_on_the_day():
    """Safety bar 11: an account suspended on day 14 is deleted no earlier than 30 days later."""
    w = World(
        [stale("a1")],
        policy(
            rules=[ORG_RULE],
            safety={"caps": uncapped(), "canary": {"size": 0}, "approval": {"deletions_need_approval": False}},
        ),
    )
    await w.run()
    await w.run(days=14)
    assert w.directory.writes == [("suspend", "a1")]
    early = await w.run(days=29)
    assert early.counts.get("due", 0) == 0
    assert not w.account("a1").scheduled_for_deletion
    await w.run(days=1)
    assert w.account("a1").scheduled_for_deletion


async def test_deletions_count_against_the_per_run_cap_with_the_other_actions():
    """Safety bar 2: two deletions and two suspensions due together are four actions against a cap of three."""
    caps = {"per_run": {"max_actions": 3, "max_percent": None}, "window": {"max_actions": None, "max_percent": None}}
    w = World(
        [stale("gone1", days=200), stale("gone2", days=200), stale("late1", days=150), stale("late2", days=150)]
        + [stale(f"ok{n}", days=1) for n in range(16)],
        policy(
            rules=[ORG_RULE],
            safety={
                "caps": caps | {"deletions_per_run": 20},
                "canary": {"size": 0},
                "approval": {"deletions_need_approval": False},
            },
        ),
    )
    await w.run()
    await w.run(days=14)  # gone1 and gone2 suspended: two actions, under the cap
    assert sorted(w.directory.writes) == [("suspend", "gone1"), ("suspend", "gone2")]
    await w.run(days=16)  # late1 and late2 reach 180 days unused: warned
    report = await w.run(days=14)  # their suspension and the others' deletion fall due together
    assert report.counts["due"] == 4
    assert report.status is RunStatus.AWAITING_APPROVAL
    assert report.held == 4
    assert "4 actions exceed the per-run cap of 3" in report.note
    assert sorted(w.directory.writes) == [("suspend", "gone1"), ("suspend", "gone2")]
    assert not w.account("gone1").scheduled_for_deletion
