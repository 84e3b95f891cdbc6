"""The lifecycle engine over in-memory fakes: warn → keep/act → delete → restore, with the rails."""

from dataclasses import replace
from datetime import timedelta

import pytest

from core.clock import FixedClock
from core.engine import Engine
from core.errors import DirectoryUnavailable, NotManageable
from core.ledger import EntryState, RunStatus
from core.lifecycle import CaseState
from core.model import AccountStatus, ApiUse, MembershipStatus
from core.policy import parse_policy
from core.token_evidence import recheck_due
from tests.fakes import NOW, FakeDirectory, FakeStore, RecordingNotifier, make_account
from tests.fakes_lifecycle import FakeLifecycleStore
from tests.policies import JIRA_RULE, ORG_RULE


def policy(**overrides):
    data = {
        "mode": "enforce",
        "rules": [JIRA_RULE, ORG_RULE],
        "new_account_grace_days": 30,
        "safety": {
            "caps": {
                "per_run": {"max_actions": 100, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            },
            "canary": {"size": 2},
        },
    }
    data.update(overrides)
    return parse_policy(data)


class World:
    def __init__(self, accounts, pol=None):
        self.clock = FixedClock(NOW)
        self.directory = FakeDirectory(accounts)
        self.scans = FakeStore()
        self.store = FakeLifecycleStore()
        self.notifier = RecordingNotifier()
        self.policy = pol or policy()
        self.engine = Engine(self.directory, self.scans, self.store, self.notifier, self.clock, worker_id="w1")

    async def run(self, days=0, by="cli:alice"):
        self.clock.advance(timedelta(days=days))
        return await self.engine.run(self.policy, requested_by=by)

    def case(self, account_id, rule):
        cases = [c for c in self.store.find_cases("org-1", account_id) if c.rule == rule]
        return cases[0] if cases else None

    def account(self, account_id):
        return self.directory.accounts[account_id]


def stale(account_id, days=200, **kw):
    return make_account(account_id, products={"jira-software": days}, groups=["jira-software-users"], **kw)


def active_again(account_id, now):
    """``account_id`` using Jira Software at ``now``."""
    return stale(account_id, days=0, now=now)


def suspend_only(*, per_run=None, window=None, **safety):
    """Only the org-wide suspend rule; ``per_run``/``window`` caps (None: no cap) and other safety settings."""
    caps = {
        "per_run": {"max_actions": per_run, "max_percent": None},
        "window": {"max_actions": None, "max_percent": None, **(window or {})},
    }
    return policy(
        rules=[{"name": "org", "product": "any", "inactive_days": 180, "action": "suspend", "warn_days_before": 14}],
        safety={"caps": caps, **safety},
    )


async def test_dry_run_changes_nothing_anywhere():
    """Default mode: counts what would happen, writes no case, no entry, no Atlassian change."""
    w = World([stale("a1"), stale("a2", days=95)], pol=policy(mode="dry_run"))
    report = await w.run()
    assert report.status is RunStatus.DRY_RUN
    assert report.counts["would_open_warning"] == 3
    assert w.directory.writes == []
    assert w.notifier.warnings == []
    assert w.store.open_cases("org-1") == {}


async def test_full_cycle_warn_act_delete_restore():
    """Warn, act at the deadline, hold the deletion for approval, delete, then restore everything."""
    w = World([stale("a1")])
    first = await w.run()
    assert first.counts["warnings_delivered"] == 2
    assert {r for _, r in w.notifier.warnings} == {"jira", "org"}
    org_case = w.case("a1", "org")
    assert org_case.state is CaseState.WARNED
    assert org_case.deadline == NOW + timedelta(days=14)
    assert w.directory.writes == []

    await w.run(days=13)
    assert w.directory.writes == []

    acted = await w.run(days=1)
    assert acted.status is RunStatus.COMPLETED
    assert acted.counts["actions_confirmed"] == 1
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    assert w.case("a1", "jira").closed_reason == "superseded by an org-wide action on the same account"

    held = await w.run(days=30)
    assert held.status is RunStatus.AWAITING_APPROVAL
    assert held.held == 1
    assert w.notifier.approvals
    with pytest.raises(PermissionError):
        await w.engine.approve(held.run_id, "cli:alice", w.policy)
    approved = await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert approved.counts["actions_confirmed"] >= 1
    assert w.account("a1").scheduled_for_deletion
    assert w.case("a1", "org").state is CaseState.DELETION_SCHEDULED

    result = await w.engine.restore("org-1", "a1", "cli:bob", w.policy, reason="came back")
    assert result.accepted
    a1 = w.account("a1")
    assert not a1.scheduled_for_deletion
    assert a1.account_status is AccountStatus.ACTIVE
    assert a1.membership_status is MembershipStatus.ACTIVE
    ops = [op for op, _ in w.directory.writes]
    assert ops.index("cancel_delete") < ops.index("activate")
    assert w.case("a1", "org").state is CaseState.KEPT


async def test_product_removal_removes_the_access_group_and_restore_re_adds_it():
    """Remove product access = leave the product's access groups; restore re-adds exactly those."""
    w = World([stale("a1", days=100)])
    await w.run()
    await w.run(days=14)
    assert w.account("a1").product("jira-software") is None
    assert w.case("a1", "jira").effect.group_ids == ("g-jira-software-users",)
    result = await w.engine.restore("org-1", "a1", "cli:bob", w.policy)
    assert result.accepted
    assert w.account("a1").product("jira-software") is not None
    assert w.directory.writes[-1] == ("add_to_group:g-jira-software-users", "a1")


async def test_each_action_happens_once_across_reruns():
    """Running again at and after the deadline never repeats a confirmed write."""
    w = World([stale("a1")])
    await w.run()
    await w.run(days=14)
    writes = list(w.directory.writes)
    await w.run(days=1)
    await w.run(days=1)
    assert w.directory.writes == writes


async def test_keep_before_the_deadline_wins():
    """A keep stops the action; the account is left alone for the keep period."""
    w = World([stale("a1")])
    await w.run()
    kept = await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy)
    assert kept.accepted
    assert kept.keep_until == NOW + timedelta(days=90)
    again = await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy)
    assert again.accepted
    assert again.reason == "already kept"
    await w.run(days=20)
    assert w.directory.writes == []
    assert w.case("a1", "org").state is CaseState.KEPT


