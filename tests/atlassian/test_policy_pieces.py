"""Config masking, retry-header parsing, backoff bounds and the org rate limiter."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.atlassian import AtlassianConfig, OrgRateLimiter, RetryPolicy, limiter_for
from adapters.atlassian.retry import parse_rate_limit_reset, parse_retry_after, server_delay

from .fakes import API_KEY, START, FakeClock, FakeSleep, make_config

# -- config ------------------------------------------------------------------------------------


def test_api_key_never_in_repr_or_str() -> None:
    config = make_config()
    assert API_KEY not in repr(config)
    assert API_KEY not in str(config)
    assert "api_key='***'" in repr(config)
    assert API_KEY not in repr([config])


@pytest.mark.parametrize(
    "overrides",
    [
        {"org_id": ""},
        {"api_key": ""},
        {"page_size": 0},
        {"page_size": 101},
        {"max_attempts": 0},
        {"requests_per_second": 0},
        {"directory_id": "a/b"},
    ],
)
def test_config_validation(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make_config(**overrides)


def test_config_defaults() -> None:
    config = AtlassianConfig(org_id="o", api_key="k")
    assert config.base_url == "https://api.atlassian.com"
    assert config.directory_id is None
    assert config.page_size == 100


# -- retry headers -----------------------------------------------------------------------------


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", START) == 7.0
    assert parse_retry_after("1.5", START) == 1.5
    assert parse_retry_after("Tue, 24 Nov 2026 10:00:30 GMT", START) == 30.0
    assert parse_retry_after("Tue, 24 Nov 2026 09:00:00 GMT", START) == 0.0
    assert parse_retry_after(None, START) is None
    assert parse_retry_after("soon", START) is None
    assert parse_retry_after("-3", START) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T10:15:00Z", datetime(2026, 11, 24, 10, 15, tzinfo=UTC)),
        ("2023-10-11T12:34Z", datetime(2023, 10, 11, 12, 34, tzinfo=UTC)),
        ("2026-11-24T10:15:00.250Z", datetime(2026, 11, 24, 10, 15, 0, 250000, tzinfo=UTC)),
        ("garbage", None),
    ],
)
def test_rate_limit_reset_formats(value: str, expected: datetime | None) -> None:
    assert parse_rate_limit_reset(value) == expected


def test_server_delay_prefers_retry_after_and_uses_reset_only_for_429() -> None:
    both = httpx.Response(429, headers={"Retry-After": "3", "X-RateLimit-Reset": "2026-11-24T10:15:00Z"})
    assert server_delay(both, START) == 3.0
    reset = httpx.Response(429, headers={"X-RateLimit-Reset": "2026-11-24T10:00:42Z"})
    assert server_delay(reset, START) == 42.0
    past = httpx.Response(429, headers={"X-RateLimit-Reset": "2026-11-24T09:00:00Z"})
    assert server_delay(past, START) is None
    gateway = httpx.Response(503, headers={"X-RateLimit-Reset": "2026-11-24T10:00:42Z"})
    assert server_delay(gateway, START) is None
    assert server_delay(httpx.Response(503, headers={"Retry-After": "5"}), START) == 5.0


@given(retry=st.integers(min_value=0, max_value=200), seed=st.integers())
def test_backoff_is_capped_and_non_negative(retry: int, seed: int) -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=20.0)
    delay = policy.backoff(retry, random.Random(seed))
    assert 0.0 <= delay <= 20.0
    assert delay <= 0.5 * 2**retry


# -- limiter -----------------------------------------------------------------------------------


async def test_token_bucket_paces_after_the_burst() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limiter = OrgRateLimiter("o", requests_per_second=2.0, burst=3, clock=clock, sleep=sleep)
    for _ in range(6):
        await limiter.acquire()
    # three go at once, then one every 0.5 s
    assert sleep.delays == pytest.approx([0.5, 0.5, 0.5])
    assert clock.now == START + timedelta(seconds=1.5)


async def test_concurrent_callers_share_the_bucket() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limiter = OrgRateLimiter("o", requests_per_second=10.0, burst=1, clock=clock, sleep=sleep)
    await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    assert clock.now - START <= timedelta(seconds=0.4 + 1e-6)
    assert len(sleep.delays) == 4


async def test_pause_holds_every_caller_until_reset() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limiter = OrgRateLimiter("o", requests_per_second=None, clock=clock, sleep=sleep)
    await limiter.acquire()
    assert sleep.delays == []
    limiter.pause_until(START + timedelta(seconds=30))
    limiter.pause_until(START + timedelta(seconds=10))  # an earlier pause never shortens it
    assert limiter.paused_until == START + timedelta(seconds=30)
    released: list[datetime] = []

    async def caller() -> None:
        await limiter.acquire()
        released.append(clock.now)

    await asyncio.gather(caller(), caller())
    assert sleep.delays[0] == 30.0
    assert released == [START + timedelta(seconds=30)] * 2
    assert limiter.paused_until is None


async def test_pause_reaches_callers_already_waiting_for_a_slot() -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    limiter = OrgRateLimiter("o", requests_per_second=1.0, burst=1, clock=clock, sleep=sleep)
    await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())  # must wait 1 s for its slot
    await asyncio.sleep(0)
    limiter.pause_until(START + timedelta(seconds=20))
    await waiting
    assert clock.now >= START + timedelta(seconds=20)


def test_pause_needs_aware_datetime() -> None:
    limiter = OrgRateLimiter("o")
    with pytest.raises(ValueError, match="tz-aware"):
        limiter.pause_until(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_registry_returns_one_limiter_per_org() -> None:
    assert limiter_for("org-registry-a") is limiter_for("org-registry-a")
    assert limiter_for("org-registry-a") is not limiter_for("org-registry-b")
