"""JSM portal → signed webhook → restore desk → Atlassian restore → comment and transition, over loopback."""

from __future__ import annotations

import json

from adapters.jsm import sign
from core.restore_model import RequestState
from core.savings import realised_savings
from tests.restore_e2e.conftest import WEBHOOK_SECRET, restore_policy


async def _actioned_account(world) -> str:
    await world.run()
    await world.run(days=14)
    actioned = world.cases("actioned")
    assert actioned, "the policy should have removed someone's access"
    return actioned[0].account_id


async def _raise_request(world, reporter: str) -> tuple[str, bytes]:
    made = await world.jsm_http.post("/_sandbox/jsm/requests", json={"reporter": reporter})
    assert made.status_code == 201, made.text
    return made.json()["issueKey"], json.dumps(made.json()["webhook"]).encode()


JSON = "application/json"  # what Jira's webhooks send


def _signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": JSON, "X-Hub-Signature": sign(WEBHOOK_SECRET, body)}


def _groups(world, account_id: str) -> set[str]:
    return set(world.org.users[account_id].group_ids)


async def test_a_portal_request_is_auto_restored_commented_and_resolved(world_factory):
    world = await world_factory(restore_policy(auto_approve=[{"name": "all-staff", "products": ["jira-software"]}]))
    account = await _actioned_account(world)
    before = _groups(world, account)
    key, body = await _raise_request(world, account)
    response = await world.http.post("/jsm/webhook", content=body, headers=_signed(body))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "restored"
    assert _groups(world, account) > before  # the removed Jira group is back
    entries = world.db.lifecycle.entries(world.sandbox.org_id)
    savings = realised_savings(entries, world.db.scans.get_account, world.policy)
    assert savings.restored == 1  # the restored seat no longer counts as saved
    acted = {e.account_id for e in entries if e.op.reduces_access and e.state.value == "confirmed"}
    assert sum(savings.seats.values()) == len(acted) - 1
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert status["status"] == "Resolved"
    assert any("restored" in c["body"] for c in status["comments"])
    # A redelivery of the same webhook is recognised: nothing more happens.
    writes = len(world.sandbox.mutating_requests())
    again = await world.http.post("/jsm/webhook", content=body, headers=_signed(body))
    assert again.json()["duplicate"] is True
    assert len(world.sandbox.mutating_requests()) == writes


async def test_a_forged_signature_is_refused_and_changes_nothing(world_factory):
    world = await world_factory(restore_policy(auto_approve=[{"name": "all-staff", "products": ["jira-software"]}]))
    account = await _actioned_account(world)
    key, body = await _raise_request(world, account)
    writes = len(world.sandbox.mutating_requests())
    for headers in (
        {"X-Hub-Signature": sign("not-the-secret", body)},
        {"X-Hub-Signature": "sha256=" + "0" * 64},
        {},
    ):
        refused = await world.http.post("/jsm/webhook", content=body, headers={"Content-Type": JSON, **headers})
        assert refused.status_code == 401
    tampered = body.replace(account.encode(), b"someone-else")
    refused = await world.http.post("/jsm/webhook", content=tampered, headers=_signed(body))
    assert refused.status_code == 401
    assert len(world.sandbox.mutating_requests()) == writes
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert status["comments"] == []
    assert world.cases("actioned")[0].account_id == account


async def test_without_a_rule_the_admins_decide_and_the_jsm_request_hears_back(world_factory):
    world = await world_factory()
    account = await _actioned_account(world)
    key, body = await _raise_request(world, account)
    response = await world.http.post("/jsm/webhook", content=body, headers=_signed(body))
    assert response.json()["state"] == RequestState.PENDING.value
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert status["status"] == "Waiting for support"
    assert "sent to the admins" in status["comments"][-1]["body"]
    thread = [m for m in world.slack.messages("C0ADMIN") if "asks to get access back" in m.get("text", "")]
    assert len(thread) == 1
    clicked = await world.click_admin_button(thread[0], "jc_deny_restore")
    assert clicked.status_code == 200
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert status["status"] == "Declined"
    assert "declined" in status["comments"][-1]["body"]


async def test_bad_bodies_get_a_clear_error_naming_the_field(world_factory):
    world = await world_factory()
    body = json.dumps({"webhookEvent": "jira:issue_created", "issue": {"key": "HELP-9", "id": "1", "fields": {}}})
    raw = body.encode()
    response = await world.http.post("/jsm/webhook", content=raw, headers=_signed(raw))
    assert response.status_code == 400
    assert response.json()["field"] == "issue.fields.reporter"
    junk = b"{not json"
    response = await world.http.post("/jsm/webhook", content=junk, headers=_signed(junk))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


async def test_when_no_admin_can_be_reached_the_jsm_request_says_so(world_factory):
    world = await world_factory()
    account = await _actioned_account(world)
    key, body = await _raise_request(world, account)
    world.slack.fail("chat.postMessage", "channel_not_found")
    response = await world.http.post("/jsm/webhook", content=body, headers=_signed(body))
    assert response.json()["state"] == RequestState.PENDING.value
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    assert "could not be reached" in status["comments"][-1]["body"]
    assert "sent to the admins" not in status["comments"][-1]["body"]
