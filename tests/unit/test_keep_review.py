"""Keep review: accounts that keep pressing Keep and stay inactive, from real keeps through the engine."""

from datetime import timedelta

from core.audit import AuditEntry, AuditEvent
from core.keep_review import KeepPress, keep_presses, review_keeps
from tests.fakes import NOW, make_account
from tests.unit.test_chatops import Harness
from tests.unit.test_engine import active_again, policy, stale, suspend_only

USER = "slack:T0ACME/U0USER"
ORG_RULE = {"name": "org", "product": "any", "inactive_days": 180, "action": "suspend", "warn_days_before": 14}
NO_CAPS = {"per_run": {"max_actions": None, "max_percent": None}, "window": {"max_actions": None, "max_percent": None}}


async def keep(h: Harness, account_id: str, why: str = "") -> None:
    result = await h.engine.keep("org-1", account_id, USER, h.ops.policy(), justification=why or None)
    assert result.accepted, result.reason


async def two_cycles(h: Harness, keepers: dict[str, int]) -> None:
    """Warn everyone; each account in ``keepers`` keeps that many times, one warning cycle apart."""
    for cycle in range(max(keepers.values())):
        report = await h.engine.run(h.ops.policy(), requested_by="cli:alice")
        assert report.counts.get("warnings_delivered", 0) >= 1
        for account_id, times in keepers.items():
            if cycle < times:
                await keep(h, account_id, "quarterly report" if cycle == 0 else "")
        h.clock.advance(timedelta(days=91))  # the keep (90 days) runs out; still inactive: warned again


async def test_only_repeated_keeps_without_activity_are_listed_with_their_history() -> None:
    h = Harness([stale("a1", email="a1@acme.example"), stale("a2"), stale("a3")], suspend_only())
    await two_cycles(h, {"a1": 2, "a2": 1, "a3": 2})
    h.directory.accounts["a3"] = active_again("a3", h.clock.now())  # a3 used Jira after keeping it
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")  # the scan the review reads activity from

    reply = await h.cmd("keeps")
    assert reply.ok
    assert reply.title == "Keep review"
    assert reply.text.startswith("1 accounts kept their access 2 or more times in the last 365 days")
    [(who, what)] = reply.lines
    assert who == "a1@acme.example (org)"
    first, second = NOW, NOW + timedelta(days=91)
    assert what.startswith(f"2 keeps ({first:%d %b %Y}, {second:%d %b %Y}) · last active ")
    assert what.endswith("· reasons: “quarterly report”")


async def test_a_stricter_policy_lists_nobody_and_says_so() -> None:
    strict = policy(rules=[ORG_RULE], safety={"caps": NO_CAPS}, lifecycle={"keep": {"review_after": 3}})
    h = Harness([stale("a1")], strict)
    await two_cycles(h, {"a1": 2})
    reply = await h.cmd("keeps")
    assert reply.text.startswith("No accounts kept their access 3 or more times")
    assert reply.lines == ()


def event(account_id: str, days: int, *, action: str = "keep", outcome: str = "ok", rule: str = "org") -> AuditEvent:
    entry = AuditEntry(
        at=NOW + timedelta(days=days),
        actor=USER,
        action=action,
        outcome=outcome,
        org_id="org-1",
        subject=account_id,
        after={"rule": rule} if rule else {},
    )
    return AuditEvent(event_id="e", seq=1, entry=entry, prev_hash="", hash="")


def test_presses_are_accepted_keeps_in_the_period_per_account_and_rule() -> None:
    events = [
        event("a1", 10),
        event("a1", 1),
        event("a1", 5, outcome="refused"),
        event("a1", 6, action="release"),
        event("a1", -30),
        event("a1", 2, rule="jira"),
        event("a2", 3, rule=""),  # recorded before keeps named their rule
    ]
    presses = keep_presses(events, since=NOW)
    assert {key: [p.at for p in found] for key, found in presses.items()} == {
        ("a1", "org"): [NOW + timedelta(days=1), NOW + timedelta(days=10)],
        ("a1", "jira"): [NOW + timedelta(days=2)],
        ("a2", ""): [NOW + timedelta(days=3)],
    }


def test_unknown_or_departed_accounts_are_never_accused() -> None:
    presses = {(a, "org"): [KeepPress(NOW, USER, ""), KeepPress(NOW + timedelta(days=91), USER, "")] for a in "xyz"}
    accounts = {
        "x": make_account("x", products={"jira-software": 200}),
        "y": make_account("y", activity_known=False),
        # z is no longer in the org's latest scan
    }
    assert [r.account_id for r in review_keeps(presses, accounts, min_keeps=2)] == ["x"]
    assert review_keeps(presses, accounts, min_keeps=3) == []


async def test_past_approval_after_a_keep_waits_for_an_admin_who_approves_it() -> None:
    """keep.approval_after: 1 — the second keep of the same access goes to the admins; one approves it."""
    from core.chat import TokenStatus
    from core.lifecycle import CaseState
    from tests.unit.test_chatops import OTHER_ADMIN
    from tests.unit.test_chatops import USER as PERSON

    strict = policy(rules=[ORG_RULE], safety={"caps": NO_CAPS}, lifecycle={"keep": {"approval_after": 1}})
    h = Harness([stale("a1", email="una@acme.example")], strict)
    h.ops.owner_notice = h.notifier.tell
    await two_cycles(h, {"a1": 1})  # kept once; the keep ran out and a1 was warned again
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    case = h.case("a1")
    assert case.state is CaseState.WARNED
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], case.case_id, PERSON)

    asked = await h.ops.click(PERSON, keep.token, h.respond)
    assert not asked.ok
    assert "an admin must approve this keep" in asked.text
    assert h.case("a1").state is CaseState.WARNED  # not kept: the deadline stands until an admin approves
    [to_admins] = h.admin_posts
    assert to_admins.title == "Keep needs approval"
    [approve] = to_admins.buttons
    assert (await h.ops.click(PERSON, approve.token, h.respond)).status is TokenStatus.WRONG_USER

    approved = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert approved.ok, approved.text
    assert approved.text.startswith("Keep approved by Sec Lead: kept until")
    assert h.case("a1").state is CaseState.KEPT
    assert h.notifier.told[-1][1].startswith("An admin approved keeping your Atlassian access until")
    keeps = [e.entry for e in h.store.iter_audit() if e.entry.action == "keep"]
    assert [k.outcome for k in keeps] == ["ok", "approval_needed", "ok"]
    assert keeps[-1].approver == OTHER_ADMIN.audit_id


async def test_a_keep_approved_after_the_deadline_gives_the_access_back() -> None:
    from core.lifecycle import CaseState
    from core.model import MembershipStatus
    from tests.unit.test_chatops import OTHER_ADMIN
    from tests.unit.test_chatops import USER as PERSON

    strict = policy(rules=[ORG_RULE], safety={"caps": NO_CAPS}, lifecycle={"keep": {"approval_after": 1}})
    h = Harness([stale("a1", email="una@acme.example")], strict)
    await two_cycles(h, {"a1": 1})
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], h.case("a1").case_id, PERSON)
    await h.ops.click(PERSON, keep.token, h.respond)
    h.clock.advance(timedelta(days=15))
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")  # nobody approved in time: suspended
    assert h.case("a1").state is CaseState.ACTIONED
    [approve] = h.admin_posts[0].buttons
    approved = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert approved.ok, approved.text
    assert h.directory.accounts["a1"].membership_status is MembershipStatus.ACTIVE
