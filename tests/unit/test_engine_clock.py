"""The in-flight grace of a new leader: a wall clock stepped back never stretches it, re-elections never restart it."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import time_machine

from core.clock import SystemClock
from core.engine import Engine
from core.ledger import EntryState, LedgerEntry
from core.lifecycle import Op
from tests.fakes import FakeDirectory, FakeStore, RecordingNotifier
from tests.fakes_lifecycle import FakeLifecycleStore


def _engine(ticks: list[float]) -> Engine:
    store = FakeLifecycleStore()
    clock = SystemClock()
    return Engine(
        FakeDirectory([]), FakeStore(), store, RecordingNotifier(), clock, epoch=2, monotonic=lambda: ticks[0]
    )


def _requested(written: datetime) -> LedgerEntry:
    """A suspend an older leader (epoch 1) marked REQUESTED at ``written``."""
    return LedgerEntry(
        entry_id="e1",
        org_id="org-1",
        run_id="r1",
        case_id="c1",
        account_id="a1",
        rule="org",
        op=Op.SUSPEND,
        state=EntryState.REQUESTED,
        created_at=written,
        updated_at=written,
        epoch=1,
    )


def test_a_wall_clock_stepped_back_does_not_stretch_the_grace() -> None:
    """An hour back on the wall clock once made a new leader leave an entry alone for an hour."""
    ticks = [1000.0]
    engine = _engine(ticks)
    start = datetime.now(UTC)
    entry = _requested(start)
    with time_machine.travel(start - timedelta(hours=1), tick=False):  # NTP steps the clock back
        now = SystemClock().now()
        assert engine.maybe_in_flight(entry, now)
        ticks[0] += engine.in_flight_grace.total_seconds() + 1  # the grace really passed
        assert not engine.maybe_in_flight(entry, now)


def test_re_elections_do_not_restart_the_grace_of_an_old_entry() -> None:
    """A leader re-elected with a new epoch still reconciles an entry written long ago."""
    engine = _engine([0.0])
    entry = _requested(datetime.now(UTC) - engine.in_flight_grace - timedelta(seconds=1))
    engine.epoch = 3  # just re-elected
    assert not engine.maybe_in_flight(entry, SystemClock().now())
    assert engine.maybe_in_flight(_requested(datetime.now(UTC)), SystemClock().now())


def test_a_cron_run_leaves_a_leaders_work_in_progress_alone_for_the_grace() -> None:
    """`jira-cleanup run` (no epoch) beside a `serve` leader: its fresh CLAIMED and REQUESTED entries stay."""
    cron = Engine(FakeDirectory([]), FakeStore(), FakeLifecycleStore(), RecordingNotifier(), SystemClock())
    now = SystemClock().now()
    requested = _requested(now)
    claimed = replace(requested, state=EntryState.CLAIMED)
    assert cron.maybe_in_flight(requested, now)
    assert cron.maybe_in_flight(claimed, now)
    later = now + cron.in_flight_grace + timedelta(seconds=1)
    assert not cron.maybe_in_flight(requested, later)  # the leader's write is over: reconcile by reading
    assert not cron.maybe_in_flight(claimed, later)
    # Entries another cron run left (no epoch) are recovered at once, as after a crash.
    assert not cron.maybe_in_flight(replace(requested, epoch=None), now)
    assert not cron.maybe_in_flight(replace(requested, state=EntryState.PLANNED), now)
