"""Keeps waiting for an admin on the Slack admin home, decided from there over loopback.

The keep waits after a press of the warning email's link (real SMTP, the confirm page over HTTP);
the admins open their App Home (a signed ``app_home_opened`` event), the view is checked with
slack_sdk's own Block Kit models, and its buttons are pressed with signed Slack interactions.
"""

from __future__ import annotations

import json
import time

from slack_sdk.models.views import View

from core.chat import hash_token
from core.identity import People
from core.lifecycle import CaseState
from tests.restore_e2e.conftest import SIGNING_SECRET, TEAM, restore_policy
from tests.restore_e2e.keeping import (
    STRICT,
    current_case,
    keep_asks,
    kept_once_then_warned_again,
    newest_link,
    press,
    thread_of,
    told,
)
from tests.slackfake.signing import interaction_body, signed_headers

KEEPS = "Keeps waiting for you"


async def open_home(world, user: str) -> dict:
    """``user`` opens the App Home: the view published for them, valid for Slack."""
    envelope = {
        "token": "deprecated",
        "team_id": TEAM,
        "api_app_id": "A0JIRACLN",
        "type": "event_callback",
        "event_id": f"EvHome{user}{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
    }
    await _post(world, json.dumps(envelope).encode(), "application/json")
    home = world.slack.home_of(user)
    assert home is not None
    View(**{k: v for k, v in home.items() if k in ("type", "blocks")}).validate_json()  # Slack's own checker
    return home


async def press_in_home(world, user: str, home: dict, label: str, entry: int = 0) -> str:
    """``user`` presses the ``label`` button of the ``entry``-th waiting keep; the raw token it carried."""
    block = next(b for b in home["blocks"] if b.get("block_id") == f"jc_home_s0_{entry}")
    button = next(e for e in block["elements"] if e["text"]["text"] == label)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0JIRACLN",
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "trigger_id": "1.2.3",
        "actions": [{"action_id": button["action_id"], "block_id": block["block_id"], "value": button["value"]}],
    }
    await _post(world, interaction_body(payload))
    return str(button["value"])


async def _post(world, body: bytes, content_type: str | None = None) -> None:
    headers = signed_headers(body, SIGNING_SECRET, int(time.time()))
    if content_type:
        headers["Content-Type"] = content_type
    response = await world.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert world.surfaces.slack is not None
    await world.surfaces.slack.drain()


def texts(home: dict) -> list[str]:
    return [b["text"]["text"] for b in home["blocks"] if b["type"] in ("section", "header")]


async def waiting_keep(world_factory):
    """Two Slack admins; Una is also the person whose keep (by the warning email's link) waits."""
    world = await world_factory(restore_policy(keep=STRICT), slack_admin_user_ids="U0ADMIN,U0UNA")
    world.slack.add_user("U0UNA", "una.admin@acme.example", real_name="Una Admin")
    account = await kept_once_then_warned_again(world)
    world.surfaces.chatops.people = People.parse(f"una = slack:{TEAM}/U0UNA, email:{world.email_of(account)}")
    waits = await press(world, newest_link(world, account))
    assert "an admin must approve this keep" in waits.text
    return world, account


async def test_the_admin_home_lists_a_waiting_keep_and_approving_it_there_keeps_and_tells_the_owner(world_factory):
    world, account = await waiting_keep(world_factory)
    [ask] = keep_asks(world)
    case = current_case(world, account)

    una = await open_home(world, "U0UNA")
    assert f"*{KEEPS}*" in texts(una)
    [entry] = [t for t in texts(una) if t.startswith(world.email_of(account))]
    assert entry == (
        f"{world.email_of(account)} · jira-software · kept once before · deadline {case.deadline:%d %b %Y}"
        " · yours: another admin decides"
    )
    # Una pressed Keep (by email): her own keep is listed without buttons ...
    assert not [b for b in una["blocks"] if b.get("block_id", "").startswith("jc_home_s0_")]
    ada = await open_home(world, "U0ADMIN")
    [entry] = [t for t in texts(ada) if t.startswith(world.email_of(account))]
    assert entry.endswith(f"deadline {case.deadline:%d %b %Y}")
    # ... and from her Slack identity pressing Ada's button is refused, the button staying usable.
    raw = await press_in_home(world, "U0UNA", ada, "Approve keep")
    assert current_case(world, account).state is CaseState.WARNED
    assert world.db.tokens.get_token(hash_token(raw)).used_at is None
    refused = world.slack.home_of("U0UNA")
    assert "You cannot decide a keep of your own access: another admin must." in texts(refused)
    refusals = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep.approval"]
    assert [(r.actor, r.outcome) for r in refusals] == [(f"slack:{TEAM}/U0UNA", "refused")]

    ada = await open_home(world, "U0ADMIN")  # a fresh view: the click above redrew none of Ada's
    await press_in_home(world, "U0ADMIN", ada, "Approve keep")
    kept = current_case(world, account)
    assert kept.state is CaseState.KEPT
    assert told(world, account)[-1].startswith(
        f"An admin approved keeping your Atlassian access until {kept.keep_until:%d %B %Y}"
    )
    after = world.slack.home_of("U0ADMIN")
    assert any(t.startswith("Keep approved by u0admin") for t in texts(after))  # the notice of her press
    assert f"*{KEEPS}*" not in texts(after)  # nothing waits any more
    assert any(t.startswith("Keep approved by") for t in thread_of(world, ask))
    keeps = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep" and e.entry.approver]
    assert [k.approver for k in keeps] == [f"slack:{TEAM}/U0ADMIN"]

    # The posted button and the home's button were the same one decision: used up.
    await world.click_admin_button(ask, "jc_approve_keep")
    assert len([e for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep" and e.entry.approver]) == 1


async def test_denying_from_the_admin_home_leaves_the_deadline_and_tells_the_owner(world_factory):
    world, account = await waiting_keep(world_factory)
    [ask] = keep_asks(world)
    ada = await open_home(world, "U0ADMIN")
    raw = await press_in_home(world, "U0ADMIN", ada, "Deny keep")
    assert current_case(world, account).state is CaseState.WARNED
    assert world.db.tokens.get_token(hash_token(raw)).used_at is not None  # single use
    assert "did not approve keeping your Atlassian access" in told(world, account)[-1]
    assert any(t.startswith("Keep not approved by u0admin") for t in thread_of(world, ask))
    late = await world.click_admin_button(ask, "jc_approve_keep")
    assert late.status_code == 200
    assert current_case(world, account).state is CaseState.WARNED
