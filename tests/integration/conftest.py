"""A whole world on loopback: sandbox org, real Atlassian client, SQL stores, simulated clock."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from adapters.atlassian import AtlassianConfig, AtlassianDirectory, OrgRateLimiter
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from adapters.store import open_stores
from core.clock import FixedClock
from core.engine import Engine
from tests.fakes import NOW, RecordingNotifier
from tests.store.pg import postgres_schema_url


class AdvancingSleep:
    """Retries 'wait' by moving the simulated clock; nothing really sleeps."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)


@dataclass
class World:
    clock: FixedClock
    sandbox: SandboxServer
    directory: AtlassianDirectory
    engine: Engine
    notifier: RecordingNotifier
    scans: object
    store: object
    sleep: AdvancingSleep

    def mutating(self):
        return self.sandbox.mutating_requests()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/world.db"
    else:
        with postgres_schema_url() as url:
            yield url


@pytest.fixture
async def world_factory(database_url):
    """Build worlds of ``users`` accounts; each is closed after the test."""
    worlds: list[World] = []
    clients: list[httpx.AsyncClient] = []

    async def build(users=120, seed=3, max_attempts=6, undated=0.0):
        clock = FixedClock(NOW)
        sandbox = SandboxServer(
            generate_org(users=users, seed=seed, now=NOW, undated_fraction=undated), SandboxConfig(now=clock.now)
        )
        await sandbox.start()
        config = AtlassianConfig(
            org_id=sandbox.org_id,
            api_key="sandbox-key",
            base_url=sandbox.base_url,
            requests_per_second=None,
            max_attempts=max_attempts,
            backoff_base=0.5,
            backoff_cap=5,
        )
        client = httpx.AsyncClient(base_url=sandbox.base_url, timeout=30)
        clients.append(client)
        sleep = AdvancingSleep(clock)
        limiter = OrgRateLimiter(config.org_id, requests_per_second=None, clock=clock.now, sleep=sleep)
        directory = AtlassianDirectory(
            client, config, sleep=sleep, clock=clock.now, rng=random.Random(1), limiter=limiter
        )
        scans, store = open_stores(database_url)
        notifier = RecordingNotifier()
        engine = Engine(directory, scans, store, notifier, clock, worker_id="it-worker")
        world = World(clock, sandbox, directory, engine, notifier, scans, store, sleep)
        worlds.append(world)
        return world

    yield build
    for client in clients:
        await client.aclose()
    for w in worlds:
        await w.sandbox.stop()
        for s in (w.scans, w.store):
            close_fn = getattr(s, "close", None)
            if close_fn is not None:
                close_fn()
