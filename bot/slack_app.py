"""The Slack surface: a Bolt ``AsyncApp`` on the bot's one aiohttp server, and its composition.

Contracts
---------
* ``POST /slack/events`` (slash commands, interactivity and events share it). The v0 signature
  (HMAC-SHA256 over the raw body, constant-time compare, 5-minute window either way) is checked
  with slack_sdk's ``SignatureVerifier`` *before* anything parses the body, and Bolt's own
  verification middleware checks it again. Missing headers, a non-numeric or absurd
  ``X-Slack-Request-Timestamp`` (which would make the verifier raise), a bad or stale signature:
  401 ``{"error": "invalid request"}``, logged, no side effect. A correctly signed body that
  cannot be parsed: 400. No header or body can cause a 500.
* Every listener calls ``ack()`` first and only schedules the real work as a background task
  (``process_before_response=True``: the HTTP answer goes out as soon as the listener has
  scheduled it), so Slack's 3-second budget never depends on Atlassian, the database or the
  Web API. Results come back through ``respond()`` (``response_url``), ``chat.update`` or
  ``chat.postMessage``.
* Handlers are thin: payload → :class:`~core.chat.Actor` (``platform="slack"``, tenant = team id,
  user id from the *signed* payload) → :class:`~bot.chatops.ChatOps` → pure renderers
  (:mod:`bot.slack_render`, :mod:`adapters.slack.blocks`). Authorization (admin allow-list,
  intended recipient, single use, expiry, requester ≠ approver) lives in ChatOps and the
  token store, never here; button values are only references.
* A click that did something updates its message in place (buttons replaced by the outcome);
  a refused click (wrong user, expired, already used — e.g. a double click or a Slack retry)
  gets an ephemeral answer and changes nothing.
* With ``SLACK_APP_TOKEN`` set, :meth:`SlackIntegration.start` also opens a Socket Mode
  connection (no public URL needed; Bolt skips signature checks for socket envelopes).
* With Slack's install flow (:mod:`bot.slack_oauth`) one org's app serves several workspaces:
  each request is answered through its own workspace's client (``notifier.client_for(team)``),
  authorized by that workspace's installation; admin-channel posts go through the admin workspace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.chat_notifier import Parent
from adapters.slack import blocks as bk
from adapters.slack.notifier import People, SlackNotifier, error_code, slack_client
from adapters.slack.people import WorkspacePeople, judge_user
from bot import slack_render as render
from bot.background import Background
from bot.chatops import Admins, ChatOps, ClickResult, Reply, Respond
from bot.compose import Stores
from bot.server import mount
from bot.settings import Settings, SettingsError
from bot.slack_oauth import SlackOAuth
from core.chat import Actor, Purpose, TokenStatus
from core.chatops.conversation import RecentIds, asks_for_restore, dm_help, no_email_text, restore_for
from core.chatops.home import Homes
from core.ports import ProtectionStore, TokenStore

log = logging.getLogger("jira_cleanup.slack")

EVENTS_PATH: Final = "/slack/events"
PLATFORM: Final = "slack"
#: A user mention such as ``<@U0BOT>`` in a message (thread replies may address the bot).
_MENTION: Final = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
_UNAUTHORIZED: Final = {"error": "invalid request"}
DM_HELP: Final = dm_help("*")

BoltRespond = Callable[..., Awaitable[Any]]


# -- composition helpers ---------------------------------------------------------------------


def chat_stores(db: Stores) -> tuple[TokenStore, ProtectionStore]:
    """The token and protection stores ChatOps needs."""
    return db.tokens, db.protections


async def workspace_team_id(client: AsyncWebClient) -> str:
    """The bot's workspace id (``auth.test``); raises ``SlackApiError`` for a bad token."""
    response = await client.auth_test()
    return str(response["team_id"])


def slack_admins(settings: Settings, team_id: str) -> Admins:
    """SLACK_ADMIN_USER_IDS as an allow-list of Slack actors (bare user ids belong to ``team_id``)."""
    return Admins.of(Actor(PLATFORM, team or team_id, user) for team, user in settings.slack_admin_pairs())


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


# -- payload helpers -------------------------------------------------------------------------


def actor_of(body: Mapping[str, Any]) -> Actor:
    """The clicking / submitting user from a signed interaction payload."""
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    name = user.get("name") or user.get("username") or ""
    return Actor(PLATFORM, str(team), str(user.get("id", "")), str(name))


