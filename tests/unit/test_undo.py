"""Undoing a whole run over in-memory fakes: four-eyes, exactly once, dry run, kill switch, refusals."""

from dataclasses import replace
from datetime import timedelta

import pytest

from core.engine import Engine, undo_lines, undo_run_id
from core.engine.judgement import undo_refusal
from core.ledger import EntryState, RunStatus, planned_entry
from core.lifecycle import CaseState, Effect, Op, transition
from core.model import MembershipStatus
from tests.fakes import NOW
from tests.unit.test_engine import World, stale, suspend_only


class Crash(Exception):
    pass


async def suspended_world(*ids):
    """``ids`` warned, then suspended by one run; returns the world and that run's id."""
    w = World([stale(i) for i in ids], suspend_only())
    await w.run()
    acted = await w.run(days=14)
    assert all(w.account(i).membership_status is MembershipStatus.SUSPENDED for i in ids)
    return w, acted.run_id


def restores(w):
    return [a for op, a in w.directory.writes if op == "restore"]


async def test_undo_needs_a_second_admin_and_restores_each_account_once():
    """alice asks, alice cannot approve, bob can; a kept account is skipped with its reason; twice is refused."""
    w, run_id = await suspended_world("a1", "a2", "a3")
    await w.engine.keep("org-1", "a3", "slack:T1/U3", w.policy, rule="org")
    assert restores(w) == ["a3"]

    report = await w.engine.undo(run_id, "cli:alice", w.policy)
    assert report.status == "awaiting_approval"
    assert "a3 (suspend): cannot be undone: restored since the run" in report.text()
    assert w.notifier.approvals  # the same approval request as a held run
    assert restores(w) == ["a3"]
    with pytest.raises(PermissionError):
        await w.engine.approve(undo_run_id(run_id), "cli:alice", w.policy)

    done = await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    assert done.counts["restored"] == 2
    assert sorted(restores(w)) == ["a1", "a2", "a3"]
    assert all(w.account(i).membership_status is MembershipStatus.ACTIVE for i in ("a1", "a2", "a3"))
    lines = {x.account_id: x.outcome for x in undo_lines(w.store, run_id, w.clock.now())}
    assert lines == {"a1": "restored", "a2": "restored", "a3": "cannot be undone"}

    with pytest.raises(ValueError, match="already requested"):
        await w.engine.undo(run_id, "cli:carol", w.policy)
    with pytest.raises(ValueError, match="not awaiting approval"):
        await w.engine.approve(undo_run_id(run_id), "cli:carol", w.policy)
    await w.run(days=1)
    assert sorted(restores(w)) == ["a1", "a2", "a3"]
    actions = [e.entry.action for e in w.store.iter_audit()]
    assert {"undo.requested", "undo.refused", "approval.refused", "approval.granted", "act.restore"} <= set(actions)


async def test_dry_run_undo_shows_what_would_be_restored_and_changes_nothing():
    w, run_id = await suspended_world("a1", "a2")
    writes, audit = list(w.directory.writes), len(list(w.store.iter_audit()))
    report = await w.engine.undo(run_id, "cli:alice", w.policy, dry_run=True)
    assert report.status == "dry_run"
    assert [x.outcome for x in report.lines] == ["would restore", "would restore"]
    assert "would restore 2 accounts" in report.text()
    assert w.directory.writes == writes
    assert len(list(w.store.iter_audit())) == audit
    with pytest.raises(LookupError):
        w.store.get_run(undo_run_id(run_id))


async def test_the_kill_switch_holds_an_approved_undo_until_resumed():
    w, run_id = await suspended_world("a1")
    await w.engine.set_paused("org-1", True, "cli:alice")
    report = await w.engine.undo(run_id, "cli:alice", w.policy)
    assert report.paused
    approved = await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    assert approved.status is RunStatus.PAUSED
    assert restores(w) == []
    await w.engine.set_paused("org-1", False, "cli:alice")
    await w.run()
    assert restores(w) == ["a1"]


async def test_a_crash_mid_undo_is_recovered_without_restoring_twice():
    """Killed right after REQUESTED was stored: the next start reads the account, then finishes the rest."""
    w, run_id = await suspended_world("a1", "a2")
    await w.engine.undo(run_id, "cli:alice", w.policy)
    seen = []

    def crash(point):
        if point == "after_write":
            seen.append(point)
            if len(seen) == 1:
                raise Crash

    w.engine = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="w2", crash=crash)
    with pytest.raises(Crash):
        await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    assert len(restores(w)) == 1
    w.engine = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="w3")
    await w.run(days=1)
    assert sorted(restores(w)) == ["a1", "a2"]
    states = {e.state for e in w.store.entries("org-1", run_id=undo_run_id(run_id))}
    assert states == {EntryState.CONFIRMED}


