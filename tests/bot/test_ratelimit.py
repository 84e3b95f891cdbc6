"""The per-address limit on public endpoints, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.ratelimit import RateLimiter
from core.clock import FixedClock
from tests.fakes import NOW


def test_allows_the_limit_then_says_how_long_to_wait():
    clock = FixedClock(NOW)
    limiter = RateLimiter(clock, 3)
    assert [limiter.hit("1.2.3.4") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("1.2.3.4")
    assert wait is not None
    assert 1 <= wait <= 60
    assert limiter.hit("5.6.7.8") is None  # other addresses are not affected


def test_the_window_slides():
    clock = FixedClock(NOW)
    limiter = RateLimiter(clock, 2)
    limiter.hit("a")
    clock.advance(timedelta(seconds=30))
    limiter.hit("a")
    assert limiter.hit("a") is not None
    clock.advance(timedelta(seconds=31))  # the first hit left the window
    assert limiter.hit("a") is None
    assert limiter.hit("a") is not None


def test_memory_is_bounded():
    clock = FixedClock(NOW)
    limiter = RateLimiter(clock, 1, max_keys=100)
    for i in range(1_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
        clock.advance(timedelta(milliseconds=1))
    assert len(limiter._hits) <= 100


def test_a_limit_below_one_is_an_error():
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(FixedClock(NOW), 0)
