"""The Teams surface: a botbuilder ``CloudAdapter`` at ``POST /api/messages`` on the bot's one server.

Contracts
---------
* Configuration uses botbuilder's names: MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD,
  MICROSOFT_APP_TENANT_ID, MICROSOFT_APP_TYPE; admins are TEAMS_ADMIN_AAD_IDS. With an empty
  app id :func:`build_teams` refuses (``SettingsError``) unless TEAMS_LOCAL_DEV is set, and then
  logs a loud warning: Bot Framework authentication is off.
* ``POST /api/messages``: our own aiohttp handler around ``CloudAdapter.process_activity`` (not
  ``CloudAdapter.process``, which turns a malformed ``Authorization`` header into a 500 and
  double-serializes invoke responses). Non-JSON → 415; unparseable body or no activity type →
  400; **no or non-http(s) ``serviceUrl`` → 400** (the SDK would skip its serviceUrl check).
  Authentication: with auth on, the token must be ``Bearer <JWT>`` whose unverified header
  and claims already show an RS256/384/512 ``alg``, ``iss`` = ``https://api.botframework.com``,
  ``aud`` = our app id and ``serviceurl`` = the activity's (so Emulator / skill tokens are not
  accepted), then botbuilder verifies signature, expiry (5 min skew), key (OpenID JWKS) and
  endorsements. No header → 401; any other failure → 403, logged, nothing runs. With auth
  off (local dev) a request carrying an ``Authorization`` header → 401. When
  MICROSOFT_APP_TENANT_ID is set, activities from other tenants → 403.
* Install (``installationUpdate`` / ``conversationUpdate``) and every first message store a
  :class:`~core.ports.ConversationRecord`: the user's 1:1 ``ConversationReference`` keyed by
  tenant (``channelData.tenant.id``, never ``conversation.tenantId``, which botbuilder drops)
  + AAD object id, with the email from ``TeamsInfo.get_member``; channels by channel id;
  people added to a team as ``member`` records (a 1:1 is created when they must be warned).
* ``status`` (or ``home``) in a 1:1: the person's home card (:class:`~core.chatops.home.Homes`;
  admins get the admin home, with Approve / Deny of held runs and the report chart).
* Messages: ``restore`` (or ``restore for <email>``: someone else's access) in a 1:1 →
  :meth:`ChatOps.request_restore` (approval card to the admin
  channel); anything else from an admin, or any command word from anyone → :meth:`ChatOps.command`
  (which refuses non-admins); other text → a short help. The @mention is stripped.
* ``adaptiveCard/action`` invokes (``Action.Execute``): ``data.token`` → :meth:`ChatOps.click`
  with ``Actor("teams", tenant id, AAD object id)`` (intended recipient, single use, expiry,
  admin / requester checks live there). A click that did something answers with the outcome
  card (replacing the card for the clicker) and updates the posted card for everyone in the
  background, once the turns in flight are answered (at most ``update_defer`` seconds later); a
  refused click answers with a message and changes nothing. The invoke response body is
  serialized once, by us (:class:`InvokeBody`: botbuilder 4.17's double-serialization crash
  avoided, and its deep copy of the body skipped).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Final

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext, serializer_helper
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes
from msrest.serialization import Model

from adapters.chat_notifier import Parent
from adapters.teams import cards
from adapters.teams.connector import CachedConnectors, TeamsConnector, TeamsSendError, message, reference_json
from adapters.teams.notifier import TeamsNotifier
from bot import teams_render as render
from bot.background import Background
from bot.chatops import Admins, ChatOps, Reply, Respond
from bot.compose import Stores
from bot.server import mount
from bot.settings import Settings, SettingsError
from core.chat import Actor
from core.chatops.commands import COMMANDS
from core.chatops.conversation import RecentIds, asks_for_restore, dm_help, no_email_text, restore_for
from core.chatops.home import Homes
from core.clock import SystemClock
from core.ports import Clock, ConversationRecord, ConversationStore

log = logging.getLogger("jira_cleanup.teams")

MESSAGES_PATH: Final = "/api/messages"
PLATFORM: Final = "teams"
#: botframework.connector.auth.AuthenticationConstants' channel issuer and signing algorithms.
BOT_FRAMEWORK_ISSUER: Final = "https://api.botframework.com"
ALLOWED_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})
CARD_ACTION: Final = "adaptiveCard/action"
MAX_MEMBER_LOOKUPS: Final = 25
MAX_CONCURRENT_UPDATES: Final = 4
#: Card updates wait while invokes are being answered, but never longer than this (seconds).
MAX_UPDATE_DEFER: Final = 2.0
#: What a person types in a 1:1 for their home card (admins get the admin home).
HOME_WORDS: Final = frozenset({"status", "home", "my access"})
_COMMAND_WORDS: Final = frozenset(COMMANDS.names())
_PREFIXES: Final = ("/jira-cleanup", "jira-cleanup")
_TAG: Final = re.compile(r"<[^>]*>")
DM_HELP: Final = dm_help()
LOCAL_DEV_WARNING: Final = (
    "!!! TEAMS_LOCAL_DEV is set and MICROSOFT_APP_ID is empty: Bot Framework authentication is OFF. "
    "Anyone who can reach /api/messages can act as any Teams user. Never run this way in production. !!!"
)


# -- configuration -----------------------------------------------------------------------------


def teams_admins(settings: Settings) -> Admins:
    """TEAMS_ADMIN_AAD_IDS as Teams actors; bare ids belong to MICROSOFT_APP_TENANT_ID."""
    tenant_default = (settings.microsoft_app_tenant_id or "").strip().lower()
    actors = []
    for tenant, user in settings.teams_admin_pairs():
        if not (tenant or tenant_default):
            raise SettingsError(
                "TEAMS_ADMIN_AAD_IDS: bare object ids need MICROSOFT_APP_TENANT_ID; or write TENANT_ID:OBJECT_ID"
            )
        actors.append(Actor(PLATFORM, tenant or tenant_default, user))
    return Admins.of(actors)


def auth_configuration(settings: Settings, overrides: Mapping[str, str] | None = None) -> SimpleNamespace:
    """The configuration object botbuilder's ``ConfigurationBotFrameworkAuthentication`` reads.

    ``overrides`` (tests only: a local OpenID metadata URL) are botbuilder's own upper-case keys.
    """
    password = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
    config = SimpleNamespace(
        APP_ID=settings.microsoft_app_id.strip(),
        APP_PASSWORD=password,
        APP_TYPE=settings.microsoft_app_type,
        APP_TENANTID=(settings.microsoft_app_tenant_id or "").strip() or None,
    )
    for key, value in (overrides or {}).items():
        setattr(config, key, value)
    return config


# -- request checks ------------------------------------------------------------------------------


def _b64_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


#: Bot Framework tokens are about 1.5 KB; anything far larger is not one.
MAX_AUTHORIZATION: Final = 8192


def token_precheck(header: str | None, app_id: str, service_url: str) -> str | None:
    """Why a Bot Framework ``Authorization`` header is refused before signature checks, or None.

    Only the cheap, unverified shape is checked here (scheme, JWT form, alg, iss, aud,
    serviceurl); botbuilder then verifies the signature, expiry and key.
    """
    if not header:
        return "missing Authorization header"
    if len(header) > MAX_AUTHORIZATION:
        return "Authorization header too long"
    scheme, _, token = header.partition(" ")
    parts = token.split(".")
    if scheme != "Bearer" or len(parts) != 3 or not all(parts[:2]):
        return "malformed Authorization header"
    try:
        head, claims = _b64_json(parts[0]), _b64_json(parts[1])
    except (ValueError, UnicodeError, RecursionError):
        return "malformed JWT"
    if not isinstance(head, dict) or not isinstance(claims, dict):
        return "malformed JWT"
    if head.get("alg") not in ALLOWED_ALGORITHMS:
        return f"algorithm {head.get('alg')!r} not allowed"
    if claims.get("iss") != BOT_FRAMEWORK_ISSUER:
        return "issuer is not the Bot Framework"
    if claims.get("aud") != app_id:
        return "audience is not this bot"
    if not claims.get("serviceurl"):
        return "no serviceurl claim"
    if claims.get("serviceurl") != service_url:
        return "serviceurl claim differs from the activity's serviceUrl"
    return None


def _valid_service_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > len("https://")


def _json_error(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


# -- activity helpers ----------------------------------------------------------------------------


def channel_data(activity: Any) -> Mapping[str, Any]:
    """``channelData`` as a mapping (botbuilder keeps it as the raw JSON object)."""
    data = getattr(activity, "channel_data", None)
    return data if isinstance(data, Mapping) else {}


def tenant_of(activity: Any) -> str:
    """The tenant id from ``channelData.tenant.id`` (``conversation.tenantId`` is dropped by botbuilder)."""
    tenant = channel_data(activity).get("tenant") or {}
    value = tenant.get("id") if isinstance(tenant, Mapping) else None
    return str(value or "").strip().lower()


def actor_of(activity: Any) -> Actor | None:
    """The sender as a Teams :class:`Actor` (tenant, AAD object id); None without both."""
    sender = getattr(activity, "from_property", None)
    aad = str(getattr(sender, "aad_object_id", "") or "").strip().lower()
    tenant = tenant_of(activity)
    if not aad or not tenant:
        return None
    return Actor(PLATFORM, tenant, aad, str(getattr(sender, "name", "") or ""))


def conversation_type(activity: Any) -> str:
    """``personal`` | ``channel`` | ``groupChat`` (``personal`` when Teams did not say)."""
    conversation = getattr(activity, "conversation", None)
    return str(getattr(conversation, "conversation_type", "") or "personal")


def channel_id_of(activity: Any) -> str:
    """The channel of a channel activity (without the ``;messageid=`` thread suffix)."""
    channel = channel_data(activity).get("channel") or {}
    value = channel.get("id") if isinstance(channel, Mapping) else None
    if value:
        return str(value)
    conversation = getattr(activity, "conversation", None)
    return str(getattr(conversation, "id", "") or "").split(";", 1)[0]


def command_text(turn: TurnContext) -> str:
    """The message text without the bot's @mention, HTML, or a leading ``jira-cleanup``."""
    raw = TurnContext.remove_recipient_mention(turn.activity) or ""
    text = " ".join(html.unescape(_TAG.sub(" ", str(raw))).split())
    for prefix in _PREFIXES:
        if text.lower() == prefix or text.lower().startswith(prefix + " "):
            return text[len(prefix) :].strip()
    return text


