"""The App Home: the admin home (with Approve / Deny of held runs) and a person's own access (with Keep).

Views are published to the fake Slack Web API and checked with slack_sdk's own Block Kit models.
"""

from __future__ import annotations

import json
import time

from slack_sdk.models.views import View

from core.ledger import RunStatus
from core.lifecycle import CaseState
from tests.slackfake.signing import interaction_body

from .conftest import TEAM, policy, stale

HELD = {"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}}


async def open_home(world, user: str) -> dict:
    envelope = {
        "token": "deprecated",
        "team_id": TEAM,
        "api_app_id": "A0JIRACLN",
        "type": "event_callback",
        "event_id": f"EvHome{user}{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
    }
    assert (await world.post(json.dumps(envelope).encode(), content_type="application/json")).status_code == 200
    await world.settle()
    home = world.fake.home_of(user)
    assert home is not None
    View(**{k: v for k, v in home.items() if k in ("type", "blocks")}).validate_json()  # Slack's own checker
    return home


def buttons(home: dict) -> dict[str, dict]:
    found = {}
    for block in home["blocks"]:
        if block["type"] == "actions":
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids)), "an action id appears once per block"
            found.update({e["text"]["text"]: {**e, "block_id": block["block_id"]} for e in block["elements"]})
    return found


async def click_in_home(world, user: str, home: dict, button: dict) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0JIRACLN",
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "trigger_id": "1.2.3",
        "actions": [{k: button[k] for k in ("action_id", "block_id", "value")} | {"type": "button"}],
    }
    assert (await world.post(interaction_body(payload))).status_code == 200
    await world.settle()


async def test_a_warned_person_sees_their_access_and_keeps_it_from_the_home_tab(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    home = await open_home(world, "U0A1")
    text = json.dumps(home)
    assert "Your Atlassian access" in text
    assert "removed on" in text
    assert "unless you keep it" in text
    keep = buttons(home)["Keep jira-software"]
    await click_in_home(world, "U0A1", home, keep)
    assert world.case("a1").state is CaseState.KEPT
    again = world.fake.home_of("U0A1")
    assert "kept until" in json.dumps(again)  # the tab is redrawn with what the click did
    assert "Keep jira-software" not in buttons(again)


async def test_an_admin_sees_the_org_and_approves_a_held_run_from_the_home_tab(make_world) -> None:
    world = await make_world([stale("a1"), stale("a2")], policy(safety=HELD))
    await world.run()
    held = await world.run(days=14, by="slack:T0ACME/U0SEC")
    assert held.status is RunStatus.AWAITING_APPROVAL
    home = await open_home(world, "U0ADMIN")
    text = json.dumps(home)
    assert "admin home" in text
    for label in ("Kill switch", "Last run", "Next run", "Open warnings", "Awaiting approval", "Saved this month"):
        assert label in text
    approve = buttons(home)[f"Approve {held.run_id[:8]}"]
    # The run's requester cannot approve it from their home either.
    sec_home = await open_home(world, "U0SEC")
    await click_in_home(world, "U0SEC", sec_home, buttons(sec_home)[f"Approve {held.run_id[:8]}"])
    assert world.store.get_run(held.run_id).status is RunStatus.AWAITING_APPROVAL
    await click_in_home(world, "U0ADMIN", home, approve)
    assert world.store.get_run(held.run_id).status is RunStatus.COMPLETED
    assert "Approved by" in json.dumps(world.fake.home_of("U0ADMIN"))


async def test_someone_with_nothing_pending_gets_the_plain_home(make_world) -> None:
    world = await make_world([stale("a1")])
    home = await open_home(world, "U0A1")
    assert "Request access back" in json.dumps(home)
    assert "jira-cleanup has nothing about you" in json.dumps(home) or "All good" in json.dumps(home)
