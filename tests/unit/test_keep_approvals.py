"""Keeps past ``keep.approval_after`` through the one use case every surface calls (core.KeepApprovals(chatops))."""

import asyncio
from datetime import timedelta

from core.chat import Actor, Purpose, TokenStatus
from core.chatops import KeepApprovals
from core.chatops.home import Homes
from core.identity import People
from core.lifecycle import CaseState
from core.model import MembershipStatus
from tests.unit.test_chatops import ADMIN, OTHER_ADMIN, USER, Harness
from tests.unit.test_engine import policy, stale
from tests.unit.test_keep_review import NO_CAPS, ORG_RULE, two_cycles

UNA_BY_EMAIL = Actor("email", "", "una@acme.example", "Una")


def strict(**keep: object):
    return policy(rules=[ORG_RULE], safety={"caps": NO_CAPS}, lifecycle={"keep": {"approval_after": 1, **keep}})


async def warned_again(**keep: object) -> Harness:
    """a1 kept once; the keep ran out and a1 is warned again (a second keep needs an admin)."""
    h = Harness([stale("a1", email="una@acme.example")], strict(**keep))
    h.ops.owner_notice = h.notifier.tell
    await two_cycles(h, {"a1": 1})
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    assert h.case("a1").state is CaseState.WARNED
    return h


async def press_keep(h: Harness, via: str = "slack", why: str | None = None):
    """A Keep of a1's warning as each surface issues it: a chat button (a DM, the Home tab) or an email link."""
    case_id = h.case("a1").case_id
    if via == "email":
        link = await asyncio.to_thread(h.ops.buttons.email_keep, case_id, "a1", UNA_BY_EMAIL)
        return await h.ops.click(UNA_BY_EMAIL, link.token, h.respond, justification=why)
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], case_id, USER)
    return await h.ops.click(USER, keep.token, h.respond, justification=why)


def keep_outcomes(h: Harness) -> list[str]:
    return [e.entry.outcome for e in h.store.iter_audit() if e.entry.action == "keep"]


async def test_every_further_press_from_any_surface_finds_the_one_approval_waiting() -> None:
    h = await warned_again()
    asked = await press_keep(h, "email")
    assert (asked.ok, asked.waiting) == (False, True)
    assert "an admin must approve this keep" in asked.text
    for via in ("slack", "email", "slack"):  # the Home tab, a second link, another DM button
        again = await press_keep(h, via)
        assert (again.ok, again.waiting) == (False, True)
        assert again.text.startswith("Your keep is already waiting for an admin's approval")
    [ask] = h.admin_posts
    assert ask.title == "Keep needs approval"
    assert ask.thread is not None
    assert ask.thread.key == h.case("a1").case_id
    assert "jira-cleanup decide-keep" in ask.text
    assert h.case("a1").state is CaseState.WARNED
    assert keep_outcomes(h) == ["ok", *["approval_needed"] * 4]  # every press is audited, one approval asked

    approved = await h.ops.click(OTHER_ADMIN, ask.buttons[0].token, h.respond)
    assert approved.ok, approved.text
    after = await press_keep(h, "slack")  # kept now: a press just confirms it
    assert after.ok
    assert after.text.startswith("Thanks — your access is kept until")
    assert len(h.admin_posts) == 1


async def test_below_approval_after_a_keep_applies_at_once_and_asks_nobody() -> None:
    h = Harness([stale("a1", email="una@acme.example")], strict(approval_after=2))
    await two_cycles(h, {"a1": 1})
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    kept = await press_keep(h, "email")
    assert kept.ok
    assert not kept.waiting
    assert h.case("a1").state is CaseState.KEPT
    assert h.admin_posts == []


async def test_a_required_reason_reaches_the_admins_and_their_approval_needs_none_of_its_own() -> None:
    h = await warned_again(justification_required=True)
    asked = await press_keep(h, "email", why="month-end close needs Jira")
    assert asked.waiting
    [ask] = h.admin_posts
    assert "Their reason: “month-end close needs Jira”" in ask.text
    needed = [e.entry for e in h.store.iter_audit() if e.entry.outcome == "approval_needed"]
    assert needed[-1].after["justification"] == "month-end close needs Jira"
    approved = await h.ops.click(ADMIN, ask.buttons[0].token, h.respond)
    assert approved.ok, approved.text
    assert h.case("a1").state is CaseState.KEPT


async def test_nobody_decides_a_keep_of_their_own_access_from_another_identity() -> None:
    """Four-eyes compares persons: the one who pressed Keep (or owns the account) cannot approve it anywhere."""
    h = await warned_again()
    h.ops.people = People.parse(
        "una = slack:T0ACME/U0SEC, email:una@acme.example; ada = slack:T0ACME/U0ADMIN, atlassian:a1"
    )
    await press_keep(h, "email")
    [approve] = h.admin_posts[0].buttons
    for admin in (OTHER_ADMIN, ADMIN):  # Una pressed Keep by email; Ada owns account a1
        refused = await h.ops.click(admin, approve.token, h.respond)
        assert refused.status is TokenStatus.WRONG_USER
        assert refused.text == "You cannot decide a keep of your own access: another admin must."
    assert h.case("a1").state is CaseState.WARNED
    assert h.tokens.open_tokens("org-1", Purpose.APPROVE_KEEP, h.case("a1").case_id, h.clock.now())  # still usable
    refusals = [e.entry for e in h.store.iter_audit() if e.entry.action == "keep.approval"]
    assert [(r.actor, r.outcome) for r in refusals] == [
        (OTHER_ADMIN.audit_id, "refused"),
        (ADMIN.audit_id, "refused"),
    ]
    typed = await KeepApprovals(h.ops).decide(h.case("a1").case_id, True, OTHER_ADMIN, h.ops.policy())
    assert not typed.ok  # the thread reply and the CLI follow the same rule

    h.ops.people = People()
    approved = await h.ops.click(ADMIN, approve.token, h.respond)
    assert approved.ok, approved.text
    assert h.case("a1").state is CaseState.KEPT


