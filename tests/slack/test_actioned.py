"""The notice after an action, over Slack: found like the warning, plain words, no buttons, honest delivery."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack import blocks as bk
from core.lifecycle import CaseState, Effect, Op
from core.model import Claim
from tests.fakes import NOW

from .conftest import policy, stale

ANY_RULE = {"name": "org", "product": "any", "inactive_days": 90, "warn_days_before": 14}


def block_text(message: dict[str, Any]) -> str:
    return str(message["blocks"])


def notice_audits(world) -> list[Any]:
    return [e.entry for e in world.store.iter_audit() if e.entry.action == "notice.actioned"]


async def warned_then_actioned(world, rule: str = "jira"):
    await world.run()
    await world.run(days=14)
    case = world.case("a1", rule)
    assert case.state is CaseState.ACTIONED
    return case


async def test_removed_product_access_is_told_in_the_warning_dm_with_what_when_why_and_restore(make_world) -> None:
    world = await make_world([stale("a1", name="Ada Lovelace")])
    await warned_then_actioned(world)

    _warning, notice = world.dm_messages("a1")  # the same DM as the warning
    text = notice["text"]
    assert "Hi Ada Lovelace" in text
    assert "on 8 December 2026 jira-cleanup removed your Jira access" in text
    assert "not been used since 8 May 2026" in text
    assert "reply restore here" in text
    assert "#it-help" in text
    assert notice["blocks"][0] == bk.header("Your Jira access was removed")
    assert "*removed your Jira access*" in block_text(notice)
    assert "reply *restore* here" in block_text(notice)  # as the app's own DM help marks it
    assert all(b.get("type") != "actions" for b in notice["blocks"])
    assert "value" not in block_text(notice)
    [audit] = notice_audits(world)
    assert audit.outcome == "ok"
    assert audit.after["channel"] == "slack"
    assert audit.after["attempts"][0]["delivered"] is True


@pytest.mark.parametrize(
    ("action", "claim", "headline", "words"),
    [
        ("suspend", Claim.MANAGED, "Your access to Atlassian products was suspended", "suspended your access to"),
        ("deactivate", Claim.MANAGED, "Your Atlassian account was deactivated", "deactivated your Atlassian account"),
        # An unmanaged account cannot be deactivated: it is suspended, and the notice says so.
        ("deactivate", Claim.UNMANAGED, "Your access to Atlassian products was suspended", "suspended your access"),
    ],
)
async def test_each_action_type_is_named_for_what_really_happened(make_world, action, claim, headline, words) -> None:
    pol = policy(rules=[{**ANY_RULE, "action": action}])
    world = await make_world([stale("a1", claim=claim)], pol)
    await warned_then_actioned(world, "org")
    notice = world.dm_messages("a1")[-1]
    assert notice["blocks"][0] == bk.header(headline)
    assert words in notice["text"]
    assert "8 December 2026" in notice["text"]
    assert "reply restore here" in notice["text"]
    assert all(b.get("type") != "actions" for b in notice["blocks"])


async def test_direct_call_names_the_effect_and_the_action_date(make_world) -> None:
    world = await make_world([stale("a1")])
    case = await warned_then_actioned(world)
    when = NOW + timedelta(days=3)
    removed = replace(case, actioned_at=when, effect=Effect(Op.REMOVE_PRODUCT_ACCESS, ("g1",), "confluence"))
    delivery = await world.slack.notifier.actioned(stale("a1"), removed)
    assert (delivery.delivered, delivery.channel) == (True, "slack")
    assert delivery.detail.startswith(f"DM {world.fake.dm_of('U0A1')}:")
    notice = world.dm_messages("a1")[-1]
    assert "removed your Confluence access" in notice["text"]
    assert "27 November 2026" in notice["text"]
    assert "for a while" in notice["text"]  # no Confluence activity on record: no made-up date


async def test_unknown_email_is_not_delivered_and_nothing_is_posted(make_world) -> None:
    world = await make_world([stale("a1")])
    case = await warned_then_actioned(world)
    posts = len(world.fake.calls("chat.postMessage"))

    stranger = await world.slack.notifier.actioned(stale("nobody"), case)
    assert (stranger.delivered, stranger.channel) == (False, "slack")
    assert stranger.detail.startswith("users_not_found")

    no_email = await world.slack.notifier.actioned(replace(stale("a1"), email=None), case)
    assert not no_email.delivered
    assert no_email.detail.startswith("no_email")
    assert len(world.fake.calls("chat.postMessage")) == posts


@pytest.mark.parametrize("method", ["chat.postMessage", "conversations.open"])
async def test_a_slack_error_is_a_failed_delivery_with_slacks_code(make_world, method) -> None:
    world = await make_world([stale("a1")])
    case = await warned_then_actioned(world)
    before = len(world.dm_messages("a1"))
    world.slack.notifier._dms.clear()  # so that conversations.open is called again
    world.fake.fail(method, "channel_not_found")
    delivery = await world.slack.notifier.actioned(stale("a1"), case)
    assert (delivery.delivered, delivery.channel) == (False, "slack")
    assert delivery.detail.startswith("channel_not_found")
    assert len(world.dm_messages("a1")) == before
    again = await world.slack.notifier.actioned(stale("a1"), case)  # the fault was a one-off
    assert again.delivered


async def test_a_failed_notice_during_the_run_is_audited_and_the_action_stands(make_world) -> None:
    world = await make_world([stale("a1")])
    await world.run()
    world.fake.fail("chat.postMessage", "is_archived")
    await world.run(days=14)
    assert world.case("a1").state is CaseState.ACTIONED
    assert ("remove_from_group:g-jira-software-users", "a1") in world.directory.writes
    [audit] = notice_audits(world)
    assert audit.outcome == "failed"
    assert audit.reason.startswith("is_archived")
