"""A stateful fake of the Slack Web API, served over loopback HTTP by aiohttp.

Point the real client at it::

    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "alice@acme.test", real_name="Alice")
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        await client.users_lookupByEmail(email="alice@acme.test")

Behaviour mirrors what Slack documents (and what slack_sdk 3.4x sends): every app
error is HTTP 200 with ``{"ok": false, "error": ...}``; rate limits are HTTP 429 with a
``Retry-After`` header.  Parameters are accepted from the query string, a form body
(urlencoded or multipart) and a JSON body, merged in that order.

Choices the fake makes where Slack is vague (documented so tests can rely on them):

* ``chat.postMessage`` to a ``U…`` id posts into the bot's DM with that user (opening it
  if needed) and answers with the ``D…`` id, like Slack's "app DM" behaviour.  Deleted
  users give ``user_disabled``, bots ``cannot_dm_bot``, unknown ids ``channel_not_found``.
* ``chat.update`` with a ``U…`` id always answers ``channel_not_found``.
* ``users.lookupByEmail`` is exact (case-sensitive) and hides deleted users.  Guests and
  ``is_stranger`` users *are* returned, carrying their flags, so the bot's rejection
  branch can be exercised; a test wanting "external person is missing" just doesn't add them.
* ``files.completeUploadExternal`` records the file (see :meth:`FakeSlack.files`) but does
  not add a message to :meth:`FakeSlack.messages`.
* ``files.upload`` (v1) answers ``method_deprecated`` (Slack retired it in Nov 2025).
* ``views.open`` accepts any non-empty ``trigger_id`` once; reuse gives ``exchanged_trigger_id``
  and ids passed to :meth:`FakeSlack.expire_trigger` give ``expired_trigger_id``.
* ``oauth.v2.access`` (no bearer token: the app's client id and secret, as HTTP Basic auth or form
  fields) exchanges a code registered with :meth:`FakeSlack.grant` once; the bot token it hands
  out is then accepted by this workspace. Another code gives ``invalid_code``, other credentials
  ``invalid_client_id`` / ``bad_client_secret``, another redirect URL ``bad_redirect_uri``.
* Several workspaces: :meth:`FakeSlack.join` makes one server answer for other fakes too; a call
  goes to the workspace whose bot token it carries (and a code to the workspace that granted it).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web

__all__ = ["BOT_ID", "BOT_USER_ID", "Call", "FakeSlack", "SlackFakeError"]

BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
FIRST_TS_SECONDS = 1_718_000_000
TS_STEP_MICROS = 100

Json = dict[str, Any]
Handler = Callable[[Json], Json]


class Call(NamedTuple):
    """One request the fake received on ``/api/{method}``."""

    verb: str
    method: str
    params: Json
    auth: str | None


class SlackFakeError(Exception):
    """Raised inside a handler to produce ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


@dataclass
class _User:
    id: str
    email: str | None
    real_name: str
    deleted: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_bot: bool = False
    is_stranger: bool = False
    is_admin: bool = False

    def as_json(self, team_id: str) -> Json:
        name = (self.email or self.real_name).split("@")[0].lower().replace(" ", ".")
        profile: Json = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": name,
            "display_name_normalized": name,
        }
        if self.email is not None:
            profile["email"] = self.email
        if self.is_bot:
            profile["bot_id"] = BOT_ID if self.id == BOT_USER_ID else "B" + self.id[1:]
        body: Json = {
            "id": self.id,
            "team_id": "T0OTHER" if self.is_stranger else team_id,
            "name": name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": "Europe/Berlin",
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "profile": profile,
        }
        if self.is_stranger:
            body["is_stranger"] = True
        return body


@dataclass
class _Channel:
    id: str
    members: list[str]
    name: str | None = None
    is_im: bool = False
    is_private: bool = False
    user: str | None = None  # the human on the other side of an IM


