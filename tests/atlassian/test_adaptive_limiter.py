"""The org limiter paces from the API's own answers: its window, its 429s, an optional ceiling.

Fake clocks only: ``sleep`` advances the clock the limiter reads, nothing really waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.atlassian import OrgRateLimiter
from adapters.atlassian.transport import _integer

from .fakes import FakeClock, FakeSleep

NOW = datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def limiter(clock: FakeClock, sleep: FakeSleep, **kwargs: object) -> OrgRateLimiter:
    return OrgRateLimiter("org", clock=clock, sleep=sleep, **kwargs)  # type: ignore[arg-type]


async def send(lim: OrgRateLimiter, count: int) -> None:
    for _ in range(count):
        await lim.acquire()
        lim.finished()


async def test_without_headers_429s_or_a_ceiling_nothing_waits(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    await send(lim, 200)
    assert sleep.delays == []
    assert lim.rate is None


async def test_few_remaining_are_spread_over_the_time_left_and_none_left_waits_for_the_reset(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=100, remaining=5, reset=NOW + timedelta(seconds=10))
    await send(lim, 5)
    assert sleep.delays == pytest.approx([2.0] * 4, abs=1e-6)  # 5 requests spread over the 10 s left
    await send(lim, 1)  # the window has none left: the sixth waits for the reset
    assert clock.now == NOW + timedelta(seconds=10)


async def test_plenty_remaining_does_not_pace(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=1000, remaining=900, reset=NOW + timedelta(seconds=60))
    await send(lim, 50)
    assert sleep.delays == []


async def test_nothing_remaining_holds_everyone_until_the_reset(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=60, remaining=0, reset=NOW + timedelta(seconds=42))
    await send(lim, 1)
    assert clock.now == NOW + timedelta(seconds=42)


async def test_requests_in_flight_count_against_the_window(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    for _ in range(3):
        await lim.acquire()  # three answers still to come
    lim.observe(limit=10, remaining=2, reset=NOW + timedelta(seconds=30))
    lim.finished()
    await lim.acquire()  # 2 remaining minus the 2 other requests in flight: wait for the reset
    assert clock.now == NOW + timedelta(seconds=30)


async def test_a_429_halves_the_rate_and_successes_probe_it_back_up(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    for _ in range(20):  # sending at 10 requests/s
        await send(lim, 1)
        clock.advance(0.1)
    lim.throttled()
    assert lim.rate == pytest.approx(5.0, rel=0.05)
    lim.throttled()  # another 429 at once: halved again
    assert lim.rate == pytest.approx(2.5, rel=0.05)
    for _ in range(10):
        lim.succeeded()
    assert lim.rate == pytest.approx(2.5 * 1.05**10, rel=0.01)
    for _ in range(400):
        lim.succeeded()
    assert lim.rate is None  # probed back up until it no longer limits


async def test_the_ceiling_caps_whatever_the_server_allows(clock, sleep) -> None:
    lim = limiter(clock, sleep, requests_per_second=2.0, burst=1)
    lim.observe(limit=1000, remaining=999, reset=NOW + timedelta(seconds=60))
    await send(lim, 5)
    assert sleep.delays == pytest.approx([0.5] * 4)
    lim.throttled()
    for _ in range(1000):
        lim.succeeded()
    assert lim.rate == pytest.approx(2.0)  # probing up stops at the ceiling


@pytest.mark.parametrize("value", [None, "", "many", "1.5", " 7 "])
def test_header_numbers_are_read_or_ignored(value) -> None:
    assert _integer(value) == (7 if value == " 7 " else None)


async def test_garbage_headers_change_nothing(clock, sleep) -> None:
    from adapters.atlassian.transport import AtlassianTransport

    lim = limiter(clock, sleep)
    transport = AtlassianTransport.__new__(AtlassianTransport)
    transport._limiter = lim
    for headers in (
        {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "2026-12-05T09:01Z"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "not a time"},
        {"X-RateLimit-Remaining": "0"},
    ):
        transport._observe(httpx.Response(200, headers=headers))
    await send(lim, 20)
    assert sleep.delays == []
