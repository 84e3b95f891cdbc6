"""The effective policy (file + runtime protections) on every path, four-eyes across platforms, audit rows."""

from datetime import timedelta

import pytest

from core.engine import Engine
from core.identity import IdentityError, People, same_person
from core.ledger import EntryState, RunStatus
from core.lifecycle import CaseState
from core.model import MembershipStatus
from core.protection import set_protection
from tests.fakes_chat import FakeProtectionStore
from tests.unit.test_engine import World, policy, stale, suspend_only


class Protected(World):
    def __init__(self, accounts, pol=None, people=None, threads=None):
        super().__init__(accounts, pol)
        self.protections = FakeProtectionStore()
        self.threads = threads
        self.engine = Engine(
            self.directory,
            self.scans,
            self.store,
            self.notifier,
            self.clock,
            worker_id="w1",
            protections=self.protections,
            people=people,
            threads=threads,
        )

    def protect(self, kind, value, actor="slack:T0ACME/U0ADMIN"):
        return set_protection(self.protections, self.store, self.scans, self.clock, "org-1", kind, value, True, actor)

    def actions(self):
        return [e for e in self.store.entries("org-1") if e.op.reduces_access]


def audit(world, action):
    return [e.entry for e in world.store.iter_audit() if e.entry.action == action]


async def test_a_protection_added_after_the_warning_withdraws_it_and_nothing_is_written():
    """Protected from chat between warning and deadline: the warning is closed at once; the run writes nothing."""
    w = Protected([stale("a1", email="Ann@Acme.example"), stale("a2")], suspend_only())
    await w.run()
    assert w.case("a1", "org").state is CaseState.WARNED
    result = w.protect("account", "ann@ACME.example")
    assert result.withdrawn == 1
    assert "1 open warning withdrawn" in result.text
    assert w.case("a1", "org").state is CaseState.CLOSED
    await w.run(days=15)
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE
    assert w.account("a2").membership_status is MembershipStatus.SUSPENDED


async def test_a_group_protection_is_read_by_the_planner_and_withdraws_members_warnings():
    """A protected group: its members' warnings are withdrawn and the next scan plans them as protected."""
    w = Protected([stale("a1"), stale("a2")], suspend_only())
    await w.run()
    result = w.protect("group", "jira-software-users")
    assert result.withdrawn == 2
    report = await w.run(days=15)
    assert report.counts.get("warnings_opened", 0) == 0
    assert report.counts.get("due", 0) == 0
    assert w.directory.writes == []


async def test_the_final_check_rereads_protections_right_before_each_write():
    """A protection stored after the plan (mid-run) still stops the write: the entry is skipped."""
    w = Protected([stale("a1"), stale("a2")], suspend_only())
    await w.run()
    w.clock.advance(timedelta(days=15))
    real_get = w.directory.get_account

    async def get_and_protect(account_id):
        # The moment the executor re-reads a1, an admin protects it (without the withdrawal step).
        if account_id == "a1":
            w.protections.accounts.setdefault("org-1", set()).add("a1")
        return await real_get(account_id)

    w.directory.get_account = get_and_protect
    await w.engine.run(w.policy, requested_by="cli:alice")
    skipped = [e for e in w.actions() if e.account_id == "a1"]
    assert [e.state for e in skipped] == [EntryState.SKIPPED]
    assert "protected" in skipped[0].outcome
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE
    assert w.account("a2").membership_status is MembershipStatus.SUSPENDED