def _first_action(body: Mapping[str, Any]) -> Mapping[str, Any]:
    found = body.get("actions") or [{}]
    first = found[0]
    return first if isinstance(first, Mapping) else {}


@dataclass(frozen=True, slots=True)
class _Where:
    """The clicked message: channel, ts, whether it is ephemeral, its blocks, and the response_url."""

    channel: str
    ts: str
    ephemeral: bool
    blocks: list[dict[str, Any]]
    text: str
    response_url: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Where:
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
        return cls(
            channel=str(channel),
            ts=str(container.get("message_ts") or message.get("ts") or ""),
            ephemeral=bool(container.get("is_ephemeral")),
            blocks=[b for b in message.get("blocks") or [] if isinstance(b, dict)],
            text=str(message.get("text") or ""),
            response_url=str(body.get("response_url") or ""),
        )


@dataclass
class SlackDirect:
    """A person's own conversation with the bot: the Home tab and DMs asking for access back."""

    client: AsyncWebClient
    notifier: SlackNotifier
    chatops: ChatOps
    team_id: str

    async def publish_home(self, user_id: str, notice: str = "") -> None:
        """The person's Home tab: the admin home for admins, their own access for everyone else.

        ``notice``: what their last click on the tab did.
        """
        if not user_id:
            return
        info = await self.client.users_info(user=user_id)
        found = judge_user(info.get("user") or {}, self.team_id)
        person = found.user
        actor = Actor(PLATFORM, self.team_id, user_id, person.name if person is not None else "")
        home = await Homes(self.chatops).for_actor(actor, person.email if person is not None else None)
        link = self.chatops.file_link
        image = link(home.file) if home.file is not None and link is not None else None
        admin = self.chatops.admins.is_admin(actor)
        view = render.home_view(self.notifier.contact, home, admin=admin, notice=notice, image_url=image)
        await self.client.views_publish(user_id=user_id, view=view)

    async def direct_message(self, body: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        channel = str(event.get("channel", ""))
        user_id = str(event.get("user", ""))
        team = str(body.get("team_id") or event.get("team") or self.team_id)
        text = str(event.get("text") or "")
        for_email = restore_for(text)
        if for_email is None and not asks_for_restore(text):
            await self.notifier.post(channel, *bk.plain(DM_HELP), client=self.client)
            return
        await self.restore_request(channel, team, user_id, for_email=for_email)

    async def restore_request(self, channel: str, team: str, user_id: str, *, for_email: str | None = None) -> None:
        """A person asks for access back (DM or Home tab), theirs or ``for_email``'s; the answer goes to ``channel``."""
        info = await self.client.users_info(user=user_id)
        found = judge_user(info.get("user") or {}, team)
        if found.user is None or not found.user.email:
            why = found.reason or "your Slack profile shows no email address"
            await self.notifier.post(
                channel,
                *bk.plain(no_email_text(why, self.notifier.contact)),
                client=self.client,
            )
            return
        actor = Actor(PLATFORM, team, user_id, found.user.name)
        to_user = await self.chatops.request_restore(actor, found.user.email, for_email=for_email)
        await self.notifier.post(channel, **render.message_args(to_user), client=self.client)


# -- the integration -------------------------------------------------------------------------


@dataclass
class SlackIntegration(Background):
    """The Bolt app, the notifier and the aiohttp handler; owns the background tasks it starts."""

    platform = "Slack"

    app: AsyncApp
    client: AsyncWebClient
    notifier: SlackNotifier
    chatops: ChatOps
    team_id: str
    verifiers: tuple[SignatureVerifier, ...]
    app_token: str = ""
    #: Slack's install flow (several workspaces), or None for the one workspace of SLACK_BOT_TOKEN.
    oauth: SlackOAuth | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    socket_mode: Any = None
    _seen: RecentIds = field(default_factory=RecentIds)

    def direct(self, team: str) -> SlackDirect:
        """DMs and the Home tab of a person of workspace ``team``."""
        return SlackDirect(self.notifier.client_for(team), self.notifier, self.chatops, team or self.team_id)

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``POST /slack/events``: refuse malformed signature headers, then dispatch to Bolt."""
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if _TIMESTAMP.fullmatch(timestamp) is None or not signature:
            log.warning("Slack request refused: missing or malformed signature headers")
            return web.json_response(_UNAUTHORIZED, status=401)
        if not any(v.is_valid(body, timestamp, signature) for v in self.verifiers):
            log.warning("Slack request refused: bad or stale signature")
            return web.json_response(_UNAUTHORIZED, status=401)
        problem = shape_problem(body, request.content_type)
        if problem is not None:
            log.warning("Slack request refused: signed but %s", problem)
            return web.json_response({"error": "invalid body", "reason": problem}, status=400)
        try:
            bolt_request = AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.query_string,
                headers={key: request.headers.getall(key) for key in request.headers},
            )
        except ValueError:  # UnicodeDecodeError and json.JSONDecodeError included
            log.warning("Slack request refused: signed but unparseable body")
            return web.json_response({"error": "invalid body"}, status=400)
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    def mount(self, web_app: web.Application, path: str = EVENTS_PATH) -> None:
        """Add ``POST path`` (and, with OAuth, the install routes) to the bot's aiohttp app (before it is served)."""
        mount(web_app, "POST", path, self.handle)
        if self.oauth is not None:
            self.oauth.mount(web_app)

    async def start(self) -> None:
        """Open the Socket Mode connection when an app-level token is configured (else nothing).

        Checks the ``xapp-`` token with ``apps.connections.open`` on the configured API URL first and
        raises ``SlackApiError`` when Slack refuses it, leaving nothing open; once connected, the
        SDK reconnects on its own.
        """
        if not self.app_token or self.socket_mode is not None:
            return
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        # Fail fast on a refused app token: the SDK's connect() itself retries forever.
        await self.client.apps_connections_open(app_token=self.app_token)
        handler: Any = AsyncSocketModeHandler(self.app, self.app_token)  # its methods are untyped
        try:
            await handler.connect_async()
        except BaseException:
            await handler.close_async()
            raise
        self.socket_mode = handler

    async def aclose(self, grace: float = 10.0) -> None:
        """Close Socket Mode, give background work ``grace`` seconds, then cancel what is left."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
            self.socket_mode = None
        await self.settle(grace)

    # -- listeners (ack first, then schedule) ----------------------------------------------

    def register(self) -> None:
        """Attach the listeners to the Bolt app."""
        self.app.command("/jira-cleanup")(self._on_command)
        for action_id in bk.ACTION_IDS.values():
            self.app.action(action_id)(self._on_action)
        self.app.view(render.KEEP_MODAL_ID)(self._on_keep_view)
        self.app.event("message")(self._on_message)
        self.app.event("app_home_opened")(self._on_home_opened)
        self.app.action(render.HOME_RESTORE_ACTION)(self._on_home_restore)
        if self.oauth is not None:
            self.oauth.register(self.app)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        self.spawn(self._command(body, respond), "slash command")

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        self.spawn(self._click(body, respond), "button click")

    async def _on_keep_view(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        reason = render.modal_justification(view)
        if not reason:
            await ack(response_action="errors", errors={render.KEEP_MODAL_BLOCK: "Please say why you need access."})
            return
        await ack()
        self.spawn(self._keep_with_reason(body, view, reason), "keep justification")

    async def _on_message(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        event = body.get("event") or {}
        if event.get("bot_id") or event.get("subtype"):
            return
        in_thread = event.get("channel_type") in ("channel", "group") and event.get("thread_ts")
        if event.get("channel_type") != "im" and not in_thread:
            return
        if not self._seen.first_time(str(body.get("event_id") or "")):
            return
        team = str(body.get("team_id") or event.get("team") or "")
        if in_thread:
            client = self.notifier.client_for(team)
            self.spawn(answer_in_thread(self.chatops, client, self.team_id, body, event), "thread reply")
            return
        self.spawn(self.direct(team).direct_message(body, event), "direct message")

    async def _on_home_opened(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        event = body.get("event") or {}
        if event.get("tab") not in (None, "home"):
            return
        team = str(body.get("team_id") or "")
        self.spawn(self.direct(team).publish_home(str(event.get("user", ""))), "home tab")

    async def _on_home_restore(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or self.team_id)
        user_id = str(user.get("id", ""))

        async def ask() -> None:
            direct = self.direct(team)
            channel = await self.notifier.open_dm(user_id, client=direct.client)
            await direct.restore_request(channel, team, user_id)

        self.spawn(ask(), "restore request from the home tab")

    # -- work ------------------------------------------------------------------------------

    def _responder(self, channel: str, respond: BoltRespond | None, team: str) -> Respond:
        """ChatOps' ``respond``: render a Reply via response_url; upload its CSV to ``channel`` (of ``team``)."""
        client = self.notifier.client_for(team)

        async def send(reply: Reply) -> None:
            if respond is not None:
                result = await respond(**render.respond_args(reply))
                if getattr(result, "status_code", 200) >= 400:
                    log.warning("response_url refused a reply (HTTP %s)", result.status_code)
            elif channel:
                await self.notifier.post(channel, **render.message_args(reply), client=client)
            if reply.file is not None and channel:
                await self._upload(client, channel, reply, respond)

        return send

    async def _upload(self, client: AsyncWebClient, channel: str, reply: Reply, respond: BoltRespond | None) -> None:
        assert reply.file is not None
        try:
            await client.files_upload_v2(
                channel=channel,
                file=str(reply.file),
                filename=reply.file.name,
                title=reply.file.name,
                initial_comment=render.reply_text(reply),
            )
        except SlackApiError as exc:
            log.warning("CSV upload to %s failed: %s", channel, error_code(exc))
            if respond is not None:
                await respond(
                    text=f"I could not upload the CSV here ({error_code(exc)}); it is on the server at {reply.file}.",
                    response_type="ephemeral",
                    replace_original=False,
                )

    async def _command(self, body: Mapping[str, Any], respond: AsyncRespond) -> None:
        actor = Actor(
            PLATFORM, str(body.get("team_id", "")), str(body.get("user_id", "")), str(body.get("user_name", ""))
        )
        send = self._responder(str(body.get("channel_id", "")), respond, actor.tenant)
        reply = await self.chatops.command(actor, str(body.get("text", "")), send)
        await send(reply)

    async def _click(self, body: Mapping[str, Any], respond: AsyncRespond) -> None:
        actor = actor_of(body)
        action = _first_action(body)
        raw = str(action.get("value") or "")
        where = _Where.of(body)
        if (
            action.get("action_id") == bk.ACTION_IDS[Purpose.KEEP]
            and self.chatops.load_policy().lifecycle.keep.justification_required
        ):
            _, status = await self.chatops.peek(raw, actor)
            if status is TokenStatus.OK:
                await self._open_keep_modal(body, raw, where, respond, actor.tenant)
                return
        if (body.get("view") or {}).get("type") == "home":  # a button of the Home tab: redraw it with the outcome
            result = await self.chatops.click(actor, raw, self._responder("", None, actor.tenant))
            self.spawn(self.direct(actor.tenant).publish_home(actor.user_id, notice=result.text), "home tab")
            return
        result = await self.chatops.click(actor, raw, self._responder(where.channel, respond, actor.tenant))
        await self._show(result, actor, where, respond)

    async def _open_keep_modal(
        self, body: Mapping[str, Any], raw: str, where: _Where, respond: AsyncRespond, team: str
    ) -> None:
        ctx = render.KeepContext(raw, where.channel, where.ts, where.response_url, _kept_blocks(where))
        try:
            await self.notifier.client_for(team).views_open(
                trigger_id=str(body.get("trigger_id", "")), view=render.keep_modal(ctx)
            )
        except SlackApiError as exc:
            log.warning("could not open the keep modal: %s", error_code(exc))
            await respond(
                text="I could not open the form (it took too long). Please press *Keep my access* again.",
                response_type="ephemeral",
                replace_original=False,
            )

    async def _keep_with_reason(self, body: Mapping[str, Any], view: Mapping[str, Any], reason: str) -> None:
        ctx = render.KeepContext.loads(str(view.get("private_metadata") or ""))
        if ctx is None:
            log.warning("keep modal submitted without its context")
            return
        respond = AsyncRespond(response_url=ctx.response_url) if ctx.response_url else None
        where = _Where(ctx.channel, ctx.ts, False, ctx.blocks, "", ctx.response_url)
        actor = actor_of(body)
        send = self._responder(ctx.channel, respond, actor.tenant)
        result = await self.chatops.click(actor, ctx.token, send, justification=reason)
        await self._show(result, actor, where, respond)

    async def _show(self, result: ClickResult, actor: Actor, where: _Where, respond: BoltRespond | None) -> None:
        """Update the clicked message in place, or answer a refusal ephemerally.

        A restore requester is told by the desk through the Slack requester channel.
        """
        if not result.first:
            log.info("click refused for %s: %s", actor.audit_id, result.status.value)
            if respond is not None:
                await respond(**render.refusal_args(result))
            return
        update = render.outcome_update(where.blocks or [bk.section(bk.escape(where.text or "jira-cleanup"))], result)
        try:
            if where.ephemeral:
                if respond is not None:
                    await respond(**update, replace_original=True)
            else:
                await self.notifier.client_for(actor.tenant).chat_update(channel=where.channel, ts=where.ts, **update)
        except SlackApiError as exc:
            log.warning("could not update the clicked message: %s", error_code(exc))
            if respond is not None:
                await respond(text=result.text, response_type="ephemeral", replace_original=False)

    async def post_to_admins(self, reply: Reply) -> bool:
        """Post ``reply`` (with its buttons) to the admin channel; False when it could not be posted."""
        parent = Parent.of_reply(self.chatops.org_id, reply)
        text, blocks = render.reply_text(reply), render.reply_blocks(reply)
        posted = await self.notifier.post_admins(text, blocks, reply.buttons, parent=parent)
        if posted is not None and reply.file is not None:  # the file (a chart, a CSV) in the post's thread
            channel, ts = posted
            try:
                await self.notifier.client.files_upload_v2(
                    channel=channel, thread_ts=ts, file=str(reply.file), filename=reply.file.name, title=reply.file.name
                )
            except SlackApiError as exc:
                log.warning("could not upload %s to the admin channel (%s)", reply.file.name, error_code(exc))
        return posted is not None


async def answer_in_thread(
    chatops: ChatOps, client: AsyncWebClient, team_id: str, body: Mapping[str, Any], event: Mapping[str, Any]
) -> None:
    """``approve`` / ``deny because …`` under a request's parent; answered in the thread when refused."""
    channel, parent = str(event.get("channel", "")), str(event.get("thread_ts", ""))
    team = str(body.get("team_id") or event.get("team") or team_id)
    actor = Actor(PLATFORM, team, str(event.get("user", "")))
    text = _MENTION.sub(" ", str(event.get("text") or "")).strip()
    answer = await chatops.thread_reply(actor, PLATFORM, channel, parent, text)
    if answer.reply is not None:
        message, blocks = bk.plain(answer.reply.text)
        await client.chat_postMessage(channel=channel, thread_ts=parent, text=message, blocks=blocks)


def _kept_blocks(where: _Where) -> list[dict[str, Any]]:
    """The clicked message's blocks without buttons, if they fit in the modal's private_metadata."""
    kept = [b for b in where.blocks if b.get("type") != "actions"]
    return kept if len(json.dumps(kept)) <= render.METADATA_BLOCKS_BUDGET else []


# -- input shape -----------------------------------------------------------------------------

#: Keys of an interaction payload or event envelope that Bolt reads as objects when present.
_OBJECT_KEYS: Final = ("user", "team", "view", "container", "channel", "message", "event", "enterprise", "state")


#: What Slack sends as a JSON body (the Events API) and as a form ``payload`` (interactivity).
_EVENT_TYPES: Final = frozenset({"event_callback", "url_verification", "app_rate_limited"})
_INTERACTION_TYPES: Final = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"}
)