@dataclass
class _Fault:
    remaining: int
    error: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Upload:
    id: str
    filename: str
    length: int
    alt_txt: str | None
    content: bytes | None = None
    completed: bool = False
    title: str | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None

    def as_json(self) -> Json:
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "size": len(self.content or b""),
            "user": BOT_USER_ID,
            "channels": list(self.channels),
            "initial_comment": self.initial_comment,
            "thread_ts": self.thread_ts,
            "content": self.content,
            "declared_length": self.length,
            "alt_txt": self.alt_txt,
        }


@dataclass
class _ResponseUrl:
    max_uses: int
    posts: list[Json] = field(default_factory=list)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)


def _maybe_json(value: Any) -> Any:
    """Slack accepts structured args (blocks, view, files) as JSON strings or as JSON."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _required(params: Json, *names: str) -> None:
    missing = [n for n in names if params.get(n) in (None, "")]
    if missing:
        raise SlackFakeError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {n}" for n in missing]},
        )


class FakeSlack:
    """Stateful fake of the Slack Web API on ``127.0.0.1:<ephemeral port>``.

    ``clock`` (seconds, monotonic) drives the optional ``chat.postMessage`` pacing check;
    ``sleep`` implements :attr:`latency_ms` (inject a recorder to avoid waiting).
    """

    def __init__(
        self,
        *,
        team_id: str = "T0ACME",
        team_domain: str = "acme",
        bot_token: str = "xoxb-test",
        extra_tokens: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_token = bot_token
        self.tokens: set[str] = {bot_token, *extra_tokens}
        self.latency_ms: float = 0
        self._clock = clock
        self._sleep = sleep

        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._dm_by_user: dict[str, str] = {}
        self._messages: dict[tuple[str, str], Json] = {}
        self._ephemerals: list[Json] = []
        self._views: list[Json] = []
        self._homes: dict[str, Json] = {}
        self._used_triggers: set[str] = set()
        self._expired_triggers: set[str] = set()
        self._uploads: dict[str, _Upload] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._pace_limit: int | None = None
        self._pace_retry_after = 1
        self._pace_window: dict[str, deque[float]] = defaultdict(deque)

        self._ts_counter = itertools.count(1)
        self._dm_counter = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._view_counter = itertools.count(1)

        self.oauth_client: tuple[str, str] = ("0000000000.1111111111", "fake-client-secret")
        self.oauth_redirect_uri: str | None = None
        self._grants: dict[str, Json] = {}
        self._peers: list[FakeSlack] = []

        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._activity = asyncio.Event()

        self._users[BOT_USER_ID] = _User(BOT_USER_ID, None, "jira-cleanup", is_bot=True)
        self._handlers: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "conversations.members": self._conversations_members,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.upload": self._files_upload,
            "oauth.v2.access": self._oauth_v2_access,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Serve on 127.0.0.1, port 0; return the base URL (no trailing slash)."""
        if self._runner is not None:
            raise RuntimeError("FakeSlack already started")
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._on_api)
        app.router.add_post("/upload/{file_id}", self._on_upload)
        app.router.add_post("/response/{name}", self._on_response_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._runner = runner
        self._base_url = f"http://127.0.0.1:{port}"
        return self._base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeSlack not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """What to pass as ``AsyncWebClient(base_url=...)``; it must end in ``/api/``."""
        return self.base_url + "/api/"

    def response_url(self, name: str, *, max_uses: int = 5) -> str:
        """A URL on the fake that records POSTs (Slack allows 5 uses per response_url)."""
        self._response_urls.setdefault(name, _ResponseUrl(max_uses=max_uses))
        return f"{self.base_url}/response/{name}"

    # ------------------------------------------------------------------ state setup

    def add_user(
        self,
        user_id: str,
        email: str | None,
        *,
        real_name: str,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_bot: bool = False,
        is_stranger: bool = False,
        is_admin: bool = False,
    ) -> None:
        self._users[user_id] = _User(
            user_id,
            email,
            real_name,
            deleted=deleted,
            is_restricted=is_restricted,
            is_ultra_restricted=is_ultra_restricted,
            is_bot=is_bot,
            is_stranger=is_stranger,
            is_admin=is_admin,
        )

    def add_channel(
        self,
        channel_id: str,
        members: Iterable[str],
        *,
        name: str | None = None,
        is_private: bool = False,
        bot_is_member: bool = True,
    ) -> None:
        member_list = list(members)
        if bot_is_member and BOT_USER_ID not in member_list:
            member_list.append(BOT_USER_ID)
        self._channels[channel_id] = _Channel(channel_id, member_list, name=name, is_private=is_private)

    def add_message(self, channel: str, text: str, *, user: str, blocks: list[Json] | None = None) -> str:
        """Store a message written by someone else (e.g. a human); returns its ts."""
        if channel not in self._channels:
            raise KeyError(channel)
        ts = self._next_ts()
        self._messages[(channel, ts)] = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "user": user,
            "text": text,
            "blocks": blocks or [],
        }
        return ts

    def grant(
        self,
        code: str,
        *,
        bot_token: str,
        enterprise_id: str | None = None,
        installer: str = "U0INSTALLER",
        scope: str = "commands,chat:write,users:read,users:read.email",
    ) -> None:
        """The person ``installer`` approved the app in this workspace: ``code`` gives ``bot_token`` once."""
        enterprise = None if enterprise_id is None else {"id": enterprise_id, "name": f"Grid {enterprise_id}"}
        self._grants[code] = {
            "access_token": bot_token,
            "token_type": "bot",
            "scope": scope,
            "bot_user_id": BOT_USER_ID,
            "app_id": "A0JIRACLN",
            "team": {"id": self.team_id, "name": self.team_domain.capitalize()},
            "enterprise": enterprise,
            "authed_user": {"id": installer},
            "is_enterprise_install": False,
        }

    def revoke(self, token: str) -> None:
        """The workspace no longer accepts ``token`` (the app was uninstalled)."""
        self.tokens.discard(token)

    def join(self, other: FakeSlack) -> None:
        """Serve ``other`` (another workspace, not started) on this fake's server."""
        self._peers.append(other)
        other._base_url = self.base_url
        other._response_urls = self._response_urls
        other._uploads = self._uploads
        other.oauth_client = self.oauth_client

    def expire_trigger(self, trigger_id: str) -> None:
        self._expired_triggers.add(trigger_id)

    # ------------------------------------------------------------------ fault knobs

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` get HTTP 429 + ``Retry-After``."""
        self._faults[method].append(
            _Fault(times, "ratelimited", 429, {"Retry-After": str(retry_after)}),
        )

    def fail(self, method: str, error: str, times: int = 1, *, status: int = 200) -> None:
        """The next ``times`` calls to ``method`` answer ``{"ok": false, "error": error}``.

        ``status`` other than 200 simulates a server error (e.g. 500, 503).
        """
        self._faults[method].append(_Fault(times, error, status))

    def pace_posts(self, per_second: int | None, *, retry_after: int = 1) -> None:
        """Enable (or, with None, disable) the per-channel ``chat.postMessage`` limit.

        More than ``per_second`` posts to one channel within a one-second window of the
        injected clock answer 429 (the rejected calls do not count towards the window).
        """
        self._pace_limit = per_second
        self._pace_retry_after = retry_after
        self._pace_window.clear()

    def clear_faults(self) -> None:
        self._faults.clear()
        self._pace_limit = None

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[Json]:
        """Messages in ``channel`` (current version after updates), oldest first."""
        found = [dict(m) for (ch, _), m in self._messages.items() if ch == channel]
        return sorted(found, key=lambda m: float(m["ts"]))

    def message(self, channel: str, ts: str) -> Json | None:
        msg = self._messages.get((channel, ts))
        return None if msg is None else dict(msg)

    def ephemerals(self, channel: str | None = None) -> list[Json]:
        return [dict(e) for e in self._ephemerals if channel is None or e["channel"] == channel]

    def views(self) -> list[Json]:
        return [dict(v) for v in self._views]

    def home_of(self, user_id: str) -> Json | None:
        """The Home tab last published for ``user_id``."""
        home = self._homes.get(user_id)
        return None if home is None else dict(home)

    def dm_of(self, user_id: str) -> str | None:
        return self._dm_by_user.get(user_id)

    def files(self) -> list[Json]:
        """Completed uploads (``files_upload_v2``), with their bytes under ``content``."""
        return [u.as_json() for u in self._uploads.values() if u.completed]

    def response_posts(self, name: str) -> list[Json]:
        entry = self._response_urls.get(name)
        return [] if entry is None else list(entry.posts)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _merged_params(self, request: web.Request) -> Json:
        params: Json = dict(request.query)
        ctype = request.content_type
        if request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise SlackFakeError("invalid_json") from None
                if not isinstance(body, dict):
                    raise SlackFakeError("invalid_json")
                params.update(body)
            elif ctype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
                form = await request.post()
                for key in form:
                    value = form[key]
                    if isinstance(value, web.FileField):
                        params[key] = value.file.read()
                    else:
                        params[key] = value
        return params

    def _check_auth(self, header: str | None, params: Json) -> None:
        token: str | None = None
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise SlackFakeError("invalid_auth")
            token = value.strip()
        elif isinstance(params.get("token"), str):
            token = params["token"]
        if not token:
            raise SlackFakeError("not_authed")
        if token not in self.tokens:
            raise SlackFakeError("invalid_auth")

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        while queue:
            fault = queue[0]
            if fault.remaining <= 0:
                queue.popleft()
                continue
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.popleft()
            return fault
        return None

    @staticmethod
    def _error(error: str, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
        return web.json_response({"ok": False, "error": error, **extra}, status=status, headers=headers)

    async def _on_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        auth = request.headers.get("Authorization")
        peer = self._peer_for(auth or "")
        if peer is not None:
            return await peer._on_api(request)
        try:
            params = await self._merged_params(request)
        except SlackFakeError as exc:
            self._calls.append(Call(request.method, method, {}, auth))
            return self._error(exc.error)
        self._calls.append(Call(request.method, method, params, auth))
        if self.latency_ms:
            await self._sleep(self.latency_ms / 1000)

        handler = self._handlers.get(method)
        if handler is None:
            return self._error("unknown_method", req_method=method)
        if method == "oauth.v2.access":
            params.update(_basic_auth(auth))
            owner = next((f for f in (self, *self._peers) if params.get("code") in f._grants), self)
            handler = owner._oauth_v2_access
        try:
            if method not in ("api.test", "oauth.v2.access"):
                self._check_auth(auth, params)
        except SlackFakeError as exc:
            return self._error(exc.error, exc.status, **exc.extra)

        fault = self._take_fault(method)
        if fault is not None:
            return self._error(fault.error, fault.status, fault.headers)
        if method == "chat.postMessage" and self._pace_limit is not None:
            limited = self._pace_check(str(params.get("channel", "")))
            if limited is not None:
                return limited
        try:
            body = handler(params)
        except SlackFakeError as exc:
            return self._error(exc.error, exc.status, **exc.extra)
        finally:
            self._activity.set()
        return web.json_response({"ok": True, **body})

    def _peer_for(self, auth: str) -> FakeSlack | None:
        token = auth.partition(" ")[2].strip()
        if not token or token in self.tokens:
            return None
        return next((peer for peer in self._peers if token in peer.tokens), None)

    def _pace_check(self, channel: str) -> web.Response | None:
        assert self._pace_limit is not None
        now = self._clock()
        window = self._pace_window[channel]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self._pace_limit:
            return self._error("ratelimited", 429, {"Retry-After": str(self._pace_retry_after)})
        window.append(now)
        return None

    async def _on_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="not found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file") or form.get("filename")
            content = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        else:
            content = await request.read()
        upload.content = content
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

    async def _on_response_url(self, request: web.Request) -> web.Response:
        entry = self._response_urls.get(request.match_info["name"])
        if entry is None:
            return web.Response(status=404, text="no_service", content_type="text/plain")
        if len(entry.posts) >= entry.max_uses:
            return web.Response(status=404, text="used_url", content_type="text/plain")
        if request.content_type == "application/json":
            payload = await request.json()
        else:
            payload = dict(await request.post())
        entry.posts.append(payload)
        self._activity.set()
        return web.Response(text="ok", content_type="text/plain")

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checked after every request the fake answers.

        For a bot running in another process: no polling interval, just the fake's own activity.
        Bound it with ``asyncio.timeout`` in the caller.
        """
        while not predicate():
            self._activity.clear()
            await self._activity.wait()

    # ------------------------------------------------------------------ helpers

    def _next_ts(self) -> str:
        micros = next(self._ts_counter) * TS_STEP_MICROS
        return f"{FIRST_TS_SECONDS + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _open_dm(self, user_id: str, *, unknown_error: str) -> tuple[str, bool]:
        """Return (D-id, already_open) for a human user or raise like Slack."""
        user = self._users.get(user_id)
        if user is None:
            raise SlackFakeError(unknown_error)
        if user.deleted:
            raise SlackFakeError("user_disabled")
        if user.is_bot:
            raise SlackFakeError("cannot_dm_bot")
        existing = self._dm_by_user.get(user_id)
        if existing is not None:
            return existing, True
        dm_id = f"D0DM{next(self._dm_counter):04d}"
        self._channels[dm_id] = _Channel(dm_id, [user_id, BOT_USER_ID], is_im=True, user=user_id)
        self._dm_by_user[user_id] = dm_id
        return dm_id, False

    def _resolve_channel(self, ref: str) -> _Channel:
        channel = self._channels.get(ref)
        if channel is not None:
            return channel
        name = ref.removeprefix("#")
        for candidate in self._channels.values():
            if candidate.name is not None and candidate.name == name:
                return candidate
        raise SlackFakeError("channel_not_found")

    @staticmethod
    def _content(params: Json) -> tuple[str | None, list[Json] | None, Any]:
        text = params.get("text")
        blocks = _maybe_json(params.get("blocks"))
        attachments = _maybe_json(params.get("attachments"))
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > 50:
                raise SlackFakeError("invalid_blocks")
            if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
                raise SlackFakeError("invalid_blocks")
        if isinstance(text, str) and len(text) > 40_000:
            raise SlackFakeError("msg_too_long")
        return text, blocks, attachments

    # ------------------------------------------------------------------ methods

    def _api_test(self, params: Json) -> Json:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    def _auth_test(self, params: Json) -> Json:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain.capitalize(),
            "user": "jira-cleanup",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_lookup_by_email(self, params: Json) -> Json:
        _required(params, "email")
        email = params["email"]
        for user in self._users.values():
            if user.email is not None and user.email == email and not user.deleted:
                return {"user": user.as_json(self.team_id)}
        raise SlackFakeError("users_not_found")

    def _users_info(self, params: Json) -> Json:
        _required(params, "user")
        user = self._users.get(params["user"])
        if user is None:
            raise SlackFakeError("user_not_found")
        return {"user": user.as_json(self.team_id)}

    def _conversations_open(self, params: Json) -> Json:
        if params.get("channel"):
            channel = self._channels.get(params["channel"])
            if channel is None or not channel.is_im:
                raise SlackFakeError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": channel.id}}
        _required(params, "users")
        users = [u.strip() for u in str(params["users"]).split(",") if u.strip()]
        if len(users) != 1:
            # Multi-person DMs are not modelled.
            raise SlackFakeError("not_supported_by_fake")
        dm_id, already_open = self._open_dm(users[0], unknown_error="user_not_found")
        channel_json: Json = {"id": dm_id}
        if _truthy(params.get("return_im")):
            channel_json.update({"is_im": True, "user": users[0], "is_open": True})
        body: Json = {"channel": channel_json}
        if already_open:
            body.update({"no_op": True, "already_open": True})
        return body

    def _conversations_members(self, params: Json) -> Json:
        _required(params, "channel")
        channel = self._resolve_channel(str(params["channel"]))
        limit = int(params.get("limit") or 100)
        cursor = str(params.get("cursor") or "")
        start = int(base64.b64decode(cursor).decode().removeprefix("idx:")) if cursor else 0
        page = channel.members[start : start + limit]
        end = start + len(page)
        next_cursor = base64.b64encode(f"idx:{end}".encode()).decode() if end < len(channel.members) else ""
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _chat_post_message(self, params: Json) -> Json:
        ref = str(params.get("channel") or "")
        if not ref:
            raise SlackFakeError("channel_not_found")
        if ref.startswith(("U", "W")) and ref not in self._channels:
            ref, _ = self._open_dm(ref, unknown_error="channel_not_found")
        channel = self._resolve_channel(ref)
        if BOT_USER_ID not in channel.members:
            raise SlackFakeError("not_in_channel")
        text, blocks, attachments = self._content(params)
        if not text and not blocks and not attachments:
            raise SlackFakeError("no_text")
        ts = self._next_ts()
        message: Json = {
            "type": "message",
            "channel": channel.id,
            "ts": ts,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": text or "",
            "blocks": blocks or [],
        }
        if attachments:
            message["attachments"] = attachments
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if params.get("metadata") is not None:
            message["metadata"] = _maybe_json(params["metadata"])
        self._messages[(channel.id, ts)] = message
        public = {k: v for k, v in message.items() if k != "channel"}
        return {"channel": channel.id, "ts": ts, "message": public}

    def _chat_update(self, params: Json) -> Json:
        _required(params, "ts")
        ref = str(params.get("channel") or "")
        if not ref or ref.startswith(("U", "W")):
            raise SlackFakeError("channel_not_found")
        channel = self._resolve_channel(ref)
        ts = str(params["ts"])
        message = self._messages.get((channel.id, ts))
        if message is None:
            raise SlackFakeError("message_not_found")
        if message.get("bot_id") != BOT_ID:
            raise SlackFakeError("cant_update_message")
        text, blocks, attachments = self._content(params)
        if text is None and blocks is None and attachments is None:
            raise SlackFakeError("no_text")
        # Like Slack: fields left out keep their previous value; blocks=[] clears them.
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        if attachments is not None:
            message["attachments"] = attachments
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        public = {k: v for k, v in message.items() if k != "channel"}
        return {"channel": channel.id, "ts": ts, "text": message["text"], "message": public}

    def _chat_post_ephemeral(self, params: Json) -> Json:
        _required(params, "channel", "user")
        channel = self._resolve_channel(str(params["channel"]))
        user = str(params["user"])
        if user not in self._users:
            raise SlackFakeError("user_not_found")
        if user not in channel.members:
            raise SlackFakeError("user_not_in_channel")
        text, blocks, _ = self._content(params)
        if not text and not blocks:
            raise SlackFakeError("no_text")
        ts = self._next_ts()
        self._ephemerals.append(
            {"channel": channel.id, "user": user, "ts": ts, "text": text or "", "blocks": blocks or []},
        )
        return {"message_ts": ts}

    def _views_open(self, params: Json) -> Json:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise SlackFakeError("invalid_arguments")
        view = _maybe_json(params.get("view"))
        if not isinstance(view, dict) or view.get("type") not in {"modal", "home"}:
            raise SlackFakeError("invalid_arguments")
        if trigger_id in self._expired_triggers:
            raise SlackFakeError("expired_trigger_id")
        if trigger_id in self._used_triggers:
            raise SlackFakeError("exchanged_trigger_id")
        self._used_triggers.add(trigger_id)
        view_id = f"V0VIEW{next(self._view_counter):04d}"
        stored: Json = {
            "id": view_id,
            "team_id": self.team_id,
            "app_id": "A0JIRACLN",
            "bot_id": BOT_ID,
            "hash": hashlib.sha1(view_id.encode(), usedforsecurity=False).hexdigest()[:16],
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            **view,
            "trigger_id": trigger_id,
        }
        self._views.append(stored)
        return {"view": {k: v for k, v in stored.items() if k != "trigger_id"}}

    def _views_publish(self, params: Json) -> Json:
        user_id = params.get("user_id")
        view = _maybe_json(params.get("view"))
        if not user_id or not isinstance(view, dict):
            raise SlackFakeError("invalid_arguments")
        if view.get("type") != "home":
            raise SlackFakeError("invalid_arguments")
        if user_id not in self._users:
            raise SlackFakeError("user_not_found")
        stored: Json = {"id": f"V0HOME{len(self._homes) + 1:04d}", "team_id": self.team_id, **view}
        self._homes[str(user_id)] = stored
        return {"view": stored}

    def _files_get_upload_url_external(self, params: Json) -> Json:
        _required(params, "filename", "length")
        try:
            length = int(params["length"])
        except (TypeError, ValueError):
            raise SlackFakeError("invalid_arguments") from None
        if length <= 0:
            raise SlackFakeError("invalid_arguments")
        file_id = f"F0FILE{next(self._file_counter):04d}"
        alt = params.get("alt_txt")
        self._uploads[file_id] = _Upload(file_id, str(params["filename"]), length, None if alt is None else str(alt))
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: Json) -> Json:
        _required(params, "files")
        items = _maybe_json(params["files"])
        if not isinstance(items, list) or not items:
            raise SlackFakeError("invalid_arguments")
        channel_refs: list[str] = []
        if params.get("channel_id"):
            channel_refs.append(str(params["channel_id"]))
        if params.get("channels"):
            channel_refs.extend(c for c in str(params["channels"]).split(",") if c)
        channels = [self._resolve_channel(ref).id for ref in channel_refs]
        uploads: list[_Upload] = []
        for item in items:
            upload = self._uploads.get(str(item.get("id"))) if isinstance(item, dict) else None
            if upload is None or upload.content is None or upload.completed:
                raise SlackFakeError("file_not_found")
            uploads.append(upload)
        for upload, item in zip(uploads, items, strict=True):
            upload.completed = True
            upload.title = item.get("title")
            upload.channels = channels
            upload.initial_comment = params.get("initial_comment")
            upload.thread_ts = params.get("thread_ts")
        return {"files": [{k: v for k, v in u.as_json().items() if k != "content"} for u in uploads]}

    def _files_upload(self, params: Json) -> Json:
        raise SlackFakeError("method_deprecated")

    def _oauth_v2_access(self, params: Json) -> Json:
        _required(params, "client_id", "client_secret")
        if params["client_id"] != self.oauth_client[0]:
            raise SlackFakeError("invalid_client_id")
        if params["client_secret"] != self.oauth_client[1]:
            raise SlackFakeError("bad_client_secret")
        granted = self._grants.pop(str(params.get("code") or ""), None)
        if granted is None:
            raise SlackFakeError("invalid_code")
        if self.oauth_redirect_uri is not None and params.get("redirect_uri") != self.oauth_redirect_uri:
            raise SlackFakeError("bad_redirect_uri")
        self.tokens.add(granted["access_token"])
        return dict(granted)


def _basic_auth(header: str | None) -> Json:
    """client_id and client_secret from an HTTP Basic ``Authorization`` header (else nothing)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except ValueError:
        return {}
    return {"client_id": client_id, "client_secret": secret}