async def test_keep_after_the_action_queues_a_restore():
    """A keep that lands after the write is not lost: it becomes a restore."""
    w = World([stale("a1")])
    await w.run()
    await w.run(days=14)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    result = await w.engine.keep("org-1", "a1", "slack:T1/U1", w.policy, rule="org")
    assert result.accepted
    assert result.restore_queued
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE


async def test_no_delivery_no_action():
    """An undeliverable warning escalates once and never turns into an action."""
    w = World([stale("a1")])
    w.notifier.undeliverable.add("a1")
    await w.run()
    await w.run(days=30)
    await w.run(days=30)
    assert w.directory.writes == []
    assert len(w.notifier.escalations) == 2  # one per rule, not one per run
    assert w.case("a1", "org").delivered_at is None


async def test_active_again_withdraws_the_warning():
    """Using the product before the deadline closes the warning; nothing happens."""
    w = World([stale("a1")])
    await w.run()
    w.directory.accounts["a1"] = active_again("a1", w.clock.now() + timedelta(days=5))
    await w.run(days=5)
    await w.run(days=14)
    assert w.directory.writes == []
    assert w.case("a1", "org").state is CaseState.CLOSED


async def test_final_check_rereads_activity_before_acting():
    """Active again after the scan but before the write: the entries are skipped."""
    w = World([stale("a1")])
    await w.run()
    w.clock.advance(timedelta(days=14))
    original = w.engine.executor.carry_out

    async def activate_then_carry(entry, pol, report, **kw):
        w.directory.accounts["a1"] = active_again("a1", w.clock.now())
        return await original(entry, pol, report, **kw)

    w.engine.executor.carry_out = activate_then_carry
    report = await w.engine.run(w.policy, requested_by="cli:alice")
    assert w.directory.writes == []
    assert report.counts["actions_skipped"] == 1


@pytest.mark.parametrize(("accounts", "cap", "held"), [(4, 5, False), (5, 5, False), (6, 5, True)])
async def test_per_run_cap_threshold(accounts, cap, held):
    """At the cap the run acts; one over it, nothing is written and the run waits for approval."""
    pol = suspend_only(per_run=cap, canary={"size": 0})
    w = World([stale(f"a{i}") for i in range(accounts)], pol)
    await w.run()
    report = await w.run(days=14)
    if held:
        assert report.status is RunStatus.AWAITING_APPROVAL
        assert w.directory.writes == []
        assert len(w.notifier.approvals) == 1
        approved = await w.engine.approve(report.run_id, "cli:bob", pol)
        assert approved.counts["actions_confirmed"] == accounts
    else:
        assert report.status is RunStatus.COMPLETED
    assert len(w.directory.writes) == accounts


