"""Reads over httpx.MockTransport: org resolution, paging, the v1 fallback, single accounts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from adapters.atlassian import USER_AGENT
from core.errors import AccountNotFound, AuthenticationFailed, DirectoryError
from core.model import Account, AccountId

from .conftest import MakeDirectory
from .fakes import (
    API_KEY,
    DIRECTORY_ID,
    ORG_ID,
    MockAtlassian,
    admin_error,
    directories_response,
    json_response,
    user_json,
)

DIRS = f"/admin/v2/orgs/{ORG_ID}/directories"
SEARCH = f"{DIRS}/{DIRECTORY_ID}/users/search"


def v1_dates(account_id: str) -> str:
    return f"/admin/v1/orgs/{ORG_ID}/directory/users/{account_id}/last-active-dates"


def page(users: list[dict[str, object]], next_cursor: str | None, **links: object) -> httpx.Response:
    return json_response(200, {"data": users, "links": {"self": "s", "prev": None, "next": next_cursor, **links}})


def undated(account_id: str) -> dict[str, object]:
    user = user_json(accountId=account_id)
    del user["productAccess"]
    return user


async def collect(directory: object) -> list[list[str]]:
    pages = []
    async for accounts in directory.iter_accounts():  # type: ignore[attr-defined]
        pages.append([a.account_id for a in accounts])
    return pages


# -- describe_org ------------------------------------------------------------------------------


async def test_single_directory_is_used(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", DIRS, directories_response("only"))
    org = await make_directory(atlassian, directory_id=None).describe_org()
    assert (org.org_id, org.directory_id, org.name) == (ORG_ID, "only", "name-only")


async def test_several_directories_read_all_with_dash(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    first = json_response(200, {"data": [{"directoryId": "a", "name": "A"}], "links": {"next": "c2"}})
    atlassian.add("GET", DIRS, first, directories_response("b"))
    org = await make_directory(atlassian, directory_id=None).describe_org()
    assert org.directory_id == "-"
    assert org.extra["directories"] == "a,b"
    assert atlassian.requests[1].url.params["cursor"] == "c2"


async def test_configured_directory_wins(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", DIRS, directories_response("a", "b"))
    org = await make_directory(atlassian, directory_id="b").describe_org()
    assert (org.directory_id, org.name) == ("b", "name-b")


async def test_unknown_org(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", DIRS, admin_error(404, "ADMIN-404-2"))
    with pytest.raises(AccountNotFound) as caught:
        await make_directory(atlassian).describe_org()
    assert caught.value.account_id == ORG_ID
    assert caught.value.code == "ADMIN-404-2"
    assert caught.value.request_id == "req-ADMIN-404-2"


# -- iter_accounts -----------------------------------------------------------------------------


async def test_paging_follows_links_next_and_stops(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add(
        "POST",
        SEARCH,
        page([user_json(accountId="a1"), user_json(accountId="a2")], "cur-2"),
        page([user_json(accountId="a3")], "cur-3"),
        json_response(200, {"data": [user_json(accountId="a4")], "links": {"self": "s"}}),  # next absent
    )
    directory = make_directory(atlassian, page_size=2)
    assert await collect(directory) == [["a1", "a2"], ["a3"], ["a4"]]
    bodies = atlassian.bodies("POST", SEARCH)
    expand = ["productAccess", "groups", "platformRoles"]
    assert bodies == [
        {"limit": 2, "expand": expand},
        {"limit": 2, "expand": expand, "cursor": "cur-2"},
        {"limit": 2, "expand": expand, "cursor": "cur-3"},
    ]
    # No status filters: suspended and deactivated accounts must reach the planner too.
    assert all("accountStatus" not in b and "membershipStatus" not in b and "status" not in b for b in bodies)
    assert directory.stats.mutating_attempts == 0


async def test_every_request_is_authenticated(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([user_json()], None))
    await collect(make_directory(atlassian))
    request = atlassian.requests[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("jira-cleanup/")


async def test_directory_resolved_lazily_for_search(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", DIRS, directories_response("a", "b"))
    atlassian.add("POST", f"{DIRS}/-/users/search", page([user_json()], None))
    assert await collect(make_directory(atlassian, directory_id=None)) == [["acc-1"]]


async def test_repeated_cursor_is_an_error(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([user_json()], "same"))
    with pytest.raises(DirectoryError, match="repeated cursor"):
        await collect(make_directory(atlassian))


async def test_pages_are_streamed(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([user_json(accountId="a1")], "c2"), page([user_json(accountId="a2")], None))
    iterator = make_directory(atlassian).iter_accounts()
    first = await anext(iterator)
    assert [a.account_id for a in first] == ["a1"]
    assert len(atlassian.requests) == 1  # the second page is fetched only when asked for
    await iterator.aclose()


async def test_undated_users_are_filled_from_v1(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([user_json(accountId="a1"), undated("a2"), undated("a3")], None))
    atlassian.add(
        "GET",
        v1_dates("a2"),
        json_response(
            200,
            {
                "data": {
                    "product_access": [
                        {
                            "id": "ari:c",
                            "key": "confluence",
                            "last_active": "2026-09-01",
                            "last_active_timestamp": "2026-09-01T07:00:00Z",
                        }
                    ],
                    "added_to_org": "2025-01-31",
                    "added_to_org_timestamp": "2025-01-31T09:12:00Z",
                },
                "links": {"next": None},
            },
        ),
    )
    atlassian.add("GET", v1_dates("a3"), json_response(200, {"data": {"product_access": []}, "links": {"next": None}}))
    [accounts] = [a async for a in make_directory(atlassian).iter_accounts()]
    by_id: dict[str, Account] = {a.account_id: a for a in accounts}
    assert [a.account_id for a in accounts] == ["a1", "a2", "a3"]  # order kept
    assert by_id["a2"].activity_known
    assert by_id["a2"].products[0].key == "confluence"
    assert by_id["a2"].products[0].last_active == datetime(2026, 9, 1, 7, tzinfo=UTC)
    assert by_id["a3"].activity_known
    assert by_id["a3"].products == ()  # never used anything: known, not unknown
    assert ("GET", v1_dates("a1")) not in atlassian.calls


async def test_failed_fallback_means_activity_unknown(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([undated("gone"), undated("down"), undated("limited")], None))
    atlassian.add("GET", v1_dates("gone"), admin_error(404, "ADMIN-404-8"))
    atlassian.add("GET", v1_dates("down"), json_response(503))
    atlassian.add("GET", v1_dates("limited"), json_response(429, {"code": 429, "message": "Rate limit exceeded"}))
    [accounts] = [a async for a in make_directory(atlassian, max_attempts=2, backoff_cap=1).iter_accounts()]
    assert [a.activity_known for a in accounts] == [False, False, False]
    assert all(a.products == () for a in accounts)


async def test_fallback_auth_failure_propagates(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([undated("a1")], None))
    atlassian.add("GET", v1_dates("a1"), json_response(401, {"code": 401, "message": "Unauthorized"}))
    with pytest.raises(AuthenticationFailed):
        await collect(make_directory(atlassian))


async def test_fallback_concurrency_is_bounded(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        in_flight -= 1
        return json_response(200, {"data": {"product_access": []}, "links": {}})

    users = [undated(f"u{i:02}") for i in range(10)]
    atlassian.add("POST", SEARCH, page(users, None))

    async def handler(request: httpx.Request) -> httpx.Response:
        return atlassian.handler(request) if request.url.path == SEARCH else await slow(request)

    directory = make_directory(atlassian, fallback_concurrency=3, transport=httpx.MockTransport(handler))
    [accounts] = [a async for a in directory.iter_accounts()]
    assert len(accounts) == 10
    assert all(a.activity_known for a in accounts)
    assert peak == 3


async def test_fallback_pages_are_merged(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("POST", SEARCH, page([undated("a1")], None))
    first = {
        "data": {"product_access": [{"key": "jira", "id": "j", "last_active": "2026-01-01"}]},
        "links": {"next": "p2"},
    }
    second = {"data": {"product_access": [{"key": "confluence", "id": "c"}]}, "links": {"next": None}}
    atlassian.add("GET", v1_dates("a1"), json_response(200, first), json_response(200, second))
    [[account]] = [a async for a in make_directory(atlassian).iter_accounts()]
    assert [p.key for p in account.products] == ["jira", "confluence"]
    assert atlassian.requests[-1].url.params["cursor"] == "p2"


# -- get_account and manageability -------------------------------------------------------------


async def test_get_account(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", f"{DIRS}/{DIRECTORY_ID}/users/acc-1", json_response(200, {"data": user_json()}))
    account = await make_directory(atlassian).get_account(AccountId("acc-1"))
    assert account.account_id == "acc-1"
    assert account.activity_known


async def test_get_account_not_found(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", f"{DIRS}/{DIRECTORY_ID}/users/nobody", admin_error(404, "ADMIN-404-8"))
    with pytest.raises(AccountNotFound) as caught:
        await make_directory(atlassian).get_account(AccountId("nobody"))
    assert caught.value.account_id == "nobody"
    assert caught.value.status == 404


async def test_ids_of_the_wrong_kind_are_refused_before_any_request(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    """Safety bar 7: a path, an email, the org id or the directory id where an account id belongs."""
    directory = make_directory(atlassian)
    org_id = directory.config.org_id
    for wrong, why in (
        ("../../v1/orgs/x", "not an Atlassian account id"),
        ("..", "not an Atlassian account id"),
        ("una@acme.example", "is an email address"),
        (org_id, "this org's"),
        (org_id.upper(), "this org's"),
    ):
        with pytest.raises(ValueError, match=f"account_id: .*{why}"):
            await directory.get_account(AccountId(wrong))
        with pytest.raises(ValueError, match="account_id"):
            await directory.suspend(AccountId(wrong))
    assert atlassian.requests == []


async def test_manageability(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    body = {
        "lifecycle.enablement": {"allowed": True},
        "lifecycle.delete": {"allowed": False, "reason": {"key": "externalDirectory.scim"}},
        "profile.write": {"allowed": False},
    }
    atlassian.add("GET", "/users/acc-1/manage", json_response(200, body))
    result = await make_directory(atlassian).manageability(
        AccountId("acc-1"), ["lifecycle.enablement", "lifecycle.delete", "profile.write", "email.set"]
    )
    assert result == {
        "lifecycle.enablement": None,
        "lifecycle.delete": "externalDirectory.scim",
        "profile.write": "notAllowed",
        "email.set": "notReported",
    }
    assert atlassian.requests[0].url.params.get_list("privileges") == [
        "lifecycle.enablement",
        "lifecycle.delete",
        "profile.write",
        "email.set",
    ]


async def test_manageability_unknown_account(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", "/users/nobody/manage", json_response(404, {"key": "accountNotFound"}))
    with pytest.raises(AccountNotFound):
        await make_directory(atlassian).manageability(AccountId("nobody"), ["lifecycle.delete"])


def test_json_helper_roundtrip() -> None:
    assert json.loads(json_response(200, {"a": 1}).content) == {"a": 1}