async def member_email(turn: TurnContext, member_id: str) -> str | None:
    """The member's email (``TeamsInfo.get_member``), or None when Teams does not say."""
    try:
        member = await TeamsInfo.get_member(turn, member_id)
    except Exception as exc:
        log.warning("could not look up Teams member %s: %s", member_id, type(exc).__name__)
        return None
    for value in (getattr(member, "email", None), getattr(member, "user_principal_name", None)):
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()
    return None


async def save_record(conversations: ConversationStore, record: ConversationRecord) -> None:
    """Store a conversation reference; a failure is logged (it costs a later warning, not this turn)."""
    try:
        await asyncio.to_thread(conversations.save_conversation, record)
    except Exception:  # a missed reference costs a later warning, not this turn
        log.exception("could not store a Teams conversation reference (%s)", record.kind)


def _reference(activity: Any) -> dict[str, object]:
    return reference_json(TurnContext.get_conversation_reference(activity))


@dataclass(frozen=True)
class InvokeBody:
    """An invoke response body serialized once, here.

    botbuilder deep-copies whatever an invoke response carries and ``CloudAdapter.process``
    would serialize it again; this stays the same object through both (and costs neither).
    """

    json: bytes

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> InvokeBody:
        return cls(json.dumps(body, separators=(",", ":")).encode())

    def __deepcopy__(self, memo: dict[int, Any]) -> InvokeBody:
        return self