async def test_a_protected_account_is_never_deleted():
    """Protected after the action: the deletion that falls due later is skipped."""
    rule = {"name": "org", "product": "any", "inactive_days": 180, "action": "suspend", "warn_days_before": 14}
    pol = policy(
        rules=[{**rule, "delete_after_days": 30}],
        safety={
            "caps": {
                "per_run": {"max_actions": None, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            },
            "approval": {"deletions_need_approval": False},
        },
    )
    w = Protected([stale("a1")], pol)
    await w.run()
    await w.run(days=15)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    w.protections.accounts.setdefault("org-1", set()).add("a1")
    await w.run(days=31)
    assert not w.account("a1").scheduled_for_deletion
    [deletion] = [e for e in w.actions() if e.op.is_deletion]
    assert deletion.state is EntryState.SKIPPED
    assert deletion.outcome == "protected now"


async def test_four_eyes_compares_people_across_platforms():
    """Alice requested the run from the CLI; as a Slack admin she still cannot approve it. Bob can."""
    people = People.parse("alice = cli:alice, slack:T0ACME/U0ALICE; bob = slack:T0ACME/U0BOB")
    w = Protected([stale("a1"), stale("a2"), stale("a3")], suspend_only(per_run=1), people=people)
    await w.run()
    held = await w.run(days=15)
    assert held.status is RunStatus.AWAITING_APPROVAL
    with pytest.raises(PermissionError):
        await w.engine.approve(held.run_id, "slack:T0ACME/U0ALICE", w.policy)
    refused = audit(w, "approval.refused")
    assert len(refused) == 1
    assert refused[0].actor == "slack:T0ACME/U0ALICE"
    done = await w.engine.approve(held.run_id, "slack:T0ACME/U0BOB", w.policy)
    assert done.status is RunStatus.COMPLETED


async def test_an_expired_approval_leaves_an_audit_row_and_a_denial_is_fenced():
    """Every refusal and expiry is audited; deny passes the leader's epoch to the ledger."""
    w = Protected([stale("a1"), stale("a2")], suspend_only(per_run=1))
    await w.run()
    held = await w.run(days=15)
    w.clock.advance(timedelta(days=30))
    with pytest.raises(ValueError, match="expired"):
        await w.engine.approve(held.run_id, "cli:bob", w.policy)
    [expired] = audit(w, "approval.expired")
    assert "held actions dropped" in expired.reason
    with pytest.raises(ValueError, match="not awaiting approval"):
        await w.engine.deny(held.run_id, "cli:bob")
    assert len(audit(w, "denial.refused")) == 1


def test_identity_map_parsing_names_the_bad_entry():
    people = People.parse("alice = slack:T0ACME/U0ALICE, email:Alice@Acme.example, atlassian:acc-1")
    assert people.same("email:alice@acme.example", "slack:T0ACME/U0ALICE")
    assert people.owns_account("slack:T0ACME/U0ALICE", "acc-1")
    assert people.owns_account("slack:T0ACME/U0ALICE", "other", ["ALICE@acme.example"])
    assert not people.owns_account("slack:T0ACME/U0ALICE", "other", ["bob@acme.example"])
    assert not people.same("slack:T0ACME/U0ALICE", "slack:T0ACME/U0BOB")
    assert same_person("cli:bob", "cli:bob")
    assert not same_person("cli:bob", None)
    with pytest.raises(IdentityError, match="entry 1"):
        People.parse("just-a-name")
    with pytest.raises(IdentityError, match="'U0BOB' is not an actor id"):
        People.parse("bob = U0BOB")
    with pytest.raises(IdentityError, match="listed for both alice and bob"):
        People.parse("alice = cli:x; bob = cli:x")


async def test_each_action_row_names_its_approver_plan_and_evidence():
    """Safety bar 40: an action's audit row carries who approved it, which plan, and what it was decided on."""
    w = Protected([stale("a1"), stale("a2")], suspend_only(per_run=1))
    await w.run()
    held = await w.run(days=15)
    await w.engine.approve(held.run_id, "cli:bob", w.policy)
    [granted] = audit(w, "approval.granted")
    assert (granted.actor, granted.approver, granted.outcome) == ("cli:bob", "cli:bob", "ok")
    assert (granted.run_id, granted.plan_hash, granted.mode) == (held.run_id, held.action_hash, "enforce")
    assert granted.after == {"entries": 2, "approval_ref": "cli"}  # approved from the CLI, no message posted
    rows = audit(w, "act.suspend")
    assert len(rows) == 2
    for row in rows:
        assert row.actor.startswith("system:")
        assert row.approver == "cli:bob"
        assert row.after["approval_ref"] == "cli"
        assert row.plan_hash == held.action_hash
        assert row.run_id == held.run_id
        assert row.mode == "enforce"
        assert row.subject in {"a1", "a2"}
        evidence = row.before["evidence"]
        assert evidence["source"].startswith("Admin API")
        assert evidence["last_active"]["jira-software"] is not None
        assert evidence["membership"] == "active"
        assert row.before["state"] == "warned"
        assert row.after["state"] == "actioned"


async def test_approving_a_run_that_is_not_held_is_refused_and_audited():
    """Safety bar 4: only a held run can be approved; the attempt leaves an audit row."""
    w = Protected([stale("a1")], suspend_only())
    await w.run()
    done = await w.run(days=15)
    assert done.status is RunStatus.COMPLETED
    with pytest.raises(ValueError, match="not awaiting approval"):
        await w.engine.approve(done.run_id, "cli:bob", w.policy)
    [refused] = audit(w, "approval.refused")
    assert refused.run_id == done.run_id
    assert "not awaiting approval" in refused.reason