def shape_problem(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not something Slack sends (None when it is), before Bolt sees it.

    Slack sends form bodies (slash commands; interactions as ``payload=<JSON object>``) and JSON
    event envelopes. Everything Bolt and the listeners read must be there with the right type:
    a slash command names the command, user and team; an interaction has a known type and a user;
    a click has at least one action with an id; an event envelope carries an event object.
    """
    try:
        text = body.decode("utf-8")
        if content_type == "application/json":
            envelope = json.loads(text)
            kinds = _EVENT_TYPES
        else:
            fields = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
            if "payload" not in fields:
                if "ssl_check" in fields:
                    return None
                missing = [f for f in ("command", "user_id", "team_id") if not fields.get(f)]
                return f"a slash command without {', '.join(missing)}" if missing else None
            envelope = json.loads(fields["payload"])
            kinds = _INTERACTION_TYPES
    except (UnicodeDecodeError, ValueError):
        return "not JSON or form data"
    if not isinstance(envelope, dict):
        return "the payload is not an object"
    kind = envelope.get("type")
    if kind not in kinds:
        return f"type {kind!r} is not one Slack sends here"
    for key in _OBJECT_KEYS:
        if key in envelope and envelope[key] is not None and not isinstance(envelope[key], dict):
            return f"{key} is not an object"
    if kind == "event_callback" and not isinstance((envelope.get("event") or {}).get("type"), str):
        return "an event callback without an event type"
    if kind == "url_verification" and not isinstance(envelope.get("challenge"), str):
        return "a URL verification without its challenge"
    if kinds is _INTERACTION_TYPES:
        if not isinstance((envelope.get("user") or {}).get("id"), str):
            return "an interaction without a user id"
        actions = envelope.get("actions")
        if kind == "block_actions" and not (
            isinstance(actions, list)
            and actions
            and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
        ):
            return "a click without actions"
        if kind.startswith("view_") and not isinstance(envelope.get("view"), dict):
            return "a view event without its view"
    for key in ("actions", "authorizations"):
        if key in envelope and not (
            isinstance(envelope[key], list) and all(isinstance(item, dict) for item in envelope[key])
        ):
            return f"{key} is not a list of objects"
    return None


# -- factory ---------------------------------------------------------------------------------


def build_slack(
    settings: Settings,
    chatops: ChatOps,
    *,
    team_id: str,
    client: AsyncWebClient | None = None,
    price: Callable[[str], Decimal] | None = None,
    currency: str | None = None,
    people: People | None = None,
    oauth: SlackOAuth | None = None,
) -> SlackIntegration:
    """Compose the Slack surface: client (rate-limit retries), notifier, Bolt app and listeners.

    ``team_id`` is the workspace the bot is installed in (:func:`workspace_team_id`). ``price``
    and ``currency`` default to the policy's. ``oauth``: the app is installed in workspaces through
    Slack's install flow (:mod:`bot.slack_oauth`): each request is authorized with its workspace's
    installation, people are looked up in every workspace, ``team_id`` is the admin workspace (or "").
    Raises :class:`SettingsError` unless SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (or the OAuth
    client id and secret) are set. Nothing touches the network here.
    """
    if not settings.slack_enabled:
        raise SettingsError(
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and "
            "SLACK_SIGNING_SECRET) must be set to enable Slack"
        )
    if oauth is not None:
        client = client or oauth.workspaces.admin_client
        people = people or WorkspacePeople(oauth.workspaces)
    client = client or slack_client(_secret(settings.slack_bot_token), settings.slack_api_url)
    policy = chatops.load_policy()
    notifier = SlackNotifier(
        client,
        chatops.buttons,
        team_id,
        admin_channel=settings.slack_admin_channel_id,
        price=price or (lambda product: chatops.load_policy().price(product)),
        currency=currency or policy.currency,
        contact=settings.slack_warning_contact,
        people=people,
        clients=oauth.workspaces.client if oauth is not None else None,
    )
    integration = SlackIntegration(
        app=_bolt_app(settings, client, oauth),
        client=client,
        notifier=notifier,
        chatops=chatops,
        team_id=team_id,
        verifiers=signature_verifiers(settings),
        app_token=_secret(settings.slack_app_token),
        oauth=oauth,
    )
    integration.register()
    return integration


def _bolt_app(settings: Settings, client: AsyncWebClient, oauth: SlackOAuth | None) -> AsyncApp:
    return AsyncApp(
        # With OAuth every request gets its own workspace's token from ``authorize``.
        client=client if oauth is None else slack_client("", settings.slack_api_url),
        authorize=oauth.authorizer() if oauth is not None else None,  # type: ignore[arg-type]  # None: not installed
        signing_secret=_secret(settings.slack_signing_secret),
        # Every HTTP request is verified by SlackIntegration.handle before Bolt sees it, against the
        # current secret and, during a rotation, the previous one (which Bolt alone cannot do).
        request_verification_enabled=False,
        process_before_response=True,
        name="jira-cleanup",
        logger=logging.getLogger("jira_cleanup.slack.bolt"),
    )


def signature_verifiers(settings: Settings) -> tuple[SignatureVerifier, ...]:
    """The current signing secret, plus the previous one while ``SLACK_SIGNING_SECRET_PREVIOUS`` is set."""
    secrets = [settings.slack_signing_secret, settings.slack_signing_secret_previous]
    return tuple(SignatureVerifier(s.get_secret_value()) for s in secrets if s is not None and s.get_secret_value())
