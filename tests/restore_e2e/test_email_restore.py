"""Email warnings and links end to end: real SMTP, the confirm page in headless Chromium, Slack approval."""

from __future__ import annotations

import json
import time

from core.chat import Actor
from core.engine.requests import set_paused
from core.lifecycle import CaseState
from core.restore_model import RequestState
from tests.restore_e2e.conftest import SIGNING_SECRET, TEAM, links_in, text_of
from tests.slackfake.signing import signed_headers


def _warned_by_email(world):
    """(account id, message) of a warning that went by email (the account is not in Slack)."""
    for case in world.cases("warned"):
        address = world.email_of(case.account_id)
        mails = world.inbox.to(address)
        if mails:
            return case, mails[0]
    raise AssertionError("no warning went by email")


async def test_keep_link_confirm_page_in_chromium_records_the_keep_once(world_factory, page):
    world = await world_factory()
    report = await world.run()
    assert report.counts["warnings_delivered"] > 0
    case, mail = _warned_by_email(world)
    assert "Action needed" in mail["Subject"]
    assert mail.get_body(preferencelist=("html",)) is not None
    (keep,) = links_in(mail)
    assert keep.startswith(world.url)
    audit = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "warn.delivered"]
    assert any(
        [a["channel"] for a in e.after["attempts"]] == ["slack", "email"] and e.subject == case.account_id
        for e in audit
    ), "the Slack attempt and the email delivery are both recorded"

    await page.open(keep)
    shown = await page.text()
    assert "Keep your Jira access?" in shown
    assert world.db.lifecycle.get_case(case.case_id).keep_until is None  # opening the link changed nothing
    await page.screenshot("confirm")
    await page.click("Keep my access")
    outcome = await page.text()
    assert "your access is kept until" in outcome
    shot = await page.screenshot("kept")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert world.db.lifecycle.get_case(case.case_id).keep_until is not None

    # The same link again (a second tab, or back and submit): refused, nothing more happens.
    await page.open(keep)
    assert "already used" in await page.text()


async def test_request_access_back_by_email_goes_to_the_admins_and_is_restored(world_factory, page):
    world = await world_factory()
    await world.run()
    case, _ = _warned_by_email(world)
    account = case.account_id
    address = world.email_of(account)
    await world.run(days=14)
    notices = [m for m in world.inbox.to(address) if "removed" in m["Subject"]]
    assert len(notices) == 1, [m["Subject"] for m in world.inbox.to(address)]
    (back,) = links_in(notices[0])
    before = set(world.org.users[account].group_ids)

    await page.open(back)
    assert "Ask for your access back?" in await page.text()
    await page.press_with_keyboard("Request access back")
    assert "sent to the admins" in await page.text()
    await page.screenshot("requested")

    thread = [m for m in world.slack.messages("C0ADMIN") if address in m.get("text", "")]
    assert len(thread) == 1
    clicked = await world.click_admin_button(thread[0], "jc_approve_restore")
    assert clicked.status_code == 200
    assert set(world.org.users[account].group_ids) > before
    told = [m for m in world.inbox.to(address) if m["Subject"] == "Your request to get access back"]
    assert len(told) == 1
    assert "restored" in text_of(told[0])
    done = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "restore.done"]
    assert [(e.subject, e.after["source"], e.after["state"]) for e in done] == [
        (account, "email", RequestState.RESTORED.value)
    ]


async def test_a_slack_dm_request_is_approved_and_the_requester_told_once_in_their_dm(world_factory):
    world = await world_factory()
    thread, _case = await _asked_back_in_a_slack_dm(world)
    await world.click_admin_button(thread, "jc_approve_restore")
    dm = world.slack.dm_of("U0UNA")
    told = [m["text"] for m in world.slack.messages(dm) if "Your request to get access back" in m["text"]]
    assert len(told) == 1
    assert "restored" in told[0]


async def test_approved_under_the_kill_switch_the_dm_says_queued_and_restored_only_once_it_is(world_factory):
    world = await world_factory()
    thread, case = await _asked_back_in_a_slack_dm(world)
    set_paused(world.db.lifecycle, world.clock, world.sandbox.org_id, True, "cli:alice", "incident")
    await world.click_admin_button(thread, "jc_approve_restore")
    dm = world.slack.dm_of("U0UNA")

    def told() -> list[str]:
        return [m["text"] for m in world.slack.messages(dm) if "Your request" in m["text"]]

    [queued] = told()
    assert "comes back when they resume" in queued
    assert "restored" not in queued
    assert world.db.lifecycle.get_case(case.case_id).state is CaseState.ACTIONED  # not given back yet
    await world.surfaces.housekeeping()
    assert len(told()) == 1  # still paused: nothing new to tell

    set_paused(world.db.lifecycle, world.clock, world.sandbox.org_id, False, "cli:alice")
    await world.run(days=1)  # the scheduled run carries the queued restore out ...
    assert world.db.lifecycle.get_case(case.case_id).restored_at == world.clock.now()
    await world.surfaces.housekeeping()  # ... and its housekeeping tells the requester
    await world.surfaces.housekeeping()
    assert told()[1:] == [
        "Your request to get access back: Your access has been restored. "
        "It can take a few minutes to show in Atlassian."
    ]


async def _asked_back_in_a_slack_dm(world):
    """Una, whose access was removed, DMs the bot "restore": the admin channel's request and her case."""
    await world.run()
    case, _ = _warned_by_email(world)
    await world.run(days=14)
    address = world.email_of(case.account_id)
    world.slack.add_user("U0UNA", address, real_name="Una")
    envelope = {
        "token": "deprecated",
        "team_id": TEAM,
        "api_app_id": "A0JIRACLN",
        "type": "event_callback",
        "event_id": "EvUNA1",
        "event_time": int(time.time()),
        "event": {"type": "message", "channel": "D0UNA", "channel_type": "im", "user": "U0UNA", "text": "restore"},
    }
    body = json.dumps(envelope).encode()
    headers = {**signed_headers(body, SIGNING_SECRET, int(time.time())), "Content-Type": "application/json"}
    assert (await world.http.post("/slack/events", content=body, headers=headers)).status_code == 200
    assert world.surfaces.slack is not None
    await world.surfaces.slack.drain()
    thread = [m for m in world.slack.messages("C0ADMIN") if address in m.get("text", "")]
    assert len(thread) == 1
    return thread[0], case


async def test_an_outcome_email_that_failed_is_sent_by_the_next_housekeeping(world_factory):
    world = await world_factory()
    await world.run()
    case, _ = _warned_by_email(world)
    await world.run(days=14)
    address = world.email_of(case.account_id)
    una = Actor("email", "", address)
    asked = await world.surfaces.chatops.submit_restore("email", una, case.account_id, reply_to=address)
    working = world.surfaces.chatops.channels["email"]

    class Down:
        async def tell(self, request, text, ok):
            raise ConnectionError("smtp down")

    world.surfaces.chatops.channels["email"] = Down()
    decided = await world.surfaces.chatops.desk.decide(asked.request.request_id, True, Actor("cli", "", "bob"))
    assert decided.ok
    assert not decided.told
    world.surfaces.chatops.channels["email"] = working
    await world.surfaces.housekeeping()
    told = [m for m in world.inbox.to(address) if m["Subject"] == "Your request to get access back"]
    assert len(told) == 1
    await world.surfaces.housekeeping()
    assert len([m for m in world.inbox.to(address) if m["Subject"] == "Your request to get access back"]) == 1
