"""Write endpoints: state round-trips and refusals, checked through the API and the org."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.sandbox import Group, SandboxOrg, SandboxServer, User

from .conftest import NOW, pick, regular


async def _user(client: httpx.AsyncClient, v2: str, account_id: str) -> dict[str, Any]:
    response = await client.get(f"{v2}/users/{account_id}")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()["data"]
    return data


def _code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code


def _jira_user(user: User) -> bool:
    return regular(user) and not user.undated


async def test_suspend_and_restore_round_trip(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, _jira_user)
    groups_before = target.group_ids
    response = await client.post(f"{v2}/users/{target.account_id}/suspend")
    assert response.status_code == 204
    data = await _user(client, v2, target.account_id)
    assert (data["membershipStatus"], data["status"]) == ("suspended", "suspended")
    assert {g["id"] for g in data["groups"]} == set(groups_before)
    assert (await client.post(f"{v2}/users/{target.account_id}/suspend")).status_code == 204  # idempotent
    assert (await client.post(f"{v2}/users/{target.account_id}/restore")).status_code == 204
    data = await _user(client, v2, target.account_id)
    assert (data["membershipStatus"], data["status"]) == ("active", "active")
    assert target.group_ids == groups_before
    assert (await client.post(f"{v2}/users/{target.account_id}/restore")).status_code == 204


async def test_directory_delete_removes_membership_and_groups(
    client: httpx.AsyncClient, v2: str, org: SandboxOrg
) -> None:
    target = pick(org, _jira_user)
    response = await client.delete(f"{v2}/users/{target.account_id}")
    assert response.status_code == 204
    data = await _user(client, v2, target.account_id)
    assert data["membershipStatus"] == "no_membership"
    assert data["status"] == "not_invited"
    assert data["groups"] == []
    assert data["productAccess"] == []
    again = await client.post(f"{v2}/users/{target.account_id}/suspend")
    assert again.status_code == 404
    assert _code(again) == "ADMIN-404-8"


async def test_org_admin_cannot_be_suspended_or_removed(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    admin = pick(org, lambda u: u.is_org_admin)
    for response in (
        await client.post(f"{v2}/users/{admin.account_id}/suspend"),
        await client.delete(f"{v2}/users/{admin.account_id}"),
    ):
        assert response.status_code == 403
        assert _code(response) == "ADMIN-403-3"
    assert admin.status == "active"


async def test_unknown_user_write_is_404(client: httpx.AsyncClient, v2: str) -> None:
    response = await client.post(f"{v2}/users/nobody/suspend")
    assert response.status_code == 404
    assert _code(response) == "ADMIN-404-8"


async def test_suspend_rejects_a_body(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, _jira_user)
    response = await client.post(f"{v2}/users/{target.account_id}/suspend", json={"reason": "x"})
    assert response.status_code == 400
    assert _code(response) == "ADMIN-400-24"
    assert target.status == "active"


async def test_group_removal_drops_product_access_and_add_regrants(
    client: httpx.AsyncClient, v2: str, org: SandboxOrg
) -> None:
    group = org.group_by_name("confluence-users")
    target = pick(org, lambda u: _jira_user(u) and group.id in u.group_ids)
    url = f"{v2}/groups/{group.id}/memberships"
    response = await client.delete(f"{url}/{target.account_id}")
    assert response.status_code == 200
    assert "message" in response.json()
    data = await _user(client, v2, target.account_id)
    assert "confluence" not in {p["key"] for p in data["productAccess"]}
    assert group.id not in {g["id"] for g in data["groups"]}
    response = await client.post(url, json={"accountId": target.account_id})
    assert response.status_code == 200
    data = await _user(client, v2, target.account_id)
    assert "confluence" in {p["key"] for p in data["productAccess"]}


async def test_access_kept_while_another_group_grants_it(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    extra = Group("extra-group-id", "jira-software-users-2", None, grants="jira-software")
    org.groups[extra.id] = extra
    js = org.group_by_name("jira-software-users")
    target = pick(org, lambda u: _jira_user(u) and js.id in u.group_ids)
    org.add_to_group(target, extra)
    response = await client.delete(f"{v2}/groups/{js.id}/memberships/{target.account_id}")
    assert response.status_code == 200
    data = await _user(client, v2, target.account_id)
    assert "jira-software" in {p["key"] for p in data["productAccess"]}


@pytest.mark.parametrize(
    "body",
    [None, {}, {"accountId": 5}, {"accountId": ""}, {"account_id": "x"}, {"accountId": "x", "extra": 1}],
)
async def test_membership_add_body_validation(
    client: httpx.AsyncClient, v2: str, org: SandboxOrg, body: object
) -> None:
    group = org.group_by_name("confluence-users")
    url = f"{v2}/groups/{group.id}/memberships"
    response = await client.post(url) if body is None else await client.post(url, json=body)
    assert response.status_code == 400
    assert _code(response) == "ADMIN-400-24"


async def test_membership_refusals(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    confluence = org.group_by_name("confluence-users")
    synced_user = pick(org, lambda u: u.synced and u.status == "active")
    response = await client.delete(f"{v2}/groups/{confluence.id}/memberships/{synced_user.account_id}")
    assert (response.status_code, _code(response)) == (403, "ADMIN-403-5")
    engineering = org.group_by_name("engineering")
    plain = pick(org, _jira_user)
    response = await client.post(f"{v2}/groups/{engineering.id}/memberships", json={"accountId": plain.account_id})
    assert (response.status_code, _code(response)) == (403, "ADMIN-403-5")
    response = await client.delete(f"{v2}/groups/not-a-group/memberships/{plain.account_id}")
    assert (response.status_code, _code(response)) == (404, "ADMIN-404-10")
    response = await client.delete(f"{v2}/groups/{confluence.id}/memberships/nobody")
    assert (response.status_code, _code(response)) == (404, "ADMIN-404-8")
    admins = org.group_by_name("site-admins")
    response = await client.post(f"{v2}/groups/{admins.id}/memberships", json={"accountId": plain.account_id})
    assert (response.status_code, _code(response)) == (403, "ADMIN-403-7")
    assert admins.id not in plain.group_ids


# -- user management --------------------------------------------------------
def _managed(user: User) -> bool:
    return _jira_user(user)


async def test_manage_privileges(client: httpx.AsyncClient, org: SandboxOrg) -> None:
    plain = pick(org, _managed)
    synced = pick(org, lambda u: u.synced)
    external = pick(org, lambda u: u.account_type == "atlassian" and not u.managed)
    query = "privileges=lifecycle.enablement&privileges=lifecycle.delete"
    ok = (await client.get(f"/users/{plain.account_id}/manage?{query}")).json()
    assert ok == {"lifecycle.enablement": {"allowed": True}, "lifecycle.delete": {"allowed": True}}
    scim = (await client.get(f"/users/{synced.account_id}/manage?{query}")).json()
    assert scim["lifecycle.delete"] == {"allowed": False, "reason": {"key": "externalDirectory.scim"}}
    ext = (await client.get(f"/users/{external.account_id}/manage?{query}")).json()
    assert ext["lifecycle.enablement"] == {"allowed": False, "reason": {"key": "managedAccount"}}
    everything = (await client.get(f"/users/{plain.account_id}/manage")).json()
    assert "apiToken.read" in everything
    bad = await client.get(f"/users/{plain.account_id}/manage?privileges=lifecycle.nuke")
    assert bad.status_code == 400
    assert bad.json()["key"] == "fieldConstraintsViolated"


async def test_lifecycle_disable_enable_round_trip(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, _managed)
    base = f"/users/{target.account_id}/manage/lifecycle"
    response = await client.post(f"{base}/disable", json={"message": "Inactive for 120 days"})
    assert response.status_code == 204
    data = await _user(client, v2, target.account_id)
    assert (data["accountStatus"], data["status"]) == ("inactive", "deactivated")
    assert data["deactivatedOn"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (await client.post(f"{base}/enable")).status_code == 204
    data = await _user(client, v2, target.account_id)
    assert (data["accountStatus"], data["status"], data["deactivatedOn"]) == ("active", "active", None)


async def test_lifecycle_delete_and_cancel(client: httpx.AsyncClient, v2: str, org: SandboxOrg) -> None:
    target = pick(org, _managed)
    base = f"/users/{target.account_id}/manage/lifecycle"
    response = await client.post(f"{base}/delete")
    assert response.status_code == 200
    assert "message" in response.json()
    data = await _user(client, v2, target.account_id)
    assert (data["forDeletion"], data["accountStatus"], data["status"]) == (True, "inactive", "for_deletion")
    again = await client.post(f"{base}/delete")
    assert again.status_code == 409
    conflict = again.json()
    assert conflict["key"] == "conflict.lifecycleErrors"
    assert conflict["context"]["accountId"] == target.account_id
    assert conflict["context"]["errorCodes"][0]["code"]
    assert (await client.post(f"{base}/enable")).status_code == 409
    response = await client.post(f"{base}/cancel-delete")
    assert response.status_code == 200
    data = await _user(client, v2, target.account_id)
    assert (data["forDeletion"], data["accountStatus"], data["status"]) == (False, "active", "active")
    assert (await client.post(f"{base}/cancel-delete")).status_code == 409


async def test_lifecycle_refusals(client: httpx.AsyncClient, org: SandboxOrg, sandbox: SandboxServer) -> None:
    external = pick(org, lambda u: u.account_type == "atlassian" and not u.managed)
    synced = pick(org, lambda u: u.synced)
    admin = pick(org, lambda u: u.is_org_admin)
    cases = [
        (external, "disable", "managedAccount"),
        (external, "delete", "managedAccount"),
        (synced, "disable", "externalDirectory.scim"),
        (synced, "delete", "externalDirectory.scim"),
        (admin, "delete", "administrative"),
    ]
    for user, action, reason in cases:
        response = await client.post(f"/users/{user.account_id}/manage/lifecycle/{action}")
        assert response.status_code == 403, (action, reason)
        assert response.json() == {"key": "forbidden", "context": {"reason": {"key": reason}}}
        assert user.account_status == "active" or user.status != "for_deletion"
    missing = await client.post("/users/nobody/manage/lifecycle/disable")
    assert (missing.status_code, missing.json()) == (404, {"key": "accountNotFound"})
    assert len(sandbox.mutating_requests()) == len(cases) + 1


async def test_lifecycle_body_validation(client: httpx.AsyncClient, org: SandboxOrg) -> None:
    target = pick(org, _managed)
    base = f"/users/{target.account_id}/manage/lifecycle"
    response = await client.post(f"{base}/disable", json={"message": 42})
    assert (response.status_code, response.json()["key"]) == (400, "fieldConstraintsViolated")
    response = await client.post(f"{base}/disable", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"key": "bodyParseFailure"})
    assert target.account_status == "active"
