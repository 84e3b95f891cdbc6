"""In-memory token and protection stores with the same contracts as the SQL ones."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from core.audit import AuditEntry
from core.chat import ActionToken, Actor, TokenStatus, TokenUse, judge_use
from core.restore_model import FINAL_STATES, RequestState, RestoreRequest
from core.threads import ThreadKey, ThreadKind, ThreadRef


class FakeTokenStore:
    """Tokens by hash; consume is atomic under a lock."""

    def __init__(self) -> None:
        self.tokens: dict[str, ActionToken] = {}
        self._lock = threading.Lock()

    def save_token(self, token: ActionToken) -> None:
        with self._lock:
            if token.token_hash in self.tokens:
                raise ValueError("token already exists")
            self.tokens[token.token_hash] = token

    def save_token_if_none_open(self, token: ActionToken, now: datetime) -> ActionToken | None:
        with self._lock:
            held = self.open_tokens(token.org_id, token.purpose, token.subject, now)
            if held:
                return held[0]
            if token.token_hash in self.tokens:
                raise ValueError("token already exists")
            self.tokens[token.token_hash] = token
            return None

    def get_token(self, token_hash: str) -> ActionToken | None:
        return self.tokens.get(token_hash)

    def consume_token(self, token_hash: str, actor: Actor, now: datetime) -> TokenUse:
        with self._lock:
            token = self.tokens.get(token_hash)
            status = judge_use(token, actor, now)
            if status is not TokenStatus.OK or token is None:
                return TokenUse(status, token)
            used = replace(token, used_at=now, used_by=actor.audit_id)
            self.tokens[token_hash] = used
            return TokenUse(TokenStatus.OK, used)

    def set_outcome(self, token_hash: str, outcome: str) -> None:
        with self._lock:
            self.tokens[token_hash] = replace(self.tokens[token_hash], outcome=outcome)

    def count_issued(self, org_id: str, purpose, subject: str, since: datetime) -> int:
        return sum(
            1
            for t in self.tokens.values()
            if t.org_id == org_id and t.purpose is purpose and t.subject == subject and t.created_at >= since
        )

    def open_tokens(self, org_id: str, purpose, subject: str | None, now: datetime) -> list[ActionToken]:
        found = [
            t
            for t in self.tokens.values()
            if t.org_id == org_id
            and t.purpose is purpose
            and subject in (None, t.subject)
            and t.used_at is None
            and t.expires_at > now
        ]
        return sorted(found, key=lambda t: (t.created_at, t.token_hash))

    def attach_message(self, token_hashes, message_ref: str) -> None:
        with self._lock:
            for token_hash in token_hashes:
                self.tokens[token_hash] = replace(self.tokens[token_hash], message_ref=message_ref)


class FakeProtectionStore:
    """Runtime protections per org, with an audit list."""

    def __init__(self) -> None:
        self.accounts: dict[str, set[str]] = {}
        self.groups: dict[str, set[str]] = {}
        self.audit: list[AuditEntry] = []

    def protections(self, org_id: str) -> tuple[frozenset[str], frozenset[str]]:
        return frozenset(self.accounts.get(org_id, set())), frozenset(self.groups.get(org_id, set()))

    def set_protection(self, org_id: str, kind: str, value: str, protected: bool, audit: AuditEntry) -> None:
        if kind not in ("account", "group"):
            raise ValueError(f"unknown protection kind {kind!r}")
        table = self.accounts if kind == "account" else self.groups
        values = table.setdefault(org_id, set())
        normalised = value.lower() if "@" in value else value
        if protected:
            values.add(normalised)
        else:
            values.discard(normalised)
        self.audit.append(audit)


class FakeThreadStore:
    """In-memory :class:`core.threads.ThreadStore` with the SQL store's contract."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], ThreadRef] = {}

    def save_thread(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        if not (ref.platform and ref.channel and ref.parent):
            raise ValueError("a thread reference needs a platform, a channel and a parent message id")
        self.rows[(org_id, thread.kind.value, thread.key, ref.platform)] = ref

    def threads_of(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        found = [(k[3], r) for k, r in self.rows.items() if k[:3] == (org_id, thread.kind.value, thread.key)]
        return [r for _p, r in sorted(found, key=lambda item: item[0])]

    def thread_at(self, platform: str, channel: str, parent: str) -> tuple[str, ThreadKey] | None:
        for (org_id, kind, key, _platform), ref in self.rows.items():
            if (ref.platform, ref.channel, ref.parent) == (platform, channel, parent):
                return org_id, ThreadKey(ThreadKind(kind), key)
        return None


class FakeRestoreStore:
    """Restore requests by id, with compare-and-set decisions and an audit list."""

    def __init__(self) -> None:
        self.requests: dict[str, RestoreRequest] = {}
        self.audit: list[AuditEntry] = []
        self._lock = threading.Lock()

    def create_request(self, request: RestoreRequest, audit: AuditEntry) -> bool:
        with self._lock:
            if request.request_id in self.requests:
                return False
            self.requests[request.request_id] = request
            self.audit.append(audit)
            return True

    def get_request(self, request_id: str) -> RestoreRequest:
        try:
            return self.requests[request_id]
        except KeyError:
            raise LookupError(request_id) from None

    def update_request(self, request: RestoreRequest, expected: RequestState, audit: AuditEntry) -> bool:
        with self._lock:
            current = self.requests.get(request.request_id)
            if current is None or current.state is not expected:
                return False
            self.requests[request.request_id] = request
            self.audit.append(audit)
            return True

    def count_requests(self, org_id: str, account_id: str, since: datetime) -> int:
        return sum(
            1
            for r in self.requests.values()
            if r.org_id == org_id and r.account_id == account_id and r.created_at >= since
        )

    def count_auto_restored(self, org_id: str, account_id: str, since: datetime) -> int:
        return sum(
            1
            for r in self.requests.values()
            if r.org_id == org_id
            and r.account_id == account_id
            and r.created_at >= since
            and r.route == "auto"
            and r.state is RequestState.RESTORED
        )

    def pending_requests(self, org_id: str) -> list[RestoreRequest]:
        return self._in_state(org_id, RequestState.PENDING)

    def approved_requests(self, org_id: str) -> list[RestoreRequest]:
        return self._in_state(org_id, RequestState.APPROVED)

    def _in_state(self, org_id: str, state: RequestState) -> list[RestoreRequest]:
        found = [r for r in self.requests.values() if r.org_id == org_id and r.state is state]
        return sorted(found, key=lambda r: (r.created_at, r.request_id))

    def mark_told(self, request_id: str, at: datetime) -> None:
        with self._lock:
            self.requests[request_id] = replace(self.requests[request_id], told_at=at)

    def untold_requests(self, org_id: str) -> list[RestoreRequest]:
        untold = [
            r for r in self.requests.values() if r.org_id == org_id and r.state in FINAL_STATES and r.told_at is None
        ]
        return sorted(untold, key=lambda r: (r.created_at, r.request_id))


def compose_chat_ops(world: Any, admins: Any, open_engine: Any, report_folder: Path) -> Any:
    """A chat test world's ChatOps, built by the composition root as ``serve`` builds it."""
    from bot.compose import Stores, chat_ops

    db = Stores(world.scans, world.store, world.tokens, world.protections, FakeRestoreStore(), FakeThreadStore())
    return chat_ops(db, "org-1", lambda: world.policy, open_engine, admins, world.clock, report_folder=report_folder)


class ServedChatWorld:
    """Serves a chat test world's surface (``self.surface``) on a local port: ``start`` / ``stop``."""

    surface: Any
    http: Any = None
    http_url = ""
    _runner: Any = None

    def init_stores(self, fake: Any, accounts: Any, policy: Any) -> None:
        """The fake platform, a fixed clock and empty in-memory stores over ``accounts``."""
        from core.clock import FixedClock
        from tests.fakes import NOW, FakeDirectory, FakeStore
        from tests.fakes_lifecycle import FakeLifecycleStore

        self.fake = fake
        self.clock = FixedClock(NOW)
        self.directory = FakeDirectory(list(accounts))
        self.scans = FakeStore()
        self.store = FakeLifecycleStore()
        self.tokens = FakeTokenStore()
        self.protections = FakeProtectionStore()
        self.policy = policy

    async def start(self) -> None:
        import httpx

        from bot.server import build_app, serve

        async def health() -> dict[str, object]:
            return {}

        app = build_app(health=health)
        self.surface.mount(app)
        self._runner, url = await serve(app, "127.0.0.1", 0)
        self.http_url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def stop(self) -> None:
        await self.surface.aclose()
        if self.http is not None:
            await self.http.aclose()
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def serving(build: Callable[..., ServedChatWorld]) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``make(...)``: a started world from ``build(...)``; every world made is stopped on exit."""
    worlds: list[ServedChatWorld] = []

    async def make(*args: Any, **kwargs: Any) -> Any:
        world = build(*args, **kwargs)
        await world.start()
        worlds.append(world)
        return world

    try:
        yield make
    finally:
        for world in worlds:
            await world.stop()
