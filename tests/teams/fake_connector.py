"""A fake Bot Connector service (the ``serviceUrl`` side) on 127.0.0.1, routes per chat-platforms.md §6.3.

It records every call, keeps the activities posted per conversation (with in-place updates),
creates 1:1 conversations, answers member look-ups from a roster, and can be told to fail a
conversation (or a 1:1 creation) with Bot Framework's 403 codes, or to throttle (429).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    path: str
    conversation: str
    activity_id: str | None
    body: Any
    authorization: str | None


@dataclass
class FakeConnector:
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # member id (29:…) → TeamsChannelAccount JSON
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # conversation id → (status, code)
    create_failures: dict[str, tuple[int, str]] = field(default_factory=dict)  # member id → (status, code)
    throttle: int = 0  # answer this many next sends with 429 first
    calls: list[Call] = field(default_factory=list)
    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # conversation → activities
    #: Channel posts people made (conversation, activity id): their reply chains exist too.
    user_posts: set[tuple[str, str]] = field(default_factory=set)
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> FakeConnector:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- set-up ---------------------------------------------------------------------------------

    def add_member(self, member_id: str, aad: str, email: str, name: str, tenant: str) -> None:
        self.members[member_id] = {
            "id": member_id,
            "name": name,
            "aadObjectId": aad,
            "email": email,
            "userPrincipalName": email,
            "tenantId": tenant,
            "userRole": "user",
        }

    # -- looking --------------------------------------------------------------------------------

    def activities(self, conversation: str) -> list[dict[str, Any]]:
        return self.posted.get(conversation, [])

    def activity(self, conversation: str, activity_id: str) -> dict[str, Any]:
        return next(a for a in self.activities(conversation) if a["id"] == activity_id)

    def of(self, method: str, path_part: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and path_part in c.path]

    def updates(self) -> list[Call]:
        return self.of("PUT")

    # -- handlers -------------------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any) -> Call:
        call = Call(
            request.method,
            request.path,
            request.match_info.get("cid", ""),
            request.match_info.get("aid"),
            body,
            request.headers.get("Authorization"),
        )
        self.calls.append(call)
        return call

    @staticmethod
    def _error(status: int, code: str) -> web.Response:
        message = {
            "BotNotInConversationRoster": "The bot is not part of the conversation roster.",
            "ConversationBlockedByUser": "User blocked the conversation with the bot.",
        }.get(code, code)
        error: dict[str, Any] = {"code": code, "message": message}
        if code == "MessageWritesBlocked":
            error = {"code": "Forbidden", "message": "Message writes blocked", "subCode": "MessageWritesBlocked"}
        return web.json_response({"error": error}, status=status)

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        call = self._record(request, body)
        if call.conversation in self.failures:
            return self._error(*self.failures[call.conversation])
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response({"error": {"code": "Throttled", "message": "slow down"}}, status=429)
        base, _, parent = call.conversation.partition(";messageid=")
        ours = any(a["id"] == parent for a in self.posted.get(base, []))
        if parent and not ours and (base, parent) not in self.user_posts:
            return self._error(404, "ConversationNotFound")  # a reply chain needs its channel post
        new_id = f"act-{next(self._ids)}"
        self.posted.setdefault(call.conversation, []).append({**body, "id": new_id})
        return web.json_response({"id": new_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        body = await request.json()
        call = self._record(request, body)
        if call.conversation in self.failures:
            return self._error(*self.failures[call.conversation])
        for stored in self.posted.get(call.conversation, []):
            if stored["id"] == call.activity_id:
                stored.clear()
                stored.update({**body, "id": call.activity_id})
                return web.json_response({"id": call.activity_id})
        return self._error(404, "ActivityNotFoundInConversation")

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record(request, body)
        members = body.get("members") or [{}]
        member = str(members[0].get("id", ""))
        if member in self.create_failures:
            return self._error(*self.create_failures[member])
        tenant = (body.get("channelData") or {}).get("tenant", {}).get("id")
        if not tenant:
            return self._error(400, "BadSyntax")
        return web.json_response({"id": f"a:dm-{member}", "activityId": f"act-{next(self._ids)}"}, status=201)

    async def _member(self, request: web.Request) -> web.Response:
        self._record(request, None)
        member = self.members.get(request.match_info["mid"])
        if member is None:
            return self._error(404, "MemberNotFoundInConversation")
        return web.json_response(member)