async def test_rolling_window_cap_stops_a_slow_trickle():
    """Runs each under the per-run cap stop when their sum would pass the window cap."""
    pol = suspend_only(per_run=3, window={"days": 7, "max_actions": 5}, canary={"size": 0})
    w = World([stale(f"a{i}") for i in range(3)], pol)
    await w.run()  # day 0: a0-a2 warned
    for i in range(3, 6):
        w.directory.accounts[f"a{i}"] = stale(f"a{i}", now=w.clock.now() + timedelta(days=3))
    await w.run(days=3)  # day 3: a3-a5 warned
    assert (await w.run(days=11)).status is RunStatus.COMPLETED  # day 14: a0-a2 act (3 in window)
    held = await w.run(days=3)  # day 17: a3-a5 due, 3 + 3 > 5
    assert held.status is RunStatus.AWAITING_APPROVAL
    assert "rolling cap of 5" in held.note
    assert len(w.directory.writes) == 3


async def test_approval_is_refused_when_expired_or_tampered():
    """Expired approvals and changed held sets are refused."""
    pol = suspend_only(per_run=0, approval={"expires_hours": 24})
    w = World([stale("a1"), stale("a2")], pol)
    await w.run()
    report = await w.run(days=14)
    held = w.store.entries("org-1", states=[EntryState.HELD])
    w.store.set_entry_state(held[0].entry_id, EntryState.HELD, EntryState.SKIPPED, w.clock.now(), "tamper")
    with pytest.raises(ValueError, match="action hash mismatch"):
        await w.engine.approve(report.run_id, "cli:bob", pol)
    w.store.set_entry_state(held[0].entry_id, EntryState.SKIPPED, EntryState.HELD, w.clock.now(), "untamper")
    w.clock.advance(timedelta(hours=25))
    with pytest.raises(ValueError, match="expired"):
        await w.engine.approve(report.run_id, "cli:bob", pol)
    assert w.directory.writes == []


async def test_kill_switch_stops_all_writes():
    """While paused a run changes nothing; resume lets the next run act."""
    w = World([stale("a1")])
    await w.run()
    await w.engine.set_paused("org-1", True, "cli:alice", "investigating")
    report = await w.run(days=14)
    assert report.status is RunStatus.PAUSED
    assert w.directory.writes == []
    await w.engine.set_paused("org-1", False, "cli:alice")
    await w.run()
    assert w.directory.writes == [("suspend", "a1")]


async def test_refusal_fails_the_entry_and_closes_the_case():
    """Atlassian refusing an account is a clear failure, not a retry loop."""
    w = World([stale("a1")])
    w.directory.fail["suspend"] = NotManageable("a1", "ADMIN-403-3")
    await w.run()
    report = await w.run(days=14)
    assert report.counts["actions_failed"] == 1
    assert w.case("a1", "org").state is CaseState.CLOSED


async def test_circuit_breaker_pauses_after_consecutive_failures_and_resumes_from_the_ledger():
    """K transient failures in a row pause the run; the next run finishes without repeating."""
    pol = suspend_only(canary={"size": 0}, circuit_breaker={"consecutive_failures": 3})
    w = World([stale(f"a{i}") for i in range(10)], pol)
    w.engine.concurrency = 1
    await w.run()
    w.directory.fail["suspend"] = DirectoryUnavailable("503")
    report = await w.run(days=14)
    assert report.status is RunStatus.PAUSED
    assert "circuit breaker" in report.note
    assert w.notifier.admin
    del w.directory.fail["suspend"]
    again = await w.run()
    assert again.status is RunStatus.COMPLETED
    suspended = [a for a, acc in w.directory.accounts.items() if acc.membership_status is MembershipStatus.SUSPENDED]
    assert len(suspended) == 10
    assert len(w.directory.writes) == 10


async def test_canary_failure_pauses_the_rest():
    """When the canary's error rate is too high the other actions wait."""
    pol = suspend_only(canary={"size": 2, "max_error_rate": 0.4})
    w = World([stale(f"a{i}") for i in range(6)], pol)
    await w.run()
    w.directory.fail["suspend"] = DirectoryUnavailable("boom")
    report = await w.run(days=14)
    assert report.status is RunStatus.PAUSED
    assert "canary" in report.note
    planned = w.store.entries("org-1", states=[EntryState.PLANNED])
    assert len(planned) == 4


