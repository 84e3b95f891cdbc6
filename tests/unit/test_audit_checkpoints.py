"""The chain's tail against signed checkpoints: cut rows, edited or missing checkpoints, a wrong key."""

from dataclasses import replace
from datetime import timedelta

from core.audit import (
    AuditEntry,
    check_checkpoints,
    next_checkpoint,
    verify_against_checkpoints,
)
from tests.fakes import NOW
from tests.fakes_lifecycle import FakeLifecycleStore

KEY = b"k" * 32


def chain(rows: int) -> list:
    store = FakeLifecycleStore()
    for n in range(rows):
        store.append_audit(
            AuditEntry(at=NOW + timedelta(minutes=n), actor="cli:alice", action="x", outcome="ok", org_id="o")
        )
    return list(store.iter_audit())


def sealed(events, at_rows):
    marks, last = [], None
    for row in at_rows:
        last = next_checkpoint(KEY, last, events[row - 1].seq, events[row - 1].hash, NOW)
        marks.append(last)
    return marks


def test_an_intact_chain_matches_its_checkpoints():
    events = chain(10)
    report = verify_against_checkpoints(events, sealed(events, [3, 7, 10]), KEY)
    assert report.ok
    assert report.checked == 10


def test_newest_rows_cut_from_the_chain_are_named():
    events = chain(10)
    marks = sealed(events, [4, 10])
    report = verify_against_checkpoints(events[:-6], marks, KEY)
    assert not report.ok
    assert report.bad_seq == 5
    assert "rows 5 to 10 are missing" in report.problem


def test_a_rewritten_tail_does_not_match_the_sealed_hash():
    """A valid chain whose last row was replaced (and re-hashed) no longer matches the checkpoint."""
    events = chain(6)
    report = verify_against_checkpoints(chain_with_new_tail(events), sealed(events, [6]), KEY)
    assert not report.ok
    assert report.bad_seq == 6
    assert "differs from what checkpoint 1" in report.problem


def chain_with_new_tail(events):
    store = FakeLifecycleStore()
    for e in events[:-1]:
        store.append_audit(e.entry)
    store.append_audit(replace(events[-1].entry, reason="rewritten"))
    return list(store.iter_audit())


def test_an_edited_missing_or_foreign_checkpoint_fails_loudly():
    events = chain(5)
    marks = sealed(events, [2, 4, 5])
    edited = [marks[0], replace(marks[1], seq=5), marks[2]]
    assert "wrong signature" in check_checkpoints(edited, KEY)
    assert "checkpoint 2 is missing" in check_checkpoints([marks[0], marks[2]], KEY)
    assert "wrong signature" in check_checkpoints(marks, b"z" * 32)
    assert check_checkpoints(marks, KEY) is None
    assert not verify_against_checkpoints(events, edited, KEY).ok


def test_the_checkpoint_file_grows_one_signed_line_per_new_head(tmp_path):
    """Sealing reads only the file's end: past a few KB every new head still chains on the last line."""
    from adapters.store.checkpoint import CheckpointFile

    store = FakeLifecycleStore()
    checkpoints = CheckpointFile(tmp_path / "audit-checkpoints", KEY)
    for n in range(40):
        store.append_audit(AuditEntry(at=NOW, actor="cli:alice", action="x", outcome="ok", org_id="o", reason=str(n)))
        assert checkpoints.seal(store) is not None
        assert checkpoints.seal(store) is None  # same head: nothing new
    assert (tmp_path / "audit-checkpoints").stat().st_size > 8192
    marks = checkpoints.read()
    assert [m.n for m in marks] == list(range(1, 41))
    assert check_checkpoints(marks, KEY) is None
    assert verify_against_checkpoints(store.iter_audit(), marks, KEY).ok
