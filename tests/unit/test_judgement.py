"""The engine's pure judgements: caps, approvals, "already done" and the state an op leads to."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.engine.judgement import (
    ApprovalVerdict,
    already_done,
    approval_refusal,
    judge_approval,
    judge_caps,
    state_after,
)
from core.identity import People
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, action_hash
from core.lifecycle import Case, CaseState, Effect, Op
from core.model import AccountStatus, MembershipStatus
from core.policy import Action, Caps
from tests.fakes import make_account

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
OFF = Caps(None, None, 7, None, None, None)


def entry(n: int, op: Op = Op.SUSPEND) -> LedgerEntry:
    return LedgerEntry(f"e{n}", "org", "run", f"c{n}", f"a{n}", "r", op, EntryState.PLANNED, NOW, NOW)


def run(status: RunStatus = RunStatus.AWAITING_APPROVAL, *, held=(), expires=NOW + timedelta(hours=1)) -> LifecycleRun:
    return LifecycleRun(
        "run-1", "org", "enforce", status, "slack:U1", NOW, NOW, action_hash=action_hash(held), expires_at=expires
    )


def judge(reducing, caps=OFF, *, billable=1000, recent=0, deletions_need_approval=False):
    return judge_caps(
        reducing,
        billable=billable,
        recent=recent,
        caps=caps,
        window_days=caps.window_days,
        deletions_need_approval=deletions_need_approval,
    )


@pytest.mark.parametrize(("count", "held"), [(4, False), (5, False), (6, True)])
def test_per_run_cap_holds_the_whole_run_one_over_it(count, held):
    hold = judge([entry(i) for i in range(count)], Caps(5, None, 7, None, None, None))
    assert hold.whole_run is held
    assert len(hold.held) == (count if held else 0)
    assert ("exceed the per-run cap of 5" in hold.note) is held


def test_the_stricter_of_absolute_and_percent_applies():
    caps = Caps(50, Decimal(1), 7, None, None, None)  # 1 % of 300 billable = 3
    assert judge([entry(i) for i in range(3)], caps, billable=300).held == ()
    assert len(judge([entry(i) for i in range(4)], caps, billable=300).held) == 4


def test_rolling_window_counts_recent_actions():
    caps = Caps(None, None, 7, 10, None, None)
    assert judge([entry(i) for i in range(3)], caps, recent=7).held == ()
    hold = judge([entry(i) for i in range(3)], caps, recent=8)
    assert hold.whole_run
    assert hold.note == "8 actions in the last 7 days plus 3 exceed the rolling cap of 10"


def test_deletions_over_their_cap_hold_everything():
    caps = Caps(None, None, 7, None, None, 1)
    reducing = [entry(0), entry(1, Op.DELETE_MANAGED), entry(2, Op.REMOVE_FROM_DIRECTORY)]
    hold = judge(reducing, caps)
    assert hold.whole_run
    assert len(hold.held) == 3
    assert hold.note == "2 deletions exceed the deletion cap of 1"


def test_deletions_needing_approval_hold_only_the_deletions():
    reducing = [entry(0), entry(1, Op.DELETE_MANAGED)]
    hold = judge(reducing, deletions_need_approval=True)
    assert not hold.whole_run
    assert [e.entry_id for e in hold.held] == ["e1"]
    assert hold.note == "1 deletions need approval"
    assert judge(reducing).held == ()


def test_every_cap_reason_is_listed():
    caps = Caps(1, None, 7, 1, None, 0)
    hold = judge([entry(0, Op.DELETE_MANAGED), entry(1)], caps)
    assert len(hold.reasons) == 3


def test_approval_verdicts_in_order():
    held = [entry(0)]
    people = People()
    assert judge_approval(run(held=held), "slack:U2", held, NOW, people) is ApprovalVerdict.GRANTED
    assert judge_approval(run(RunStatus.COMPLETED, held=held), "slack:U2", held, NOW, people) is (
        ApprovalVerdict.NOT_AWAITING
    )
    assert judge_approval(run(held=held), "slack:U1", held, NOW, people) is ApprovalVerdict.OWN_RUN
    late = NOW + timedelta(hours=2)
    assert judge_approval(run(held=held), "slack:U2", held, late, people) is ApprovalVerdict.EXPIRED
    assert judge_approval(run(held=held), "slack:U2", [*held, entry(1)], NOW, people) is ApprovalVerdict.CHANGED


def test_the_same_person_on_another_platform_cannot_approve_their_own_run():
    people = People.parse("alice=slack:U1,teams:29:alice")
    held = [entry(0)]
    assert judge_approval(run(held=held), "teams:29:alice", held, NOW, people) is ApprovalVerdict.OWN_RUN


@pytest.mark.parametrize("verdict", list(ApprovalVerdict))
def test_every_refusal_has_a_reason(verdict):
    reason = approval_refusal(verdict, run(RunStatus.COMPLETED))
    assert bool(reason) is (verdict is not ApprovalVerdict.GRANTED)


def case(state: CaseState = CaseState.WARNED, effect: Effect | None = None) -> Case:
    return Case("c0", "org", "a0", "r", "any", Action.SUSPEND, state, NOW, NOW, effect=effect)


def test_already_done_reads_the_target_state():
    suspended = make_account("a0", membership_status=MembershipStatus.SUSPENDED)
    active = make_account("a0")
    assert already_done(entry(0, Op.SUSPEND), case(), suspended)
    assert not already_done(entry(0, Op.SUSPEND), case(), active)
    inactive = make_account("a0", account_status=AccountStatus.INACTIVE)
    assert already_done(entry(0, Op.DEACTIVATE), case(), inactive)
    restored = case(CaseState.ACTIONED, Effect(Op.SUSPEND))
    assert already_done(entry(0, Op.RESTORE), restored, active)
    assert not already_done(entry(0, Op.RESTORE), restored, suspended)


@pytest.mark.parametrize("op", list(Op))
def test_every_op_leads_to_a_case_state(op):
    assert isinstance(state_after(op), CaseState)
