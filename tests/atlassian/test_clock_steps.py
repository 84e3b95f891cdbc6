"""Wall-clock steps (NTP, a resumed VM) never turn into long waits: pacing runs on a monotonic clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from adapters.atlassian.limiter import OrgRateLimiter


@pytest.mark.parametrize("step", [timedelta(hours=-1), timedelta(hours=1), timedelta(minutes=-10)])
async def test_a_wall_clock_step_mid_run_does_not_change_the_pacing(step: timedelta) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    limiter = OrgRateLimiter("org-1", requests_per_second=5, burst=1, sleep=record)  # the production clocks
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=True) as traveller:
        for _ in range(3):
            await limiter.acquire()
        traveller.move_to(start + step)  # the wall clock jumps while requests are being paced
        for _ in range(3):
            await limiter.acquire()
    assert waits, "the limiter paced the calls"
    assert max(waits) <= 1.0, f"a {step} step made a caller wait {max(waits):.0f} s"


async def test_a_429_pause_is_honoured_across_a_wall_clock_step() -> None:
    """A pause computed from the server's reset time is kept in monotonic time: a step does not stretch it."""
    elapsed = [0.0]

    async def sleep(seconds: float) -> None:  # time passes only when the limiter waits
        elapsed[0] += seconds

    limiter = OrgRateLimiter("org-1", requests_per_second=None, sleep=sleep, monotonic=lambda: elapsed[0])
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as traveller:
        limiter.pause_until(start + timedelta(seconds=30))  # Atlassian said: come back in 30 s
        traveller.move_to(start - timedelta(hours=1))
        await limiter.acquire()
    assert elapsed[0] == pytest.approx(30, abs=0.01)
