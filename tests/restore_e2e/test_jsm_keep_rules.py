"""The JSM portal cannot keep or give access back past the rules: signed webhooks to the app ``serve`` builds.

A portal request is a restore request (the restore desk), never a keep: from a warned person it
changes nothing and points to "Keep my access"; past ``keep.approval_after`` no restore rule gives
the access back on its own; and the requester never decides it, whichever identity they click with.
"""

from __future__ import annotations

import json

from adapters.jsm import sign
from core.identity import People
from core.lifecycle import CaseState
from core.restore_model import RequestState
from tests.restore_e2e.conftest import ADMIN_CHANNEL, TEAM, WEBHOOK_SECRET, restore_policy
from tests.restore_e2e.keeping import STRICT, current_case, kept_once_then_warned_again, warned_by_email

ALL_STAFF = [{"name": "all-staff", "products": ["jira-software"]}]


async def portal_request(world, reporter: str):
    """The reporter raises "restore my access" in the JSM portal; Jira sends the signed webhook."""
    made = await world.jsm_http.post("/_sandbox/jsm/requests", json={"reporter": reporter})
    assert made.status_code == 201, made.text
    key, body = made.json()["issueKey"], json.dumps(made.json()["webhook"]).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign(WEBHOOK_SECRET, body)}
    response = await world.http.post("/jsm/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{key}")).json()
    return response.json(), status


def restore_asks(world) -> list[dict]:
    return [m for m in world.slack.messages(ADMIN_CHANNEL) if "asks to get access back" in m.get("text", "")]


def admin_writes(world) -> list:
    """Writes to the Atlassian Admin API (the JSM request's own comments and transitions are not access)."""
    return [r for r in world.sandbox.mutating_requests() if "/servicedeskapi/" not in r.path]


def groups(world, account_id: str) -> set[str]:
    return set(world.org.users[account_id].group_ids)


async def test_a_warned_person_asking_in_the_portal_keeps_nothing_and_is_pointed_to_keep(world_factory):
    world = await world_factory(restore_policy(auto_approve=ALL_STAFF, keep=STRICT))
    await world.run()
    case = warned_by_email(world)
    writes = len(admin_writes(world))
    answer, status = await portal_request(world, case.account_id)
    assert answer["state"] == RequestState.DENIED.value
    assert "has not been removed yet" in status["comments"][-1]["body"]
    assert "Keep my access" in status["comments"][-1]["body"]
    assert status["status"] == "Declined"
    now = current_case(world, case.account_id)
    assert (now.state, now.keep_until, now.keeps) == (CaseState.WARNED, None, ())
    assert not [e for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep"]
    assert restore_asks(world) == []
    assert len(admin_writes(world)) == writes


async def test_past_approval_after_a_portal_request_goes_to_the_admins_whatever_the_restore_rules(world_factory):
    world = await world_factory(restore_policy(auto_approve=ALL_STAFF, keep=STRICT))
    account = await kept_once_then_warned_again(world)
    await world.run(days=15)  # nobody pressed Keep this time: the access is removed at the deadline
    assert current_case(world, account).state is CaseState.ACTIONED
    removed = groups(world, account)

    answer, status = await portal_request(world, account)
    assert answer["state"] == RequestState.PENDING.value  # all-staff would have restored it at once
    assert groups(world, account) == removed
    assert status["status"] == "Waiting for support"
    [ask] = restore_asks(world)
    assert "this access was kept once in 365 days: an admin must approve" in ask["text"]

    await world.click_admin_button(ask, "jc_approve_restore")
    assert groups(world, account) > removed
    status = (await world.jsm_http.get(f"/_sandbox/jsm/requests/{answer['issue']}")).json()
    assert status["status"] == "Resolved"


async def test_below_approval_after_the_restore_rule_still_restores_at_once(world_factory):
    """The positive control: the rule is not switched off, only kept past keep.approval_after."""
    world = await world_factory(restore_policy(auto_approve=ALL_STAFF, keep={"approval_after": 2}))
    account = await kept_once_then_warned_again(world)
    await world.run(days=15)
    removed = groups(world, account)
    answer, _ = await portal_request(world, account)
    assert answer["state"] == RequestState.RESTORED.value
    assert groups(world, account) > removed
    assert restore_asks(world) == []


async def test_the_requester_cannot_approve_their_portal_request_from_slack_and_the_button_stays(world_factory):
    world = await world_factory(restore_policy(), slack_admin_user_ids="U0ADMIN,U0UNA")
    world.slack.add_user("U0UNA", "una.admin@acme.example", real_name="Una Admin")
    await world.run()
    account = warned_by_email(world).account_id
    await world.run(days=14)
    assert current_case(world, account).state is CaseState.ACTIONED
    # ADMIN_IDENTITIES: Una the Slack admin is the owner of this Atlassian account (the JSM reporter).
    world.surfaces.chatops.people = People.parse(f"una = slack:{TEAM}/U0UNA, atlassian:{account}")
    removed = groups(world, account)
    answer, _ = await portal_request(world, account)
    assert answer["state"] == RequestState.PENDING.value
    [ask] = restore_asks(world)

    await world.click_admin_button(ask, "jc_approve_restore", user="U0UNA")
    await world.thread_reply("U0UNA", ask["ts"], "approve")
    assert groups(world, account) == removed
    refused = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "restore.refused"]
    assert [r.actor for r in refused] == [f"slack:{TEAM}/U0UNA"] * 2

    await world.click_admin_button(ask, "jc_approve_restore")  # the same button, another admin
    assert groups(world, account) > removed
    done = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "restore.done"]
    assert [(d.subject, d.actor) for d in done] == [(account, f"slack:{TEAM}/U0ADMIN")]