# -- the integration ---------------------------------------------------------------------------


@dataclass
class TeamsIntegration(Background):
    """The CloudAdapter, the notifier and the aiohttp handler; owns the background tasks it starts."""

    platform = "Teams"

    adapter: CloudAdapter
    connector: TeamsConnector
    notifier: TeamsNotifier
    chatops: ChatOps
    conversations: ConversationStore
    app_id: str
    allowed_tenant: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _channels: dict[str, str] = field(default_factory=dict)
    _seen: RecentIds = field(default_factory=lambda: RecentIds(4096))
    _updates: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_UPDATES))
    update_defer: float = MAX_UPDATE_DEFER
    #: Signed download links for report files (set by the composition root with LINK_SECRET).
    file_link: render.FileLink | None = None
    _answering: int = 0
    _quiet: asyncio.Event = field(default_factory=lambda: _event(is_set=True))  # set: no turn is being answered

    def first_time(self, activity: Any) -> bool:
        """False for a message activity id already handled (Teams redelivers slow turns)."""
        if not activity.id:
            return True
        return self._seen.first_time(f"{getattr(activity.conversation, 'id', '')}/{activity.id}")

    @property
    def auth_disabled(self) -> bool:
        """True only in local development (empty app id)."""
        return not self.app_id

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/messages``: validate, authenticate, run the turn, answer (see module docstring)."""
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _json_error(415, "expected application/json")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _json_error(400, "invalid JSON")
        if not isinstance(body, dict):
            return _json_error(400, "expected an activity object")
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises its own DeserializationError and friends
            return _json_error(400, "not an activity")
        if not activity.type:
            return _json_error(400, "activity without a type")
        if not _valid_service_url(activity.service_url):
            log.warning("Teams activity refused: no valid serviceUrl")
            return _json_error(400, "activity without a valid serviceUrl")
        header = request.headers.get("Authorization")
        authenticated, refused = await self._authenticate(activity, header)
        if refused is not None:
            return refused
        self._answering += 1
        self._quiet.clear()
        try:
            # The result, not the header: nothing is validated twice, and a malformed header
            # never reaches the SDK's own (500-prone) path.
            invoke = await self.adapter.process_activity(authenticated, activity, self.on_turn)
        except Exception:
            log.exception("Teams turn failed (%s)", activity.type)
            return _json_error(500, "internal error")
        finally:
            self._answering -= 1
            if not self._answering:
                self._quiet.set()
        if invoke is None:
            return web.Response(status=201)
        payload = invoke.body
        if isinstance(payload, InvokeBody):
            return web.Response(body=payload.json, status=int(invoke.status or 200), content_type="application/json")
        if isinstance(payload, Model):
            payload = serializer_helper(payload)  # once: CloudAdapter.process would do it twice
        return web.json_response(payload, status=int(invoke.status or 200))

    async def _authenticate(self, activity: Any, header: str | None) -> tuple[Any, web.Response | None]:
        """(botbuilder's AuthenticateRequestResult, None), or (None, the 401/403 to answer)."""
        denied = _json_error(401, "unauthorized") if not header else _json_error(403, "forbidden")
        if self.auth_disabled:
            if header:
                log.warning("Teams request refused: an Authorization header while authentication is off")
                return None, _json_error(401, "unauthorized")
        else:
            why = token_precheck(header, self.app_id, str(activity.service_url))
            if why is not None:
                log.warning("Teams request refused: %s", why)
                return None, denied
        try:
            result = await self.adapter.bot_framework_authentication.authenticate_request(activity, header or None)
        except Exception as exc:  # PermissionError, jwt errors, a key missing from the JWKS...
            log.warning("Teams request refused: %s: %s", type(exc).__name__, exc)
            return None, denied
        tenant = tenant_of(activity)
        if self.allowed_tenant and tenant and tenant != self.allowed_tenant:
            log.warning("Teams request refused: tenant %s is not MICROSOFT_APP_TENANT_ID", tenant)
            return None, _json_error(403, "forbidden")
        return result, None

    def mount(self, web_app: web.Application, path: str = MESSAGES_PATH) -> None:
        """Add ``POST path`` to the bot's aiohttp app (before it is served)."""
        mount(web_app, "POST", path, self.handle)

    async def aclose(self, grace: float = 10.0) -> None:
        """Give background work ``grace`` seconds, then cancel what is left."""
        await self.settle(grace)

    # -- turns -----------------------------------------------------------------------------

    async def on_turn(self, turn: TurnContext) -> None:
        """Route one activity."""
        activity = turn.activity
        if activity.type == ActivityTypes.message:
            if self.first_time(activity):
                await self._on_message(turn)
        elif activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await self._on_install(turn)
        elif activity.type == ActivityTypes.invoke and activity.name == CARD_ACTION:
            await self._on_card_action(turn)

    async def _capture_personal(self, turn: TurnContext, actor: Actor, *, refresh: bool) -> ConversationRecord:
        """Store (or reuse) the sender's 1:1 reference with their email."""
        activity = turn.activity
        existing = await asyncio.to_thread(
            self.conversations.conversation_for_user, PLATFORM, actor.tenant, actor.user_id
        )
        if (
            not refresh
            and existing is not None
            and existing.kind == "personal"
            and existing.service_url == activity.service_url
            and existing.email
        ):
            return existing
        email = await member_email(turn, activity.from_property.id)
        record = ConversationRecord(
            platform=PLATFORM,
            kind="personal",
            tenant=actor.tenant,
            service_url=str(activity.service_url),
            reference=_reference(activity),
            updated_at=self.clock.now(),
            user_id=actor.user_id,
            email=email or (existing.email if existing else None),
        )
        await save_record(self.conversations, record)
        return record

    async def _capture_channel(self, turn: TurnContext, tenant: str) -> None:
        """Store the channel's reference (new posts go to the channel, not into a thread)."""
        activity = turn.activity
        channel_id = channel_id_of(activity)
        if not channel_id or self._channels.get(channel_id) == activity.service_url:
            return
        reference = _reference(activity)
        conversation = dict(reference.get("conversation") or {})  # type: ignore[call-overload]
        conversation["id"] = channel_id
        reference["conversation"] = conversation
        await save_record(
            self.conversations,
            ConversationRecord(
                platform=PLATFORM,
                kind="channel",
                tenant=tenant,
                service_url=str(activity.service_url),
                reference=reference,
                updated_at=self.clock.now(),
                channel_id=channel_id,
            ),
        )
        self._channels[channel_id] = str(activity.service_url)

    async def _on_install(self, turn: TurnContext) -> None:
        activity = turn.activity
        if activity.type == ActivityTypes.installation_update and str(activity.action or "").startswith("remove"):
            log.info("Teams app removed from %s", getattr(activity.conversation, "id", "?"))
            return
        tenant = tenant_of(activity)
        if not tenant:
            log.warning("Teams install without channelData.tenant.id: ignored")
            return
        bot_id = str(getattr(activity.recipient, "id", "") or "")
        if conversation_type(activity) == "personal":
            actor = actor_of(activity)
            if actor is not None:
                await self._capture_personal(turn, actor, refresh=True)
            if activity.type == ActivityTypes.installation_update or any(
                m.id == bot_id for m in activity.members_added or []
            ):
                await turn.send_activity(message(*cards.plain(DM_HELP)))
            return
        if conversation_type(activity) == "channel":
            await self._capture_channel(turn, tenant)
        for member in (activity.members_added or [])[:MAX_MEMBER_LOOKUPS]:
            aad = str(getattr(member, "aad_object_id", "") or "").lower()
            if member.id == bot_id or not aad:
                continue
            await save_record(
                self.conversations,
                ConversationRecord(
                    platform=PLATFORM,
                    kind="member",
                    tenant=tenant,
                    service_url=str(activity.service_url),
                    reference={"memberId": member.id, "botId": bot_id},
                    updated_at=self.clock.now(),
                    user_id=aad,
                    email=await member_email(turn, member.id),
                ),
            )

    def _responder(self, activity: Any) -> Respond:
        """ChatOps' ``respond`` for later results: a proactive post into the same conversation."""

        async def send(reply: Reply) -> None:
            text, card = render.reply_card(reply, self.file_link)
            try:
                await self.connector.send(_reference(activity), message(text, card))
            except TeamsSendError as exc:
                log.warning("could not post a later reply (%s)", exc.code)

        return send

    async def _send_reply(self, turn: TurnContext, reply: Reply) -> None:
        text, card = render.reply_card(reply, self.file_link)
        response = await turn.send_activity(message(text, card))
        if reply.buttons and response is not None and getattr(response, "id", None):
            where = cards.MessageRef(str(turn.activity.conversation.id), str(response.id), reply.title)
            await asyncio.to_thread(self.chatops.buttons.attach, reply.buttons, where.dumps())

    async def _on_message(self, turn: TurnContext) -> None:
        activity = turn.activity
        actor = actor_of(activity)
        if actor is None:
            log.warning("Teams message without tenant or AAD object id: ignored")
            return
        kind = conversation_type(activity)
        record = None
        if kind == "personal":
            record = await self._capture_personal(turn, actor, refresh=False)
        elif kind == "channel":
            await self._capture_channel(turn, actor.tenant)
        text = command_text(turn)
        if kind == "channel" and await self._thread_reply(turn, actor, text):
            return
        if kind == "personal" and (asks_for_restore(text) or restore_for(text)):
            await self._restore(turn, actor, record, for_email=restore_for(text))
            return
        first = text.split(" ", 1)[0].lower() if text else ""
        if kind == "personal" and text.lower() in HOME_WORDS:  # the person's home card (admins: the admin home)
            home = await Homes(self.chatops).for_actor(actor, record.email if record is not None else None)
            await self._send_reply(turn, home)
            return
        if self.chatops.admins.is_admin(actor) or first in _COMMAND_WORDS:
            reply = await self.chatops.command(actor, text, self._responder(activity))
            await self._send_reply(turn, reply)
            return
        await turn.send_activity(message(*cards.plain(DM_HELP)))

    async def _thread_reply(self, turn: TurnContext, actor: Actor, text: str) -> bool:
        """``approve`` / ``deny because …`` in the reply chain of a request's post; True when it was one."""
        conversation = str(getattr(turn.activity.conversation, "id", "") or "")
        _base, _, parent = conversation.partition(";messageid=")
        if not parent:
            return False
        answer = await self.chatops.thread_reply(actor, PLATFORM, channel_id_of(turn.activity), parent, text)
        if answer.reply is not None:
            await self._send_reply(turn, answer.reply)
        return answer.handled

    async def _restore(
        self, turn: TurnContext, actor: Actor, record: ConversationRecord | None, *, for_email: str | None = None
    ) -> None:
        email = record.email if record is not None else None
        if not email:
            await turn.send_activity(
                message(*cards.plain(no_email_text("Teams shows no email address for it", self.notifier.contact)))
            )
            return
        to_user = await self.chatops.request_restore(actor, email, for_email=for_email)
        await self._send_reply(turn, to_user)

    async def post_to_admins(self, reply: Reply) -> bool:
        """Post ``reply`` (with its buttons) to the admin channel; False when it could not be posted."""
        parent = Parent.of_reply(self.chatops.org_id, reply)
        text, card = render.reply_card(reply, self.file_link)
        return await self.notifier.post_admins(text, card, reply.buttons, parent=parent) is not None

    async def _invoke_reply(self, turn: TurnContext, body: Mapping[str, Any]) -> None:
        response = InvokeResponse(status=200, body=InvokeBody.of(body))
        await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))

    async def _on_card_action(self, turn: TurnContext) -> None:
        activity = turn.activity
        value = _mapping(activity.value)
        action = _mapping(value.get("action"))
        data = _mapping(action.get("data"))
        raw = data.get("token")
        actor = actor_of(activity)
        if action.get("type") != "Action.Execute" or not isinstance(raw, str) or not raw or actor is None:
            await self._invoke_reply(turn, render.error_response(400, "BadRequest", "Not a jira-cleanup button."))
            return
        justification = data.get(cards.JUSTIFICATION_INPUT)
        reason = str(justification)[: cards.MAX_JUSTIFICATION] if isinstance(justification, str) else None
        result = await self.chatops.click(actor, raw, self._responder(activity), justification=reason)
        if not result.first:
            log.info("click refused for %s: %s", actor.audit_id, result.status.value)
            await self._invoke_reply(turn, render.message_response(result.text))
            return
        where = cards.MessageRef.loads(result.message_ref)
        outcome = render.outcome_card(result, where.headline if where else "")
        self._update_everywhere(activity, where, outcome)
        await self._invoke_reply(turn, render.card_response(outcome))

    def _update_everywhere(self, activity: Any, where: cards.MessageRef | None, outcome: Mapping[str, Any]) -> None:
        """Replace the clicked card for everyone (the invoke response only changes the clicker's view)."""
        activity_id = where.activity_id if where is not None else str(activity.reply_to_id or "")
        if not activity_id:
            return
        text = "jira-cleanup: " + (where.headline if where is not None and where.headline else "done")
        conversation_id = where.conversation_id if where is not None else ""
        self.spawn(self._paced_update(activity, conversation_id, activity_id, message(text, outcome)), "card update")

    async def _paced_update(self, clicked: Any, conversation_id: str, activity_id: str, activity: Any) -> None:
        """Background card updates, a few at a time and after the turns being answered: the people
        waiting for an answer come first (for up to ``update_defer`` seconds), and Teams' per-app
        rate limits are not hit by a burst of clicks."""
        async with self._updates:
            try:
                async with asyncio.timeout(self.update_defer):
                    await self._quiet.wait()
            except TimeoutError:
                pass  # a steady stream of turns must not starve the updates
            reference = _reference(clicked)  # built here: not on the answer's time
            if conversation_id:
                conversation = dict(reference.get("conversation") or {})  # type: ignore[call-overload]
                conversation["id"] = conversation_id
                reference["conversation"] = conversation
            await self.connector.update(reference, activity_id, activity)


