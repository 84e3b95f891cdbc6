"""Keep approval (``keep.approval_after``) through the warning email's link, over loopback as people take it.

Real SMTP delivers the warning; the "Keep my access" link is taken from the received mail and opened
over HTTP against the aiohttp app ``serve`` builds (the confirm page, then its form); the admins
answer in the Slack admin channel with signed requests (the Approve keep button, thread replies);
runs at the deadline go through the engine as ``serve``'s scheduler and ``jira-cleanup run`` build it.
"""

from __future__ import annotations

from core.identity import People
from core.lifecycle import CaseState
from tests.restore_e2e.conftest import TEAM, restore_policy, text_of
from tests.restore_e2e.keeping import (
    STRICT,
    current_case,
    heading,
    keep_asks,
    kept_once_then_warned_again,
    newest_link,
    press,
    thread_of,
    told,
)


async def test_past_approval_after_the_email_link_asks_the_admins_once_and_their_approval_keeps(world_factory):
    world = await world_factory(restore_policy(keep=STRICT))
    account = await kept_once_then_warned_again(world)
    link = newest_link(world, account)

    waits = await press(world, link)
    assert waits.status_code == 200
    assert heading(waits) == "Your keep waits for an admin"
    assert "an admin must approve this keep" in waits.text
    case = current_case(world, account)
    assert case.state is CaseState.WARNED  # not kept: the deadline stands until an admin approves
    assert case.keep_until is None
    [ask] = keep_asks(world)
    assert world.email_of(account) in ask["text"]
    assert "jira-cleanup decide-keep" in ask["text"]

    again = await world.http.get(link)  # the same link again: used once, says what it did
    assert again.status_code == 409
    assert "already used" in again.text
    assert "an admin must approve this keep" in again.text
    assert len(keep_asks(world)) == 1

    clicked = await world.click_admin_button(ask, "jc_approve_keep")
    assert clicked.status_code == 200
    kept = current_case(world, account)
    assert kept.state is CaseState.KEPT
    assert kept.keep_until is not None
    assert told(world, account)[-1].startswith(
        f"An admin approved keeping your Atlassian access until {kept.keep_until:%d %B %Y}"
    )
    assert any(t.startswith("Keep approved by") for t in thread_of(world, ask))
    keeps = [
        e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep" and e.entry.subject == account
    ]
    assert [k.outcome for k in keeps] == ["ok", "approval_needed", "ok"]
    assert keeps[-1].approver == f"slack:{TEAM}/U0ADMIN"


async def test_below_approval_after_the_email_link_keeps_at_once(world_factory):
    world = await world_factory(restore_policy(keep={"approval_after": 2}))
    account = await kept_once_then_warned_again(world)
    kept = await press(world, newest_link(world, account))
    assert heading(kept) == "You keep your access"
    assert "your access is kept until" in kept.text
    assert current_case(world, account).state is CaseState.KEPT
    assert keep_asks(world) == []


