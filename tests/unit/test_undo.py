"""Undoing a whole run over in-memory fakes: four-eyes, exactly once, dry run, kill switch, refusals."""

from dataclasses import replace
from datetime import timedelta

import pytest

from core.engine import Engine, undo_lines, undo_run_id
from core.engine.judgement import already_done, final_check, undo_refusal
from core.ledger import EntryState, RunStatus, planned_entry
from core.lifecycle import CaseState, Effect, Op, StepKind, advance, transition
from core.model import AccountStatus, MembershipStatus
from core.policy import Mode
from tests.fakes import NOW, make_account
from tests.unit.test_engine import World, policy, stale, suspend_only


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


async def test_dry_run_undo_shows_what_would_be_restored_changes_nothing_and_is_audited():
    w, run_id = await suspended_world("a1", "a2")
    await w.engine.keep("org-1", "a2", "slack:T1/U2", w.policy, rule="org")
    writes, audit = list(w.directory.writes), len(list(w.store.iter_audit()))
    report = await w.engine.undo(run_id, "cli:alice", w.policy, dry_run=True)
    assert report.status == "dry_run"
    assert [x.outcome for x in report.lines] == ["would restore", "cannot be undone"]
    assert "would restore 1 accounts" in report.text()
    assert w.directory.writes == writes
    with pytest.raises(LookupError):
        w.store.get_run(undo_run_id(run_id))
    assert w.store.entries("org-1", run_id=undo_run_id(run_id)) == []
    [event] = list(w.store.iter_audit())[audit:]
    entry = event.entry
    assert (entry.action, entry.outcome, entry.mode) == ("undo.requested", "dry_run", "dry_run")
    assert (entry.actor, entry.run_id) == ("cli:alice", undo_run_id(run_id))
    assert run_id in entry.reason
    assert entry.after["undoes"] == run_id
    assert entry.after["would_restore"] == {"a1": "lift the suspension"}
    assert entry.after["cannot_undo"] == {"a2": "restored since the run (a keep or a restore)"}


async def test_an_undo_under_a_dry_run_policy_only_previews_and_audits_it():
    w, run_id = await suspended_world("a1")
    dry = replace(w.policy, mode=Mode.DRY_RUN)
    report = await w.engine.undo(run_id, "slack:T1/U9", dry)
    assert report.status == "dry_run"
    assert restores(w) == []
    [event] = [e.entry for e in w.store.iter_audit() if e.entry.action == "undo.requested"]
    assert (event.outcome, event.actor, event.after["would_restore"]) == (
        "dry_run",
        "slack:T1/U9",
        {"a1": "lift the suspension"},
    )
    asked = await w.engine.undo(run_id, "slack:T1/U9", w.policy)  # a preview is no request: this one is held
    assert asked.status == "awaiting_approval"


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


async def deleted_world(pol=None):
    """a1 suspended (or deactivated, per ``pol``) by one run, then deleted by an approved deletion run.

    Returns the world, the acting run's id and the deletion run's id.
    """
    w = World([stale("a1")], pol)
    await w.run()
    acted = await w.run(days=14)
    held = await w.run(days=30)
    assert held.status is RunStatus.AWAITING_APPROVAL
    await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert w.account("a1").scheduled_for_deletion
    return w, acted.run_id, held.run_id


def deactivate_then_delete():
    """The org-wide rule deactivates (a1 is managed), then deletes 30 days later."""
    return policy(
        rules=[
            {
                "name": "org",
                "product": "any",
                "inactive_days": 180,
                "action": "deactivate",
                "warn_days_before": 14,
                "delete_after_days": 30,
            }
        ]
    )


async def undo_and_approve(w, run_id):
    report = await w.engine.undo(run_id, "cli:alice", w.policy)
    assert report.status == "awaiting_approval", report.text()
    await w.engine.approve(undo_run_id(run_id), "cli:bob", w.policy)
    return report


