"""The Teams surface end to end: activities POSTed to the real /api/messages, a fake Bot Connector on loopback."""

from __future__ import annotations

import asyncio

from core.chat import Actor, hash_token
from core.ledger import RunStatus
from core.lifecycle import CaseState

from .conftest import (
    ADMIN_AAD,
    ADMIN_CHANNEL,
    EVE_AAD,
    SEC_AAD,
    TENANT,
    action_token,
    card_of,
    card_text,
    dm_of,
    policy,
    stale,
)


def keeps(world) -> list:
    return [e for e in world.store.iter_audit() if e.entry.action == "keep" and e.entry.outcome == "ok"]


# -- install → warning → keep ------------------------------------------------------------------


async def test_install_stores_the_reference_with_tenant_and_email(make_world) -> None:
    world = await make_world([stale("a1")])
    member, aad = await world.install_person("a1")
    record = world.conversations.conversation_for_email("teams", "A1@acme.example")
    assert record is not None
    assert (record.kind, record.tenant, record.user_id) == ("personal", TENANT, aad)
    assert record.service_url == world.fake.url
    assert record.reference["conversation"]["id"] == dm_of(member)
    assert "activityId" not in record.reference
    assert world.fake.of("GET", f"/members/{member}")  # TeamsInfo.get_member
    [welcome] = world.fake.activities(dm_of(member))
    assert "restore" in card_text(welcome)


