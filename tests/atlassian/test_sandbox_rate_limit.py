"""The sandbox's server-side limit: windows per API key, and its ``X-RateLimit-*`` headers on every answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from adapters.sandbox import Fault, SandboxConfig, SandboxServer, generate_org

from .fakes import FakeClock

NOW = datetime(2026, 11, 24, 10, 0, 30, 250000, tzinfo=UTC)
KEY = "key-one"
OTHER = "key-two"
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    server = SandboxServer(
        generate_org(20, seed=3, now=NOW), SandboxConfig(api_key=KEY, other_api_keys=(OTHER,), now=clock)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def window(response: httpx.Response) -> tuple[str, str, str]:
    limit, remaining, reset = (response.headers[name] for name in HEADERS)
    return limit, remaining, reset


async def test_a_per_second_window_refuses_then_rolls_over(
    sandbox: SandboxServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    sandbox.config.requests_per_second = 3
    sandbox.config.send_retry_after = True
    answers = [await http.get("/admin/v1/orgs", headers=bearer(KEY)) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [window(r) for r in answers] == [
        ("3", "2", "2026-11-24T10:00:31Z"),
        ("3", "1", "2026-11-24T10:00:31Z"),
        ("3", "0", "2026-11-24T10:00:31Z"),
        ("3", "0", "2026-11-24T10:00:31Z"),
    ]
    assert answers[3].headers["Retry-After"] == "1"
    clock.advance(0.75)  # 10:00:31: a new window
    again = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert (again.status_code, window(again)) == (200, ("3", "2", "2026-11-24T10:00:32Z"))


async def test_each_key_has_windows_of_its_own(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    sandbox.config.requests_per_minute = 2
    first = [(await http.get("/admin/v1/orgs", headers=bearer(KEY))).status_code for _ in range(3)]
    second = [(await http.get("/admin/v1/orgs", headers=bearer(OTHER))).status_code for _ in range(3)]
    assert first == [200, 200, 429]
    assert second == [200, 200, 429]  # the first key's requests used up nothing of the second's


async def test_every_answer_carries_the_keys_window(sandbox: SandboxServer, http: httpx.AsyncClient) -> None:
    """Admitted, refused (429, 401), faulted and handler errors: all say where the key's window stands."""
    sandbox.config.requests_per_minute = 5
    sandbox.config.faults.add(
        Fault("500", path="/boom-500"), Fault("503", path="/boom-503"), Fault("429", path="/boom-429")
    )
    v2 = f"/admin/v2/orgs/{sandbox.org_id}/directories/{sandbox.directory_id}"
    ok = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    missing = await http.get(f"{v2}/users/no-such-user", headers=bearer(KEY))
    unauthorised = await http.get("/admin/v1/orgs", headers=bearer("wrong"))
    faults = [await http.get(f"/admin/v1/orgs/boom-{kind}", headers=bearer(KEY)) for kind in ("500", "503", "429")]
    assert [ok.status_code, missing.status_code, unauthorised.status_code] == [200, 404, 401]
    assert [r.status_code for r in faults] == [500, 503, 429]
    reset = "2026-11-24T10:01:00Z"
    assert window(ok) == ("5", "4", reset)
    assert window(missing) == ("5", "3", reset)  # a handler's error was admitted, so counted
    assert window(unauthorised) == ("5", "5", reset)  # the wrong key's own (untouched) window
    assert [window(r) for r in faults] == [("5", "3", reset), ("5", "3", reset), ("5", "0", reset)]
    for _ in range(3):
        await http.get("/admin/v1/orgs", headers=bearer(KEY))
    refused = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert (refused.status_code, window(refused)) == (429, ("5", "0", reset))  # faults used up nothing


async def test_the_headers_name_the_window_that_binds(
    sandbox: SandboxServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    sandbox.config.requests_per_second = 10
    sandbox.config.requests_per_minute = 30  # 30 left for 29.75 s binds harder than 10 for 0.75 s
    first = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert window(first) == ("30", "29", "2026-11-24T10:01:00Z")
    sandbox.config.requests_per_second = 2
    second = await http.get("/admin/v1/orgs", headers=bearer(KEY))  # 0 left this second
    assert window(second) == ("2", "0", "2026-11-24T10:00:31Z")
    refused = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert (refused.status_code, window(refused)) == (429, ("2", "0", "2026-11-24T10:00:31Z"))
    clock.advance(30)  # both windows rolled over
    assert window(await http.get("/admin/v1/orgs", headers=bearer(KEY))) == ("30", "29", "2026-11-24T10:02:00Z")


async def test_without_a_limit_only_injected_429s_carry_headers(
    sandbox: SandboxServer, http: httpx.AsyncClient
) -> None:
    sandbox.config.faults.add(Fault("429", nth={2}))
    ok = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    refused = await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert not any(name in ok.headers for name in HEADERS)
    assert window(refused) == ("1000", "0", "2026-11-24T10:01:00Z")


async def test_the_request_log_has_the_server_clock(
    sandbox: SandboxServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await http.get("/admin/v1/orgs", headers=bearer(KEY))
    clock.advance(2.5)
    await http.get("/admin/v1/orgs", headers=bearer(KEY))
    assert [r.at for r in sandbox.request_log] == [NOW, clock.now]
