"""Reductions a stopped run leaves PLANNED: the next run answers for them; a keep or a restore never carries them out.

A canary failure (or the breaker, or the kill switch) stops a run with actions still PLANNED, and a
transient failure is retried by the next run. Whatever carries them out must have counted them:
the next scheduled run's caps do; a person's keep or an approved restore gives access back only.
"""

from dataclasses import replace

from core.errors import DirectoryUnavailable
from core.ledger import EntryState, RunStatus
from core.policy import Mode
from tests.unit.test_engine import World, stale, suspend_only

CANARY = {"size": 2, "max_error_rate": 0.4}


async def stopped_by_the_canary(w: World) -> None:
    """Warn everyone, then let the canary's two suspensions fail: the run stops with the rest PLANNED."""
    w.engine.concurrency = 1
    await w.run()
    w.directory.fail["suspend"] = DirectoryUnavailable("503")
    stopped = await w.run(days=14)
    del w.directory.fail["suspend"]
    assert stopped.status is RunStatus.PAUSED
    assert "canary failed" in stopped.note


async def test_the_next_run_counts_what_a_stopped_run_left_against_its_caps():
    w = World([stale(f"a{n}") for n in range(4)] + [stale(f"b{n}") for n in range(4)], suspend_only(canary=CANARY))
    await stopped_by_the_canary(w)
    left = w.store.entries("org-1", states=[EntryState.PLANNED])
    assert len(left) == 6  # two canary failures wait to be retried, six were never tried
    w.policy = suspend_only(per_run=4, canary=CANARY)  # the admin caps runs at 4 actions
    report = await w.run(days=1)
    # 2 retried + 6 left = 8 suspensions against a cap of 4: nothing goes ahead without an admin.
    assert report.status is RunStatus.AWAITING_APPROVAL
    assert "8 actions exceed the per-run cap of 4" in report.note
    assert "8 of the actions were left planned by earlier runs" in report.note
    assert w.directory.writes == []
    assert report.held == 8
    assert w.store.entries("org-1", states=[EntryState.PLANNED]) == []
    # They are the held run's now: another admin's approval carries every one of them out, once.
    approved = await w.engine.approve(report.run_id, "cli:bob", w.policy)
    assert approved.status is RunStatus.COMPLETED
    assert sorted(w.directory.writes) == sorted(
        [("suspend", f"a{n}") for n in range(4)] + [("suspend", f"b{n}") for n in range(4)]
    )


async def test_under_the_cap_the_next_run_carries_out_what_was_left():
    w = World([stale(f"a{n}") for n in range(4)], suspend_only(per_run=4, canary=CANARY))
    await stopped_by_the_canary(w)
    report = await w.run(days=1)
    assert report.status is RunStatus.COMPLETED
    assert sorted(w.directory.writes) == [("suspend", f"a{n}") for n in range(4)]


async def test_a_restore_gives_back_only_and_leaves_the_stopped_runs_actions_alone():
    pol = suspend_only(canary=CANARY)
    w = World([stale("r1")], pol)
    await w.run()
    await w.run(days=14)
    assert w.directory.writes == [("suspend", "r1")]
    for n in range(4):
        w.directory.accounts[f"a{n}"] = stale(f"a{n}", now=w.clock.now())
    await stopped_by_the_canary(w)
    left = {e.account_id for e in w.store.entries("org-1", states=[EntryState.PLANNED])}
    assert len(left) == 2  # the canary's two failed; two were never tried
    before = len(w.directory.writes)
    dry = replace(pol, mode=Mode.DRY_RUN)  # the admin switched to dry run after the canary stopped
    result = await w.engine.restore("org-1", "r1", "cli:bob", dry, reason="asked back")
    assert result.accepted
    assert w.directory.writes[before:] == [("restore", "r1")]
    assert {e.account_id for e in w.store.entries("org-1", states=[EntryState.PLANNED])} == left


async def test_a_keep_gives_back_only_and_leaves_the_stopped_runs_actions_alone():
    pol = suspend_only(canary=CANARY)
    w = World([stale("k1")], pol)
    await w.run()
    await w.run(days=14)
    for n in range(4):
        w.directory.accounts[f"a{n}"] = stale(f"a{n}", now=w.clock.now())
    await stopped_by_the_canary(w)
    left = {e.account_id for e in w.store.entries("org-1", states=[EntryState.PLANNED])}
    assert len(left) == 2
    before = len(w.directory.writes)
    kept = await w.engine.keep("org-1", "k1", "slack:T0ACME/U0K1", pol)
    assert kept.accepted
    assert w.directory.writes[before:] == [("restore", "k1")]
    assert {e.account_id for e in w.store.entries("org-1", states=[EntryState.PLANNED])} == left