async def test_install_warn_keep_replaces_the_card_and_keeps(make_world) -> None:
    world = await make_world([stale("a1", name="Ada Lovelace")])
    member, aad = await world.install_person("a1")
    report = await world.run()
    assert report.counts["warnings_delivered"] == 1
    warning = world.cards_in(dm_of(member))[-1]
    text = card_text(warning)
    assert "Jira" in text
    assert "8 May 2026" in text  # last active 200 days before NOW
    assert "8 December 2026" in text  # deadline NOW + 14 days
    assert "8.60 EUR" in text
    assert "the IT help channel" in text
    assert warning["summary"].startswith("Unless you keep it")
    assert card_of(warning)["version"] == "1.4"
    keep = action_token(warning, "jc_keep")
    token = world.tokens.get_token(hash_token(keep))
    assert token.intended == Actor("teams", TENANT, aad)
    assert world.case("a1").delivered_at is not None

    response = await world.send(world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "kept until" in str(body["value"])
    assert "actions" not in body["value"]
    assert world.case("a1").state is CaseState.KEPT
    assert len(keeps(world)) == 1
    [update] = world.fake.updates()
    assert update.activity_id == warning["id"]
    replaced = world.fake.activity(dm_of(member), warning["id"])
    assert "kept until" in card_text(replaced)
    assert "actions" not in card_of(replaced)

    again = await world.send(world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"]))
    assert again.json()["type"] == "application/vnd.microsoft.activity.message"
    assert len(keeps(world)) == 1
    assert len(world.fake.updates()) == 1


async def test_wrong_clicker_is_refused_and_nothing_changes(make_world) -> None:
    world = await make_world([stale("a1")])
    member, aad = await world.install_person("a1")
    await world.run()
    warning = world.cards_in(dm_of(member))[-1]
    keep = action_token(warning, "jc_keep")
    for clicker, tenant_aad in (("29:eve", EVE_AAD), ("29:admin", ADMIN_AAD)):
        response = await world.send(world.invoke(clicker, tenant_aad, keep, "jc_keep", dm_of(member), warning["id"]))
        assert response.status_code == 200
        assert response.json() == {
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": "This button is not for you.",
        }
    other_tenant = world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"])
    other_tenant["channelData"]["tenant"]["id"] = "99999999-2222-3333-4444-555555555555"
    assert (await world.send(other_tenant)).json()["value"] == "This button is not for you."
    assert world.fake.updates() == []
    assert world.case("a1").state is CaseState.WARNED
    assert keeps(world) == []
    assert all(t.used_at is None for t in world.tokens.tokens.values())


async def test_release_frees_the_licence_on_the_next_run(make_world) -> None:
    world = await make_world([stale("a1")])
    member, aad = await world.install_person("a1")
    await world.run()
    warning = world.cards_in(dm_of(member))[-1]
    release = action_token(warning, "jc_release")
    response = await world.send(world.invoke(member, aad, release, "jc_release", dm_of(member), warning["id"]))
    assert "licence" in str(response.json()["value"])
    await world.run()
    assert ("remove_from_group:g-jira-software-users", "a1") in world.directory.writes


async def test_justification_required_is_asked_in_the_card(make_world) -> None:
    world = await make_world([stale("a1")], policy(lifecycle={"keep": {"justification_required": True}}))
    member, aad = await world.install_person("a1")
    await world.run()
    warning = world.cards_in(dm_of(member))[-1]
    assert any(b.get("type") == "Input.Text" for b in card_of(warning)["body"])
    keep = action_token(warning, "jc_keep")
    empty = await world.send(world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"]))
    assert empty.json()["type"] == "application/vnd.microsoft.activity.message"
    assert world.case("a1").state is CaseState.WARNED
    filled = world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"], justification="audit")
    assert "kept until" in str((await world.send(filled)).json()["value"])
    assert any("audit" in str(e.entry.reason) for e in keeps(world))


# -- no delivery, no action ------------------------------------------------------------------------


async def test_not_installed_is_not_delivered(make_world) -> None:
    world = await make_world([stale("a1")])
    report = await world.run()
    assert report.counts.get("warnings_delivered", 0) == 0
    assert world.case("a1").delivered_at is None


async def test_roster_403_and_blocked_are_delivery_failures(make_world) -> None:
    world = await make_world([stale("a1"), stale("a2")])
    m1, _ = await world.install_person("a1")
    m2, _ = await world.install_person("a2")
    world.fake.failures[dm_of(m1)] = (403, "BotNotInConversationRoster")
    world.fake.failures[dm_of(m2)] = (403, "MessageWritesBlocked")
    report = await world.run()
    assert report.counts.get("warnings_delivered", 0) == 0
    assert world.case("a1").delivered_at is None
    assert world.case("a2").delivered_at is None
    rule = world.policy.rules[0]
    roster = await world.teams.notifier.warn(stale("a1"), world.case("a1"), rule)
    blocked = await world.teams.notifier.warn(stale("a2"), world.case("a2"), rule)
    assert (roster.delivered, roster.channel) == (False, "teams")
    assert roster.detail.startswith("BotNotInConversationRoster")
    assert blocked.detail.startswith("MessageWritesBlocked")


async def test_member_seen_in_a_team_gets_a_new_one_to_one(make_world) -> None:
    """A person only seen in a team (no 1:1 yet): create_conversation with the tenant, then warn."""
    world = await make_world([stale("a1")])
    member, aad = world.add_person("a1")
    added = world.bot_added_to_channel(ADMIN_CHANNEL)
    added["membersAdded"] = [{"id": member, "aadObjectId": aad}]
    assert (await world.send(added)).status_code == 201
    assert world.conversations.conversation_for_email("teams", "a1@acme.example").kind == "member"
    report = await world.run()
    assert report.counts["warnings_delivered"] == 1
    [create] = world.fake.of("POST", "/v3/conversations")[:1]
    assert create.body["channelData"]["tenant"]["id"] == TENANT
    assert world.cards_in(dm_of(member))
    assert world.conversations.conversation_for_email("teams", "a1@acme.example").kind == "personal"


async def test_throttled_send_is_retried(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.install_person("a1")
    world.fake.throttle = 2
    report = await world.run()
    assert report.counts["warnings_delivered"] == 1
    assert len(world.sleeps) == 2


# -- admin commands --------------------------------------------------------------------------------


async def test_non_admin_command_is_refused_and_changes_nothing(make_world) -> None:
    world = await make_world([stale("a1")])
    response = await world.send(world.message("29:eve", EVE_AAD, "pause"))
    assert response.status_code == 201
    [answer] = world.cards_in(dm_of("29:eve"))
    assert "admins only" in card_text(answer)
    assert not world.store.is_paused("org-1")
    chatter = await world.send(world.message("29:eve", EVE_AAD, "hello there"))
    assert chatter.status_code == 201
    assert "restore" in card_text(world.cards_in(dm_of("29:eve"))[-1])


async def test_admin_commands_pause_status_and_help(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.send(world.message("29:admin", ADMIN_AAD, "jira-cleanup pause incident 7"))
    assert world.store.is_paused("org-1")
    [pause] = [e for e in world.store.iter_audit() if e.entry.action.startswith("pause")] or [None]
    assert pause is None or pause.entry.actor == f"teams:{TENANT}/{ADMIN_AAD}"
    await world.send(world.message("29:admin", ADMIN_AAD, "status", channel=ADMIN_CHANNEL))
    status = world.cards_in(f"{ADMIN_CHANNEL};messageid=171")[-1]
    assert "Kill switch" in card_text(status)
    assert world.conversations.conversation_for_channel("teams", ADMIN_CHANNEL) is not None
    await world.send(world.message("29:admin", ADMIN_AAD, "help"))
    assert "restore" in card_text(world.cards_in(dm_of("29:admin"))[-1])


# -- approvals ---------------------------------------------------------------------------------------


async def test_approval_card_in_admin_channel_approved_and_updated_in_place(make_world) -> None:
    accounts = [stale(f"a{i}") for i in range(4)]
    pol = policy(
        safety={
            "caps": {"per_run": {"max_actions": 2, "max_percent": None}, "window": {"max_actions": None}},
            "canary": {"size": 0},
        },
    )
    world = await make_world(accounts, pol)
    assert (await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))).status_code == 201
    people = {a.account_id: await world.install_person(a.account_id) for a in accounts}
    await world.run()
    report = await world.run(days=15)
    assert report.status is RunStatus.AWAITING_APPROVAL, report
    [approval] = world.cards_in(ADMIN_CHANNEL)
    assert "Approval needed" in card_text(approval)
    approve = action_token(approval, "jc_approve")

    refused = await world.send(world.invoke("29:eve", EVE_AAD, approve, "jc_approve", ADMIN_CHANNEL, approval["id"]))
    assert refused.json()["value"] == "This button is not for you."
    response = await world.send(world.invoke("29:sec", SEC_AAD, approve, "jc_approve", ADMIN_CHANNEL, approval["id"]))
    assert response.status_code == 200
    assert "Approved by" in str(response.json()["value"])
    assert "Approval needed" in str(response.json()["value"])  # the outcome keeps the card's headline
    assert world.store.get_run(report.run_id).status is not RunStatus.AWAITING_APPROVAL
    # Redrawn at the decision (every platform's parent) and with this click's outcome, in place.
    updates = world.fake.updates()
    assert [(u.conversation, u.activity_id) for u in updates] == [(ADMIN_CHANNEL, approval["id"])] * 2
    assert not any(
        a.get("type") == "Action.Execute" for a in updates[0].body["attachments"][0]["content"].get("actions", [])
    )
    assert "Approved by" in card_text(world.fake.activity(ADMIN_CHANNEL, approval["id"]))
    # The rest is in the post's reply chain: the decision, the result and where the run's CSV is.
    replies = [card_text(a) for a in world.fake.activities(f"{ADMIN_CHANNEL};messageid={approval['id']}")]
    assert len(replies) == 3, replies
    assert f"Approved by teams:{TENANT}/{SEC_AAD}: carrying out 4 held actions." in replies[0]
    assert "Result (completed): 4 actions done." in replies[1]
    assert "every decision and its outcome" in replies[2]
    assert ".csv" in replies[2]
    # Safety bar 40: the granted row and each action row link the approval card (conversation / activity id).
    ref = f"teams:{ADMIN_CHANNEL}/{approval['id']}"
    rows = [e.entry for e in world.store.iter_audit() if e.entry.run_id == report.run_id]
    [granted] = [e for e in rows if e.action == "approval.granted"]
    assert (granted.approver, granted.after["approval_ref"]) == (f"teams:{TENANT}/{SEC_AAD}", ref)
    acts = [e for e in rows if e.action.startswith("act.")]
    assert len(acts) == 4
    assert {(e.approver, e.after["approval_ref"]) for e in acts} == {(f"teams:{TENANT}/{SEC_AAD}", ref)}
    assert people


async def test_admins_decide_by_replying_in_the_posts_reply_chain(make_world) -> None:
    accounts = [stale(f"a{i}") for i in range(2)]
    pol = policy(safety={"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}})
    world = await make_world(accounts, pol)
    assert (await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))).status_code == 201
    for a in accounts:
        await world.install_person(a.account_id)
    await world.run()
    report = await world.run(days=15)
    assert report.status is RunStatus.AWAITING_APPROVAL, report
    [parent] = world.cards_in(ADMIN_CHANNEL)
    chain = f"{ADMIN_CHANNEL};messageid={parent['id']}"

    await world.send(world.message("29:eve", EVE_AAD, "approve", channel=ADMIN_CHANNEL, thread=parent["id"]))
    await world.send(world.message("29:admin", ADMIN_AAD, "deny", channel=ADMIN_CHANNEL, thread="999"))
    assert world.store.get_run(report.run_id).status is RunStatus.AWAITING_APPROVAL
    reply = "deny because the list includes the CFO's assistant"
    await world.send(world.message("29:sec", SEC_AAD, reply, channel=ADMIN_CHANNEL, thread=parent["id"]))
    run = world.store.get_run(report.run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.note == "denied: the list includes the CFO's assistant"
    said = [card_text(a) for a in world.fake.activities(chain)]
    assert "Only jira-cleanup admins can decide here." in said[0]
    assert f"Denied by teams:{TENANT}/{SEC_AAD} (the list includes the CFO" in said[-1]
    assert len(said) == 2
    assert "Denied by" in card_text(world.fake.activity(ADMIN_CHANNEL, parent["id"]))
    assert world.directory.writes == []


# -- restore from a 1:1 chat -------------------------------------------------------------------------


async def test_restore_request_goes_to_admins_and_the_user_is_told(make_world) -> None:
    world = await make_world([stale("a1")])
    assert (await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))).status_code == 201
    member, aad = await world.install_person("a1")
    await world.run()
    await world.run(days=14)
    assert world.case("a1").state is CaseState.ACTIONED
    before = len(world.fake.activities(dm_of(member)))

    request_activity = world.message(member, aad, "Restore")
    assert (await world.send(request_activity)).status_code == 201
    assert "sent to the admins" in card_text(world.cards_in(dm_of(member))[-1])
    [request] = [a for a in world.cards_in(ADMIN_CHANNEL) if "Restore request" in card_text(a)]
    assert (await world.send(request_activity)).status_code == 201  # a redelivery of the same activity
    assert len([a for a in world.cards_in(ADMIN_CHANNEL) if "Restore request" in card_text(a)]) == 1

    own = action_token(request, "jc_approve_restore")
    response = await world.send(
        world.invoke("29:sec", SEC_AAD, own, "jc_approve_restore", ADMIN_CHANNEL, request["id"])
    )
    assert "Restore approved" in str(response.json()["value"])
    assert "Restore approved" in card_text(world.fake.activity(ADMIN_CHANNEL, request["id"]))
    told = world.cards_in(dm_of(member))[-1]
    assert "Your request to get access back" in card_text(told)
    assert len(world.fake.activities(dm_of(member))) == before + 2
    assert ("add_to_group:g-jira-software-users", "a1") in world.directory.writes


async def test_run_command_confirm_button_is_only_for_the_requester(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.send(world.message("29:admin", ADMIN_AAD, "run"))
    confirm = world.cards_in(dm_of("29:admin"))[-1]
    token = action_token(confirm, "jc_confirm_run")
    assert world.tokens.get_token(hash_token(token)).message_ref.startswith("teams:")
    other = await world.send(world.invoke("29:sec", SEC_AAD, token, "jc_confirm_run", dm_of("29:admin"), confirm["id"]))
    assert other.json()["value"] == "This button is not for you."
    mine = await world.send(
        world.invoke("29:admin", ADMIN_AAD, token, "jc_confirm_run", dm_of("29:admin"), confirm["id"])
    )
    assert "Running now" in str(mine.json()["value"])
    assert any("Run " in card_text(a) for a in world.cards_in(dm_of("29:admin"))[1:])


async def test_after_the_action_the_person_is_told_in_teams_how_to_get_it_back(make_world) -> None:
    world = await make_world([stale("a1", name="Ada Lovelace")])
    member, _ = await world.install_person("a1")
    await world.run()
    await world.run(days=14)
    notice = world.cards_in(dm_of(member))[-1]
    text = card_text(notice)
    assert "removed your Jira access" in text
    assert "reply restore here" in text
    assert "Action.Execute" not in str(notice)


async def test_requests_from_email_or_jsm_reach_the_teams_admin_channel_and_are_decided_there(make_world) -> None:
    """ChatOps' admin poster for Teams: the email/JSM request appears with single-use buttons."""
    from core.restore_model import RequestState
    from tests.fakes_chat import FakeRestoreStore

    world = await make_world([stale("a1")])
    assert (await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))).status_code == 201
    await world.install_person("a1")
    await world.run()
    await world.run(days=14)
    una = Actor("email", "", "una@acme.example", "Una")
    asked = await world.ops.submit_restore("email", una, "a1", reply_to="una@acme.example")
    assert asked.ok, asked.text
    [request] = [a for a in world.cards_in(ADMIN_CHANNEL) if "Restore request" in card_text(a)]
    assert "via email" in card_text(request)
    deny = action_token(request, "jc_deny_restore")
    response = await world.send(world.invoke("29:sec", SEC_AAD, deny, "jc_deny_restore", ADMIN_CHANNEL, request["id"]))
    assert "Restore denied" in str(response.json()["value"])
    restores = world.ops.restores
    assert isinstance(restores, FakeRestoreStore)
    assert restores.get_request(asked.request.request_id).state is RequestState.DENIED


# -- answers before card updates -------------------------------------------------------------------


async def _two_keeps_one_held(world, monkeypatch) -> tuple[list, asyncio.Event, asyncio.Event]:
    """Warn a1 and a2; a2's click will wait inside its turn until the returned gate is set."""
    people = [await world.install_person(a) for a in ("a1", "a2")]
    await world.run()
    invokes = []
    for member, aad in people:
        warning = world.cards_in(dm_of(member))[-1]
        keep = action_token(warning, "jc_keep")
        invokes.append(world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"]))
    gate, held = asyncio.Event(), asyncio.Event()
    click = world.ops.click

    async def held_click(actor, raw, respond, **kwargs):
        if actor.user_id == people[1][1]:
            held.set()
            await gate.wait()
        return await click(actor, raw, respond, **kwargs)

    monkeypatch.setattr(world.ops, "click", held_click)
    return invokes, gate, held


def _record_updates(world, monkeypatch) -> list[str]:
    started: list[str] = []
    update = world.teams.connector.update

    async def recorded(reference, activity_id, activity):
        started.append(activity_id)
        return await update(reference, activity_id, activity)

    monkeypatch.setattr(world.teams.connector, "update", recorded)
    return started


async def _let_background_run() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_card_updates_wait_until_the_clicks_in_flight_are_answered(make_world, monkeypatch) -> None:
    world = await make_world([stale("a1"), stale("a2")])
    (first, second), gate, held = await _two_keeps_one_held(world, monkeypatch)
    started = _record_updates(world, monkeypatch)
    waiting = asyncio.ensure_future(world.post(second))
    await held.wait()
    answered = await world.post(first)
    assert "kept until" in str(answered.json()["value"])
    await _let_background_run()
    assert started == []  # a1's card waits: a2 is still waiting for an answer
    gate.set()
    assert "kept until" in str((await waiting).json()["value"])
    await world.settle()
    assert sorted(started) == sorted(invoke["replyToId"] for invoke in (first, second))
    assert len(world.fake.updates()) == 2


async def test_a_card_update_waits_no_longer_than_its_limit(make_world, monkeypatch) -> None:
    world = await make_world([stale("a1"), stale("a2")])
    (first, second), gate, held = await _two_keeps_one_held(world, monkeypatch)
    started = _record_updates(world, monkeypatch)
    world.teams.update_defer = 0  # a steady stream of clicks must not starve the updates
    waiting = asyncio.ensure_future(world.post(second))
    await held.wait()
    await world.post(first)
    await _let_background_run()
    assert started == [first["replyToId"]]
    gate.set()
    await waiting
    await world.settle()
    assert len(world.fake.updates()) == 2


# -- the home card on "status" ----------------------------------------------------------------------


async def test_status_in_a_1_1_is_the_persons_own_card_and_keep_works_from_it(make_world) -> None:
    world = await make_world([stale("a1")])
    member, aad = await world.install_person("a1")
    await world.run()
    await world.send(world.message(member, aad, "status"))
    card = world.cards_in(dm_of(member))[-1]
    assert "Your Atlassian access" in card_text(card)
    assert "unless you keep it" in card_text(card)
    keep = action_token(card, "jc_keep")
    response = await world.send(world.invoke(member, aad, keep, "jc_keep", dm_of(member), card["id"]))
    assert "kept until" in str(response.json()["value"])
    assert world.case("a1").state is CaseState.KEPT


async def test_status_in_an_admins_1_1_is_the_admin_home(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.install_person("a1")
    await world.run()
    await world.send(world.install("29:admin", ADMIN_AAD))
    await world.send(world.message("29:admin", ADMIN_AAD, "status"))
    card = world.cards_in(dm_of("29:admin"))[-1]
    assert "admin home" in card_text(card)
    for label in ("Kill switch", "Next run", "Open warnings", "Saved this month"):
        assert label in card_text(card)


def section_token(activity: dict, title: str) -> str:
    """The token of the button titled ``title`` in an ActionSet of the card's body (a home section's entry)."""
    for element in card_of(activity)["body"]:
        for action in element.get("actions", []) if element.get("type") == "ActionSet" else []:
            if action["title"] == title:
                return action["data"]["token"]
    raise AssertionError(f"no {title} button in {activity}")


async def test_a_keep_waiting_for_an_admin_is_on_the_admin_home_card_and_approved_from_it(make_world) -> None:
    world = await make_world([stale("a1")], policy(lifecycle={"keep": {"approval_after": 1}}))
    await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))
    member, aad = await world.install_person("a1")
    for days in (0, 91):  # kept once; the keep ran out and a1 is warned again: this keep needs an admin
        await world.run(days=days)
        warning = world.cards_in(dm_of(member))[-1]
        await world.send(world.invoke(member, aad, action_token(warning, "jc_keep"), "jc_keep", dm_of(member), "w"))
    assert world.case("a1").state is CaseState.WARNED
    await world.send(world.install("29:admin", ADMIN_AAD))
    await world.send(world.message("29:admin", ADMIN_AAD, "status"))
    card = world.cards_in(dm_of("29:admin"))[-1]
    assert "Keeps waiting for you" in card_text(card)
    assert "a1@acme.example · jira-software · kept once before · deadline" in card_text(card)

    approve = section_token(card, "Approve keep")
    response = await world.send(
        world.invoke("29:admin", ADMIN_AAD, approve, "jc_approve_waiting_keep", dm_of("29:admin"), card["id"])
    )
    assert "Keep approved by" in str(response.json()["value"])
    assert world.case("a1").state is CaseState.KEPT
    await world.send(world.message("29:admin", ADMIN_AAD, "status"))
    assert "Keeps waiting for you" not in card_text(world.cards_in(dm_of("29:admin"))[-1])


# -- undo a run ----------------------------------------------------------------------------------


async def test_undo_typed_in_teams_is_held_for_a_second_admin_who_approves_it_from_the_card(make_world) -> None:
    """``undo RUN_ID`` by an admin: a non-admin is refused, the requester cannot approve, another admin can."""
    world = await make_world([stale("a1"), stale("a2")])
    assert (await world.send(world.bot_added_to_channel(ADMIN_CHANNEL))).status_code == 201
    for account in ("a1", "a2"):
        await world.install_person(account)
    requester = f"teams:{TENANT}/{ADMIN_AAD}"
    await world.run(by=requester)
    acted = await world.run(days=14, by=requester)
    assert acted.counts["actions_confirmed"] == 2
    writes = len(world.directory.writes)
    undo_id = f"{acted.run_id}-undo"

    await world.send(world.message("29:eve", EVE_AAD, f"undo {acted.run_id}"))
    assert "admins only" in card_text(world.cards_in(dm_of("29:eve"))[-1])
    await world.send(world.message("29:admin", ADMIN_AAD, f"undo {acted.run_id} dry-run"))
    assert "would restore 2 accounts" in card_text(world.cards_in(dm_of("29:admin"))[-1])
    audit = [e.entry for e in world.store.iter_audit() if e.entry.action == "undo.requested"]
    assert [(e.outcome, e.actor) for e in audit] == [("dry_run", requester)]
    assert not [c for c in world.cards_in(ADMIN_CHANNEL) if "Held restores" in card_text(c)]

    await world.send(world.message("29:admin", ADMIN_AAD, f"undo {acted.run_id}"))
    asked = card_text(world.cards_in(dm_of("29:admin"))[-1])
    assert "awaiting a second admin's approval" in asked
    assert "2 accounts: give jira-software access back" in asked
    [approval] = [c for c in world.cards_in(ADMIN_CHANNEL) if "Held restores" in card_text(c)]
    assert f"Undo {undo_id} holds 2 restores for approval" in str(approval)
    assert world.store.get_run(undo_id).status is RunStatus.AWAITING_APPROVAL
    approve = action_token(approval, "jc_approve")
    chain = f"{ADMIN_CHANNEL};messageid={approval['id']}"

    for member, aad in (("29:eve", EVE_AAD), ("29:admin", ADMIN_AAD)):  # not an admin; the requester
        click = world.invoke(member, aad, approve, "jc_approve", ADMIN_CHANNEL, approval["id"])
        assert (await world.send(click)).json()["value"] == "This button is not for you."
    await world.send(world.message("29:admin", ADMIN_AAD, "approve", channel=ADMIN_CHANNEL, thread=approval["id"]))
    await world.send(world.message("29:eve", EVE_AAD, "approve", channel=ADMIN_CHANNEL, thread=approval["id"]))
    said = [card_text(a) for a in world.fake.activities(chain)]
    assert any("Not approved: the requester of a run cannot approve it" in s for s in said)
    assert any("Only jira-cleanup admins can decide here." in s for s in said)
    assert world.store.get_run(undo_id).status is RunStatus.AWAITING_APPROVAL
    assert len(world.directory.writes) == writes  # nothing restored yet

    response = await world.send(world.invoke("29:sec", SEC_AAD, approve, "jc_approve", ADMIN_CHANNEL, approval["id"]))
    assert "Approved by" in str(response.json()["value"])
    assert [op for op, _a in world.directory.writes[writes:]] == ["add_to_group:g-jira-software-users"] * 2
    assert world.store.get_run(undo_id).status is RunStatus.COMPLETED
    assert world.store.get_run(undo_id).approved_by == f"teams:{TENANT}/{SEC_AAD}"
    assert {world.case(a).state for a in ("a1", "a2")} == {CaseState.KEPT}
    assert "Approved by" in card_text(world.fake.activity(ADMIN_CHANNEL, approval["id"]))
    assert any("Result (completed): 2 actions done." in card_text(a) for a in world.fake.activities(chain))
    refused = [e.entry for e in world.store.iter_audit() if e.entry.action == "approval.refused"]
    assert [e.actor for e in refused] == [requester]
