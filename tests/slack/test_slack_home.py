"""The App Home: the admin home (with Approve / Deny of held runs) and a person's own access (with Keep).

Views are published to the fake Slack Web API and checked with slack_sdk's own Block Kit models.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from PIL import Image
from slack_sdk.models.views import View

from bot.charts import report_chart
from core.ledger import RunStatus
from core.lifecycle import CaseState
from tests.blockkit_html import page
from tests.browser import ARTIFACTS, screenshot_of_content
from tests.slackfake.signing import interaction_body

from .conftest import TEAM, policy, stale

KEEPS = "Keeps waiting for you"
HELD = {"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}}
CAPPED = {
    "caps": {"per_run": {"max_actions": 2, "max_percent": None}, "window": {"max_actions": None, "max_percent": None}},
    "canary": {"size": 0},
}
#: Width of the drawn homes, in CSS pixels (about Slack's App Home column on a laptop).
HOME_WIDTH = 760


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
    # The run's requester sees it as theirs, with Deny (to withdraw it) but no Approve ...
    sec_home = await open_home(world, "U0SEC")
    assert f"{held.run_id[:12]} ({held.held} actions) — yours: another admin approves it" in json.dumps(
        sec_home, ensure_ascii=False
    )
    assert f"Approve {held.run_id[:8]}" not in buttons(sec_home)
    assert f"Deny {held.run_id[:8]}" in buttons(sec_home)
    # ... and pressing another admin's Approve is refused, leaving that button usable.
    await click_in_home(world, "U0SEC", home, approve)
    assert world.store.get_run(held.run_id).status is RunStatus.AWAITING_APPROVAL
    await click_in_home(world, "U0ADMIN", home, approve)
    assert world.store.get_run(held.run_id).status is RunStatus.COMPLETED
    assert "Approved by" in json.dumps(world.fake.home_of("U0ADMIN"))


async def test_someone_with_nothing_pending_gets_the_plain_home(make_world) -> None:
    world = await make_world([stale("a1")])
    home = await open_home(world, "U0A1")
    assert "Request access back" in json.dumps(home)
    assert "jira-cleanup has nothing about you" in json.dumps(home) or "All good" in json.dumps(home)


# -- the homes as Slack draws them (headless Chromium) --------------------------------------------


async def busy_org(make_world, folder: Path):
    """An org five weekly runs in: three seats freed this month, a kept warning, a held run, a fresh warning,
    and a keep waiting for an admin.

    Keeps last 25 days and a second keep of the same access needs an admin (``keep.approval_after``):
    a9 keeps on day 0, is warned again when the keep runs out (day 28) and presses Keep again.
    The report chart is drawn as ``serve`` draws it; its link is the PNG file itself (``serve`` signs an
    HTTP link with LINK_SECRET), so the browser can show it. The next run is the scheduler's.
    """
    freed = [stale("a1"), stale("a2"), stale("a8", 70)]  # warned on days 0, 0 and 7; removed on days 14, 14 and 21
    held = [stale("a4", 63), stale("a5", 63), stale("a6", 63)]  # warned on day 14, due on day 28: over the cap
    keeps = {"keep": {"days": 25, "approval_after": 1}}
    world = await make_world(
        [*freed, stale("a3"), *held, stale("a7", 50), stale("a9")], policy(safety=CAPPED, lifecycle=keeps)
    )
    world.ops.chart = lambda: report_chart(world.store, world.scans, "org-1", world.policy, folder, world.clock.now())
    world.ops.file_link = Path.as_uri
    world.ops.next_run = lambda: (world.clock.now() + timedelta(days=1)).replace(hour=6, minute=0)
    await world.run()
    await keep_from_home(world, "U0A9")
    assert world.case("a9").state is CaseState.KEPT  # until day 25
    assert (await world.run(days=7)).status is RunStatus.COMPLETED
    await keep_from_home(world, "U0A3")  # kept until day 32
    for _week in range(2):
        assert (await world.run(days=7)).status is RunStatus.COMPLETED
    last = await world.run(days=7, by="slack:T0ACME/U0SEC")  # a7 is warned now, a9 warned again
    assert last.status is RunStatus.AWAITING_APPROVAL
    told = await keep_from_home(world, "U0A9")  # kept once already: this keep waits for an admin
    assert "an admin must approve this keep" in json.dumps(told)
    assert [c.state for c in world.store.find_cases("org-1", "a9")].count(CaseState.WARNED) == 1
    return world, last


async def keep_from_home(world, user: str) -> dict:
    """``user`` presses Keep jira-software on their home tab; the tab as redrawn after the click."""
    home = await open_home(world, user)
    await click_in_home(world, user, home, buttons(home)["Keep jira-software"])
    again = world.fake.home_of(user)
    assert again is not None
    return again


def waiting_keeps(home: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """The entries under the home's "Keeps waiting for you": each one's text and its buttons (label, action id)."""
    blocks = home["blocks"]
    title = next((n for n, b in enumerate(blocks) if b.get("text", {}).get("text") == f"*{KEEPS}*"), None)
    assert title is not None, f"no {KEEPS} section in {blocks}"
    return [
        (blocks[n - 1]["text"]["text"], [(e["text"]["text"], e["action_id"]) for e in block["elements"]])
        for n, block in enumerate(blocks[title + 1 :], start=title + 1)
        if block.get("block_id", "").startswith("jc_home_s")  # an entry's buttons, under its text
    ]


class Drawn(NamedTuple):
    shot: Path  # test-artifacts/NAME.png
    text: str  # the page's visible text
    buttons: list[str]  # the buttons' labels
    images: list[int]  # the width of each image as loaded (0: it did not load)


def drawn(chromium, home: dict, name: str, folder: Path) -> Drawn:
    """``home`` rendered to HTML (tests/blockkit_html.py) and drawn by Chromium, cropped to its content."""
    from selenium.webdriver.common.by import By

    source = folder / f"{name}.html"
    source.write_text(page(home["blocks"]), encoding="utf-8")
    shot = screenshot_of_content(chromium, source.as_uri(), ARTIFACTS / f"{name}.png", width=HOME_WIDTH)
    return Drawn(
        shot,
        chromium.find_element(By.TAG_NAME, "body").text,
        [b.text for b in chromium.find_elements(By.TAG_NAME, "button")],
        [int(i.get_property("naturalWidth")) for i in chromium.find_elements(By.TAG_NAME, "img")],
    )


def assert_drawn(shot: Path) -> None:
    """The PNG is the page's width, taller than a stub, and not one flat colour."""
    with Image.open(shot) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert width == HOME_WIDTH
    assert height > 250
    assert len(colours) > 50
    white = next((count for count, colour in colours if colour == (255, 255, 255)), 0)
    assert white < 0.97 * width * height


