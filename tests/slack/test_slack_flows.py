"""The Slack surface end to end: signed HTTP into the bot's server, FakeSlack for the Web API."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from core.audit import verify_chain
from core.chat import hash_token
from core.identity import People
from core.ledger import RunStatus
from core.lifecycle import CaseState
from tests.slackfake.signing import interaction_body, signed_headers, slash_command_body, view_submission_payload

from .conftest import ADMIN, ADMIN_CHANNEL, SECRET, TEAM, button_value, policy, stale


def keeps(world) -> list:
    return [e for e in world.store.iter_audit() if e.entry.action == "keep" and e.entry.outcome == "ok"]


# -- warning → keep --------------------------------------------------------------------------


async def test_warning_dm_then_keep_updates_the_message_and_keeps(make_world) -> None:
    """Engine.run DMs a warning with buttons bound to the user; Keep acks, keeps and edits the DM."""
    world = await make_world([stale("a1", name="Ada Lovelace")])
    report = await world.run()
    assert report.counts["warnings_delivered"] == 1
    [warning] = world.dm_messages("a1")
    assert warning["text"]
    blocks_text = str(warning["blocks"])
    assert "Jira" in blocks_text
    assert "8 May 2026" in blocks_text  # last active: 200 days before NOW
    assert "8 December 2026" in blocks_text  # deadline: NOW + 14 days
    assert "8.60 EUR" in blocks_text
    assert "#it-help" in blocks_text
    case = world.case("a1")
    assert case.delivered_at is not None
    token = world.tokens.get_token(hash_token(button_value(warning, "jc_keep")))
    assert token.message_ref == f"{world.fake.dm_of('U0A1')}:{warning['ts']}"
    assert token.intended.user_id == "U0A1"

    started = time.perf_counter()
    response, name = await world.click("U0A1", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    assert response.status_code == 200
    assert time.perf_counter() - started < 3
    assert world.case("a1").state is CaseState.KEPT
    [update] = world.updates()
    assert update.params["channel"] == world.fake.dm_of("U0A1")
    edited = world.fake.message(world.fake.dm_of("U0A1"), warning["ts"])
    assert "kept until" in edited["text"]
    assert not any(b["type"] == "actions" for b in edited["blocks"])
    assert any(b.get("block_id") == "jc_outcome" for b in edited["blocks"])
    assert world.fake.response_posts(name) == []  # no refusal was sent
    assert len(keeps(world)) == 1


async def test_someone_else_clicking_keep_is_refused_and_nothing_changes(make_world) -> None:
    """A forwarded/misdelivered button: the signed clicker is not the intended user."""
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    response, name = await world.click("U0EVE", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    assert response.status_code == 200
    [refusal] = world.fake.response_posts(name)
    assert refusal["response_type"] == "ephemeral"
    assert "not for you" in refusal["text"]
    assert world.updates() == []
    assert world.case("a1").state is CaseState.WARNED
    assert keeps(world) == []
    token_hashes = [t for t in world.tokens.tokens.values() if t.used_at is not None]
    assert token_hashes == []


async def test_double_click_and_slack_retry_keep_once_confirm_once(make_world) -> None:
    """Two concurrent clicks plus a replay of the same signed request: one keep, one update."""
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    dm = world.fake.dm_of("U0A1")
    body, name = world.click_body("U0A1", warning, "jc_keep", channel=dm)
    first, second = await asyncio.gather(world.post(body), world.post(body))
    retry = await world.post(body)
    await world.settle()
    assert {first.status_code, second.status_code, retry.status_code} == {200}
    assert len(keeps(world)) == 1
    assert len(world.updates()) == 1
    refusals = world.fake.response_posts(name)
    assert len(refusals) == 2
    assert all(r["response_type"] == "ephemeral" and r["replace_original"] is False for r in refusals)
    assert world.case("a1").state is CaseState.KEPT


async def test_expired_button_is_refused(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    world.clock.advance(timedelta(days=46))
    _, name = await world.click("U0A1", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    [refusal] = world.fake.response_posts(name)
    assert "expired" in refusal["text"]
    assert world.updates() == []
    assert world.case("a1").state is CaseState.WARNED


async def test_release_frees_the_licence_on_the_next_run(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    await world.click("U0A1", warning, "jc_release", channel=world.fake.dm_of("U0A1"))
    assert "licence" in world.fake.message(world.fake.dm_of("U0A1"), warning["ts"])["text"]
    await world.run()
    assert ("remove_from_group:g-jira-software-users", "a1") in world.directory.writes


async def test_keep_with_required_justification_opens_a_modal(make_world) -> None:
    """Keep opens a modal; an empty reason is refused inline; the reason lands in the keep."""
    world = await make_world([stale("a1")], policy(lifecycle={"keep": {"justification_required": True}}))
    await world.run()
    [warning] = world.dm_messages("a1")
    dm = world.fake.dm_of("U0A1")
    await world.click("U0A1", warning, "jc_keep", channel=dm)
    [view] = world.fake.views()
    assert view["callback_id"] == "jc_keep_justification"
    assert world.case("a1").state is CaseState.WARNED  # nothing consumed yet

    empty = view_submission_payload(
        "U0A1",
        "T0ACME",
        view["callback_id"],
        {"jc_reason": {"jc_reason_input": ""}},
        private_metadata=view["private_metadata"],
    )
    response = await world.post(interaction_body(empty))
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    await world.settle()
    assert world.case("a1").state is CaseState.WARNED

    thief = view_submission_payload(
        "U0EVE",
        "T0ACME",
        view["callback_id"],
        {"jc_reason": {"jc_reason_input": "mine now"}},
        private_metadata=view["private_metadata"],
    )
    await world.post(interaction_body(thief))
    await world.settle()
    assert world.case("a1").state is CaseState.WARNED

    filled = view_submission_payload(
        "U0A1",
        "T0ACME",
        view["callback_id"],
        {"jc_reason": {"jc_reason_input": "quarterly audit"}},
        private_metadata=view["private_metadata"],
    )
    response = await world.post(interaction_body(filled))
    assert response.status_code == 200
    await world.settle()
    case = world.case("a1")
    assert case.state is CaseState.KEPT
    assert any("quarterly audit" in str(e.entry.reason) for e in keeps(world))
    edited = world.fake.message(dm, warning["ts"])
    assert "kept until" in edited["text"]
    assert "Jira" in str(edited["blocks"])  # the warning stays readable; only the buttons went


# -- slash command -----------------------------------------------------------------------------


async def test_non_admin_command_is_refused_and_changes_nothing(make_world) -> None:
    world = await make_world([stale("a1")])
    response, name = await world.command("pause", user="U0EVE")
    assert response.status_code == 200
    [answer] = world.fake.response_posts(name)
    assert answer["response_type"] == "ephemeral"
    assert "admins only" in answer["text"]
    assert not world.store.is_paused("org-1")
    lookalike = slash_command_body(
        text="pause", user_id="U0ADMIN", team_id="T0OTHER", response_url=world.fake.response_url("other")
    )
    await world.post(lookalike)
    await world.settle()
    assert "admins only" in world.fake.response_posts("other")[0]["text"]
    assert not world.store.is_paused("org-1")


async def test_unknown_sub_command_is_a_short_answer(make_world) -> None:
    world = await make_world([stale("a1")])
    _, name = await world.command("explode")
    [answer] = world.fake.response_posts(name)
    assert "unknown command" in answer["text"]
    assert answer["response_type"] == "ephemeral"
    assert world.fake.calls("chat.postMessage") == []


async def test_pause_is_public_and_audited_with_the_slack_identity(make_world) -> None:
    world = await make_world([stale("a1")])
    _, name = await world.command("pause incident 7")
    [answer] = world.fake.response_posts(name)
    assert answer["response_type"] == "in_channel"
    assert world.store.is_paused("org-1")
    assert any(e.entry.actor == ADMIN.audit_id for e in world.store.iter_audit())


async def test_preview_uploads_the_csv_to_the_channel(make_world) -> None:
    world = await make_world([stale("a1")])
    _, name = await world.command("preview")
    posts = world.fake.response_posts(name)
    assert "preview" in posts[0]["text"].lower()
    assert "dry_run" in posts[-1]["text"]
    [upload] = world.fake.files()
    assert upload["channels"] == [ADMIN_CHANNEL]
    assert upload["name"].endswith(".csv")
    assert upload["content"]
    assert world.directory.writes == []


async def test_run_needs_the_confirm_button_of_the_same_admin(make_world) -> None:
    world = await make_world([stale("a1")])
    _, name = await world.command("run")
    [confirm] = world.fake.response_posts(name)
    message = {"ts": "1718000000.000900", "text": confirm["text"], "blocks": confirm["blocks"]}
    body, other = world.click_body("U0SEC", message, "jc_confirm_run", channel=ADMIN_CHANNEL)
    await world.post(body)
    await world.settle()
    assert "not for you" in world.fake.response_posts(other)[0]["text"]
    assert world.engine.store.recent_runs("org-1") == []

    body, mine = world.click_body("U0ADMIN", message, "jc_confirm_run", channel=ADMIN_CHANNEL)
    body = body.replace(b"%22is_ephemeral%22%3Afalse", b"%22is_ephemeral%22%3Atrue")
    await world.post(body)
    await world.settle()
    posts = world.fake.response_posts(mine)
    assert posts[0]["replace_original"] is True
    assert "Running now" in posts[0]["text"]
    assert posts[-1]["text"].startswith("Run ")
    assert world.dm_messages("a1")  # the run warned a1 over Slack
    assert world.updates() == []  # ephemeral messages are replaced through response_url


# -- approvals -------------------------------------------------------------------------------


async def test_over_cap_run_is_approved_by_another_admin_once(make_world) -> None:
    pol = policy(
        safety={
            "caps": {
                "per_run": {"max_actions": 0, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            }
        }
    )
    world = await make_world([stale("a1"), stale("a2")], pol)
    await world.run(by=ADMIN.audit_id)
    held = await world.run(days=14, by=ADMIN.audit_id)
    assert held.status is RunStatus.AWAITING_APPROVAL
    [approval] = [m for m in world.admin_messages() if "approval" in m["text"].lower()]
    assert world.directory.writes == []

    _, by_requester = await world.click("U0ADMIN", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert "not for you" in world.fake.response_posts(by_requester)[0]["text"]
    _, by_user = await world.click("U0A1", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert "not for you" in world.fake.response_posts(by_user)[0]["text"]
    assert world.directory.writes == []

    _, ok = await world.click("U0SEC", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert world.fake.response_posts(ok) == []
    assert len(world.directory.writes) == 2
    edited = world.fake.message(ADMIN_CHANNEL, approval["ts"])
    assert "2 actions carried out" in edited["text"]
    assert not any(b["type"] == "actions" for b in edited["blocks"])

    _, again = await world.click("U0SEC", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert "2 actions carried out" in world.fake.response_posts(again)[0]["text"]
    assert len(world.directory.writes) == 2
    # The parent is redrawn at the decision (on every platform) and with this click's outcome.
    assert len(world.updates()) == 2
    # Everything after the parent is in its thread: the decision, the result (also shown in the channel), the CSV.
    replies = [m["text"] for m in world.admin_messages() if m.get("thread_ts") == approval["ts"]]
    assert replies == [
        f"Approved by slack:{TEAM}/U0SEC: carrying out 2 held actions.",
        "Result (completed): 2 actions done.",
    ]
    posts = [c.params for c in world.fake.calls("chat.postMessage") if c.params.get("thread_ts") == approval["ts"]]
    assert [bool(p.get("reply_broadcast")) for p in posts] == [False, True]
    [csv_file] = world.fake.files()
    assert csv_file["thread_ts"] == approval["ts"]
    assert csv_file["channels"] == [ADMIN_CHANNEL]
    assert b"a1,a1@acme.example" in csv_file["content"]
    assert b",confirmed," in csv_file["content"]


async def test_the_requester_under_another_identity_is_refused_before_the_button_is_used(make_world) -> None:
    """A run asked for from the CLI by alice: alice's Slack click is refused and the button stays for another admin."""
    world = await make_world([stale("a1"), stale("a2")], _held_policy())
    alice = People.parse(f"alice = cli:alice, slack:{TEAM}/U0SEC")
    world.ops.people = alice
    world.engine.people = alice
    await world.run()
    held = await world.run(days=14)  # requested_by cli:alice
    assert held.status is RunStatus.AWAITING_APPROVAL
    [approval] = [m for m in world.admin_messages() if "approval" in m["text"].lower()]

    _, by_alice = await world.click("U0SEC", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert world.fake.response_posts(by_alice)[0]["text"] == (
        "Not approved: the requester of a run cannot approve it. Another admin must approve it."
    )
    assert world.directory.writes == []
    assert world.store.get_run(held.run_id).status is RunStatus.AWAITING_APPROVAL
    refused = [e.entry for e in world.store.iter_audit() if e.entry.action == "approval.refused"]
    assert [(e.actor, e.run_id) for e in refused] == [(f"slack:{TEAM}/U0SEC", held.run_id)]
    assert refused[0].after == {"approval_ref": f"slack:{ADMIN_CHANNEL}/{approval['ts']}"}

    _, ok = await world.click("U0ADMIN", approval, "jc_approve", channel=ADMIN_CHANNEL)  # the button still works
    assert world.fake.response_posts(ok) == []
    assert len(world.directory.writes) == 2
    assert world.store.get_run(held.run_id).approved_by == ADMIN.audit_id


async def test_a_slack_approval_is_audited_with_its_approver_plan_and_message(make_world) -> None:
    """Safety bar 40: the granted row and every action row of the approved run link the Slack approval message."""
    world = await make_world([stale("a1"), stale("a2")], _held_policy())
    await world.run(by=ADMIN.audit_id)
    held = await world.run(days=14, by=ADMIN.audit_id)
    assert held.status is RunStatus.AWAITING_APPROVAL
    [approval] = [m for m in world.admin_messages() if "approval" in m["text"].lower()]
    approver, ref = f"slack:{TEAM}/U0SEC", f"slack:{ADMIN_CHANNEL}/{approval['ts']}"

    _, ok = await world.click("U0SEC", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert world.fake.response_posts(ok) == []
    rows = [e.entry for e in world.store.iter_audit()]
    [requested] = [e for e in rows if e.action == "approval.requested"]
    assert (requested.run_id, requested.plan_hash) == (held.run_id, held.action_hash)
    [granted] = [e for e in rows if e.action == "approval.granted"]
    assert (granted.actor, granted.approver, granted.outcome) == (approver, approver, "ok")
    assert (granted.run_id, granted.plan_hash, granted.mode) == (held.run_id, held.action_hash, "enforce")
    assert granted.subject is None
    assert granted.after == {"entries": 2, "approval_ref": ref}
    acts = [e for e in rows if e.action.startswith("act.")]
    assert sorted((e.action, e.subject) for e in acts) == [
        ("act.remove_product_access", "a1"),
        ("act.remove_product_access", "a2"),
    ]
    for act in acts:
        assert act.actor == "system:w"
        assert (act.approver, act.run_id, act.plan_hash, act.mode, act.outcome) == (
            approver,
            held.run_id,
            held.action_hash,
            "enforce",
            "ok",
        )
        assert act.before["state"] == "warned"
        assert act.before["evidence"]["last_active"]["jira-software"] is not None
        assert act.after == {"state": "actioned", "groups_removed": ["g-jira-software-users"], "approval_ref": ref}
    assert verify_chain(world.store.iter_audit()).ok


def _held_policy() -> Any:
    """Every action of a run held for approval (no per-run allowance, no canary)."""
    return policy(safety={"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}})


async def test_admins_decide_by_replying_in_the_thread_with_the_buttons_rules(make_world) -> None:
    pol = policy(safety={"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}})
    world = await make_world([stale("a1"), stale("a2")], pol)
    await world.run(by=ADMIN.audit_id)
    held = await world.run(days=14, by=ADMIN.audit_id)
    assert held.status is RunStatus.AWAITING_APPROVAL
    [parent] = [m for m in world.admin_messages() if "approval" in m["text"].lower()]

    def thread() -> list[str]:
        return [m["text"] for m in world.admin_messages() if m.get("thread_ts") == parent["ts"]]

    await world.thread_event("U0SEC", parent["ts"], "looks fine, checking the list", "Ev1")
    assert thread() == []  # talk among admins is not a command and gets no answer
    await world.thread_event("U0EVE", parent["ts"], "approve", "Ev2")
    await world.thread_event("U0ADMIN", parent["ts"], "<@U0BOT> approve", "Ev3")
    assert thread() == [
        "Only jira-cleanup admins can decide here.",
        "Not approved: the requester of a run cannot approve it",
    ]
    assert world.directory.writes == []

    await world.thread_event("U0SEC", parent["ts"], "<@U0BOT> approve", "Ev4")
    assert len(world.directory.writes) == 2
    await world.thread_event("U0SEC", parent["ts"], "approve", "Ev5")  # single use
    assert len(world.directory.writes) == 2
    said = thread()
    assert said[2:4] == [
        f"Approved by slack:{TEAM}/U0SEC: carrying out 2 held actions.",
        "Result (completed): 2 actions done.",
    ]
    assert said[4].startswith("Not approved: run ")
    assert len(said) == 5
    assert "Approved by" in json.dumps(world.fake.message(ADMIN_CHANNEL, parent["ts"]))
    actions = {e.entry.action for e in world.store.iter_audit()}
    assert {"approval.refused", "approval.granted"} <= actions


# -- restore from a DM -----------------------------------------------------------------------


async def test_dm_restore_goes_to_admins_and_the_user_is_told(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    await world.run(days=14)
    assert world.case("a1").state is CaseState.ACTIONED
    dm = world.fake.dm_of("U0A1")
    before = len(world.fake.messages(dm))

    response = await world.dm_event("U0A1", dm, "Restore")
    assert response.status_code == 200
    assert "sent to the admins" in world.fake.messages(dm)[-1]["text"]
    [request] = [m for m in world.admin_messages() if "Restore request" in m["text"]]
    assert world.fake.calls("users.info")[0].params["user"] == "U0A1"

    replay = await world.dm_event("U0A1", dm, "Restore")  # an Events API retry of the same event
    assert replay.status_code == 200
    assert len([m for m in world.admin_messages() if "Restore request" in m["text"]]) == 1

    _, ok = await world.click("U0SEC", request, "jc_approve_restore", channel=ADMIN_CHANNEL)
    assert world.fake.response_posts(ok) == []
    assert "Restore approved" in world.fake.message(ADMIN_CHANNEL, request["ts"])["text"]
    told = world.fake.messages(dm)[-1]
    assert "Your request to get access back" in told["text"]
    assert len(world.fake.messages(dm)) == before + 2
    assert ("add_to_group:g-jira-software-users", "a1") in world.directory.writes


async def test_other_dm_text_gets_help_and_nothing_happens(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    dm = world.fake.dm_of("U0A1")
    await world.dm_event("U0A1", dm, "hello?", event_id="Ev0002")
    assert "send me *restore*" in world.fake.messages(dm)[-1]["text"]
    assert world.admin_messages() == []


# -- delivery failures -----------------------------------------------------------------------


async def test_unreachable_people_are_escalated_not_warned(make_world, fake_slack) -> None:
    """users_not_found, a deactivated user, a guest and an external person: no delivery → escalation."""
    fake_slack.add_user("U0GONE", "gone@acme.example", real_name="Gone", deleted=True)
    fake_slack.add_user("U0GUEST", "guest@acme.example", real_name="Guest", is_restricted=True)
    fake_slack.add_user("U0EXT", "ext@acme.example", real_name="Ext", is_stranger=True)
    accounts = [stale("nobody"), stale("gone"), stale("guest"), stale("ext")]
    world = await make_world(accounts, people=False)
    report = await world.run()
    assert report.counts.get("warnings_delivered", 0) == 0
    assert report.counts["warnings_undelivered"] == 4
    assert report.counts["escalated"] == 4
    assert world.fake.calls("conversations.open") == []
    escalations = world.admin_messages()
    assert len(escalations) == 4
    reasons = " ".join(m["text"] for m in escalations)
    for code in ("users_not_found", "user_is_guest", "user_is_external"):
        assert code in reasons
    for account in accounts:
        assert world.case(account.account_id).delivered_at is None
    # No delivery, no action: even long after the deadline nothing is removed.
    await world.run(days=30)
    assert world.directory.writes == []


async def test_rate_limited_post_is_retried_after_retry_after(make_world, sleeps) -> None:
    world = await make_world([stale("a1")])
    world.fake.rate_limit("chat.postMessage", times=2, retry_after=3)
    report = await world.run()
    assert report.counts["warnings_delivered"] == 1
    assert len(sleeps) == 2
    assert all(3 <= s < 4 for s in sleeps)
    assert len(world.dm_messages("a1")) == 1


async def test_rate_limit_until_exhausted_is_not_a_delivery(make_world, sleeps) -> None:
    world = await make_world([stale("a1")])
    world.fake.rate_limit("chat.postMessage", times=6, retry_after=1)  # the first try and all 5 retries
    report = await world.run()
    assert report.counts["warnings_undelivered"] == 1
    assert len(sleeps) == 5
    assert world.case("a1").delivered_at is None
    assert "ratelimited" in " ".join(m["text"] for m in world.admin_messages())


# -- endpoint security -----------------------------------------------------------------------


async def test_bad_stale_future_and_malformed_signatures_are_401_without_effects(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    body, name = world.click_body("U0A1", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    calls_before = len(world.fake.calls())
    now = int(time.time())
    good = world.post  # signed with the right secret unless told otherwise
    cases = {
        "bad secret": await good(body, secret="not-the-secret"),
        "301 s old": await good(body, timestamp=now - 301),
        "301 s ahead": await good(body, timestamp=now + 301),
        "non-numeric": await good(
            body,
            headers={
                "X-Slack-Request-Timestamp": "abc",
                "X-Slack-Signature": "v0=00",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ),
        "huge": await good(
            body,
            headers={
                "X-Slack-Request-Timestamp": "9" * 400,
                "X-Slack-Signature": "v0=00",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ),
        "missing": await good(body, headers={"Content-Type": "application/x-www-form-urlencoded"}),
    }
    tampered_headers = signed_headers(body, SECRET, now)
    cases["tampered body"] = await world.http.post("/slack/events", content=body + b"x", headers=tampered_headers)
    await world.settle()
    for label, response in cases.items():
        assert response.status_code == 401, label
    assert len(world.fake.calls()) == calls_before
    assert world.fake.response_posts(name) == []
    assert world.case("a1").state is CaseState.WARNED
    assert all(t.used_at is None for t in world.tokens.tokens.values())


async def test_signing_secret_rotation_accepts_the_previous_secret_only_during_the_overlap(make_world) -> None:
    """With SLACK_SIGNING_SECRET_PREVIOUS set both secrets verify; once it is unset the old one is refused."""
    from pydantic import SecretStr

    from bot.slack_app import signature_verifiers

    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    body, _ = world.click_body("U0A1", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    assert (await world.post(body, secret="old-secret-0123456789")).status_code == 401
    overlap = world.settings.model_copy(update={"slack_signing_secret_previous": SecretStr("old-secret-0123456789")})
    world.slack.verifiers = signature_verifiers(overlap)
    assert len(world.slack.verifiers) == 2
    assert (await world.post(body, secret="old-secret-0123456789")).status_code == 200
    await world.settle()
    assert world.case("a1").state is CaseState.KEPT
    world.slack.verifiers = signature_verifiers(world.settings)
    assert (await world.post(body, secret="old-secret-0123456789")).status_code == 401
    assert (await world.post(body)).status_code == 200


async def test_after_the_action_the_person_is_told_in_their_dm_how_to_get_it_back(make_world) -> None:
    """The notice follows the warning in the same DM; it has no buttons, replying "restore" asks back."""
    world = await make_world([stale("a1", name="Ada Lovelace")])
    await world.run()
    await world.run(days=14)
    _warning, notice = world.dm_messages("a1")
    assert "removed your Jira access" in notice["text"]
    assert "reply restore here" in notice["text"]
    assert "#it-help" in notice["text"]
    assert all(b.get("type") != "actions" for b in notice["blocks"])


async def test_the_home_tab_offers_request_access_back_and_the_button_asks_the_admins(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    await world.run(days=14)
    envelope = {
        "token": "deprecated",
        "team_id": TEAM,
        "api_app_id": "A0JIRACLN",
        "type": "event_callback",
        "event_id": "EvHOME1",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "U0A1", "channel": "D0HOME", "tab": "home"},
    }
    body = json.dumps(envelope).encode()
    assert (await world.post(body, content_type="application/json")).status_code == 200
    await world.settle()
    home = world.fake.home_of("U0A1")
    assert home is not None
    assert "Request access back" in json.dumps(home)

    _, url = world.response_url()
    payload = {
        "type": "block_actions",
        "user": {"id": "U0A1", "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0JIRACLN",
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "trigger_id": "1.2.3",
        "response_url": url,
        "actions": [{"action_id": "jc_home_restore", "block_id": "jc_home", "value": "restore", "type": "button"}],
    }
    assert (await world.post(interaction_body(payload))).status_code == 200
    await world.settle()
    assert len([m for m in world.admin_messages() if "Restore request" in m["text"]]) == 1
    assert "sent to the admins" in world.fake.messages(world.fake.dm_of("U0A1"))[-1]["text"]


async def test_the_right_user_id_from_another_slack_team_is_refused(make_world) -> None:
    """Safety bar 27: a validly signed click carrying the intended user id but another team id changes nothing."""
    import json
    from urllib.parse import parse_qs, urlencode

    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    body, name = world.click_body("U0A1", warning, "jc_keep", channel=world.fake.dm_of("U0A1"))
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    payload["user"]["team_id"] = payload["team"]["id"] = "T0OTHER"
    response = await world.post(urlencode({"payload": json.dumps(payload)}).encode())
    await world.settle()
    assert response.status_code == 200
    assert "not for you" in world.fake.response_posts(name)[0]["text"]
    assert world.case("a1").state is CaseState.WARNED
    assert keeps(world) == []


async def test_dm_restore_for_someone_else_goes_to_admins_and_tells_the_owner(make_world) -> None:
    """An admin DMs ``restore for <mailto:…>`` (Slack's email markup); a1 hears of it in their own DM."""
    world = await make_world([stale("a1")])
    world.ops.owner_notice = world.slack.notifier.tell  # as the composition root wires it
    await world.run()
    await world.run(days=14)
    owner_dm = world.fake.dm_of("U0A1")
    before = len(world.fake.messages(owner_dm))
    asker_dm, _ = world.fake._open_dm("U0ADMIN", unknown_error="user_not_found")  # the admin's DM with the bot
    text = "restore for <mailto:a1@acme.example|a1@acme.example>"
    response = await world.dm_event("U0ADMIN", asker_dm, text, event_id="Ev0101")
    assert response.status_code == 200
    assert "a1@acme.example is told too" in world.fake.messages(asker_dm)[-1]["text"]
    [request] = [m for m in world.admin_messages() if "Restore request" in m["text"]]
    assert "asked for someone else's access" in json.dumps(request["blocks"])
    [heard] = world.fake.messages(owner_dm)[before:]
    assert "asked the jira-cleanup admins to give you back" in heard["text"]


async def test_undo_asked_in_chat_cannot_be_approved_by_its_requester(make_world) -> None:
    """/jira-cleanup undo holds the restores for approval; the requester's click and thread reply are refused."""
    world = await make_world([stale("a1"), stale("a2")], policy())
    await world.run(by=ADMIN.audit_id)
    acted = await world.run(days=14, by=ADMIN.audit_id)
    assert len(world.directory.writes) == 2

    _, name = await world.command(f"undo {acted.run_id}")
    assert "awaiting a second admin's approval" in world.fake.response_posts(name)[0]["text"]
    [approval] = [m for m in world.admin_messages() if m["text"].startswith(f"Undo {acted.run_id}-undo")]
    _, by_requester = await world.click("U0ADMIN", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert "not for you" in world.fake.response_posts(by_requester)[0]["text"]
    await world.thread_event("U0ADMIN", approval["ts"], "approve", "Ev1")
    assert len(world.directory.writes) == 2  # nothing restored yet

    await world.click("U0SEC", approval, "jc_approve", channel=ADMIN_CHANNEL)
    assert [op.split(":")[0] for op, _a in world.directory.writes[2:]] == ["add_to_group", "add_to_group"]
    replies = [m["text"] for m in world.admin_messages() if m.get("thread_ts") == approval["ts"]]
    assert "Not approved: the requester of a run cannot approve it" in replies
    assert any(r.startswith("Result (completed): 2") for r in replies)
    [csv_file] = world.fake.files()
    assert (
        b"a1,remove_product_access,give jira-software access back (re-add the removed groups),restored,"
        in (csv_file["content"])
    )
