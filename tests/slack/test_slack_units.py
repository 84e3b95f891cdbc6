"""Slack pieces on their own: Block Kit builders, rendering, the email cache, settings, composition."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks as bk
from adapters.slack.notifier import actor_from_audit_id
from adapters.slack.people import EmailDirectory, judge_user
from adapters.wording import seat_products
from bot.chatops import ClickResult, Reply
from bot.compose import Stores, compose
from bot.settings import Settings, SettingsError
from bot.slack_app import build_slack, chat_stores, slack_admins
from bot.slack_render import KeepContext, keep_modal, modal_justification, outcome_update, reply_blocks, respond_args
from core.chat import Actor, Button, Purpose, TokenStatus
from core.lifecycle import Case, CaseState
from core.policy import Action, Rule
from tests.fakes import NOW, FakeStore, make_account
from tests.fakes_chat import FakeProtectionStore, FakeRestoreStore, FakeThreadStore, FakeTokenStore
from tests.fakes_lifecycle import FakeLifecycleStore

from .conftest import TEAM, policy, stale

RULE = Rule("jira", "jira-software", 90, Action.REMOVE_PRODUCT_ACCESS)
ANY = Rule("org", "any", 180, Action.SUSPEND)


def case(rule: Rule = RULE) -> Case:
    return Case(
        "c1",
        "org-1",
        "a1",
        rule.name,
        rule.product,
        rule.action,
        CaseState.WARNED,
        NOW,
        NOW,
        deadline=NOW + timedelta(14),
    )


BUTTONS = (
    Button("Keep my access", "tok-keep", "primary", Purpose.KEEP),
    Button("I don't need it", "tok-rel", "", Purpose.RELEASE),
)


# -- blocks ----------------------------------------------------------------------------------


def test_warning_says_what_when_cost_and_who_and_carries_the_tokens() -> None:
    account = stale("a1", name="Ada <script>")
    text, blocks = bk.warning(
        account, case(), RULE, monthly_cost=Decimal("8.6"), currency="EUR", contact="#it-help", buttons=BUTTONS
    )
    body = str(blocks)
    assert "8 December 2026" in text
    assert "8 May 2026" in body
    assert "8.60 EUR" in body
    assert "#it-help" in body
    assert "&lt;script&gt;" in body
    assert "<script>" not in body
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("jc_keep", "tok-keep"),
        ("jc_release", "tok-rel"),
    ]
    assert actions["elements"][0]["style"] == "primary"


def test_warning_without_known_activity_or_price_omits_those_lines() -> None:
    account = replace(stale("a1"), activity_known=False)
    _, blocks = bk.warning(
        account, case(), RULE, monthly_cost=Decimal(0), currency="USD", contact="IT", buttons=BUTTONS
    )
    assert "last used" not in str(blocks)
    assert "Licence cost" not in str(blocks)
    never = stale("a2", days=None)
    _, blocks = bk.warning(never, case(), RULE, monthly_cost=Decimal(1), currency="USD", contact="IT", buttons=BUTTONS)
    assert "never used" in str(blocks)


def test_any_product_rules_count_every_seat() -> None:
    account = make_account("a1", products={"jira-software": 200, "confluence": 300})
    assert seat_products(account, ANY) == ("confluence", "jira-software")
    assert seat_products(account, RULE) == ("jira-software",)
    _, blocks = bk.warning(
        account, case(ANY), ANY, monthly_cost=Decimal(3), currency="USD", contact="IT", buttons=BUTTONS
    )
    assert "Atlassian products" in str(blocks)


def test_buttons_without_purpose_are_a_bug() -> None:
    with pytest.raises(ValueError, match="no purpose"):
        bk.button_element(Button("x", "t"))


def test_resolved_drops_buttons_and_replaces_an_earlier_outcome() -> None:
    _, blocks = bk.warning(
        stale("a1"), case(), RULE, monthly_cost=Decimal(0), currency="USD", contact="IT", buttons=BUTTONS
    )
    once = bk.resolved(blocks, "kept")
    twice = bk.resolved(once, "kept again")
    assert not any(b["type"] == "actions" for b in twice)
    assert next(b for b in twice if b.get("block_id") == bk.OUTCOME_BLOCK_ID)["elements"][0]["text"] == "kept again"
    assert len(twice) == len(once)


def test_limits_are_respected() -> None:
    long = "x" * 10_000
    assert len(bk.section(long)["text"]["text"]) == bk.SECTION_LIMIT
    assert len(bk.header(long)["text"]["text"]) == bk.HEADER_LIMIT


# -- rendering -------------------------------------------------------------------------------


def test_reply_blocks_split_long_line_lists_and_keep_text() -> None:
    lines = tuple((f"key {i}", "v" * 200) for i in range(60))
    reply = Reply(
        "done", title="Run abc", lines=lines, buttons=(Button("Run now", "t", "danger", Purpose.CONFIRM_RUN),)
    )
    blocks = reply_blocks(reply)
    assert len(blocks) <= bk.MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= bk.SECTION_LIMIT for b in blocks if b["type"] == "section")
    assert blocks[-1]["elements"][0]["action_id"] == "jc_confirm_run"
    args = respond_args(reply)
    assert args["text"] == "Run abc: done"
    assert args["response_type"] == "ephemeral"
    assert respond_args(replace(reply, public=True))["response_type"] == "in_channel"
    assert reply_blocks(Reply(""))  # never empty
    assert "CSV: run.csv" in str(reply_blocks(Reply("x", file=Path("/tmp/run.csv"))))


def test_outcome_update_marks_refused_actions() -> None:
    result = ClickResult(TokenStatus.OK, "keep limit reached", Purpose.KEEP, first=True, ok=False)
    update = outcome_update([bk.section("warning")], result)
    assert update["text"].startswith("Not done: ")


def test_keep_context_round_trips_and_rejects_foreign_metadata() -> None:
    ctx = KeepContext("tok", "D1", "1.2", "https://r", [bk.section("w")])
    assert KeepContext.loads(ctx.dumps()) == ctx
    assert KeepContext.loads("not json") is None
    assert KeepContext.loads('{"t": 1}') is None
    view = keep_modal(ctx)
    assert len(view["private_metadata"]) <= 3000
    state = {"state": {"values": {"jc_reason": {"jc_reason_input": {"value": "  audit  "}}}}}
    assert modal_justification(state) == "audit"
    assert modal_justification({}) == ""


# -- people ----------------------------------------------------------------------------------


def test_judge_user_rejects_everyone_who_is_not_a_full_member_here() -> None:
    base = {"id": "U1", "team_id": TEAM, "profile": {"real_name": "Una", "email": "u@x"}}
    assert judge_user(base, TEAM).user is not None
    for flag, code in [
        ("deleted", "user_deleted"),
        ("is_bot", "user_is_bot"),
        ("is_restricted", "user_is_guest"),
        ("is_ultra_restricted", "user_is_guest"),
        ("is_stranger", "user_is_external"),
    ]:
        found = judge_user({**base, flag: True}, TEAM)
        assert found.user is None
        assert found.reason.startswith(code)
    assert judge_user({**base, "team_id": "T0OTHER"}, TEAM).reason.startswith("user_is_external")


async def test_email_lookups_are_cached_with_a_ttl(fake_slack) -> None:
    fake_slack.add_user("U0UNA", "una@acme.example", real_name="Una")
    now = [0.0]
    people = EmailDirectory(
        AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url), TEAM, ttl=60, monotonic=lambda: now[0]
    )
    first = await people.find("una@acme.example")
    assert first.user is not None
    assert first.user.user_id == "U0UNA"
    assert (await people.find("UNA@acme.example")).user == first.user
    missing = await people.find("nobody@acme.example")
    assert missing.reason.startswith("users_not_found")
    await people.find("nobody@acme.example")
    assert people.api_calls == 2
    now[0] = 61
    await people.find("una@acme.example")
    assert people.api_calls == 3


async def test_transient_lookup_failures_are_not_cached(fake_slack) -> None:
    fake_slack.add_user("U0UNA", "una@acme.example", real_name="Una")
    fake_slack.fail("users.lookupByEmail", "internal_error", status=500)
    people = EmailDirectory(AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url), TEAM)
    failed = await people.find("una@acme.example")
    assert failed.user is None
    assert not failed.definitive
    assert (await people.find("una@acme.example")).user is not None


def test_requester_of_a_run_is_parsed_back_from_its_audit_id() -> None:
    assert actor_from_audit_id("slack:T0ACME/U0ADMIN") == Actor("slack", "T0ACME", "U0ADMIN")
    for other in ("cli:alice", "system:scheduler", "slack:broken", None, ""):
        assert actor_from_audit_id(other) is None


# -- settings and composition ----------------------------------------------------------------


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_slack_settings_secrets_and_admins() -> None:
    s = settings(
        slack_bot_token="xoxb-secret-token",
        slack_signing_secret="signing-secret",
        slack_app_token="xapp-app-token",
        slack_admin_user_ids="U0ADMIN, T0OTHER:U0SEC",
        slack_api_url="http://127.0.0.1:9/api",
    )
    assert s.slack_enabled
    assert {"xoxb-secret-token", "signing-secret", "xapp-app-token"} <= set(s.secret_values())
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    admins = slack_admins(s, TEAM)
    assert admins.is_admin(Actor("slack", TEAM, "U0ADMIN"))
    assert admins.is_admin(Actor("slack", "T0OTHER", "U0SEC"))
    assert not admins.is_admin(Actor("slack", TEAM, "U0SEC"))
    assert not settings(slack_bot_token="xoxb-x").slack_enabled
    with pytest.raises(ValueError, match="not a Slack user id"):
        settings(slack_admin_user_ids="alice")
    with pytest.raises(ValueError, match="https://"):
        settings(slack_api_url="ftp://x")


def test_redaction_covers_slack_secrets() -> None:
    from bot.logs import RedactingFilter

    s = settings(slack_bot_token="xoxb-secret-token", slack_signing_secret="signing-secret")
    redacted = RedactingFilter(s.secret_values()).redact("token xoxb-secret-token secret signing-secret")
    assert "xoxb-secret-token" not in redacted
    assert "signing-secret" not in redacted


def test_chat_stores_come_from_the_stores() -> None:
    tokens, protections = FakeTokenStore(), FakeProtectionStore()
    assert chat_stores(
        Stores(FakeStore(), FakeLifecycleStore(), tokens, protections, FakeRestoreStore(), FakeThreadStore())
    ) == (
        tokens,
        protections,
    )


async def test_build_slack_needs_token_and_secret(make_world) -> None:
    world = await make_world([stale("a1")])
    with pytest.raises(SettingsError):
        build_slack(settings(slack_bot_token="xoxb-x"), world.ops, team_id=TEAM)


async def test_ack_does_not_wait_for_the_web_api(make_world, gate) -> None:
    """With every Web API call held, a click is still acked at once; the work finishes later."""
    world = await make_world([stale("a1")])
    await world.run()
    [warning] = world.dm_messages("a1")
    dm = world.fake.dm_of("U0A1")
    body, _ = world.click_body("U0A1", warning, "jc_keep", channel=dm)
    await world.post(body)  # warm-up: Bolt's one-time auth.test
    await world.settle()
    world.fake.latency_ms = 1
    gate.close()
    body, _ = world.click_body("U0A1", warning, "jc_release", channel=dm)
    started = time.perf_counter()
    response = await world.post(body)
    assert response.status_code == 200
    assert time.perf_counter() - started < 1
    assert world.slack.tasks  # the work is still running, held by the Web API
    gate.open()
    await world.settle()
    assert not world.slack.tasks


async def test_socket_mode_uses_the_app_token_and_cleans_up_on_failure(make_world) -> None:
    """SLACK_APP_TOKEN opens Socket Mode via apps.connections.open (the fake refuses it)."""
    world = await make_world([stale("a1")])
    s = world.settings.model_copy(update={"slack_app_token": SecretStr("xapp-test-token")})
    integration = build_slack(s, world.ops, team_id=TEAM, client=world.client)
    world.fake.tokens.add("xapp-test-token")
    with pytest.raises(SlackApiError):
        await integration.start()
    [call] = world.fake.calls("apps.connections.open")
    assert call.auth == "Bearer xapp-test-token"
    assert integration.socket_mode is None
    await integration.aclose()
    none = build_slack(world.settings, world.ops, team_id=TEAM, client=world.client)
    await none.start()  # no app token: HTTP mode only, nothing to open
    assert none.socket_mode is None


async def test_compose_checks_the_token_and_binds_the_engine(fake_slack) -> None:
    """What `serve` runs: auth.test gives the team that scopes bare admin ids; the engine is bound later."""
    db = Stores(
        FakeStore(),
        FakeLifecycleStore(),
        FakeTokenStore(),
        FakeProtectionStore(),
        FakeRestoreStore(),
        FakeThreadStore(),
    )
    s = settings(
        slack_bot_token=fake_slack.bot_token,
        slack_signing_secret="signing-secret",
        slack_api_url=fake_slack.api_url,
        slack_admin_user_ids="U0ADMIN",
    )
    surfaces = await compose(s, db, policy(), "org-1")
    assert surfaces.slack is not None
    assert surfaces.slack.team_id == TEAM
    assert surfaces.chatops.admins.is_admin(Actor("slack", TEAM, "U0ADMIN"))
    assert surfaces.chatops.admin_posters == [surfaces.slack.post_to_admins]
    with pytest.raises(RuntimeError, match="the engine is not open"):
        async with surfaces.chatops.open_engine():
            pass
    engine = object()
    surfaces.bind(engine)
    async with surfaces.slack.chatops.open_engine() as opened:
        assert opened is engine
    await surfaces.aclose()
    wrong = s.model_copy(update={"slack_bot_token": SecretStr("xoxb-wrong")})
    with pytest.raises(SettingsError, match=r"auth\.test failed"):
        await compose(wrong, db, policy(), "org-1")


HOSTILE = "<!channel> <https://evil.example|Approve here> & co"


def test_user_controlled_text_is_escaped_in_the_text_fallback_too() -> None:
    """Slack renders ``text`` as mrkdwn: a hostile display name must not become a mention or a link."""
    account = make_account("a1", name=HOSTILE, email="eve@acme.example")
    texts = [
        bk.warning(account, case(), RULE, monthly_cost=Decimal(0), currency="USD", contact=HOSTILE, buttons=())[0],
        bk.actioned(account, case(), contact=HOSTILE)[0],
        bk.escalation("org-1", make_account("a1", name=HOSTILE), case(), HOSTILE)[0],
        bk.notice("org-1", HOSTILE)[0],
        bk.plain(HOSTILE)[0],
        respond_args(Reply(HOSTILE, title=HOSTILE))["text"],
        outcome_update([], ClickResult(TokenStatus.OK, HOSTILE))["text"],
    ]
    for text in texts:
        assert "<!channel>" not in text
        assert "<https://" not in text
    assert "&lt;!channel&gt;" in texts[3]


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b'{"type":"block_actions","actions":[]}', "application/json", "not one Slack sends here"),
        (b'{"type":"url_verification","event":null}', "application/json", "without its challenge"),
        (b'{"type":"event_callback","event":{}}', "application/json", "without an event type"),
        (
            b'payload={"type":"block_actions","user":{"id":"U1"},"actions":[]}',
            "application/x-www-form-urlencoded",
            "without actions",
        ),
        (
            b'payload={"type":"view_submission","user":{"id":"U1"}}',
            "application/x-www-form-urlencoded",
            "without its view",
        ),
        (
            b'payload={"type":"block_actions","actions":[{"action_id":"x"}]}',
            "application/x-www-form-urlencoded",
            "without a user id",
        ),
        (b"command=/jira-cleanup&text=help", "application/x-www-form-urlencoded", "without user_id, team_id"),
        (b"payload=null", "application/x-www-form-urlencoded", "not an object"),
    ],
)
def test_signed_bodies_slack_never_sends_are_named_before_bolt(body: bytes, content_type: str, why: str) -> None:
    """Found by the long fuzz run: Bolt answers 500 itself for these; they get a 400 that says why."""
    from bot.slack_app import shape_problem

    problem = shape_problem(body, content_type)
    assert problem is not None
    assert why in problem


def test_what_slack_really_sends_passes_the_shape_check() -> None:
    from bot.slack_app import shape_problem

    assert shape_problem(b'{"type":"url_verification","challenge":"c","token":"t"}', "application/json") is None
    assert (
        shape_problem(b"command=/jira-cleanup&text=help&user_id=U1&team_id=T1", "application/x-www-form-urlencoded")
        is None
    )
    assert shape_problem(b"ssl_check=1&token=x", "application/x-www-form-urlencoded") is None