async def test_run_fails_closed_when_too_much_activity_is_unknown():
    """More unknown last-active data than the policy allows: no warning, no action, admins told."""
    accounts = [stale(f"a{i}") for i in range(9)] + [make_account("u1", products={}, activity_known=False)]
    w = World(accounts, policy(safety={"max_unknown_percent": 5}))
    report = await w.run()
    assert report.status is RunStatus.FAILED
    assert "fail closed" in report.note
    assert w.notifier.warnings == []
    assert w.notifier.admin
    relaxed = World(accounts, policy(safety={"max_unknown_percent": 20}))
    assert (await relaxed.run()).status is RunStatus.COMPLETED


async def test_standby_records_keeps_and_leaves_execution_to_the_leader():
    """A standby replica queues the restore of a late keep; only the leader writes to Atlassian."""
    w = World([stale("a1")])
    await w.run()
    await w.run(days=14)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    standby = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="standby")
    standby.executes = False
    writes = list(w.directory.writes)
    result = await standby.keep("org-1", "a1", "slack:T1/U1", w.policy, rule="org")
    assert result.accepted
    assert result.restore_queued
    assert w.directory.writes == writes
    assert [e.op.value for e in w.store.entries("org-1", states=[EntryState.PLANNED])] == ["restore"]
    await w.run()  # the leader's next run carries the restore out
    assert w.account("a1").membership_status is MembershipStatus.ACTIVE


async def test_new_leader_waits_before_reconciling_an_older_leaders_request():
    """A REQUESTED entry of an older epoch may still be on the wire: it is reconciled only later."""
    w = World([stale("a1")])
    await w.run()
    w.clock.advance(timedelta(days=14))
    old_epoch = w.store.bump_epoch("org-1")
    w.engine.epoch = old_epoch

    class Vanished(Exception):
        """The old leader disappears with its write possibly in flight."""

    def stop_after_request(point):
        if point == "after_requested":
            raise Vanished

    w.engine._crash = stop_after_request
    with pytest.raises(Vanished):
        await w.engine.run(w.policy, requested_by="cli:alice")
    requested = w.store.entries("org-1", states=[EntryState.REQUESTED])
    assert len(requested) == 1
    new = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="new", epoch=w.store.bump_epoch("org-1"))
    await new.recover("org-1", w.policy)
    assert w.store.entries("org-1", states=[EntryState.REQUESTED]) == requested
    w.clock.advance(timedelta(minutes=3))
    await new.recover("org-1", w.policy)
    assert w.store.entries("org-1", states=[EntryState.REQUESTED]) == []
    assert w.directory.writes == [("suspend", "a1")]


async def test_unmanaged_accounts_are_removed_from_the_directory_and_cannot_be_restored():
    """Unmanaged accounts cannot be deleted: they leave the directory, and restore says to re-invite."""
    from core.model import Claim

    w = World([stale("a1", claim=Claim.UNMANAGED)])
    await w.run()
    await w.run(days=14)
    held = await w.run(days=30)
    await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert w.account("a1").membership_status is MembershipStatus.NO_MEMBERSHIP
    assert w.case("a1", "org").state is CaseState.DELETED
    result = await w.engine.restore("org-1", "a1", "cli:bob", w.policy)
    assert not result.accepted
    assert "invite the person again" in result.reason
    assert ("activate", "a1") not in w.directory.writes


async def test_canary_health_check_reads_the_effect_back_before_the_rest():
    """Safety bar 5: exactly the canary runs; if Atlassian says ok but the effect is not there, the rest waits."""
    pol = suspend_only(canary={"size": 2, "max_error_rate": 0.4})
    w = World([stale(f"a{i}") for i in range(6)], pol)
    await w.run()
    accepted: list[str] = []

    async def accepts_but_ignores(account_id):
        accepted.append(account_id)  # an answer of 204 with nothing changed

    w.directory.suspend = accepts_but_ignores
    report = await w.run(days=14)
    assert report.status is RunStatus.PAUSED
    assert "canary health check failed: 2 of 2" in report.note
    assert len(accepted) == 2
    assert len(w.store.entries("org-1", states=[EntryState.PLANNED])) == 4
    assert any("health check" in text for text in w.notifier.admin)
    healthy = World([stale(f"a{i}") for i in range(6)], pol)
    await healthy.run()
    assert (await healthy.run(days=14)).status is RunStatus.COMPLETED
    assert len(healthy.directory.writes) == 6


class TokenDirectory(FakeDirectory):
    """A directory that reads API tokens: ``uses`` holds each account's evidence (default: none used)."""

    def __init__(self, accounts) -> None:
        super().__init__(accounts)
        self.uses: dict[str, ApiUse] = {}
        self.token_reads: list[str] = []

    async def api_use(self, account_id):
        self.token_reads.append(account_id)
        return self.uses.get(account_id, ApiUse(known=True))


