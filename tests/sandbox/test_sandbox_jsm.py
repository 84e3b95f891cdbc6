"""The sandbox's JSM customer-request API: Basic auth, Atlassian's error shapes, status-bound transitions."""

from __future__ import annotations

import httpx
import pytest

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org

AUTH = ("agent@acme.example", "jsm-api-token")


@pytest.fixture
async def site():
    server = SandboxServer(generate_org(users=2, seed=1), SandboxConfig(control_api=True))
    await server.start()
    async with httpx.AsyncClient(base_url=server.base_url, auth=AUTH) as http:
        yield server, http
    await server.stop()


async def test_requests_need_the_site_users_basic_auth(site):
    server, http = site
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        assert (await anonymous.get("/rest/servicedeskapi/request/HELP-1")).status_code == 401
        bearer = await anonymous.get(
            "/rest/servicedeskapi/request/HELP-1", headers={"Authorization": "Bearer sandbox-key"}
        )
        assert bearer.status_code == 401
    wrong = await http.get("/rest/servicedeskapi/request/HELP-1", auth=("agent@acme.example", "nope"))
    assert wrong.status_code == 401
    missing = await http.get("/rest/servicedeskapi/request/HELP-1")
    assert missing.status_code == 404
    assert "errorMessage" in missing.json()


async def test_create_comment_and_transitions_follow_the_status(site):
    _, http = site
    made = await http.post(
        "/rest/servicedeskapi/request",
        json={"serviceDeskId": "1", "requestTypeId": "10", "requestFieldValues": {"summary": "Restore"}},
    )
    assert made.status_code == 201
    key = made.json()["issueKey"]
    assert made.json()["currentStatus"]["status"] == "Waiting for support"
    bad = await http.post("/rest/servicedeskapi/request", json={"serviceDeskId": "1"})
    assert bad.status_code == 400
    assert (await http.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": ""})).status_code == 400
    assert (await http.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "hi"})).status_code == 201
    names = [v["name"] for v in (await http.get(f"/rest/servicedeskapi/request/{key}/transition")).json()["values"]]
    assert names == ["Resolved", "Declined"]
    reopen = await http.post(f"/rest/servicedeskapi/request/{key}/transition", json={"id": "801"})
    assert reopen.status_code == 400  # not available while open
    done = await http.post(
        f"/rest/servicedeskapi/request/{key}/transition", json={"id": "761", "additionalComment": {"body": "done"}}
    )
    assert done.status_code == 204
    after = await http.get(f"/rest/servicedeskapi/request/{key}/transition")
    assert [v["name"] for v in after.json()["values"]] == ["Reopen"]
    comments = (await http.get(f"/rest/servicedeskapi/request/{key}/comment")).json()["values"]
    assert [c["body"] for c in comments] == ["hi", "done"]


async def test_the_control_api_makes_requests_with_their_webhook_and_is_off_by_default(site):
    _server, http = site
    made = (await http.post("/_sandbox/jsm/requests", json={"reporter": "acc-1"})).json()
    issue = made["webhook"]["issue"]
    assert issue["key"] == made["issueKey"]
    assert issue["fields"]["reporter"]["accountId"] == "acc-1"
    closed = SandboxServer(generate_org(users=1, seed=1))
    await closed.start()
    try:
        async with httpx.AsyncClient(base_url=closed.base_url) as other:
            response = await other.post("/_sandbox/jsm/requests", json={"reporter": "acc-1"})
            assert response.status_code in (401, 404)
    finally:
        await closed.stop()