async def test_nobody_approves_their_own_email_keep_from_slack_by_button_or_thread_reply(world_factory):
    world = await world_factory(restore_policy(keep=STRICT), slack_admin_user_ids="U0ADMIN,U0UNA")
    world.slack.add_user("U0UNA", "una.admin@acme.example", real_name="Una Admin")
    account = await kept_once_then_warned_again(world)
    # ADMIN_IDENTITIES: the admin Una of Slack is the person who reads this account's warnings by email.
    world.surfaces.chatops.people = People.parse(f"una = slack:{TEAM}/U0UNA, email:{world.email_of(account)}")
    await press(world, newest_link(world, account))
    [ask] = keep_asks(world)

    await world.click_admin_button(ask, "jc_approve_keep", user="U0UNA")
    await world.thread_reply("U0UNA", ask["ts"], "approve")
    assert current_case(world, account).state is CaseState.WARNED
    refused = [e.entry for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep.approval"]
    assert [(r.actor, r.outcome) for r in refused] == [(f"slack:{TEAM}/U0UNA", "refused")] * 2
    assert "You cannot decide a keep of your own access: another admin must." in thread_of(world, ask)

    await world.thread_reply("U0ADMIN", ask["ts"], "approve")  # another admin, in the same thread
    assert current_case(world, account).state is CaseState.KEPT
    assert any(t.startswith("Keep approved by") for t in thread_of(world, ask))
    again = await world.click_admin_button(ask, "jc_approve_keep")  # the button was the same decision
    assert again.status_code == 200
    assert [e.entry.outcome for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep"][-1] == "ok"
    assert len([e for e in world.db.lifecycle.iter_audit() if e.entry.action == "keep" and e.entry.approver]) == 1


async def test_the_deadline_stands_while_the_keep_waits_and_a_later_approval_gives_the_access_back(world_factory):
    world = await world_factory(restore_policy(keep=STRICT))
    account = await kept_once_then_warned_again(world)
    await press(world, newest_link(world, account))
    [ask] = keep_asks(world)
    before = set(world.org.users[account].group_ids)

    await world.run(days=15)  # the scheduled (or cron) run at the deadline: nobody approved yet
    assert current_case(world, account).state is CaseState.ACTIONED
    assert set(world.org.users[account].group_ids) < before
    [passed] = [t for t in thread_of(world, ask) if t.startswith("The deadline passed before anyone approved")]
    assert "Approving it still gives the access back" in passed
    assert told(world, account)[-1].startswith("Your keep was still waiting for an admin when the deadline came")
    removed = [m for m in world.inbox.to(world.email_of(account)) if "removed" in m["Subject"]]
    assert len(removed) == 1  # the usual notice, with its Request access back link

    await world.click_admin_button(ask, "jc_approve_keep")
    assert set(world.org.users[account].group_ids) == before
    assert any(t.endswith("The access removed at the deadline is being given back.") for t in thread_of(world, ask))
    assert "given back" in told(world, account)[-1]
    assert len(keep_asks(world)) == 1


async def test_an_admin_declines_in_the_thread_and_the_deadline_stands(world_factory):
    world = await world_factory(restore_policy(keep=STRICT))
    account = await kept_once_then_warned_again(world)
    await press(world, newest_link(world, account))
    [ask] = keep_asks(world)
    await world.thread_reply("U0ADMIN", ask["ts"], "deny because not used since March")
    assert any(t.startswith("Keep not approved by") for t in thread_of(world, ask))
    assert "not used since March" in told(world, account)[-1]
    late = await world.click_admin_button(ask, "jc_approve_keep")
    assert late.status_code == 200
    assert current_case(world, account).state is CaseState.WARNED

    await world.run(days=15)
    assert current_case(world, account).state is CaseState.ACTIONED
    assert not any(t.startswith("The deadline passed") for t in thread_of(world, ask))  # decided: nothing waits


async def test_past_approval_after_the_confirm_page_in_chromium_says_the_keep_waits(world_factory, page):
    world = await world_factory(restore_policy(keep=STRICT))
    account = await kept_once_then_warned_again(world)
    await page.open(newest_link(world, account))
    assert "Keep your Jira access?" in await page.text()
    await page.click("Keep my access")
    shown = await page.text()
    assert "Your keep waits for an admin" in shown
    assert "an admin must approve this keep" in shown
    await page.screenshot("keep-waits")
    assert current_case(world, account).state is CaseState.WARNED
    assert len(keep_asks(world)) == 1


async def test_email_admins_are_asked_with_the_command_and_told_when_the_deadline_overtakes_the_keep(world_factory):
    """EMAIL_ADMIN_ADDRESSES have no thread: the ask and the deadline's notice reach them by mail (real SMTP)."""
    world = await world_factory(restore_policy(keep=STRICT), email_admin_addresses="it-admins@acme.example")
    account = await kept_once_then_warned_again(world)
    await press(world, newest_link(world, account))
    case = current_case(world, account)
    command = f"jira-cleanup decide-keep {case.case_id} --approve"

    def admin_mails() -> list[str]:
        return [text_of(m) for m in world.inbox.to("it-admins@acme.example") if "Keep needs approval" in text_of(m)]

    [asked] = admin_mails()
    assert world.email_of(account) in asked
    assert command in asked
    [ask] = keep_asks(world)

    await world.run(days=15)  # nobody approved: the access goes at the deadline
    assert current_case(world, account).state is CaseState.ACTIONED
    [passed] = [t for t in thread_of(world, ask) if t.startswith("The deadline passed before anyone approved")]
    [_, overtaken] = admin_mails()
    assert overtaken.startswith(f"Keep needs approval — {world.email_of(account)} (jira-software): {passed} ")
    assert command in overtaken


async def test_email_admins_hear_how_a_keep_they_were_asked_about_was_decided_in_chat(world_factory):
    """Asked by mail, they are told when a Slack admin decides: no stale request left in their inbox."""
    world = await world_factory(restore_policy(keep=STRICT), email_admin_addresses="it-admins@acme.example")
    account = await kept_once_then_warned_again(world)
    await press(world, newest_link(world, account))

    def admin_mails() -> list[str]:
        return [text_of(m) for m in world.inbox.to("it-admins@acme.example") if "Keep " in text_of(m)]

    [asked] = admin_mails()
    assert "Keep needs approval" in asked
    [ask] = keep_asks(world)
    await world.click_admin_button(ask, "jc_approve_keep")
    kept = current_case(world, account)
    assert kept.state is CaseState.KEPT
    [approved] = [t for t in thread_of(world, ask) if t.startswith("Keep approved by")]
    [_, decided] = admin_mails()
    assert decided.startswith(
        f"Keep decided — {world.email_of(account)} (jira-software): {approved} Nothing is left to decide."
    )
