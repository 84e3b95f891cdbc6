"""Safety bar 40: approval rows and the action rows of an approved run link the approval message (``approval_ref``).

The reference is read from the run's stored admin thread parents (one per chat platform); reading it
is best effort, so an approval never fails because the thread store cannot be read.
"""

import logging
from datetime import timedelta

import pytest

from core.audit import AuditEntry, content_of, seal, verify_chain
from core.ledger import RunStatus
from core.threads import NoThreads, ThreadKey, ThreadRef, approval_ref, run_thread
from tests.unit.test_effective_policy import Protected, audit
from tests.unit.test_engine import NOW, stale, suspend_only

SLACK = ThreadRef("slack", "C0ADMIN", "1767225600.000100", "Approval needed")
TEAMS = ThreadRef("teams", "19:admins@thread.tacv2", "1767225600123", "Approval needed")


class StoredThreads(NoThreads):
    """Admin threads whose stored parents are ``refs`` (for every run), or whose store is unreadable."""

    def __init__(self, refs=(), *, broken=False):
        self.refs = list(refs)
        self.broken = broken
        self.asked: list[ThreadKey] = []

    async def parents(self, org_id, thread):
        self.asked.append(thread)
        if self.broken:
            raise RuntimeError("thread store unreachable")
        return list(self.refs)


async def held_world(threads):
    w = Protected([stale("a1"), stale("a2")], suspend_only(per_run=1), threads=threads)
    await w.run()
    held = await w.run(days=15)
    assert held.status is RunStatus.AWAITING_APPROVAL
    return w, held


def test_the_reference_names_each_platforms_message():
    assert approval_ref([SLACK], "slack:T0ACME/U0SEC") == "slack:C0ADMIN/1767225600.000100"
    assert approval_ref([TEAMS, SLACK], "teams:t1/u1") == (
        "slack:C0ADMIN/1767225600.000100, teams:19:admins@thread.tacv2/1767225600123"
    )
    assert approval_ref([], "cli:bob") == "cli"  # approved from the command line, no message posted
    assert approval_ref([], "slack:T0ACME/U0SEC") == ""


async def test_approval_and_action_rows_carry_the_approval_message():
    """The granted row and every act.* row of the approved run name both platforms' approval messages."""
    w, held = await held_world(StoredThreads([SLACK, TEAMS]))
    await w.engine.approve(held.run_id, "slack:T0ACME/U0SEC", w.policy)
    ref = "slack:C0ADMIN/1767225600.000100, teams:19:admins@thread.tacv2/1767225600123"
    assert run_thread(held.run_id) in w.threads.asked
    [granted] = audit(w, "approval.granted")
    assert granted.actor == granted.approver == "slack:T0ACME/U0SEC"
    assert (granted.run_id, granted.plan_hash, granted.mode, granted.outcome) == (
        held.run_id,
        held.action_hash,
        "enforce",
        "ok",
    )
    assert granted.after == {"entries": 2, "approval_ref": ref}
    rows = audit(w, "act.suspend")
    assert sorted(r.subject for r in rows) == ["a1", "a2"]
    for row in rows:
        assert (row.approver, row.after["approval_ref"]) == ("slack:T0ACME/U0SEC", ref)
        assert (row.run_id, row.plan_hash, row.outcome) == (held.run_id, held.action_hash, "ok")
    assert verify_chain(w.store.iter_audit()).ok


async def test_an_unreadable_thread_store_never_stops_an_approval(caplog):
    """Best effort: the approval goes ahead, the rows carry an empty approval_ref, and the failure is logged."""
    w, held = await held_world(StoredThreads(broken=True))
    with caplog.at_level(logging.ERROR, logger="jira_cleanup.threads"):
        report = await w.engine.approve(held.run_id, "slack:T0ACME/U0SEC", w.policy)
    assert report.status is RunStatus.COMPLETED
    assert len(w.directory.writes) == 2
    [granted] = audit(w, "approval.granted")
    assert granted.after == {"entries": 2, "approval_ref": ""}
    assert [r.after["approval_ref"] for r in audit(w, "act.suspend")] == ["", ""]
    assert "could not read the approval message" in caplog.text


async def test_a_cli_approval_with_an_unreadable_store_still_approves():
    w, held = await held_world(StoredThreads(broken=True))
    report = await w.engine.approve(held.run_id, "cli:bob", w.policy)
    assert report.status is RunStatus.COMPLETED
    [granted] = audit(w, "approval.granted")
    assert granted.after["approval_ref"] == ""  # unknown, not "cli": a message may have been posted


async def test_refused_denied_and_expired_rows_carry_the_approval_message():
    w, held = await held_world(StoredThreads([SLACK]))
    with pytest.raises(PermissionError):
        await w.engine.approve(held.run_id, "cli:alice", w.policy)  # alice requested the run
    [refused] = audit(w, "approval.refused")
    assert (refused.actor, refused.approver, refused.outcome) == ("cli:alice", "cli:alice", "refused")
    assert (refused.run_id, refused.plan_hash) == (held.run_id, held.action_hash)
    assert refused.after == {"approval_ref": "slack:C0ADMIN/1767225600.000100"}

    await w.engine.deny(held.run_id, "slack:T0ACME/U0SEC", "not now")
    [denied] = audit(w, "approval.denied")
    assert (denied.actor, denied.approver, denied.outcome, denied.reason) == (
        "slack:T0ACME/U0SEC",
        "slack:T0ACME/U0SEC",
        "ok",
        "not now",
    )
    assert (denied.run_id, denied.plan_hash, denied.mode) == (held.run_id, held.action_hash, "enforce")
    assert denied.after == {"approval_ref": "slack:C0ADMIN/1767225600.000100"}

    w2, held2 = await held_world(StoredThreads([SLACK]))
    w2.clock.advance(timedelta(days=30))
    await w2.engine.approvals.expire_overdue("org-1")
    [expired] = audit(w2, "approval.expired")
    assert (expired.run_id, expired.plan_hash, expired.outcome) == (held2.run_id, held2.action_hash, "refused")
    assert expired.after == {"approval_ref": "slack:C0ADMIN/1767225600.000100"}


def test_the_hash_of_a_row_without_approval_ref_is_unchanged():
    """approval_ref lives in ``after``: the hashed fields are the same, so chains written before still verify."""
    old = AuditEntry(
        at=NOW, actor="cli:bob", action="approval.granted", outcome="ok", org_id="org-1", after={"entries": 2}
    )
    event = seal("e1", 1, old, "0" * 64)
    assert set(content_of("e1", 1, old)) == {
        "event_id", "seq", "at", "actor", "approver", "action", "outcome", "org_id", "subject", "reason",
        "run_id", "plan_hash", "mode", "before", "after", "http_status", "request_id",
    }  # fmt: skip
    assert event.hash == OLD_HASH
    new = AuditEntry(at=NOW, actor="cli:bob", action="approval.granted", outcome="ok", org_id="org-1",
                     after={"entries": 2, "approval_ref": "cli"})  # fmt: skip
    assert verify_chain([event, seal("e2", 2, new, event.hash)]).ok


#: The hash main computed for this row before approval_ref existed.
OLD_HASH = "b6b34a95ca7e65db53c282042e7887739821325a5d6023ed4d6c064d2a82dc11"