def _event(*, is_set: bool) -> asyncio.Event:
    event = asyncio.Event()
    if is_set:
        event.set()
    return event


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


async def _on_turn_error(turn: TurnContext, error: Exception) -> None:
    log.error("Teams turn error: %s: %s", type(error).__name__, error)


# -- factory ---------------------------------------------------------------------------------------


def build_teams(
    settings: Settings,
    chatops: ChatOps,
    conversations: ConversationStore,
    *,
    auth_overrides: Mapping[str, str] | None = None,
    connector: TeamsConnector | None = None,
) -> TeamsIntegration:
    """Compose the Teams surface: CloudAdapter (auth from settings), connector, notifier, handler.

    Raises :class:`SettingsError` for an empty MICROSOFT_APP_ID without TEAMS_LOCAL_DEV, and for
    an app type whose required values are missing. Nothing touches the network here.
    """
    app_id = settings.microsoft_app_id.strip()
    if not app_id:
        if not settings.teams_local_dev:
            raise SettingsError(
                "MICROSOFT_APP_ID is empty: set the bot's app id (or TEAMS_LOCAL_DEV=true for an "
                "unauthenticated local bot)"
            )
        log.warning(LOCAL_DEV_WARNING)
    try:
        auth = ConfigurationBotFrameworkAuthentication(auth_configuration(settings, auth_overrides))
    except Exception as exc:  # botbuilder raises bare Exception naming its own keys
        raise SettingsError(f"MICROSOFT_APP_*: {exc}") from None
    adapter = CloudAdapter(auth)
    adapter.bot_framework_authentication = CachedConnectors(auth)  # reuse connector clients across turns
    adapter.on_turn_error = _on_turn_error
    connector = connector or TeamsConnector(adapter, app_id)
    policy = chatops.load_policy()

    def price(product: str) -> Decimal:
        return chatops.load_policy().price(product)

    notifier = TeamsNotifier(
        connector,
        conversations,
        chatops.buttons,
        admin_channel=settings.teams_admin_channel_id,
        price=price,
        currency=policy.currency,
        contact=settings.teams_warning_contact,
        justification_required=lambda: bool(chatops.load_policy().lifecycle.keep.justification_required),
        clock=chatops.clock,
    )
    return TeamsIntegration(
        adapter=adapter,
        connector=connector,
        notifier=notifier,
        chatops=chatops,
        conversations=conversations,
        app_id=app_id,
        allowed_tenant=(settings.microsoft_app_tenant_id or "").strip().lower() or None,
        clock=chatops.clock,
    )


def conversation_store(db: Stores, scope: str = "") -> ConversationStore:
    """The SQL conversation store on the database's lifecycle store (``scope``: the org, with several)."""
    from adapters.store import SqlLifecycleStore, SqlTeamsStore

    if not isinstance(db.lifecycle, SqlLifecycleStore):
        raise NotImplementedError("Teams needs the SQL lifecycle store for conversation references")
    return SqlTeamsStore(db.lifecycle, scope)