def token_world() -> World:
    """Two stale accounts under the suspend rule; evidence is reused up to 30 days, past the deadline.

    Each account's evidence falls due at its own point of the 30-day window: read at NOW, 16 days
    (a1) and 22 days (a2) later, both after the 14-day notice.
    """
    pol = suspend_only(canary={"size": 0})
    pol = replace(pol, lifecycle=replace(pol.lifecycle, api_token_recheck_days=30))
    assert all(recheck_due(a, NOW, timedelta(days=30)) > NOW + timedelta(days=16) for a in ("a1", "a2"))
    w = World([stale("a1"), stale("a2")], pol)
    w.directory = TokenDirectory(w.directory.accounts.values())
    w.engine = Engine(w.directory, w.scans, w.store, w.notifier, w.clock, worker_id="w1")
    return w


async def test_the_final_check_reads_the_api_tokens_right_before_each_write():
    """A token used after the warning (the scan reused the warning's evidence) stops that action only."""
    w = token_world()
    await w.run()
    assert sorted(w.directory.token_reads) == ["a1", "a2"]
    w.clock.advance(timedelta(days=14))
    w.directory.uses["a1"] = ApiUse(known=True, label="nightly", last_access=w.clock.now() - timedelta(days=1))
    w.directory.token_reads.clear()
    report = await w.engine.run(w.policy, requested_by="cli:alice")
    assert sorted(w.directory.token_reads) == ["a1", "a2"], "one read per action, none by the scan"
    assert [a for _, a in w.directory.writes] == ["a2"]
    assert report.counts["actions_skipped"] == 1
    case = w.case("a1", "org")
    assert case.state is CaseState.CLOSED
    assert case.closed_reason.startswith("used through the API since the warning: review: used through the API")
    assert "'nightly'" in case.closed_reason


async def test_unreadable_tokens_at_the_final_check_leave_the_action_for_the_next_run():
    w = token_world()
    await w.run()
    w.clock.advance(timedelta(days=14))
    w.directory.uses["a1"] = ApiUse.unknown("api-tokens: HTTP 503")
    report = await w.engine.run(w.policy, requested_by="cli:alice")
    assert [a for _, a in w.directory.writes] == ["a2"]
    assert report.counts["actions_transient"] == 1
    assert w.case("a1", "org").state is CaseState.WARNED, "unknown never means unused, nor closes the warning"
    del w.directory.uses["a1"]
    await w.run(days=1)
    assert sorted(a for _, a in w.directory.writes) == ["a1", "a2"]


async def test_unreadable_tokens_at_the_scan_neither_withdraw_a_delivered_warning_nor_let_it_act():
    """A failed token read is no evidence: the warning (and its notice period) stands, and nothing is done."""
    w = token_world()
    w.policy = replace(w.policy, lifecycle=replace(w.policy.lifecycle, api_token_recheck_days=0))  # read each scan
    await w.run()
    first = w.case("a1", "org")
    assert first.delivered_at is not None
    w.directory.uses["a1"] = ApiUse.unknown("api-tokens: HTTP 500")
    await w.run(days=5)
    assert w.case("a1", "org") == first, "still the same open warning, untouched"
    report = await w.run(days=9)  # the deadline, tokens still unreadable
    assert [a for _, a in w.directory.writes] == ["a2"]
    assert report.counts["api_unknown"] == 1
    assert w.case("a1", "org").state is CaseState.WARNED
    del w.directory.uses["a1"]
    await w.run(days=1)
    assert sorted(a for _, a in w.directory.writes) == ["a1", "a2"]
    assert w.case("a1", "org").case_id == first.case_id


async def test_a_run_approved_days_later_reads_the_tokens_at_the_approval():
    """Held by a cap at the deadline, approved three days later: the write waits for a fresh token read."""
    w = token_world()
    safety = w.policy.safety
    w.policy = replace(w.policy, safety=replace(safety, caps=replace(safety.caps, per_run_max=1)))
    await w.run()
    held = await w.run(days=14)
    assert held.status is RunStatus.AWAITING_APPROVAL
    w.clock.advance(timedelta(days=3))
    w.directory.uses["a2"] = ApiUse(known=True, label="backup", last_access=w.clock.now())
    approved = await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert [a for _, a in w.directory.writes] == ["a1"]
    assert approved.counts["actions_skipped"] == 1
    assert "used through the API since the warning" in w.case("a2", "org").closed_reason
