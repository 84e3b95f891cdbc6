"""Fixtures for the sandbox tests: a seeded org, an injected clock, a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.sandbox import SandboxConfig, SandboxOrg, SandboxServer, User, generate_org

NOW = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)
API_KEY = "sandbox-key"


class FakeClock:
    """A settable clock; call it to read the time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def pick(org: SandboxOrg, predicate: Callable[[User], bool]) -> User:
    """First user (in account-id order) matching ``predicate``."""
    for account_id in org.user_ids:
        user = org.users[account_id]
        if predicate(user):
            return user
    raise LookupError("no user matches")


def regular(user: User) -> bool:
    """A plain, active, managed, invited (not synced) non-admin person."""
    return (
        user.account_type == "atlassian"
        and user.managed
        and not user.synced
        and not user.platform_roles
        and user.status == "active"
    )


@pytest.fixture
def org() -> SandboxOrg:
    return generate_org(200, seed=7, now=NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def config(clock: FakeClock) -> SandboxConfig:
    return SandboxConfig(now=clock)


@pytest.fixture
async def sandbox(org: SandboxOrg, config: SandboxConfig) -> AsyncIterator[SandboxServer]:
    server = SandboxServer(org, config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=sandbox.base_url, headers=headers) as c:
        yield c


@pytest.fixture
def v2(sandbox: SandboxServer) -> str:
    """``/admin/v2/orgs/{org}/directories/{dir}`` prefix."""
    return f"/admin/v2/orgs/{sandbox.org_id}/directories/{sandbox.directory_id}"