async def test_the_admin_and_a_warned_person_see_their_homes_drawn_in_chromium(make_world, chromium, tmp_path) -> None:
    world, held = await busy_org(make_world, tmp_path)
    home = await open_home(world, "U0ADMIN")
    waiting = next(c for c in world.store.find_cases("org-1", "a9") if c.state is CaseState.WARNED)
    assert waiting_keeps(home) == [
        (
            f"a9@acme.example · jira-software · kept once before · deadline {waiting.deadline:%d %b %Y}",
            [("Approve keep", "jc_approve_waiting_keep"), ("Deny keep", "jc_deny_waiting_keep")],
        )
    ]
    admin = await asyncio.to_thread(drawn, chromium, home, "home-admin", tmp_path)
    for label in ("Kill switch", "Last run", "Next run", "Open warnings", "Awaiting approval", "Saved this month"):
        assert label in admin.text
    assert "Next run: 23 Dec 06:00 UTC" in admin.text
    assert "Open warnings: 3 actioned, 1 kept, 5 warned" in admin.text
    assert f"Awaiting approval: {held.run_id[:12]} (3 actions)" in admin.text
    assert "Saved this month: 3 seats · 25.80 EUR/month" in admin.text
    assert "Keeps waiting for you\na9@acme.example · jira-software · kept once before · deadline 05 Jan 2027" in (
        admin.text
    )
    assert admin.buttons == [f"Approve {held.run_id[:8]}", f"Deny {held.run_id[:8]}", "Approve keep", "Deny keep"]
    assert len(admin.images) == 1  # the report chart...
    assert admin.images[0] > 0  # ...loaded
    assert_drawn(admin.shot)
    person = await asyncio.to_thread(drawn, chromium, await open_home(world, "U0A7"), "home-person", tmp_path)
    assert "Your Atlassian access" in person.text
    assert "jira-software: not used for a while: removed on 05 Jan 2027 unless you keep it" in person.text
    assert person.buttons == ["Keep jira-software", "Request access back"]
    assert person.images == []
    assert_drawn(person.shot)
