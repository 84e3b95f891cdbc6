"""The Slack fake, exercised through the real slack_sdk / slack_bolt clients over loopback HTTP."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from .server import BOT_ID, BOT_USER_ID, FakeSlack
from .signing import (
    block_actions_payload,
    interaction_body,
    sign,
    signed_headers,
    slash_command_body,
    view_submission_payload,
)

BLOCKS = [
    {"type": "section", "block_id": "warn", "text": {"type": "mrkdwn", "text": "Your Jira access expires"}},
    {
        "type": "actions",
        "block_id": "buttons",
        "elements": [
            {
                "type": "button",
                "action_id": "keep_access",
                "value": "grant:42",
                "text": {"type": "plain_text", "text": "Keep my access"},
            }
        ],
    },
]


async def error_of(awaitable) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await awaitable
    return info.value


def add_people(fake: FakeSlack) -> None:
    fake.add_user("U0ALICE", "alice@acme.test", real_name="Alice Active")
    fake.add_user("U0GONE", "gone@acme.test", real_name="Gone Person", deleted=True)
    fake.add_user("U0GUEST", "guest@partner.test", real_name="Guest", is_restricted=True)
    fake.add_user("U0HOOK", "hook@acme.test", real_name="Some Bot", is_bot=True)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace the sleep slack_sdk's async retry handlers use; record the requested durations."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=fake_sleep))
    return recorded


# ---------------------------------------------------------------- lifecycle and auth


async def test_start_stop_and_urls() -> None:
    fake = FakeSlack()
    with pytest.raises(RuntimeError):
        _ = fake.api_url
    base = await fake.start()
    try:
        assert base.startswith("http://127.0.0.1:")
        assert int(base.rsplit(":", 1)[1]) > 0
        assert fake.api_url == base + "/api/"
        assert fake.response_url("cmd") == base + "/response/cmd"
        # The client also accepts the URL without the trailing slash (it appends one).
        client = AsyncWebClient(token="xoxb-test", base_url=base + "/api")
        assert (await client.auth_test())["user_id"] == BOT_USER_ID
    finally:
        await fake.stop()


async def test_auth_test_identity(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    resp = await slack_client.auth_test()
    assert resp.status_code == 200
    assert resp["user_id"] == BOT_USER_ID
    assert resp["bot_id"] == BOT_ID
    assert resp["team_id"] == "T0ACME"
    assert fake_slack.calls("auth.test")[0].auth == "Bearer xoxb-test"


async def test_missing_and_invalid_tokens(fake_slack: FakeSlack) -> None:
    no_token = AsyncWebClient(base_url=fake_slack.api_url)
    assert (await error_of(no_token.auth_test())).response["error"] == "not_authed"
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url)
    err = await error_of(bad.auth_test())
    assert err.response["error"] == "invalid_auth"
    assert err.response.status_code == 200
    assert fake_slack.calls("auth.test")[0].auth is None


async def test_unknown_method(slack_client: AsyncWebClient) -> None:
    err = await error_of(slack_client.api_call("chat.teleport", json={"channel": "C1"}))
    assert err.response["error"] == "unknown_method"


# ---------------------------------------------------------------- users


async def test_lookup_by_email_hit_miss_deleted(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    hit = await slack_client.users_lookupByEmail(email="alice@acme.test")
    user = hit["user"]
    assert user["id"] == "U0ALICE"
    assert user["team_id"] == "T0ACME"
    assert user["profile"]["email"] == "alice@acme.test"
    assert user["profile"]["real_name"] == "Alice Active"
    assert (user["deleted"], user["is_restricted"], user["is_ultra_restricted"], user["is_bot"]) == (
        False,
        False,
        False,
        False,
    )

    guest = await slack_client.users_lookupByEmail(email="guest@partner.test")
    assert guest["user"]["is_restricted"] is True

    for email in ["nobody@acme.test", "gone@acme.test", "Alice@acme.test", " alice@acme.test"]:
        err = await error_of(slack_client.users_lookupByEmail(email=email))
        assert err.response["error"] == "users_not_found", email

    calls = fake_slack.calls("users.lookupByEmail")
    assert {c.verb for c in calls} == {"GET"}
    assert calls[0].params == {"email": "alice@acme.test"}


async def test_stranger_is_returned_with_flag(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.add_user("U0EXT", "ext@other.test", real_name="External", is_stranger=True)
    user = (await slack_client.users_lookupByEmail(email="ext@other.test"))["user"]
    assert user["is_stranger"] is True
    assert user["team_id"] != "T0ACME"


async def test_users_info(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    gone = await slack_client.users_info(user="U0GONE")
    assert gone["user"]["deleted"] is True
    bot = await slack_client.users_info(user=BOT_USER_ID)
    assert bot["user"]["is_bot"] is True
    assert (await error_of(slack_client.users_info(user="U0NOPE"))).response["error"] == "user_not_found"
    assert fake_slack.calls("users.info")[0].verb == "GET"


# ---------------------------------------------------------------- DMs and messages


async def test_conversations_open_is_stable_and_validates(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    first = await slack_client.conversations_open(users="U0ALICE")
    dm = first["channel"]["id"]
    assert dm.startswith("D")
    assert "already_open" not in first.data
    again = await slack_client.conversations_open(users=["U0ALICE"])
    assert again["channel"]["id"] == dm
    assert again["already_open"] is True
    assert fake_slack.dm_of("U0ALICE") == dm
    assert fake_slack.dm_of("U0GUEST") is None

    other = await slack_client.conversations_open(users="U0GUEST", return_im=True)
    assert other["channel"]["id"] != dm
    assert other["channel"]["user"] == "U0GUEST"

    expected = {"U0GONE": "user_disabled", "U0HOOK": "cannot_dm_bot", BOT_USER_ID: "cannot_dm_bot"}
    expected["U0NOPE"] = "user_not_found"
    for user_id, error in expected.items():
        assert (await error_of(slack_client.conversations_open(users=user_id))).response["error"] == error

    call = fake_slack.calls("conversations.open")[1]
    assert call.verb == "POST"
    assert call.params == {"users": "U0ALICE"}  # list joined with commas, sent in the query string


async def test_dm_post_update_round_trip(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    dm = (await slack_client.conversations_open(users="U0ALICE"))["channel"]["id"]

    posted = await slack_client.chat_postMessage(channel=dm, text="Your access expires", blocks=BLOCKS)
    ts = posted["ts"]
    assert posted["channel"] == dm
    assert ts == "1718000000.000100"
    assert posted["message"]["bot_id"] == BOT_ID
    assert posted["message"]["blocks"] == BLOCKS

    second = await slack_client.chat_postMessage(channel=dm, text="second")
    assert float(second["ts"]) > float(ts)

    updated = await slack_client.chat_update(channel=dm, ts=ts, text="You kept your access", blocks=[])
    assert updated["ts"] == ts
    assert updated["text"] == "You kept your access"

    messages = fake_slack.messages(dm)
    assert [m["ts"] for m in messages] == [ts, second["ts"]]
    assert messages[0]["text"] == "You kept your access"
    assert messages[0]["blocks"] == []
    assert "edited" in messages[0]

    post_call = fake_slack.calls("chat.postMessage")[0]
    assert post_call.verb == "POST"
    assert post_call.params["blocks"] == BLOCKS  # JSON body: structure arrives intact


async def test_update_keeps_fields_it_is_not_given(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.add_channel("C0ADMIN", ["U0ADMIN"], name="jira-admins")
    ts = (await slack_client.chat_postMessage(channel="#jira-admins", text="approve?", blocks=BLOCKS))["ts"]
    await slack_client.chat_update(channel="C0ADMIN", ts=ts, text="approved by <@U0ADMIN>")
    assert fake_slack.message("C0ADMIN", ts)["blocks"] == BLOCKS


async def test_update_errors(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    dm = (await slack_client.conversations_open(users="U0ALICE"))["channel"]["id"]
    ts = (await slack_client.chat_postMessage(channel=dm, text="hi"))["ts"]

    by_user_id = await error_of(slack_client.chat_update(channel="U0ALICE", ts=ts, text="x"))
    assert by_user_id.response["error"] == "channel_not_found"
    unknown_ts = await error_of(slack_client.chat_update(channel=dm, ts="1718999999.000100", text="x"))
    assert unknown_ts.response["error"] == "message_not_found"
    unknown_channel = await error_of(slack_client.chat_update(channel="C0NOPE", ts=ts, text="x"))
    assert unknown_channel.response["error"] == "channel_not_found"

    human_ts = fake_slack.add_message(dm, "thanks!", user="U0ALICE")
    not_ours = await error_of(slack_client.chat_update(channel=dm, ts=human_ts, text="x"))
    assert not_ours.response["error"] == "cant_update_message"
    assert fake_slack.message(dm, ts)["text"] == "hi"


async def test_post_message_errors_and_user_id_channel(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    via_user = await slack_client.chat_postMessage(channel="U0ALICE", text="hello")
    assert via_user["channel"] == fake_slack.dm_of("U0ALICE")
    assert fake_slack.messages(via_user["channel"])[0]["text"] == "hello"

    cases = {
        "C0NOPE": "channel_not_found",
        "U0NOPE": "channel_not_found",
        "U0GONE": "user_disabled",
    }
    for channel, error in cases.items():
        assert (await error_of(slack_client.chat_postMessage(channel=channel, text="x"))).response["error"] == error

    # api_call directly: chat_postMessage() itself warns (UserWarning) when `text` is missing.
    no_text = await error_of(slack_client.api_call("chat.postMessage", json={"channel": "U0ALICE"}))
    assert no_text.response["error"] == "no_text"
    bad_blocks = await error_of(
        slack_client.api_call("chat.postMessage", json={"channel": "U0ALICE", "text": "x", "blocks": [{"a": 1}]})
    )
    assert bad_blocks.response["error"] == "invalid_blocks"

    fake_slack.add_channel("C0PRIV", ["U0ADMIN"], bot_is_member=False)
    assert (await error_of(slack_client.chat_postMessage(channel="C0PRIV", text="x"))).response[
        "error"
    ] == "not_in_channel"


async def test_post_ephemeral_and_members(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    fake_slack.add_user("U0ADMIN", "admin@acme.test", real_name="Admin", is_admin=True)
    members = [f"U0M{i:03d}" for i in range(5)] + ["U0ADMIN"]
    fake_slack.add_channel("C0ADMIN", members)

    resp = await slack_client.chat_postEphemeral(channel="C0ADMIN", user="U0ADMIN", text="only you")
    assert resp["message_ts"]
    assert fake_slack.ephemerals("C0ADMIN")[0]["user"] == "U0ADMIN"
    assert fake_slack.messages("C0ADMIN") == []
    err = await error_of(slack_client.chat_postEphemeral(channel="C0ADMIN", user="U0ALICE", text="x"))
    assert err.response["error"] == "user_not_in_channel"

    seen: list[str] = []
    cursor = None
    while True:
        page = await slack_client.conversations_members(channel="C0ADMIN", limit=4, cursor=cursor)
        seen.extend(page["members"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [*members, BOT_USER_ID]
    assert fake_slack.calls("conversations.members")[0].verb == "GET"


async def test_views_open(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    view = {
        "type": "modal",
        "callback_id": "cleanup_confirm",
        "title": {"type": "plain_text", "text": "Jira cleanup"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Run?"}}],
    }
    resp = await slack_client.views_open(trigger_id="111.222.abc", view=view)
    assert resp["view"]["id"].startswith("V")
    assert resp["view"]["callback_id"] == "cleanup_confirm"
    assert fake_slack.views()[0]["trigger_id"] == "111.222.abc"

    reused = await error_of(slack_client.views_open(trigger_id="111.222.abc", view=view))
    assert reused.response["error"] == "exchanged_trigger_id"
    fake_slack.expire_trigger("333.444.def")
    expired = await error_of(slack_client.views_open(trigger_id="333.444.def", view=view))
    assert expired.response["error"] == "expired_trigger_id"
    missing = await error_of(slack_client.api_call("views.open", json={"view": view}))
    assert missing.response["error"] == "invalid_arguments"
    # A view sent as a JSON string (form style) is accepted too.
    as_string = await slack_client.api_call("views.open", data={"trigger_id": "555.1.x", "view": json.dumps(view)})
    assert as_string["view"]["type"] == "modal"


# ---------------------------------------------------------------- files


async def test_files_upload_v2_round_trip(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.add_channel("C0ADMIN", ["U0ADMIN"])
    content = b"user,last_seen\nalice,2024-01-01\n"
    resp = await slack_client.files_upload_v2(
        content=content,
        filename="report.csv",
        title="Cleanup report",
        channel="C0ADMIN",
        initial_comment="Dry-run report",
    )
    assert resp["file"]["id"].startswith("F")
    assert resp["file"]["title"] == "Cleanup report"

    [stored] = fake_slack.files()
    assert stored["content"] == content
    assert stored["name"] == "report.csv"
    assert stored["channels"] == ["C0ADMIN"]
    assert stored["initial_comment"] == "Dry-run report"

    get_url = fake_slack.calls("files.getUploadURLExternal")[0]
    assert (get_url.verb, get_url.params) == ("POST", {"filename": "report.csv", "length": str(len(content))})
    complete = fake_slack.calls("files.completeUploadExternal")[0]
    assert complete.verb == "POST"
    assert json.loads(complete.params["files"]) == [{"id": stored["id"], "title": "Cleanup report"}]
    assert complete.params["channel_id"] == "C0ADMIN"


async def test_files_upload_v2_to_unknown_channel(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    err = await error_of(slack_client.files_upload_v2(content="x", filename="a.txt", channel="C0NOPE"))
    assert err.response["error"] == "channel_not_found"
    assert fake_slack.files() == []


async def test_legacy_files_upload_is_retired(fake_slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        form = aiohttp.FormData({"channels": "C0ADMIN"})
        form.add_field("file", b"abc", filename="a.txt")
        headers = {"Authorization": "Bearer xoxb-test"}
        async with session.post(fake_slack.api_url + "files.upload", data=form, headers=headers) as resp:
            assert await resp.json() == {"ok": False, "error": "method_deprecated"}
    params = fake_slack.calls("files.upload")[0].params
    assert params == {"channels": "C0ADMIN", "file": b"abc"}


async def test_slack_sdk_warns_when_blocks_come_without_text(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    """Under filterwarnings=error this UserWarning is an exception: always send `text` too."""
    fake_slack.add_channel("C0ADMIN", [])
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        await slack_client.chat_postMessage(channel="C0ADMIN", blocks=BLOCKS)
    assert fake_slack.messages("C0ADMIN")[0]["text"] == ""


# ---------------------------------------------------------------- call log


async def test_call_log_merges_query_form_and_json(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    await slack_client.api_call("api.test", params={"q": "1"}, data={"f": "2"})
    await slack_client.api_call("api.test", params={"q": "1"}, json={"j": [1, 2], "q": "from-json"})
    await slack_client.api_call("api.test", http_verb="GET", params={"only": "query"})
    form_call, json_call, get_call = fake_slack.calls("api.test")
    assert (form_call.verb, form_call.params) == ("POST", {"q": "1", "f": "2"})
    assert (json_call.verb, json_call.params) == ("POST", {"q": "from-json", "j": [1, 2]})
    assert (get_call.verb, get_call.params) == ("GET", {"only": "query"})
    assert all(c.auth == "Bearer xoxb-test" for c in fake_slack.calls())


async def test_token_in_form_body_and_bad_json(fake_slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(fake_slack.api_url + "auth.test", data={"token": "xoxb-test"}) as resp:
            assert (await resp.json())["ok"] is True
        headers = {"Authorization": "Bearer xoxb-test", "Content-Type": "application/json"}
        async with session.post(fake_slack.api_url + "chat.postMessage", data=b"{nope", headers=headers) as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": False, "error": "invalid_json"}


# ---------------------------------------------------------------- faults


async def test_rate_limit_raises_by_default(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.add_channel("C0ADMIN", [])
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    err = await error_of(slack_client.chat_postMessage(channel="C0ADMIN", text="x"))
    assert err.response.status_code == 429
    assert err.response["error"] == "ratelimited"
    assert err.response.headers["Retry-After"] == "7"
    # The knob is used up: the next call goes through.
    assert (await slack_client.chat_postMessage(channel="C0ADMIN", text="x"))["ok"] is True
    assert len(fake_slack.calls("chat.postMessage")) == 2


async def test_rate_limit_retry_handler_succeeds(fake_slack: FakeSlack, sleeps: list[float]) -> None:
    fake_slack.add_channel("C0ADMIN", [])
    fake_slack.rate_limit("chat.postMessage", times=2, retry_after=0)
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    resp = await client.chat_postMessage(channel="C0ADMIN", text="eventually")
    assert resp["ok"] is True
    assert len(fake_slack.calls("chat.postMessage")) == 3
    assert len(fake_slack.messages("C0ADMIN")) == 1
    assert len(sleeps) == 2
    assert all(0 <= s < 1 for s in sleeps)  # Retry-After + random jitter in [0, 1)


async def test_retry_handler_gives_up_after_max(fake_slack: FakeSlack, sleeps: list[float]) -> None:
    fake_slack.rate_limit("auth.test", times=5, retry_after=3)
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    err = await error_of(client.auth_test())
    assert err.response.status_code == 429
    assert len(sleeps) == 1
    assert 3 <= sleeps[0] < 4


async def test_retry_handler_honours_multi_digit_retry_after(fake_slack: FakeSlack, sleeps: list[float]) -> None:
    fake_slack.rate_limit("auth.test", times=1, retry_after=30)
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    await client.auth_test()
    assert len(sleeps) == 1
    assert 30 <= sleeps[0] < 31


async def test_fail_knob(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    add_people(fake_slack)
    fake_slack.fail("users.lookupByEmail", "fatal_error", times=2)
    for _ in range(2):
        err = await error_of(slack_client.users_lookupByEmail(email="alice@acme.test"))
        assert err.response["error"] == "fatal_error"
    assert (await slack_client.users_lookupByEmail(email="alice@acme.test"))["ok"] is True

    fake_slack.fail("auth.test", "internal_error", status=503)
    err = await error_of(slack_client.auth_test())
    assert err.response.status_code == 503


async def test_latency_knob_uses_injected_sleep() -> None:
    waited: list[float] = []

    async def record(seconds: float) -> None:
        waited.append(seconds)

    async with FakeSlack(sleep=record) as fake:
        fake.latency_ms = 250
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.auth_test()
        fake.latency_ms = 0
        await client.auth_test()
    assert waited == [0.25]


async def test_per_channel_pacing_with_fake_clock() -> None:
    now = [100.0]
    async with FakeSlack(clock=lambda: now[0]) as fake:
        fake.add_channel("C0A", [])
        fake.add_channel("C0B", [])
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel="C0A", text="1")  # pacing is off by default
        await client.chat_postMessage(channel="C0A", text="2")

        fake.pace_posts(1, retry_after=2)
        await client.chat_postMessage(channel="C0A", text="3")
        err = await error_of(client.chat_postMessage(channel="C0A", text="4"))
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "2"
        await client.chat_postMessage(channel="C0B", text="other channel is fine")
        now[0] += 0.999
        assert (await error_of(client.chat_postMessage(channel="C0A", text="5"))).response.status_code == 429
        now[0] += 0.001
        await client.chat_postMessage(channel="C0A", text="6")
        assert [m["text"] for m in fake.messages("C0A")] == ["1", "2", "3", "6"]


# ---------------------------------------------------------------- response_url


async def test_response_url_records_posts_and_limits_uses(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("cmd", max_uses=2)
    async with aiohttp.ClientSession() as session:
        for i in range(3):
            async with session.post(url, json={"text": f"step {i}", "response_type": "ephemeral"}) as resp:
                assert resp.status == (200 if i < 2 else 404)
        async with session.post(fake_slack.base_url + "/response/never-issued", json={}) as resp:
            assert resp.status == 404
    assert [p["text"] for p in fake_slack.response_posts("cmd")] == ["step 0", "step 1"]
    assert fake_slack.response_posts("other") == []


# ---------------------------------------------------------------- signing


def test_sign_matches_slack_sdk_verifier() -> None:
    body = slash_command_body(text="run --dry")
    headers = sign(body, "s3cr3t", 1_718_000_000)
    verifier = SignatureVerifier("s3cr3t", clock=SimpleNamespace(now=lambda: 1_718_000_100.0))
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp="1718000000", body=body)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert verifier.is_valid_request(body, {k.lower(): v for k, v in headers.items()})
    assert not verifier.is_valid(body + b"x", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(body, "1718000000", headers["X-Slack-Signature"])
    stale = SignatureVerifier("s3cr3t", clock=SimpleNamespace(now=lambda: 1_718_000_301.0))
    assert not stale.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


def test_bodies_are_realistic() -> None:
    fields = parse_qs(slash_command_body(text="run --dry", user_id="U0BOSS").decode())
    assert fields["command"] == ["/jira-cleanup"]
    assert fields["text"] == ["run --dry"]
    assert fields["user_id"] == ["U0BOSS"]
    expected = {"team_id", "team_domain", "channel_id", "channel_name", "user_name", "api_app_id"}
    assert expected | {"response_url", "trigger_id"} <= fields.keys()

    payload = block_actions_payload("U0ALICE", "T0ACME", "keep_access", "grant:42", "D0DM0001", "1.2", "http://x/r")
    body = interaction_body(payload)
    assert body.startswith(b"payload=")
    assert json.loads(parse_qs(body.decode())["payload"][0]) == payload

    view = view_submission_payload("U0ADMIN", "T0ACME", "cleanup_confirm", {"reason": {"input": "audit"}})
    assert view["view"]["state"]["values"]["reason"]["input"] == {"type": "plain_text_input", "value": "audit"}


# ---------------------------------------------------------------- end to end with bolt


async def test_bolt_app_end_to_end(fake_slack: FakeSlack) -> None:
    """Signed slash command -> lookup, DM and respond(); then a signed button click -> chat.update."""
    secret = "s3cr3t"
    add_people(fake_slack)
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    app = AsyncApp(client=client, signing_secret=secret, process_before_response=True)

    @app.command("/jira-cleanup")
    async def on_command(ack, command, respond, client) -> None:
        await ack("working on it")
        user = (await client.users_lookupByEmail(email=command["text"]))["user"]
        dm = (await client.conversations_open(users=user["id"]))["channel"]["id"]
        await client.chat_postMessage(channel=dm, text="Your Jira access expires", blocks=BLOCKS)
        await respond(text=f"warned {user['id']}")

    @app.action("keep_access")
    async def on_keep(ack, body, client) -> None:
        await ack()
        await client.chat_update(
            channel=body["container"]["channel_id"], ts=body["container"]["message_ts"], text="Access kept"
        )

    now = int(time.time())
    raw = slash_command_body(text="alice@acme.test", response_url=fake_slack.response_url("cmd"))
    resp = await app.async_dispatch(AsyncBoltRequest(body=raw.decode(), headers=signed_headers(raw, secret, now)))
    assert resp.status == 200
    assert resp.body == "working on it"
    assert fake_slack.response_posts("cmd")[0]["text"] == "warned U0ALICE"
    dm = fake_slack.dm_of("U0ALICE")
    [warning] = fake_slack.messages(dm)
    assert warning["blocks"] == BLOCKS
    # Bolt authorizes with auth.test first, and its per-request client adds team_id to calls.
    assert fake_slack.calls()[0].method == "auth.test"
    assert fake_slack.calls("chat.postMessage")[0].params["team_id"] == "T0ACME"

    click = block_actions_payload(
        "U0ALICE", "T0ACME", "keep_access", "grant:42", dm, warning["ts"], fake_slack.response_url("click")
    )
    raw = interaction_body(click)
    resp = await app.async_dispatch(AsyncBoltRequest(body=raw.decode(), headers=signed_headers(raw, secret, now)))
    assert resp.status == 200
    assert fake_slack.messages(dm)[0]["text"] == "Access kept"

    forged = await app.async_dispatch(AsyncBoltRequest(body=raw.decode(), headers=signed_headers(raw, "wrong", now)))
    assert forged.status == 401


async def test_oauth_v2_access_exchanges_a_granted_code_once_for_a_token_the_workspace_then_accepts(
    fake_slack: FakeSlack,
) -> None:
    client = AsyncWebClient(base_url=fake_slack.api_url)
    client_id, secret = fake_slack.oauth_client
    fake_slack.grant("code-1", bot_token="xoxb-new-0001")
    with pytest.raises(SlackApiError, match="bad_client_secret"):
        await client.api_call(
            "oauth.v2.access", data={"client_id": client_id, "client_secret": "wrong", "code": "code-1"}
        )
    answer = await client.api_call(
        "oauth.v2.access", data={"client_id": client_id, "client_secret": secret, "code": "code-1"}
    )
    assert answer["access_token"] == "xoxb-new-0001"
    assert answer["team"]["id"] == fake_slack.team_id
    assert answer["bot_user_id"] == BOT_USER_ID
    with pytest.raises(SlackApiError, match="invalid_code"):
        await client.api_call(
            "oauth.v2.access", data={"client_id": client_id, "client_secret": secret, "code": "code-1"}
        )
    assert (await client.auth_test(token="xoxb-new-0001"))["team_id"] == fake_slack.team_id
    fake_slack.revoke("xoxb-new-0001")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await client.auth_test(token="xoxb-new-0001")


async def test_a_joined_workspace_answers_the_calls_carrying_its_token(fake_slack: FakeSlack) -> None:
    other = FakeSlack(team_id="T0OTHER2", bot_token="xoxb-other-0002")
    fake_slack.join(other)
    other.add_user("U0OTHER", "o@other.example", real_name="Otto")
    mine = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    theirs = AsyncWebClient(token=other.bot_token, base_url=fake_slack.api_url)
    assert (await theirs.auth_test())["team_id"] == "T0OTHER2"
    assert (await theirs.users_lookupByEmail(email="o@other.example"))["user"]["id"] == "U0OTHER"
    with pytest.raises(SlackApiError, match="users_not_found"):
        await mine.users_lookupByEmail(email="o@other.example")
    await theirs.chat_postMessage(channel="U0OTHER", text="hi")
    assert [c.method for c in other.calls()] == ["auth.test", "users.lookupByEmail", "chat.postMessage"]
    assert other.messages(other.dm_of("U0OTHER"))[0]["text"] == "hi"
