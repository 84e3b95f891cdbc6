"""Test doubles for the Atlassian adapter: a fake clock and sleep, and a scriptable Atlassian.

Reusable pieces (the fixtures live in ``conftest.py``):

* ``clock`` (:class:`FakeClock`): callable returning a tz-aware "now"; ``advance(seconds)``.
* ``sleep`` (:class:`FakeSleep`): records every requested delay in ``delays`` and advances the
  clock instead of sleeping.
* ``atlassian`` (:class:`MockAtlassian`): an ``httpx.MockTransport`` router with per-route
  response queues and a log of every request (``calls`` as ``(method, path)``).
* ``make_directory(mock, **config)``: an ``AtlassianDirectory`` on the mock, wired to the fake
  clock/sleep, a seeded rng and an unpaced limiter.
* ``user_json(**overrides)``: a fully expanded v2 user record.
* :class:`VirtualTime`: a sleep for concurrent callers, whose sleeps overlap in virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.atlassian import AtlassianConfig

ORG_ID = "org-1"
DIRECTORY_ID = "dir-1"
BASE_URL = "https://api.test"
API_KEY = "secret-key-DO-NOT-LOG"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

Responder = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.now``."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSleep:
    """Records requested delays and advances ``clock`` by them; yields to the loop once."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


def json_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response with a JSON body (``None`` → empty body)."""
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def admin_error(status: int, code: str, detail: str = "detail") -> httpx.Response:
    """An Organizations API application error."""
    body = {"errors": [{"id": "e1", "status": str(status), "code": code, "title": "t", "detail": detail}]}
    return httpx.Response(status, json=body, headers={"X-Request-Id": f"req-{code}"})


class MockAtlassian:
    """Route ``(method, path)`` to queued responses; the last response of a queue repeats.

    Unrouted requests get 404 ``ADMIN-404-1``. ``requests`` keeps every request in order.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Responder]] = {}
        self.requests: list[httpx.Request] = []

    def add(self, method: str, path: str, *responses: Responder) -> MockAtlassian:
        self.routes.setdefault((method, path), []).extend(responses)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return admin_error(404, "ADMIN-404-1")
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(request) if callable(responder) else responder

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if (r.method, r.url.path) == (method, path)
        ]


def user_json(**overrides: Any) -> dict[str, Any]:
    """A fully expanded v2 user, as the search returns it."""
    user: dict[str, Any] = {
        "accountId": "acc-1",
        "accountType": "atlassian",
        "status": "active",
        "accountStatus": "active",
        "membershipStatus": "active",
        "addedToOrg": "2025-01-31T09:12:00.000Z",
        "name": "Ada Lovelace",
        "nickname": "ada",
        "email": "ada@example.com",
        "emailVerified": True,
        "claimStatus": "managed",
        "managementSource": "invited",
        "mfaEnabled": False,
        "platformRoles": ["atlassian/user"],
        "productAccess": [
            {
                "key": "jira-software",
                "id": "ari:cloud:jira-software::site/c1",
                "lastActiveTimestamp": "2026-10-01T08:00:00.000Z",
            }
        ],
        "groups": [{"id": "g-jira", "name": "jira-software-users", "description": None}],
        "links": {"self": "x"},
        "deactivatedOn": None,
        "forDeletion": False,
    }
    user.update(overrides)
    return user


def directories_response(*ids: str) -> httpx.Response:
    return json_response(
        200,
        {
            "data": [{"directoryId": d, "name": f"name-{d}", "icon": None} for d in ids],
            "links": {"self": "c0", "prev": None, "next": None},
        },
    )


def make_config(**overrides: Any) -> AtlassianConfig:
    settings: dict[str, Any] = {
        "org_id": ORG_ID,
        "api_key": API_KEY,
        "base_url": BASE_URL,
        "directory_id": DIRECTORY_ID,
        "requests_per_second": None,
    }
    settings.update(overrides)
    return AtlassianConfig(**settings)


class VirtualTime:
    """Concurrent sleeps in virtual time: a sleeper wakes when the clock reaches its own deadline.

    Unlike :class:`FakeSleep`, whose every call moves the clock forward (so concurrent sleeps add up),
    sleepers here wait together: once nothing else can run and no HTTP exchange is in flight
    (:meth:`wrap` counts them), the clock jumps to the earliest deadline and wakes that sleeper.
    Requests therefore take no virtual time, and a rate measured on ``clock`` is the rate paced.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.busy = 0
        self.idle = asyncio.Event()  # set whenever no request is in flight
        self.idle.set()
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._driver: asyncio.Task[None] | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self.clock.now + timedelta(seconds=max(0.0, seconds))
        heapq.heappush(self._sleepers, (deadline, self._seq, future))
        self._seq += 1
        if self._driver is None or self._driver.done():
            self._driver = asyncio.ensure_future(self._drive())
        await future

    async def _settle(self) -> None:
        """Return once every runnable task has run to its next wait and no request is in flight."""
        idle = 0
        while idle < 20:
            if self.busy:
                idle = 0
                await self.idle.wait()  # a real loopback exchange is under way: wait for it to end
            else:
                idle += 1
                await asyncio.sleep(0)

    async def _drive(self) -> None:
        while self._sleepers:
            await self._settle()
            deadline, _seq, future = heapq.heappop(self._sleepers)
            self.clock.now = max(self.clock.now, deadline)
            if not future.done():
                future.set_result(None)

    def wrap(self, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """``inner``, counting each exchange (until its body is read) as in flight."""
        return _Counted(inner, self)


class _Counted(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, time: VirtualTime) -> None:
        self._inner = inner
        self._time = time

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._time.busy += 1
        self._time.idle.clear()
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self._time.busy -= 1
            if not self._time.busy:
                self._time.idle.set()

    async def aclose(self) -> None:
        await self._inner.aclose()
