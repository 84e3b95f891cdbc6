"""Read endpoints over real loopback HTTP: orgs, directories, search, users, v1 dates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.sandbox import SandboxOrg, SandboxServer

from .conftest import pick, regular


async def _search(client: httpx.AsyncClient, v2: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{v2}/users/search", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _all_pages(client: httpx.AsyncClient, v2: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await _search(client, v2, {**body, **({"cursor": cursor} if cursor else {})})
        users.extend(page["data"])
        cursor = page["links"].get("next")
        if not cursor:
            return users
    raise AssertionError("paging did not terminate")


def _error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


async def test_orgs_and_directories(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    orgs = (await client.get("/admin/v1/orgs")).json()
    assert [o["id"] for o in orgs["data"]] == [sandbox.org_id]
    assert orgs["data"][0]["type"] == "orgs"
    one = (await client.get(f"/admin/v1/orgs/{sandbox.org_id}")).json()
    assert one["data"]["attributes"]["name"] == "Acme Example"
    dirs = await client.get(f"/admin/v2/orgs/{sandbox.org_id}/directories")
    assert dirs.status_code == 200
    body = dirs.json()
    assert body["data"] == [{"directoryId": sandbox.directory_id, "name": "Acme Example directory", "icon": None}]
    assert body["links"]["next"] is None
    assert dirs.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/orgs/nope",
        "/admin/v2/orgs/nope/directories",
        "/admin/v1/orgs/nope/directory/users/x/last-active-dates",
    ],
)
async def test_unknown_org_is_404_admin_404_2(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    error = response.json()["errors"][0]
    assert error["code"] == "ADMIN-404-2"
    assert error["status"] == "404"
    assert {"id", "title", "detail"} <= set(error)


async def test_bad_or_missing_key_is_401(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as anon:
        missing = await anon.get("/admin/v1/orgs")
        wrong = await anon.get("/admin/v1/orgs", headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json() == {"code": 401, "message": "Unauthorized"}


async def test_paging_returns_every_user_exactly_once(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    users = await _all_pages(client, v2, {"limit": 7})
    ids = [u["accountId"] for u in users]
    assert len(ids) == len(set(ids)) == 200
    assert set(ids) == set(org.users)


async def test_paging_survives_mutation_between_pages(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    body = {"limit": 10, "membershipStatus": ["active", "suspended"]}
    first = await _search(client, v2, body)
    seen = [u["accountId"] for u in first["data"]]
    for account_id in seen:  # users already returned change state
        org.suspend(org.users[account_id])
    rest = await _all_pages(client, v2, {**body, "cursor": first["links"]["next"]})
    ids = seen + [u["accountId"] for u in rest]
    expected = [a for a in org.user_ids if org.users[a].membership_status in ("active", "suspended")]
    assert ids == expected


async def test_prev_and_self_cursors(client: httpx.AsyncClient, v2: str) -> None:
    first = await _search(client, v2, {"limit": 5})
    assert first["links"]["prev"] is None
    second = await _search(client, v2, {"limit": 5, "cursor": first["links"]["next"]})
    back = await _search(client, v2, {"limit": 5, "cursor": second["links"]["prev"]})
    assert back["data"] == first["data"]
    again = await _search(client, v2, {"limit": 5, "cursor": second["links"]["self"]})
    assert again["data"] == second["data"]


async def test_last_page_has_no_next(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    page = await _search(client, v2, {"limit": 100, "accountIds": org.user_ids[:3]})
    assert [u["accountId"] for u in page["data"]] == org.user_ids[:3]
    assert page["links"].get("next") is None


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"accountStatus": ["inactive"]}, "accountStatus", {"inactive"}),
        ({"membershipStatus": ["suspended"]}, "membershipStatus", {"suspended"}),
        ({"status": ["deactivated", "suspended"]}, "status", {"deactivated", "suspended"}),
        ({"claimStatus": "unmanaged"}, "claimStatus", {"unmanaged"}),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, v2: str, org: SandboxOrg, body: dict[str, Any], field: str, allowed: set[str]
) -> None:
    users = await _all_pages(client, v2, {**body, "limit": 100})
    assert users
    assert {u[field] for u in users} <= allowed
    attr = {"accountStatus": "account_status", "membershipStatus": "membership_status", "claimStatus": "claim_status"}
    expected = {a for a, u in org.users.items() if getattr(u, attr.get(field, field)) in allowed}
    assert {u["accountId"] for u in users} == expected


async def test_account_ids_emails_and_search_term(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, regular)
    wanted = [target.account_id, "unknown-account"]
    page = await _search(client, v2, {"accountIds": wanted})
    assert [u["accountId"] for u in page["data"]] == [target.account_id]
    assert target.email is not None
    by_email = await _search(client, v2, {"emails": [target.email.upper()]})
    assert [u["accountId"] for u in by_email["data"]] == [target.account_id]
    term = await _all_pages(client, v2, {"searchTerm": target.name.split()[1].lower(), "limit": 100})
    assert target.account_id in {u["accountId"] for u in term}


async def test_expand_on_and_off(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, lambda u: regular(u) and not u.undated and bool(u.last_active))
    plain = (await _search(client, v2, {"accountIds": [target.account_id]}))["data"][0]
    assert not {"productAccess", "groups", "platformRoles"} & set(plain)
    assert plain["status"] == "active"
    assert plain["claimStatus"] == "managed"
    assert plain["addedToOrg"].endswith("Z")
    body = {"accountIds": [target.account_id], "expand": ["productAccess", "groups", "platformRoles"]}
    full = (await _search(client, v2, body))["data"][0]
    assert full["platformRoles"] == []
    assert {g["id"] for g in full["groups"]} == set(target.group_ids)
    keys = {p["key"] for p in full["productAccess"]}
    assert keys == {p.key for p in org.product_access(target)}
    for item in full["productAccess"]:
        assert item["id"] == f"ari:cloud:{item['key']}::site/{org.cloud_id}"
        when = target.last_active.get(item["key"])
        if when is None:
            assert "lastActiveTimestamp" not in item
        else:
            assert item["lastActiveTimestamp"] == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_org_admin_role_only_visible_with_expand(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    admin = pick(org, lambda u: u.is_org_admin)
    body = {"accountIds": [admin.account_id], "expand": ["platformRoles"]}
    data = (await _search(client, v2, body))["data"][0]
    assert data["platformRoles"] == ["atlassian/org-admin"]


async def test_undated_user_omits_product_access_but_v1_serves_dates(
    client: httpx.AsyncClient, v2: str, org: SandboxOrg, sandbox: SandboxServer
) -> None:
    target = pick(org, lambda u: regular(u) and bool(u.last_active) and not u.undated)
    target.undated = True
    body = {"accountIds": [target.account_id], "expand": ["productAccess", "groups"]}
    data = (await _search(client, v2, body))["data"][0]
    assert "productAccess" not in data
    assert "groups" in data
    single = (await client.get(f"{v2}/users/{target.account_id}")).json()["data"]
    assert "productAccess" not in single
    v1 = await client.get(f"/admin/v1/orgs/{sandbox.org_id}/directory/users/{target.account_id}/last-active-dates")
    assert v1.status_code == 200
    dates = v1.json()
    used = {k: d for k, d in target.last_active.items() if d is not None}
    assert {p["key"] for p in dates["data"]["product_access"]} == set(used)
    for item in dates["data"]["product_access"]:
        when = used[item["key"]]
        assert item["last_active"] == when.strftime("%Y-%m-%d")
        assert item["last_active_timestamp"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert target.added_to_org is not None
    assert dates["data"]["added_to_org"] == target.added_to_org.strftime("%Y-%m-%d")
    assert dates["links"] == {"next": None}


def test_generated_undated_users_exist(org: SandboxOrg) -> None:
    assert sum(u.undated for u in org.users.values()) == 1  # 0.5% of 200


async def test_single_user_and_unknown_user(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, lambda u: regular(u) and not u.undated)
    data = (await client.get(f"{v2}/users/{target.account_id}")).json()["data"]
    assert data["accountId"] == target.account_id
    assert {"productAccess", "groups", "platformRoles"} <= set(data)
    missing = await client.get(f"{v2}/users/nobody")
    assert missing.status_code == 404
    assert _error_code(missing) == "ADMIN-404-8"
    via_dash = await client.get(f"{v2.rsplit('/', 1)[0]}/-/users/{target.account_id}")
    assert via_dash.status_code == 200


async def test_v1_unknown_user_is_404(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    response = await client.get(f"/admin/v1/orgs/{sandbox.org_id}/directory/users/nobody/last-active-dates")
    assert response.status_code == 404
    assert _error_code(response) == "ADMIN-404-8"


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "10"},
        {"limit": True},
        {"expand": ["PRODUCT_ACCESS"]},
        {"expand": "productAccess"},
        {"accountStatus": ["gone"]},
        {"claimStatus": ["managed"]},
        {"searchTerm": "ada", "emails": ["ada@acme.example"]},
        {"accountStatuses": ["active"]},
        {"cursor": 5},
        [],
    ],
)
async def test_invalid_search_bodies_are_admin_400_24(client: httpx.AsyncClient, v2: str, body: object) -> None:
    response = await client.post(f"{v2}/users/search", json=body)
    assert response.status_code == 400
    assert _error_code(response) == "ADMIN-400-24"


async def test_bad_cursor_is_admin_400_1(client: httpx.AsyncClient, v2: str) -> None:
    for cursor in ("garbage!!", "eyJ2IjogMn0"):
        response = await client.post(f"{v2}/users/search", json={"cursor": cursor})
        assert response.status_code == 400
        assert _error_code(response) == "ADMIN-400-1"


async def test_cursor_reused_with_other_filters_is_rejected(client: httpx.AsyncClient, v2: str) -> None:
    first = await _search(client, v2, {"limit": 5, "accountStatus": ["active"]})
    response = await client.post(f"{v2}/users/search", json={"limit": 5, "cursor": first["links"]["next"]})
    assert response.status_code == 400
    assert _error_code(response) == "ADMIN-400-1"


async def test_unknown_directory_and_route(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    response = await client.post(f"/admin/v2/orgs/{sandbox.org_id}/directories/other/users/search", json={})
    assert response.status_code == 404
    assert _error_code(response) == "ADMIN-404-1"
    assert (await client.get("/admin/v9/nothing")).status_code == 404


async def test_users_count_matches_what_search_returns(
    client: httpx.AsyncClient, sandbox: SandboxServer, v2: str
) -> None:
    response = await client.get(f"{v2}/users/count")
    assert response.status_code == 200
    assert response.json() == {"count": len(sandbox.org.users)}