async def test_without_a_reachable_admin_the_approval_is_withdrawn_and_the_next_press_asks_again() -> None:
    h = await warned_again()
    down = True

    async def flaky(reply):
        return not down

    h.ops.admin_posters[:] = [flaky]
    unreachable = await press_keep(h, "email")
    assert (unreachable.ok, unreachable.waiting) == (False, False)
    assert "could not be reached" in unreachable.text
    case_id = h.case("a1").case_id
    assert h.tokens.open_tokens("org-1", Purpose.APPROVE_KEEP, case_id, h.clock.now()) == []
    down = False
    asked = await press_keep(h, "slack")
    assert asked.waiting
    assert asked.text.startswith("You kept this access several times")


async def test_an_admin_declines_in_the_thread_or_the_cli_and_the_owner_hears_the_deadline_stands() -> None:
    h = await warned_again()
    await press_keep(h, "email")
    case = h.case("a1")
    declined = await KeepApprovals(h.ops).decide(case.case_id, False, ADMIN, h.ops.policy(), "not used in a year")
    assert declined.ok
    assert declined.text == (
        f"Keep not approved by Ada Admin (not used in a year): the access is removed on {case.deadline:%d %B %Y} "
        "as planned."
    )
    assert h.notifier.told[-1][1].startswith("An admin did not approve keeping your Atlassian access")
    [approve] = h.admin_posts[0].buttons
    late = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert late.status is TokenStatus.ALREADY_USED  # the button and the reply are one decision
    assert (await KeepApprovals(h.ops).decide(case.case_id, True, OTHER_ADMIN, h.ops.policy())).text.startswith(
        "No keep"
    )
    h.clock.advance(timedelta(days=15))
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    assert h.case("a1").state is CaseState.ACTIONED


async def test_the_deadline_stands_while_a_keep_waits_and_an_approval_after_it_gives_the_access_back() -> None:
    """The scheduled run (serve) and jira-cleanup run act at the deadline; the waiting keep and its owner hear so."""
    h = await warned_again()
    h.engine.waiting_keeps = KeepApprovals(h.ops)  # as the composition root wires the engine
    await press_keep(h, "email")
    h.clock.advance(timedelta(days=15))
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    assert h.case("a1").state is CaseState.ACTIONED
    assert h.notifier.told[-1][1].startswith("Your keep was still waiting for an admin when the deadline came")
    [approve] = h.admin_posts[0].buttons
    approved = await h.ops.click(ADMIN, approve.token, h.respond)
    assert approved.ok, approved.text
    assert approved.text.endswith("The access removed at the deadline is being given back.")
    assert h.directory.accounts["a1"].membership_status is MembershipStatus.ACTIVE


async def test_the_admin_homes_buttons_decide_through_the_posted_approval_once() -> None:
    """Approve / Deny on the admin home are the posted approval's decision: whichever comes first, once."""
    h = await warned_again()
    await press_keep(h, "email")
    home = await Homes(h.ops).admin(ADMIN)
    [section] = home.sections
    [entry] = section.entries
    assert entry.text.startswith("una@acme.example · ")
    approve, deny = entry.buttons
    assert (approve.label, deny.label) == ("Approve keep", "Deny keep")
    again = await Homes(h.ops).admin(OTHER_ADMIN)  # every home gets buttons of its own, to the same approval
    assert again.sections[0].entries[0].buttons[0].token != approve.token

    [posted] = h.admin_posts[0].buttons
    assert (await h.ops.click(OTHER_ADMIN, posted.token, h.respond)).ok  # decided from the admin channel
    late = await h.ops.click(ADMIN, deny.token, h.respond)
    assert not late.ok
    assert late.text.startswith("No keep of this warning waits")
    assert h.case("a1").state is CaseState.KEPT
    assert (await Homes(h.ops).admin(ADMIN)).sections == ()


async def test_at_the_deadline_admins_without_a_thread_hear_it_even_when_one_of_them_fails() -> None:
    h = await warned_again()
    h.engine.waiting_keeps = KeepApprovals(h.ops)
    heard: list[str] = []

    async def broken(text: str) -> None:
        raise OSError("smtp down")

    async def mailbox(text: str) -> None:
        heard.append(text)

    h.ops.admin_notices[:] = [broken, mailbox]
    await press_keep(h, "email")
    case_id = h.case("a1").case_id
    h.clock.advance(timedelta(days=15))
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    assert h.case("a1").state is CaseState.ACTIONED
    [said] = heard
    assert said.startswith("Keep needs approval — una@acme.example (")
    assert "The deadline passed before anyone approved this keep" in said
    assert said.endswith(f"jira-cleanup decide-keep {case_id} --approve (or --deny).")
    assert h.notifier.told[-1][1].startswith("Your keep was still waiting for an admin")
