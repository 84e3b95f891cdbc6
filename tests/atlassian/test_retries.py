"""Retries, waits and error mapping of the request loop (fake clock and sleep, no real waiting)."""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
import pytest

from adapters.atlassian import OrgRateLimiter
from core.errors import AuthenticationFailed, DirectoryError, DirectoryUnavailable, RateLimited
from core.model import AccountId

from .conftest import MakeDirectory
from .fakes import DIRECTORY_ID, ORG_ID, START, FakeClock, FakeSleep, MockAtlassian, json_response, user_json

USER = f"/admin/v2/orgs/{ORG_ID}/directories/{DIRECTORY_ID}/users/acc-1"
OK = json_response(200, {"data": user_json()})
RATE_LIMITED = {"code": 429, "message": "Rate limit exceeded"}


class MaxRandom(random.Random):
    """Always draws the top of the jitter range, to expose the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def get(directory: object) -> None:
    await directory.get_account(AccountId("acc-1"))  # type: ignore[attr-defined]


async def test_retry_after_is_honoured_exactly(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep, clock: FakeClock
) -> None:
    atlassian.add("GET", USER, json_response(429, RATE_LIMITED, {"Retry-After": "7"}), OK)
    await get(make_directory(atlassian))
    assert sleep.delays == [7.0]
    assert clock.now == START + timedelta(seconds=7)
    assert len(atlassian.requests) == 2


async def test_rate_limit_reset_used_without_retry_after(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-24T10:00:42Z"}
    atlassian.add("GET", USER, json_response(429, RATE_LIMITED, headers), OK)
    await get(make_directory(atlassian))
    assert sleep.delays == [42.0]


async def test_minute_precision_reset(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, json_response(429, RATE_LIMITED, {"X-RateLimit-Reset": "2026-11-24T10:02Z"}), OK)
    await get(make_directory(atlassian))
    assert sleep.delays == [120.0]


async def test_429_pauses_every_caller_of_the_org(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep, clock: FakeClock
) -> None:
    limiter = OrgRateLimiter(ORG_ID, requests_per_second=None, clock=clock, sleep=sleep)
    first = make_directory(atlassian, limiter=limiter)
    second = make_directory(atlassian, limiter=limiter)
    atlassian.add("GET", USER, json_response(429, RATE_LIMITED, {"Retry-After": "30"}), OK)
    with pytest.raises(RateLimited):
        await get(make_directory(atlassian, limiter=limiter, max_total_wait=10))
    # The first directory gave up, but the pause it recorded holds back the others too.
    assert limiter.paused_until == START + timedelta(seconds=10)
    await get(second)
    assert clock.now >= START + timedelta(seconds=10)
    assert first is not second


async def test_backoff_is_capped(atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep) -> None:
    atlassian.add("GET", USER, *[json_response(503)] * 5, OK)
    directory = make_directory(atlassian, rng=MaxRandom(), backoff_base=1.0, backoff_cap=5.0, max_attempts=6)
    await get(directory)
    assert sleep.delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert directory.stats.retries == 5


async def test_backoff_has_full_jitter(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, *[json_response(502)] * 5, OK)
    await get(make_directory(atlassian, rng=random.Random(3), backoff_base=1.0, backoff_cap=5.0))
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert all(0 <= d <= c for d, c in zip(sleep.delays, ceilings, strict=True))
    assert sleep.delays != ceilings


async def test_5xx_retried_then_success(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", USER, json_response(500, {"errors": [{"code": "ADMIN-500-1"}]}), json_response(504), OK)
    await get(make_directory(atlassian))
    assert len(atlassian.requests) == 3


async def test_5xx_beyond_attempts_is_unavailable(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, httpx.Response(503, text="Service Unavailable", headers={"X-Request-Id": "r-503"}))
    with pytest.raises(DirectoryUnavailable) as caught:
        await get(make_directory(atlassian, max_attempts=4))
    assert len(atlassian.requests) == 4
    assert len(sleep.delays) == 3
    assert caught.value.status == 503
    assert caught.value.request_id == "r-503"


async def test_total_wait_budget_is_bounded(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, json_response(503, None, {"Retry-After": "40"}))
    with pytest.raises(DirectoryUnavailable):
        await get(make_directory(atlassian, max_attempts=10, max_total_wait=100))
    assert sleep.delays == [40.0, 40.0]


async def test_429_beyond_budget_is_rate_limited(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, json_response(429, RATE_LIMITED, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        await get(make_directory(atlassian))
    assert caught.value.retry_after == 3600.0
    assert sleep.delays == []  # never waits when the wait alone blows the budget
    assert len(atlassian.requests) == 1


async def test_timeouts_and_resets_are_retried(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    failures = iter([httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset")])

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return OK

    atlassian.add("GET", USER, flaky)
    await get(make_directory(atlassian))
    assert len(atlassian.requests) == 4


async def test_timeouts_beyond_budget_are_unavailable(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow")

    atlassian.add("GET", USER, timeout)
    with pytest.raises(DirectoryUnavailable, match="ConnectTimeout"):
        await get(make_directory(atlassian, max_attempts=3))
    assert len(atlassian.requests) == 3


async def test_401_is_authentication_failed_without_retry(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    atlassian.add("GET", USER, json_response(401, {"code": 401, "message": "Unauthorized"}, {"X-Request-Id": "r1"}))
    with pytest.raises(AuthenticationFailed) as caught:
        await get(make_directory(atlassian))
    assert caught.value.status == 401
    assert caught.value.request_id == "r1"
    assert len(atlassian.requests) == 1


async def test_403_without_account_is_authentication_failed(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    no_perms = {"timestamp": "t", "path": "/p", "status": 403, "error": "Forbidden", "message": "no", "requestId": "x"}
    atlassian.add("GET", f"/admin/v2/orgs/{ORG_ID}/directories", json_response(403, no_perms))
    with pytest.raises(AuthenticationFailed):
        await make_directory(atlassian).describe_org()


async def test_other_4xx_is_directory_error_with_code(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    body = {"errors": [{"id": "1", "status": "400", "code": "ADMIN-400-1", "title": "Bad", "detail": "bad cursor"}]}
    atlassian.add("GET", USER, json_response(400, body))
    with pytest.raises(DirectoryError, match=r"400: ADMIN-400-1: bad cursor") as caught:
        await get(make_directory(atlassian))
    assert type(caught.value) is DirectoryError
    assert caught.value.status == 400


async def test_non_json_success_body_is_a_directory_error(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    atlassian.add("GET", USER, httpx.Response(200, text="<html>"))
    with pytest.raises(DirectoryError, match="not JSON"):
        await get(make_directory(atlassian))


async def test_paced_requests_wait_for_the_bucket(
    atlassian: MockAtlassian, make_directory: MakeDirectory, sleep: FakeSleep
) -> None:
    atlassian.add("GET", USER, OK)
    directory = make_directory(atlassian, requests_per_second=4.0, burst=1)
    for _ in range(3):
        await get(directory)
    assert sleep.delays == [0.25, 0.25]
