"""What the transport tells the org limiter: the ``X-RateLimit-*`` headers of every answer, 429s, Retry-After.

A scripted Atlassian (``MockAtlassian``) and a fake clock and sleep: nothing really waits.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from adapters.atlassian import OrgRateLimiter
from core.errors import AccountNotFound
from core.model import AccountId

from .conftest import MakeDirectory
from .fakes import (
    DIRECTORY_ID,
    ORG_ID,
    START,
    FakeClock,
    FakeSleep,
    MockAtlassian,
    admin_error,
    json_response,
    user_json,
)

USER = f"/admin/v2/orgs/{ORG_ID}/directories/{DIRECTORY_ID}/users/acc-1"
RATE_LIMITED = {"code": 429, "message": "Rate limit exceeded"}


def window(remaining: int, reset: str, limit: int = 600) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}


def ok(headers: dict[str, str] | None = None) -> httpx.Response:
    return json_response(200, {"data": user_json()}, headers)


async def get(directory: object) -> None:
    await directory.get_account(AccountId("acc-1"))  # type: ignore[attr-defined]


@pytest.fixture
def limiter(clock: FakeClock, sleep: FakeSleep) -> OrgRateLimiter:
    return OrgRateLimiter(ORG_ID, clock=clock, sleep=sleep)


@pytest.mark.parametrize(
    "reset",
    [
        "2026-11-24T10:01Z",  # what Atlassian sends: minutes only
        "2026-11-24T10:01:00Z",
        "2026-11-24T10:01:00.000Z",
        "2026-11-24T11:01+01:00",
        "2026-11-24T05:01:00-05:00",
        "2026-11-24T10:01:00+0000",
    ],
)
async def test_reset_times_with_or_without_seconds_and_any_offset(
    atlassian: MockAtlassian, make_directory: MakeDirectory, limiter: OrgRateLimiter, reset: str
) -> None:
    atlassian.add("GET", USER, ok(window(59, reset)))
    await get(make_directory(atlassian, limiter=limiter))
    assert limiter.rate == pytest.approx((59 + 1) / 60)  # 59 left in the minute to 10:01


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "2026-11-24T10:01Z"},
        {"X-RateLimit-Remaining": "-3", "X-RateLimit-Reset": "2026-11-24T10:01Z"},
        {"X-RateLimit-Remaining": "1.5", "X-RateLimit-Reset": "2026-11-24T10:01Z"},
        {"X-RateLimit-Remaining": "", "X-RateLimit-Reset": "2026-11-24T10:01Z"},
        {"X-RateLimit-Remaining": "0"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-24T25:61Z"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1795000000"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-24T09:59Z"},  # already past
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2027-11-24T10:00Z"},  # a year away
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-24T10:01\x00Z"},
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "50", "X-RateLimit-Reset": "2026-11-24T10:01Z"},
    ],
    ids=lambda h: "|".join(h.values()).encode("unicode_escape").decode(),
)
async def test_malformed_headers_are_ignored(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    limiter: OrgRateLimiter,
    sleep: FakeSleep,
    headers: dict[str, str],
) -> None:
    atlassian.add("GET", USER, ok(headers))
    directory = make_directory(atlassian, limiter=limiter)
    for _ in range(20):
        await get(directory)
    assert limiter.rate is None
    assert sleep.delays == []
    assert len(atlassian.requests) == 20


async def test_every_answer_is_heard_errors_too(
    atlassian: MockAtlassian, make_directory: MakeDirectory, limiter: OrgRateLimiter, clock: FakeClock
) -> None:
    """A 404 that says nothing remains holds the next request until the reset."""
    missing = admin_error(404, "ADMIN-404-8")
    missing.headers.update(window(0, "2026-11-24T10:00:30Z"))
    atlassian.add("GET", USER, missing, ok())
    directory = make_directory(atlassian, limiter=limiter)
    with pytest.raises(AccountNotFound):
        await get(directory)
    await get(directory)
    assert clock.now == START + timedelta(seconds=30)


async def test_the_pace_follows_the_answers(
    atlassian: MockAtlassian, make_directory: MakeDirectory, limiter: OrgRateLimiter, clock: FakeClock
) -> None:
    """A server counting down its minute: the client sends what it allows, spread, and never more."""
    state = {"remaining": 120}

    def answer(request: httpx.Request) -> httpx.Response:
        state["remaining"] -= 1
        assert state["remaining"] >= 0, "sent more than the window allowed"
        return ok(window(state["remaining"], "2026-11-24T10:01:00Z", limit=120))

    atlassian.add("GET", USER, answer)
    directory = make_directory(atlassian, limiter=limiter)
    for _ in range(120):
        await get(directory)
    elapsed = (clock.now - START).total_seconds()
    assert 50 < elapsed < 60  # about 2 a second (after a short burst), all before the reset


async def test_a_429_with_an_http_date_retry_after_holds_everyone_then_halves_the_rate(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    limiter: OrgRateLimiter,
    clock: FakeClock,
) -> None:
    state = {"remaining": 3000}  # 10 a second for the 5 minutes to 10:05

    def plenty(request: httpx.Request) -> httpx.Response:
        state["remaining"] -= 1
        return ok(window(state["remaining"], "2026-11-24T10:05:00Z", limit=3000))

    refused = json_response(429, RATE_LIMITED, {"Retry-After": "Tue, 24 Nov 2026 10:00:45 GMT"})
    atlassian.add("GET", USER, *([plenty] * 30), refused, plenty)
    directory = make_directory(atlassian, limiter=limiter)
    for _ in range(30):
        await get(directory)
    assert limiter.rate == pytest.approx(10.0, rel=0.05)
    await get(directory)  # refused, waits for the date, then goes through
    assert (clock.now - START).total_seconds() == pytest.approx(45.0)
    assert limiter.paused_until is None
    assert limiter.rate == pytest.approx(5.0 * 1.05, rel=0.05)  # halved, then one success
    for _ in range(30):
        await get(directory)
    left = (START + timedelta(minutes=5) - clock.now).total_seconds()
    assert limiter.rate == pytest.approx((state["remaining"] + 1) / left, rel=0.01)  # back up to the server's pace


async def test_a_429_without_any_header_halves_the_rate_being_sent(
    atlassian: MockAtlassian, make_directory: MakeDirectory, limiter: OrgRateLimiter, clock: FakeClock
) -> None:
    atlassian.add("GET", USER, *([ok()] * 20), json_response(429, RATE_LIMITED), ok())
    directory = make_directory(atlassian, limiter=limiter)
    for _ in range(20):  # 20 a second
        await get(directory)
        clock.advance(0.05)
    await get(directory)  # refused: the retry waits the backoff, then at half the rate
    assert limiter.rate == pytest.approx(10.0 * 1.05, rel=0.05)
