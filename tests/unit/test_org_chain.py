"""One org's own audit chain: verifiable from its rows alone; a change, a gap or a stranger is named."""

from dataclasses import replace
from datetime import UTC, datetime

from core.audit import AuditEntry, seal, verify_org_chain
from tests.fakes_lifecycle import FakeLifecycleStore

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def trail():
    store = FakeLifecycleStore()
    for i, org in enumerate(["org-a", "org-b", "org-a", "org-a", "org-b"]):
        store.append_audit(AuditEntry(at=AT, actor="cli:alice", action=f"act-{i}", outcome="ok", org_id=org))
    return list(store.iter_audit(org_id="org-a"))


def test_an_intact_org_chain_verifies():
    report = verify_org_chain(trail(), "org-a")
    assert (report.ok, report.checked) == (True, 3)


def test_a_changed_row_is_named():
    events = trail()
    events[1] = replace(events[1], entry=replace(events[1].entry, reason="edited later"))
    report = verify_org_chain(events, "org-a")
    assert not report.ok
    assert report.bad_seq == 2
    assert "org row 2 was changed" in report.problem


def test_a_missing_row_is_named():
    events = trail()
    del events[1]
    report = verify_org_chain(events, "org-a")
    assert not report.ok
    assert "org row 2 missing" in report.problem


def test_a_row_resealed_after_a_deleted_one_does_not_follow():
    events = trail()
    third = events[2]
    assert third.org is not None
    forged = seal(third.event_id, third.seq, third.entry, third.prev_hash, (2, third.org.prev_hash))
    report = verify_org_chain([events[0], forged], "org-a")
    assert not report.ok
    assert "does not follow" in report.problem


def test_rows_from_before_org_chains_are_skipped_and_strangers_refused():
    events = trail()
    old = replace(events[0], org=None, seq=0)
    assert verify_org_chain([old, *events], "org-a").ok
    assert not verify_org_chain(events, "org-b").ok
