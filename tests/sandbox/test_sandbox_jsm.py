"""The sandbox's JSM customer-request API: Basic auth, Atlassian's error shapes, status-bound transitions."""

from __future__ import annotations

import httpx
import pytest

from adapters.sandbox import Fault, SandboxConfig, SandboxServer, generate_org

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


async def _create(http: httpx.AsyncClient, **extra: object) -> httpx.Response:
    body = {"serviceDeskId": "1", "requestTypeId": "10", "requestFieldValues": {"summary": "Restore"}, **extra}
    return await http.post("/rest/servicedeskapi/request", json=body)


async def test_an_unknown_key_is_404_in_atlassians_error_shape_on_every_route(site):
    """404 bodies carry JSM's errorMessage and Jira's errorMessages list."""
    _, http = site
    base = "/rest/servicedeskapi/request/HELP-77"
    for method, path, body in [
        ("GET", "", None),
        ("GET", "/comment", None),
        ("POST", "/comment", {"body": "hi"}),
        ("GET", "/transition", None),
        ("POST", "/transition", {"id": "761"}),
    ]:
        response = await http.request(method, base + path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["errorMessages"] == [response.json()["errorMessage"]]


async def test_create_reports_on_behalf_and_validates_the_body(site):
    """raiseOnBehalfOf becomes the reporter; keys count up per project; bad bodies are 400."""
    _, http = site
    first = (await _create(http, raiseOnBehalfOf="acc-5")).json()
    second = (await _create(http)).json()
    assert first["reporter"] == {"accountId": "acc-5"}
    assert (first["serviceDeskId"], first["requestTypeId"]) == ("1", "10")
    assert first["requestFieldValues"][0]["value"] == "Restore"
    assert [first["issueKey"], second["issueKey"]] == ["HELP-1", "HELP-2"]
    assert first["issueId"] != second["issueId"]
    for bad in (
        {"serviceDeskId": "1", "requestTypeId": "10", "requestFieldValues": {}},
        {"serviceDeskId": "1", "requestTypeId": "10", "requestFieldValues": {"summary": "x"}, "raiseOnBehalfOf": 7},
        {"requestTypeId": "10", "requestFieldValues": {"summary": "x"}},
    ):
        response = await http.post("/rest/servicedeskapi/request", json=bad)
        assert response.status_code == 400
        assert response.json()["errorMessage"]
    assert (await http.post("/rest/servicedeskapi/request", content=b"{not json")).status_code == 400


async def test_comments_answer_201_with_the_comment(site):
    """A comment answers {id, body, public, author}; public must be a boolean."""
    _, http = site
    key = (await _create(http)).json()["issueKey"]
    made = await http.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "hello", "public": False})
    assert made.status_code == 201
    assert made.json()["body"] == "hello"
    assert made.json()["public"] is False
    assert {"id", "author"} <= made.json().keys()
    bad = await http.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "x", "public": "yes"})
    assert bad.status_code == 400


async def test_transition_bodies_are_validated(site):
    """The id must be a string of an available transition; additionalComment must be {body}."""
    _, http = site
    key = (await _create(http)).json()["issueKey"]
    url = f"/rest/servicedeskapi/request/{key}/transition"
    for bad in ({}, {"id": 761}, {"id": "999"}, {"id": "761", "additionalComment": "done"}):
        response = await http.post(url, json=bad)
        assert response.status_code == 400, bad
        assert response.json()["errorMessages"]
    assert (await http.post(url, json=["761"])).status_code == 400
    assert (await http.get(f"/rest/servicedeskapi/request/{key}")).json()["currentStatus"]["status"] == (
        "Waiting for support"
    )


