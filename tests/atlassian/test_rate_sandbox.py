"""The adaptive limiter against the sandbox's own limit, over loopback HTTP, in virtual time.

The sandbox and the client share a fake clock. Sleeps are :class:`VirtualTime` sleeps, so callers
waiting at once wait together and requests take no virtual time: the rate the sandbox logs (each
request's arrival on its clock) is the rate the limiter paced. Nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from adapters.atlassian import AtlassianConfig, AtlassianDirectory, OrgRateLimiter
from adapters.atlassian.limiter import START_RATE
from adapters.sandbox import Fault, RequestRecord, SandboxConfig, SandboxServer, generate_org
from core.model import AccountId

from .fakes import FakeClock, VirtualTime

NOW = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)
KEY = "rate-key"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def vtime(clock: FakeClock) -> VirtualTime:
    return VirtualTime(clock)


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    org = generate_org(400, seed=5, now=NOW, undated_fraction=0.1)
    server = SandboxServer(org, SandboxConfig(api_key=KEY, now=clock))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


Connect = Callable[[], AtlassianDirectory]


@pytest.fixture
async def connect(sandbox: SandboxServer, clock: FakeClock, vtime: VirtualTime) -> AsyncIterator[Connect]:
    """Directories sharing one org limiter that starts like the production one."""
    config = AtlassianConfig(
        org_id=sandbox.org_id,
        api_key=KEY,
        base_url=sandbox.base_url,
        directory_id=sandbox.directory_id,
        page_size=25,
        requests_per_second=None,
    )
    limiter = OrgRateLimiter(config.org_id, start_rate=START_RATE, clock=clock, sleep=vtime)
    clients: list[httpx.AsyncClient] = []

    def build() -> AtlassianDirectory:
        transport = vtime.wrap(httpx.AsyncHTTPTransport())
        client = httpx.AsyncClient(base_url=config.base_url, transport=transport, timeout=10.0)
        clients.append(client)
        return AtlassianDirectory(client, config, sleep=vtime, clock=clock, rng=random.Random(7), limiter=limiter)

    yield build
    for client in clients:
        await client.aclose()


def statuses(log: list[RequestRecord]) -> list[int | None]:
    return [r.status for r in log]


def achieved_rate(log: list[RequestRecord]) -> float:
    """Admitted requests per second between the first and the last, on the sandbox's clock."""
    admitted = [r.at for r in log if r.status != 429 and r.at is not None]
    span = (admitted[-1] - admitted[0]).total_seconds()
    return (len(admitted) - 1) / span


async def hammer(connect: Connect, sandbox: SandboxServer, workers: int, each: int) -> None:
    """``workers`` callers, each with its own client, reading ``each`` accounts as fast as allowed."""
    ids = [AccountId(a) for a in sandbox.org.user_ids]

    async def worker(n: int) -> None:
        directory = connect()
        for i in range(each):
            await directory.get_account(ids[(n * each + i) % len(ids)])

    await asyncio.gather(*(worker(n) for n in range(workers)))


@pytest.mark.parametrize(
    ("per_second", "per_minute", "allowed"),
    [(5, None, 5.0), (None, 120, 2.0), (20, 600, 10.0)],
    ids=["5-a-second", "120-a-minute", "20-a-second-and-600-a-minute"],
)
async def test_concurrent_callers_use_the_allowed_rate_without_429s(
    sandbox: SandboxServer, connect: Connect, per_second: int | None, per_minute: int | None, allowed: float
) -> None:
    sandbox.config.requests_per_second = per_second
    sandbox.config.requests_per_minute = per_minute
    await hammer(connect, sandbox, workers=8, each=40)
    log = sandbox.request_log
    assert statuses(log).count(429) == 0
    assert len(log) >= 320  # a read of an account without dates adds its v1 last-active call
    assert set(statuses(log)) == {200}
    assert achieved_rate(log) >= 0.9 * allowed


async def test_a_scan_uses_the_allowed_rate_without_429s(sandbox: SandboxServer, connect: Connect) -> None:
    """Search pages one after another, the v1 fallbacks of each page eight at a time."""
    sandbox.config.requests_per_second = 4
    accounts = [a async for page in connect().iter_accounts() for a in page]
    assert len(accounts) == len(sandbox.org.users)
    log = sandbox.request_log
    assert len(log) > 40
    assert statuses(log).count(429) == 0
    assert achieved_rate(log) >= 0.9 * 4


async def test_after_a_429_the_rate_is_halved_and_recovers(
    sandbox: SandboxServer, connect: Connect, vtime: VirtualTime
) -> None:
    """An unexpected 429 (no Retry-After): wait for the reset, go at half speed, probe back up."""
    sandbox.config.requests_per_second = 10
    sandbox.config.faults.add(Fault("429", path="/users/", nth={100}))
    await hammer(connect, sandbox, workers=4, each=100)
    log = sandbox.request_log
    assert statuses(log).count(429) == 1
    refused = next(i for i, r in enumerate(log) if r.status == 429)
    after = log[refused + 1 :]
    assert [r.status for r in after] == [200] * len(after)
    assert achieved_rate(after[:10]) < 0.75 * 10  # halved, then growing by 5 % a success
    assert achieved_rate(after[-150:]) >= 0.9 * 10  # back to what the server allows