async def test_undoing_a_deletion_run_cancels_the_deletion_and_the_account_stays_suspended():
    """Only what the deletion run took comes back; undoing the suspending run afterwards gives the rest."""
    w, acted, deleted = await deleted_world()
    before = len(w.directory.writes)
    report = await undo_and_approve(w, deleted)
    assert "- 1 accounts: cancel the deletion; stays suspended" in report.text()
    assert [op for op, _a in w.directory.writes[before:]] == ["cancel_delete", "suspend"]
    a1 = w.account("a1")
    assert not a1.scheduled_for_deletion
    assert a1.membership_status is MembershipStatus.SUSPENDED
    assert w.case("a1", "org").state is CaseState.ACTIONED
    [line] = undo_lines(w.store, deleted, w.clock.now())
    assert (line.outcome, line.does) == ("deletion cancelled", "cancel the deletion; stays suspended")
    assert "act.cancel_delete" in {e.entry.action for e in w.store.iter_audit()}

    later = await w.run(days=60)  # an undone deletion is not redone, however long the account stays suspended
    assert later.status is RunStatus.COMPLETED
    assert not w.account("a1").scheduled_for_deletion
    assert w.case("a1", "org").state is CaseState.ACTIONED

    await undo_and_approve(w, acted)
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE
    assert [op for op, _a in w.directory.writes[before:]] == ["cancel_delete", "suspend", "restore"]
    assert w.case("a1", "org").state is CaseState.KEPT


async def test_a_crash_after_the_cancellation_is_reconciled_without_cancelling_twice():
    """Atlassian refuses a second cancel-delete: after a crash the next start reads the account instead."""
    w, _acted, deleted = await deleted_world()
    await w.engine.undo(deleted, "cli:alice", w.policy)

    def crash(point):
        if point == "after_write":
            raise Crash

    w.engine = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="w2", crash=crash)
    with pytest.raises(Crash):
        await w.engine.approve(undo_run_id(deleted), "cli:bob", w.policy)
    w.engine = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="w3")
    await w.run(days=1)
    assert [op for op, _a in w.directory.writes].count("cancel_delete") == 1
    [line] = undo_lines(w.store, deleted, w.clock.now())
    assert line.outcome == "deletion cancelled"
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    assert w.case("a1", "org").state is CaseState.ACTIONED


async def test_undoing_a_deactivate_then_delete_leaves_the_account_deactivated():
    w, acted, deleted = await deleted_world(deactivate_then_delete())
    before = len(w.directory.writes)
    report = await undo_and_approve(w, deleted)
    assert "cancel the deletion; stays deactivated" in report.text()
    # Atlassian's cancel-delete re-activates the account: the deactivation is put back.
    assert [op for op, _a in w.directory.writes[before:]] == ["cancel_delete", "deactivate"]
    a1 = w.account("a1")
    assert not a1.scheduled_for_deletion
    assert a1.account_status is AccountStatus.INACTIVE
    await undo_and_approve(w, acted)
    assert w.account("a1").account_status is AccountStatus.ACTIVE


async def test_the_undo_of_the_earlier_run_waits_for_the_undo_of_the_deletion():
    """Undoing the suspend run first would cancel a deletion nobody asked to undo: refused, with the order to follow."""
    w, acted, deleted = await deleted_world()
    writes = list(w.directory.writes)
    first = await w.engine.undo(acted, "cli:alice", w.policy)
    assert first.status == "nothing_to_undo"
    assert f"a1 (suspend): cannot be undone: deleted since by run {deleted}: undo that run first" in first.text()
    assert w.directory.writes == writes

    await undo_and_approve(w, deleted)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    await undo_and_approve(w, acted)  # asked again: now it can give a1 back
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE
    assert not w.account("a1").scheduled_for_deletion
    with pytest.raises(ValueError, match="already requested"):
        await w.engine.undo(acted, "cli:carol", w.policy)


async def test_an_undo_held_before_the_deletion_does_not_cancel_it_when_approved_after():
    w = World([stale("a1")])
    await w.run()
    acted = await w.run(days=14)
    held = await w.run(days=30)
    await w.engine.undo(acted.run_id, "cli:alice", w.policy)  # while the deletion awaits its approval
    await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert w.account("a1").scheduled_for_deletion
    await w.engine.approve(undo_run_id(acted.run_id), "cli:bob", w.policy)
    assert w.account("a1").scheduled_for_deletion
    [line] = undo_lines(w.store, acted.run_id, w.clock.now())
    assert line.outcome == "not restored"
    assert "undo the deletion's run first" in line.reason


async def test_a_keep_while_the_cancellation_waits_restores_everything_and_the_undo_is_refused():
    w, _acted, deleted = await deleted_world()
    await w.engine.undo(deleted, "cli:alice", w.policy)
    kept = await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy, rule="org")
    assert kept.restore_queued
    a1 = w.account("a1")
    assert not a1.scheduled_for_deletion
    assert a1.membership_status is MembershipStatus.ACTIVE
    with pytest.raises(ValueError, match="changed"):
        await w.engine.approve(undo_run_id(deleted), "cli:bob", w.policy)
    assert [op for op, _a in w.directory.writes].count("cancel_delete") == 1


