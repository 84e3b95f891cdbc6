"""The in-flight grace of a new leader runs on the monotonic clock: wall-clock steps change nothing."""

from datetime import UTC, datetime, timedelta

import time_machine

from core.clock import SystemClock
from core.engine import Engine
from core.ledger import EntryState, LedgerEntry
from core.lifecycle import Op
from tests.fakes import FakeDirectory, FakeStore, RecordingNotifier
from tests.fakes_lifecycle import FakeLifecycleStore


def test_a_forward_step_of_the_wall_clock_does_not_end_the_grace() -> None:
    ticks = [1000.0]
    engine = Engine(
        FakeDirectory([]),
        FakeStore(),
        FakeLifecycleStore(),
        RecordingNotifier(),
        SystemClock(),
        epoch=2,
        monotonic=lambda: ticks[0],
    )
    start = datetime.now(UTC)
    entry = LedgerEntry(
        entry_id="e1",
        org_id="org-1",
        run_id="r1",
        case_id="c1",
        account_id="a1",
        rule="org",
        op=Op.SUSPEND,
        state=EntryState.REQUESTED,
        created_at=start,
        updated_at=start,
        epoch=1,
    )
    with time_machine.travel(start + timedelta(hours=1), tick=False):  # NTP jumps an hour ahead
        assert engine._maybe_in_flight(entry, SystemClock().now())
        ticks[0] += engine.in_flight_grace.total_seconds() + 1  # real time passes: the write is over
        assert not engine._maybe_in_flight(entry, SystemClock().now())
    with time_machine.travel(start - timedelta(hours=1), tick=False):  # or jumps back: same answer
        assert not engine._maybe_in_flight(entry, SystemClock().now())