async def test_declined_requests_can_be_reopened(site):
    """Declined → only Reopen; Reopen → Resolved and Declined again."""
    _, http = site
    key = (await _create(http)).json()["issueKey"]
    url = f"/rest/servicedeskapi/request/{key}/transition"
    assert (await http.post(url, json={"id": "781"})).status_code == 204
    assert (await http.get(f"/rest/servicedeskapi/request/{key}")).json()["currentStatus"]["status"] == "Declined"
    assert [v["name"] for v in (await http.get(url)).json()["values"]] == ["Reopen"]
    assert (await http.post(url, json={"id": "801"})).status_code == 204
    assert [v["name"] for v in (await http.get(url)).json()["values"]] == ["Resolved", "Declined"]


async def test_transitions_are_paged(site):
    """start/limit page the list; isLastPage tells when to stop; bad numbers are 400."""
    _, http = site
    key = (await _create(http)).json()["issueKey"]
    url = f"/rest/servicedeskapi/request/{key}/transition"
    first = (await http.get(url, params={"start": 0, "limit": 1})).json()
    second = (await http.get(url, params={"start": 1, "limit": 1})).json()
    assert (first["size"], first["isLastPage"], first["values"][0]["name"]) == (1, False, "Resolved")
    assert (second["start"], second["isLastPage"], second["values"][0]["name"]) == (1, True, "Declined")
    assert (await http.get(url, params={"start": "x"})).status_code == 400
    assert (await http.get(url, params={"limit": 0})).status_code == 400


async def test_faults_apply_to_the_jsm_routes(site):
    """The fault schedule can make JSM answer 429 (with Retry-After) or 503."""
    server, http = site
    key = (await _create(http)).json()["issueKey"]
    server.config.faults.add(
        Fault("429", path="/rest/servicedeskapi/", nth={1}, retry_after=3),
        Fault("503", path="/rest/servicedeskapi/", nth={2}),
    )
    limited = await http.get(f"/rest/servicedeskapi/request/{key}")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert (await http.get(f"/rest/servicedeskapi/request/{key}")).status_code == 503
    assert (await http.get(f"/rest/servicedeskapi/request/{key}")).status_code == 200


async def test_the_credentials_are_configurable(site):
    """SandboxConfig.jsm_email / jsm_api_token choose the one accepted site user."""
    config = SandboxConfig(jsm_email="ops@example.org", jsm_api_token="other-token")
    async with (
        SandboxServer(generate_org(users=1, seed=1), config) as server,
        httpx.AsyncClient(base_url=server.base_url) as http,
    ):
        url = "/rest/servicedeskapi/request/HELP-1"
        assert (await http.get(url, auth=AUTH)).status_code == 401
        assert (await http.get(url, auth=("ops@example.org", "other-token"))).status_code == 404


async def test_control_routes_read_back_state_and_rebuild_the_webhook(site):
    """Control: state with status and comments, the issue_created body again, 400/404 for bad input."""
    _, http = site
    made = (await http.post("/_sandbox/jsm/requests", json={"reporter": "acc-3", "requestTypeId": "11"})).json()
    key = made["issueKey"]
    await http.post(f"/rest/servicedeskapi/request/{key}/comment", json={"body": "seen"})
    state = (await http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert (state["issueKey"], state["status"], state["reporter"]) == (key, "Waiting for support", "acc-3")
    assert [c["body"] for c in state["comments"]] == ["seen"]
    webhook = (await http.get(f"/_sandbox/jsm/requests/{key}/webhook")).json()
    assert webhook["webhookEvent"] == "jira:issue_created"
    assert webhook["issue"] == made["webhook"]["issue"]
    request_type = webhook["issue"]["fields"]["customfield_10010"]["requestType"]
    assert request_type == {"id": "11", "serviceDeskId": "1"}
    assert webhook["issue"]["fields"]["project"]["key"] == "HELP"
    assert (await http.get("/_sandbox/jsm/requests/HELP-99")).status_code == 404
    assert (await http.get("/_sandbox/jsm/requests/HELP-99/webhook")).status_code == 404
    assert (await http.post("/_sandbox/jsm/requests", json={})).status_code == 400