async def test_a_keep_while_the_undo_waits_restores_at_once_and_the_undo_is_refused_as_changed():
    w, run_id = await suspended_world("a1", "a2")
    await w.engine.undo(run_id, "cli:alice", w.policy)
    await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy, rule="org")
    assert restores(w) == ["a1"]
    with pytest.raises(ValueError, match="changed"):
        await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    assert restores(w) == ["a1"]


async def test_a_denied_undo_can_be_asked_again_and_its_accounts_restored_one_by_one():
    w, run_id = await suspended_world("a1", "a2")
    await w.engine.undo(run_id, "cli:alice", w.policy)
    await w.engine.deny(undo_run_id(run_id), "cli:bob", "not now")
    lines = {x.account_id: (x.outcome, x.reason) for x in undo_lines(w.store, run_id, w.clock.now())}
    assert lines["a1"] == ("not restored", "denied by cli:bob")
    single = await w.engine.restore("org-1", "a1", "cli:bob", w.policy)
    assert single.accepted
    assert restores(w) == ["a1"]
    again = await w.engine.undo(run_id, "cli:alice", w.policy)
    assert [(x.account_id, x.outcome) for x in again.lines] == [
        ("a1", "cannot be undone"),
        ("a2", "awaiting approval"),
    ]
    await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    assert restores(w) == ["a1", "a2"]


async def test_a_keep_after_a_denied_undo_still_gives_the_access_back():
    w, run_id = await suspended_world("a1")
    await w.engine.undo(run_id, "cli:alice", w.policy)
    await w.engine.deny(undo_run_id(run_id), "cli:bob", "not now")
    kept = await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy, rule="org")
    assert kept.restore_queued
    assert restores(w) == ["a1"]
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE


async def deleted_world():
    """a1 suspended, then deleted by an approved deletion run; returns the world and that run's id."""
    w = World([stale("a1")])
    await w.run()
    await w.run(days=14)
    held = await w.run(days=30)
    assert held.status is RunStatus.AWAITING_APPROVAL
    await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert w.account("a1").scheduled_for_deletion
    return w, held.run_id


async def test_an_undo_of_a_deletion_cancels_it_within_atlassians_grace():
    w, run_id = await deleted_world()
    await w.engine.undo(run_id, "cli:alice", w.policy)
    await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    ops = [op for op, a in w.directory.writes]
    assert ops.index("cancel_delete") < ops.index("activate")
    assert not w.account("a1").scheduled_for_deletion
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE


async def test_an_undo_past_the_cancel_delete_window_says_it_cannot_be_undone():
    w, run_id = await deleted_world()
    await w.run(days=15)
    writes = list(w.directory.writes)
    report = await w.engine.undo(run_id, "cli:alice", w.policy)
    assert report.status == "nothing_to_undo"
    assert "a1 (delete_managed): cannot be undone: the account was deleted" in report.text()
    assert "grace period is over" in report.text()
    assert w.directory.writes == writes
    assert w.store.get_run(undo_run_id(run_id)).status is RunStatus.COMPLETED


def test_undo_refusal_names_why_an_account_cannot_be_undone():
    case = _case(CaseState.ACTIONED)
    assert undo_refusal(case, None, "r-undo", NOW) is None
    mine = planned_entry("r-undo", case, Op.RESTORE, NOW)
    assert undo_refusal(case, mine, "r-undo", NOW) is None
    other = planned_entry("keep", case, Op.RESTORE, NOW)
    assert "already queued" in undo_refusal(case, other, "r-undo", NOW)
    done = replace(other, state=EntryState.CONFIRMED)
    assert "restored since" in undo_refusal(case, done, "r-undo", NOW)
    gone = transition(case, NOW, CaseState.DELETED)
    assert "grace period is over" in undo_refusal(gone, None, "r-undo", NOW)
    late = transition(case, NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW - timedelta(days=1))
    assert "grace period is over" in undo_refusal(late, None, "r-undo", NOW)
    assert undo_refusal(transition(late, NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW), None, "x", NOW)
    within = transition(late, NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW + timedelta(days=3))
    assert undo_refusal(within, None, "r-undo", NOW) is None
    assert "kept" in undo_refusal(transition(case, NOW, CaseState.KEPT), None, "r-undo", NOW)


def _case(state):
    from core.lifecycle import Case
    from core.policy import Action

    return Case("c1", "org-1", "a1", "org", "any", Action.SUSPEND, state, NOW, NOW, effect=Effect(Op.SUSPEND))
