"""Contract tests: the real client against the sandbox over loopback HTTP.

The sandbox and the client share one fake clock; the client's sleep advances it, so rate-limit
windows, Retry-After and X-RateLimit-Reset play out in virtual time and nothing really sleeps.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.atlassian import AtlassianConfig, AtlassianDirectory, OrgRateLimiter
from adapters.sandbox import Fault, SandboxConfig, SandboxServer, User, generate_org
from core.errors import AccountNotFound, AuthenticationFailed, NotManageable
from core.model import Account, AccountId, GroupId, MembershipStatus, ProductKey

from .fakes import FakeClock, FakeSleep

NOW = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)
KEY = "contract-key"
USERS = 500
PAGE = 37


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    org = generate_org(USERS, seed=11, now=NOW, undated_fraction=0.05)
    server = SandboxServer(org, SandboxConfig(api_key=KEY, now=clock))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


Connect = Callable[..., AtlassianDirectory]


@pytest.fixture
async def connect(sandbox: SandboxServer, clock: FakeClock, sleep: FakeSleep) -> AsyncIterator[Connect]:
    clients: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> AtlassianDirectory:
        settings: dict[str, Any] = {
            "org_id": sandbox.org_id,
            "api_key": KEY,
            "base_url": sandbox.base_url,
            "page_size": PAGE,
            "requests_per_second": None,
        }
        settings.update(overrides)
        config = AtlassianConfig(**settings)
        client = httpx.AsyncClient(base_url=config.base_url, timeout=10.0)
        clients.append(client)
        limiter = OrgRateLimiter(config.org_id, requests_per_second=None, clock=clock, sleep=sleep)
        return AtlassianDirectory(client, config, sleep=sleep, clock=clock, rng=random.Random(5), limiter=limiter)

    yield build
    for client in clients:
        await client.aclose()


async def scan(directory: AtlassianDirectory) -> list[list[Account]]:
    return [list(page) async for page in directory.iter_accounts()]


def pick(server: SandboxServer, predicate: Callable[[User], bool]) -> User:
    for account_id in server.org.user_ids:
        user = server.org.users[account_id]
        if predicate(user):
            return user
    raise LookupError("no such user in the sandbox")


def regular(user: User) -> bool:
    return (
        user.account_type == "atlassian"
        and user.managed
        and not user.synced
        and not user.platform_roles
        and user.status == "active"
        and bool(user.group_ids)
    )


# -- reads -------------------------------------------------------------------------------------


async def test_full_scan_pages_every_user_once(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    org = await directory.describe_org()
    assert (org.org_id, org.directory_id) == (sandbox.org_id, sandbox.directory_id)

    pages = await scan(directory)
    ids = [a.account_id for page in pages for a in page]
    assert len(ids) == USERS
    assert len(set(ids)) == USERS
    assert set(ids) == set(sandbox.org.users)
    assert all(len(page) <= PAGE for page in pages)
    assert len(pages) == -(-USERS // PAGE)
    assert sandbox.mutating_requests() == []
    searches = [r for r in sandbox.request_log if r.path.endswith("/users/search")]
    assert len(searches) == len(pages)
    assert searches[0].body == {"limit": PAGE, "expand": ["productAccess", "groups", "platformRoles"]}
    assert all(r.body.get("cursor") for r in searches[1:])


async def test_scan_maps_sandbox_state(sandbox: SandboxServer, connect: Connect) -> None:
    accounts = {a.account_id: a for page in await scan(connect()) for a in page}
    for account_id, user in sandbox.org.users.items():
        account = accounts[AccountId(account_id)]
        assert account.account_type.value == user.account_type
        assert account.account_status.value == user.account_status
        assert account.membership_status.value == user.membership_status
        assert account.claim.value == user.claim_status
        assert account.email == user.email
        assert account.platform_roles == frozenset(user.platform_roles)
        assert [g.id for g in account.groups] == list(user.group_ids)
        assert account.added_to_org == user.added_to_org
        assert account.activity_known
        granted = {p.key for p in sandbox.org.product_access(user)}
        if user.undated:
            # v1 lists only products ever used: never-used products are absent, not undated
            assert {p.key for p in account.products} <= granted
        else:
            assert {p.key for p in account.products} == granted
        for product in account.products:
            assert product.last_active == user.last_active.get(product.key)


async def test_undated_users_are_filled_from_v1(sandbox: SandboxServer, connect: Connect) -> None:
    undated = {u.account_id for u in sandbox.org.users.values() if u.undated}
    assert undated, "the generated org should contain undated users"
    accounts = {a.account_id: a for page in await scan(connect()) for a in page}
    v1 = [r for r in sandbox.request_log if r.path.startswith("/admin/v1/")]
    assert {r.path.split("/")[-2] for r in v1} == undated
    assert all(r.method == "GET" and r.path.endswith("/last-active-dates") for r in v1)
    for account_id in undated:
        account = accounts[AccountId(account_id)]
        assert account.activity_known
        assert account.last_active_anywhere() is not None  # undated users all have some date


async def test_failed_fallback_leaves_activity_unknown(sandbox: SandboxServer, connect: Connect) -> None:
    sandbox.config.faults.add(Fault("500", path="/last-active-dates"))
    accounts = [a for page in await scan(connect(max_attempts=2)) for a in page]
    unknown = {a.account_id for a in accounts if not a.activity_known}
    assert unknown == {u.account_id for u in sandbox.org.users.values() if u.undated}
    assert all(a.products == () for a in accounts if not a.activity_known)


async def test_503s_are_retried(sandbox: SandboxServer, connect: Connect, sleep: FakeSleep) -> None:
    sandbox.config.faults.add(Fault("503", path="/users/search", nth={1, 2, 4}))
    sandbox.config.faults.add(Fault("502", path="/directories", method="GET", nth={1}))
    pages = await scan(connect())
    assert sum(len(p) for p in pages) == USERS
    assert len(sleep.delays) == 4
    assert [r.fault for r in sandbox.request_log if r.fault] == ["502", "503", "503", "503"]


async def test_connection_resets_are_retried(sandbox: SandboxServer, connect: Connect) -> None:
    sandbox.config.faults.add(Fault("reset", path="/users/search", nth={3}))
    pages = await scan(connect())
    assert sum(len(p) for p in pages) == USERS


async def test_429_retry_after_is_honoured(
    sandbox: SandboxServer, connect: Connect, sleep: FakeSleep, clock: FakeClock
) -> None:
    sandbox.config.faults.add(Fault("429", path="/users/search", nth={2}, retry_after=7))
    pages = await scan(connect())
    assert sum(len(p) for p in pages) == USERS
    assert sleep.delays[0] == 7.0  # the server's Retry-After, for every caller
    # Then the rate is halved and probed back up (AIMD): short paced waits, no other 429.
    assert all(0 < d <= 0.5 for d in sleep.delays[1:])
    assert [r.status for r in sandbox.request_log].count(429) == 1
    assert clock.now >= NOW + timedelta(seconds=7)


async def test_rpm_limit_waits_for_the_reset(
    sandbox: SandboxServer, connect: Connect, sleep: FakeSleep, clock: FakeClock
) -> None:
    sandbox.config.requests_per_minute = 5
    pages = await scan(connect(directory_id=sandbox.directory_id))
    assert sum(len(p) for p in pages) == USERS
    # 14 searches + the v1 fallbacks at 5 per minute: the client reads X-RateLimit-Remaining and
    # -Reset on every response, spreads the last requests of each window and waits for the reset
    # when none remain, so the server never has to refuse one.
    assert sleep.delays
    for delay in sleep.delays:
        assert 0 < delay <= 60
    assert [r for r in sandbox.request_log if r.status == 429] == []
    minutes = (clock.now - NOW).total_seconds() / 60
    assert len(sandbox.request_log) <= 5 * (minutes + 1)  # never more than the window allows


async def test_rpm_limit_with_retry_after(sandbox: SandboxServer, connect: Connect, sleep: FakeSleep) -> None:
    sandbox.config.requests_per_minute = 10
    sandbox.config.send_retry_after = True
    pages = await scan(connect(directory_id=sandbox.directory_id))
    assert sum(len(p) for p in pages) == USERS
    assert sleep.delays
    assert [r for r in sandbox.request_log if r.status == 429] == []  # paced by the headers instead


async def test_get_account_and_unknown_ids(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    user = pick(sandbox, regular)
    account = await directory.get_account(AccountId(user.account_id))
    assert account.account_id == user.account_id
    assert [g.id for g in account.groups] == list(user.group_ids)
    with pytest.raises(AccountNotFound):
        await directory.get_account(AccountId("nobody"))
    with pytest.raises(AccountNotFound) as caught:
        await connect(org_id="no-such-org").describe_org()
    assert caught.value.code == "ADMIN-404-2"
    assert caught.value.request_id


async def test_wrong_key_is_authentication_failed(connect: Connect) -> None:
    with pytest.raises(AuthenticationFailed):
        await scan(connect(api_key="wrong"))


async def test_manageability(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    privileges = ["lifecycle.enablement", "lifecycle.delete"]
    synced = pick(sandbox, lambda u: u.synced and u.account_type == "atlassian")
    assert await directory.manageability(AccountId(synced.account_id), privileges) == {
        "lifecycle.enablement": "externalDirectory.scim",
        "lifecycle.delete": "externalDirectory.scim",
    }
    ok = pick(sandbox, regular)
    assert await directory.manageability(AccountId(ok.account_id), privileges) == dict.fromkeys(privileges)
    assert sandbox.mutating_requests() == []


# -- writes ------------------------------------------------------------------------------------


async def test_suspend_restore_round_trip(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    user = pick(sandbox, regular)
    account_id = AccountId(user.account_id)
    await directory.suspend(account_id)
    assert user.membership_status == "suspended"
    assert (await directory.get_account(account_id)).membership_status is MembershipStatus.SUSPENDED
    await directory.suspend(account_id)  # idempotent
    await directory.restore(account_id)
    assert user.membership_status == "active"
    assert user.group_ids  # kept across the suspension
    assert [r.method for r in sandbox.mutating_requests()] == ["POST", "POST", "POST"]


async def test_group_remove_add_round_trip(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    jira = sandbox.org.group_by_name("jira-software-users")
    user = pick(sandbox, lambda u: regular(u) and jira.id in u.group_ids)
    account_id = AccountId(user.account_id)
    await directory.remove_from_group(GroupId(jira.id), account_id)
    assert jira.id not in user.group_ids
    assert (await directory.get_account(account_id)).product(ProductKey("jira-software")) is None
    await directory.add_to_group(GroupId(jira.id), account_id)
    assert jira.id in user.group_ids
    assert (await directory.get_account(account_id)).product(ProductKey("jira-software")) is not None


async def test_lifecycle_disable_enable_round_trip(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    user = pick(sandbox, regular)
    account_id = AccountId(user.account_id)
    await directory.deactivate(account_id, "inactive for 120 days")
    assert user.account_status == "inactive"
    await directory.deactivate(account_id)  # idempotent
    await directory.activate(account_id)
    assert user.account_status == "active"
    bodies = [r.body for r in sandbox.mutating_requests()]
    assert bodies == [{"message": "inactive for 120 days"}, {}, None]


async def test_delete_cancel_round_trip(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    user = pick(sandbox, regular)
    account_id = AccountId(user.account_id)
    await directory.delete_managed(account_id)
    assert user.for_deletion
    assert user.status == "for_deletion"
    # A repeated delete is refused with 409 (not idempotent): callers re-read state first.
    with pytest.raises(NotManageable) as caught:
        await directory.delete_managed(account_id)
    assert caught.value.status == 409
    assert caught.value.reason == "ACCOUNT_ALREADY_SCHEDULED_FOR_DELETION"
    await directory.cancel_delete(account_id)
    assert not user.for_deletion
    assert user.account_status == "active"


async def test_remove_from_directory(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    user = pick(sandbox, regular)
    account_id = AccountId(user.account_id)
    await directory.remove_from_directory(account_id)
    assert user.membership_status == "no_membership"
    assert user.group_ids == ()
    account = await directory.get_account(account_id)
    assert account.membership_status is MembershipStatus.NO_MEMBERSHIP
    assert account.products == ()


async def test_refusals_map_to_not_manageable(sandbox: SandboxServer, connect: Connect) -> None:
    directory = connect()
    unmanaged = pick(sandbox, lambda u: u.account_type == "atlassian" and not u.managed)
    synced = pick(sandbox, lambda u: u.synced and u.account_type == "atlassian" and u.status == "active")
    admin = pick(sandbox, lambda u: u.is_org_admin)
    unmanaged_id, synced_id, admin_id = (AccountId(u.account_id) for u in (unmanaged, synced, admin))
    cases: list[tuple[Callable[[], Awaitable[None]], str]] = [
        (lambda: directory.deactivate(unmanaged_id), "managedAccount"),
        (lambda: directory.delete_managed(unmanaged_id), "managedAccount"),
        (lambda: directory.deactivate(synced_id), "externalDirectory.scim"),
        (lambda: directory.delete_managed(synced_id), "externalDirectory.scim"),
        (lambda: directory.suspend(admin_id), "ADMIN-403-3"),
        (lambda: directory.remove_from_directory(admin_id), "ADMIN-403-3"),
        (lambda: directory.remove_from_group(GroupId(synced.group_ids[0]), synced_id), "ADMIN-403-5"),
    ]
    for call, reason in cases:
        with pytest.raises(NotManageable) as caught:
            await call()
        assert caught.value.reason == reason
        assert caught.value.status == 403
    assert unmanaged.account_status == "active"
    assert synced.account_status == "active"
    assert admin.membership_status == "active"
    with pytest.raises(AccountNotFound):
        await directory.deactivate(AccountId("nobody"))
    with pytest.raises(AccountNotFound):
        await directory.suspend(AccountId("nobody"))


async def test_writes_retry_gateway_faults(sandbox: SandboxServer, connect: Connect) -> None:
    sandbox.config.faults.add(Fault("503", path="/suspend", nth={1}), Fault("reset", path="/restore", nth={1}))
    directory = connect()
    user = pick(sandbox, regular)
    await directory.suspend(AccountId(user.account_id))
    await directory.restore(AccountId(user.account_id))
    assert user.membership_status == "active"
    assert directory.stats.mutating_attempts == 4
    assert not any(r.path.startswith("/admin/v1/") for r in sandbox.mutating_requests())


async def test_count_matches_the_scan_and_failures_give_none(sandbox: SandboxServer, connect: Connect) -> None:
    """count_accounts feeds the progress bar: right when available, None (never an error) when not."""
    directory = connect()
    scanned = sum(len(page) for page in await scan(directory))
    assert await directory.count_accounts() == scanned
    sandbox.config.faults.add(Fault(kind="500", path="/users/count"))
    assert await connect(max_attempts=1).count_accounts() is None


async def test_the_servers_rate_is_used_to_at_least_nine_tenths_without_a_429(
    sandbox: SandboxServer, connect: Connect, clock: FakeClock
) -> None:
    """30 requests a minute allowed: 200 requests take about 200/30 minutes and are never refused."""
    sandbox.config.requests_per_minute = 30
    directory = connect()
    started = clock.now
    for _ in range(200):
        await directory.describe_org()
    minutes = (clock.now - started).total_seconds() / 60
    assert [r for r in sandbox.request_log if r.status == 429] == []
    assert len(sandbox.request_log) == 200
    assert 200 / minutes >= 0.9 * 30


async def test_api_tokens_map_to_the_latest_use(sandbox: SandboxServer, connect: Connect) -> None:
    """The sandbox serves the real path and shape; the client keeps the most recent token use."""
    directory = connect()
    api_only = pick(sandbox, lambda u: regular(u) and any(t.last_access for t in u.api_tokens))
    use = await directory.api_use(AccountId(api_only.account_id))
    token = max((t for t in api_only.api_tokens if t.last_access), key=lambda t: t.last_access or NOW)
    assert use.known
    assert use.label == token.label
    assert use.last_access == token.last_access
    none = pick(sandbox, lambda u: regular(u) and not u.api_tokens)
    assert (await directory.api_use(AccountId(none.account_id))).last_access is None
    assert (await directory.api_use(AccountId(none.account_id))).known


async def test_unreadable_api_tokens_are_unknown_never_unused(sandbox: SandboxServer, connect: Connect) -> None:
    """404, 403 and errors left after the retries fail closed with the reason."""
    directory = connect()
    missing = await directory.api_use(AccountId("no-such-account"))
    assert not missing.known
    assert "404" in missing.reason
    unmanaged = pick(sandbox, lambda u: u.account_type == "atlassian" and not u.managed)
    refused = await directory.api_use(AccountId(unmanaged.account_id))
    assert not refused.known
    assert "403" in refused.reason
    sandbox.config.faults.add(Fault("500", path="/api-tokens"))
    broken = await directory.api_use(AccountId(pick(sandbox, regular).account_id))
    assert not broken.known
    assert broken.last_access is None


def test_generated_orgs_have_api_only_and_stale_token_accounts() -> None:
    org = generate_org(USERS, seed=11, now=NOW)
    recent = [
        u
        for u in org.users.values()
        if any(t.last_access and NOW - t.last_access < timedelta(days=7) for t in u.api_tokens)
    ]
    stale = [u for u in org.users.values() if u.api_tokens and u not in recent]
    assert recent
    assert stale
    assert all(all(t is None or NOW - t > timedelta(days=120) for t in u.last_active.values()) for u in recent)