async def test_an_undo_past_the_cancel_delete_window_says_it_cannot_be_undone():
    w, _acted, run_id = await deleted_world()
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

    def refusal(c, *entries, op=Op.SUSPEND):
        return undo_refusal(c, op, {e.op: e for e in entries}, "r-undo", NOW)

    assert refusal(case) is None
    mine = planned_entry("r-undo", case, Op.RESTORE, NOW)
    assert refusal(case, mine) is None
    other = planned_entry("keep", case, Op.RESTORE, NOW)
    assert "already queued" in refusal(case, other)
    done = replace(other, state=EntryState.CONFIRMED)
    assert "restored since" in refusal(case, done)
    assert refusal(case, replace(other, state=EntryState.SKIPPED)) is None
    gone = transition(case, NOW, CaseState.DELETED)
    assert "grace period is over" in refusal(gone)
    late = transition(case, NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW - timedelta(days=1))
    assert "grace period is over" in refusal(late, op=Op.DELETE_MANAGED)
    within = transition(late, NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW + timedelta(days=3))
    assert refusal(within, op=Op.DELETE_MANAGED) is None
    deletion = planned_entry("r2", within, Op.DELETE_MANAGED, NOW)
    assert "deleted since by run r2: undo that run first" in refusal(within, deletion)
    assert "no deletion to cancel" in refusal(case, op=Op.DELETE_MANAGED)
    assert "kept" in refusal(transition(case, NOW, CaseState.KEPT))
    assert "removed from the directory" in refusal(case, op=Op.REMOVE_FROM_DIRECTORY)


def test_each_op_is_undone_by_its_own_entry():
    assert Op.DELETE_MANAGED.undone_by is Op.CANCEL_DELETE
    assert {op.undone_by for op in (Op.SUSPEND, Op.DEACTIVATE, Op.REMOVE_PRODUCT_ACCESS)} == {Op.RESTORE}
    assert Op.REMOVE_FROM_DIRECTORY.undone_by is None
    assert not Op.CANCEL_DELETE.reduces_access


def test_a_case_whose_deletion_was_undone_is_not_deleted_again():
    rule = policy().rules[1]
    actioned = transition(_case(CaseState.ACTIONED), NOW, CaseState.ACTIONED, actioned_at=NOW - timedelta(days=90))
    assert advance(actioned, None, rule, NOW).kind is StepKind.DUE_DELETE
    undone = transition(actioned, NOW, CaseState.ACTIONED, restored_at=NOW - timedelta(days=45))
    assert advance(undone, None, rule, NOW).kind is StepKind.NOTHING


def test_a_cancellation_is_done_when_the_account_is_as_the_action_left_it():
    deleted = transition(_case(CaseState.ACTIONED), NOW, CaseState.DELETION_SCHEDULED, delete_due_at=NOW)
    cancel = planned_entry("r-undo", deleted, Op.CANCEL_DELETE, NOW)
    scheduled = replace(make_account("a1", membership_status=MembershipStatus.SUSPENDED), scheduled_for_deletion=True)
    assert not already_done(cancel, deleted, scheduled)
    assert already_done(cancel, deleted, replace(scheduled, scheduled_for_deletion=False))
    assert not already_done(cancel, deleted, make_account("a1"))  # cancelled, but no longer suspended
    assert final_check(cancel, deleted, scheduled, None, policy(), NOW - timedelta(seconds=1)) is None
    assert "grace period is over" in final_check(cancel, deleted, scheduled, None, policy(), NOW)
    assert "no deletion to cancel" in final_check(cancel, _case(CaseState.KEPT), scheduled, None, policy(), NOW)
    undo_restore = planned_entry("r-undo", deleted, Op.RESTORE, NOW)
    assert "undo the deletion's run first" in final_check(undo_restore, deleted, scheduled, None, policy(), NOW)
    assert final_check(planned_entry("keep", deleted, Op.RESTORE, NOW), deleted, scheduled, None, policy(), NOW) is None


def _case(state):
    from core.lifecycle import Case
    from core.policy import Action

    return Case("c1", "org-1", "a1", "org", "any", Action.SUSPEND, state, NOW, NOW, effect=Effect(Op.SUSPEND))
