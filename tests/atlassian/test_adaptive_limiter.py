"""The org limiter paces from the API's own answers: its window, its 429s, an optional ceiling.

Fake clocks only: ``sleep`` advances the clock the limiter reads, nothing really waits.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.atlassian import OrgRateLimiter, limiter_for
from adapters.atlassian.limiter import START_RATE
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


async def test_without_headers_429s_a_ceiling_or_a_start_rate_nothing_waits(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    await send(lim, 200)
    assert sleep.delays == []
    assert lim.rate is None


async def test_few_remaining_are_spread_over_the_time_left_and_none_left_waits_for_the_reset(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=100, remaining=5, reset=NOW + timedelta(seconds=10))
    await send(lim, 5)
    assert sleep.delays == pytest.approx([10 / 6] * 4, abs=1e-6)  # 5 spread over the 10 s left, the last before it
    await send(lim, 1)  # the window has none left: the sixth waits for the reset
    assert clock.now == NOW + timedelta(seconds=10)


async def test_plenty_remaining_is_spread_too_after_a_small_burst(clock, sleep) -> None:
    """900 left for 60 s: 15 requests a second, a burst of at most a tenth of what remains."""
    lim = limiter(clock, sleep)
    lim.observe(limit=1000, remaining=900, reset=NOW + timedelta(seconds=60))
    assert lim.rate == pytest.approx(15.0, rel=0.01)
    await send(lim, 150)
    assert len(sleep.delays) >= 150 - 10  # the bucket's burst of 10 at most, then one every 1/15 s
    assert (clock.now - NOW).total_seconds() == pytest.approx((150 - 10) / 15, rel=0.01)


async def test_the_rate_rises_to_what_the_server_advertises(clock, sleep) -> None:
    """A modest start (no ceiling) gives way to the server's window as soon as it is told."""
    lim = limiter(clock, sleep, start_rate=10.0, burst=1)
    assert lim.rate == pytest.approx(10.0)
    await send(lim, 3)
    assert sleep.delays == pytest.approx([0.1, 0.1])
    lim.observe(limit=3600, remaining=3600, reset=clock.now + timedelta(seconds=60))
    assert lim.rate == pytest.approx(60.0, rel=0.01)
    sleep.delays.clear()
    started = clock.now
    await send(lim, 121)
    elapsed = (clock.now - started).total_seconds()
    assert 120 / elapsed == pytest.approx(60.0, rel=0.05)  # the advertised rate, not the start's 10


async def test_the_rate_follows_each_new_answer(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=600, remaining=600, reset=NOW + timedelta(seconds=60))
    assert lim.rate == pytest.approx(10.0, rel=0.01)
    clock.advance(30)
    lim.observe(limit=600, remaining=540, reset=NOW + timedelta(seconds=60))  # fell behind: 540 in 30 s
    assert lim.rate == pytest.approx(18.0, rel=0.01)
    clock.advance(29)
    lim.observe(limit=600, remaining=1, reset=NOW + timedelta(seconds=60))
    assert lim.rate == pytest.approx(2.0)  # the last one goes half-way to the reset
    clock.advance(1)
    assert lim.rate is None  # the window has reset: the next answer says what the new one allows


async def test_an_older_answer_about_the_same_window_does_not_raise_the_budget(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    reset = NOW + timedelta(seconds=10)
    lim.observe(limit=100, remaining=1, reset=reset)
    lim.observe(limit=100, remaining=50, reset=reset)  # a slower response, sent earlier
    await send(lim, 2)
    assert clock.now == reset  # one was left: the second waited for the reset


async def test_without_headers_the_start_rate_rises_until_it_no_longer_paces(clock, sleep) -> None:
    lim = limiter(clock, sleep, start_rate=10.0, burst=1)
    for _ in range(5):
        lim.succeeded()
    assert lim.rate == pytest.approx(10.0 * 1.5**5)
    for _ in range(30):
        lim.succeeded()
    assert lim.rate is None
    sleep.delays.clear()
    await send(lim, 100)
    assert sleep.delays == []


async def test_the_ceiling_is_the_start_rate_when_there_is_one(clock, sleep) -> None:
    lim = limiter(clock, sleep, requests_per_second=4.0, start_rate=10.0, burst=1)
    await send(lim, 3)
    assert sleep.delays == pytest.approx([0.25, 0.25])
    for _ in range(100):
        lim.succeeded()
    assert lim.rate == pytest.approx(4.0)


def test_the_process_wide_limiter_starts_modestly_or_at_the_ceiling() -> None:
    assert limiter_for("org-start-rate-a").rate == pytest.approx(START_RATE)
    assert limiter_for("org-start-rate-b", requests_per_second=2.5).rate == pytest.approx(2.5)


@pytest.mark.parametrize("rate", [0, -1.0, float("inf"), float("nan")])
def test_rates_must_be_positive_numbers(rate: float) -> None:
    with pytest.raises(ValueError, match="requests_per_second"):
        OrgRateLimiter("org", requests_per_second=rate)
    with pytest.raises(ValueError, match="start_rate"):
        OrgRateLimiter("org", start_rate=rate)


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


async def test_a_new_window_is_assumed_to_allow_the_limit_until_an_answer_describes_it(clock, sleep) -> None:
    lim = limiter(clock, sleep)
    lim.observe(limit=3, remaining=0, reset=NOW + timedelta(seconds=1))
    for _ in range(3):
        await lim.acquire()  # at the reset, the new window's 3 go at once (and stay in flight)
    assert clock.now == NOW + timedelta(seconds=1)
    fourth = asyncio.ensure_future(lim.acquire())
    await asyncio.sleep(0)
    assert not fourth.done()  # held: the window is used up and an answer on its way may describe it
    lim.observe(limit=3, remaining=0, reset=NOW + timedelta(seconds=2))  # it does: none left
    for _ in range(3):
        lim.finished()
    await fourth
    assert clock.now == NOW + timedelta(seconds=2)


async def test_a_used_up_new_window_nothing_can_describe_does_not_hold_anyone(clock, sleep) -> None:
    """A server that stops sending the headers (or a 429 fault's one-off window) never blocks the org."""
    lim = limiter(clock, sleep)
    lim.observe(limit=3, remaining=0, reset=NOW + timedelta(seconds=1))
    await send(lim, 50)  # nothing in flight between them: no answer is awaited
    assert clock.now == NOW + timedelta(seconds=1)
    assert sleep.delays == [1.0]


@pytest.mark.parametrize("value", ["0", "-2", "inf", "nan", "fast", ""])
def test_the_ceiling_setting_names_itself_when_invalid(monkeypatch, tmp_path, value: str) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv("ATLASSIAN_REQUESTS_PER_SECOND", value)
    with pytest.raises(SettingsError, match=r"^ATLASSIAN_REQUESTS_PER_SECOND: "):
        load_settings()


def test_the_ceiling_setting_is_optional_and_reaches_the_client(monkeypatch, tmp_path) -> None:
    from bot.compose import atlassian_config
    from bot.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATLASSIAN_ORG_ID", "org-ceiling")
    monkeypatch.setenv("ATLASSIAN_API_KEY", "key")
    monkeypatch.delenv("ATLASSIAN_REQUESTS_PER_SECOND", raising=False)
    assert atlassian_config(load_settings(), None).requests_per_second is None  # follow the server
    monkeypatch.setenv("ATLASSIAN_REQUESTS_PER_SECOND", "2.5")
    assert atlassian_config(load_settings(), None).requests_per_second == 2.5
