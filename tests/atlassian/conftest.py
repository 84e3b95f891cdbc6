"""Fixtures for the Atlassian adapter tests; the doubles themselves live in ``fakes``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from adapters.atlassian import AtlassianDirectory, OrgRateLimiter

from .fakes import FakeClock, FakeSleep, MockAtlassian, make_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def atlassian() -> MockAtlassian:
    return MockAtlassian()


MakeDirectory = Callable[..., AtlassianDirectory]


@pytest.fixture
async def make_directory(clock: FakeClock, sleep: FakeSleep) -> AsyncIterator[MakeDirectory]:
    clients: list[httpx.AsyncClient] = []

    def build(
        mock: MockAtlassian,
        *,
        limiter: OrgRateLimiter | None = None,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **config: Any,
    ) -> AtlassianDirectory:
        cfg = make_config(**config)
        client = httpx.AsyncClient(transport=transport or mock.transport, base_url=cfg.base_url)
        clients.append(client)
        return AtlassianDirectory(
            client,
            cfg,
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(1234),
            limiter=limiter
            or OrgRateLimiter(
                cfg.org_id, requests_per_second=cfg.requests_per_second, burst=cfg.burst, clock=clock, sleep=sleep
            ),
        )

    yield build
    for client in clients:
        await client.aclose()
