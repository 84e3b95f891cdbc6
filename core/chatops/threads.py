"""The admin threads over every chat platform: ``core.threads.AdminThreads`` for the engine and the CLI.

Each platform's notifier posts a request's parent (with its own buttons) and reports it here
(:meth:`Threads.opened`); the reference is stored, so a reply from another replica, the CLI or
the scheduler finds it. Replies, the parent's outcome and files fan out to every platform that
shows the request: a run approved in Slack is shown as approved in the Teams thread too.
Best effort throughout: the request's state is in the database and the audit trail already.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from core.chat import Actor
from core.chatops.keeps import KeepApprovals
from core.chatops.replies import Reply
from core.threads import ThreadKey, ThreadKind, ThreadRef, ThreadStore, ThreadSurface, run_thread

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

log = logging.getLogger("jira_cleanup.threads")

#: Writes a run's CSV and returns its path: ``(org_id, run_id) -> Path``.
RunExporter = Callable[[str, str], Path]


class Threads:
    """Implements :class:`core.threads.AdminThreads` over stored parents and the platforms' surfaces."""

    def __init__(
        self, store: ThreadStore, surfaces: Iterable[ThreadSurface] = (), *, export_run: RunExporter | None = None
    ) -> None:
        self.store = store
        self.surfaces: dict[str, ThreadSurface] = {s.platform: s for s in surfaces}
        self.export_run = export_run

    def add(self, surface: ThreadSurface) -> None:
        """Serve ``surface.platform``'s threads with ``surface``."""
        self.surfaces[surface.platform] = surface

    async def opened(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        """Remember a parent a platform just posted."""
        try:
            await asyncio.to_thread(self.store.save_thread, org_id, thread, ref)
        except Exception:  # the parent is out; only its later replies are lost
            log.exception("could not store the %s thread of %s %s", ref.platform, thread.kind.value, thread.key)

    async def say(self, org_id: str, thread: ThreadKey, text: str, *, final: bool = False) -> None:
        """A reply in every platform's thread (``final``: shown in the channel too, where the platform can)."""
        refs = await self._refs(org_id, thread)
        await self._each(thread, refs, "reply", lambda s, ref: s.reply(ref, text, broadcast=final))

    async def settle(self, org_id: str, thread: ThreadKey, outcome: str) -> None:
        """Redraw every platform's parent with ``outcome`` and without buttons."""
        refs = await self._refs(org_id, thread)
        await self._each(thread, refs, "parent update", lambda s, ref: s.settle(ref, outcome))

    async def close(self, org_id: str, thread: ThreadKey, outcome: str, said: str) -> None:
        """The request is over: every parent shows ``outcome``, every thread hears ``said`` as the final reply."""
        refs = await self._refs(org_id, thread)
        await self._each(thread, refs, "parent update", lambda s, ref: s.settle(ref, outcome))
        await self._each(thread, refs, "reply", lambda s, ref: s.reply(ref, said, broadcast=True))

    async def attach_run(self, org_id: str, run_id: str) -> None:
        """Export the run's CSV and put it in the run's threads."""
        thread = run_thread(run_id)
        refs = await self._refs(org_id, thread)
        if self.export_run is None or not refs:
            return
        try:
            path = await asyncio.to_thread(self.export_run, org_id, run_id)
        except Exception:
            log.exception("could not write the CSV of run %s for its thread", run_id)
            return
        title = f"Run {run_id[:12]} — every decision and its outcome"
        await self._each(thread, refs, "file", lambda s, ref: s.attach(ref, path, title))

    async def parents(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """Every platform's stored parent of ``thread``; raises when the store cannot be read."""
        return await asyncio.to_thread(self.store.threads_of, org_id, thread)

    async def _refs(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        try:
            return await self.parents(org_id, thread)
        except Exception:
            log.exception("could not read the threads of %s %s", thread.kind.value, thread.key)
            return []

    async def _each(
        self,
        thread: ThreadKey,
        refs: list[ThreadRef],
        what: str,
        call: Callable[[ThreadSurface, ThreadRef], Awaitable[bool]],
    ) -> None:
        for ref in refs:
            surface = self.surfaces.get(ref.platform)
            if surface is None:
                continue  # a platform this process does not serve (e.g. the CLI without Teams settings)
            try:
                ok = await call(surface, ref)
            except Exception:
                log.exception("%s thread %s failed for %s %s", ref.platform, what, thread.kind.value, thread.key)
                continue
            if not ok:
                log.warning("%s thread %s not posted for %s %s", ref.platform, what, thread.kind.value, thread.key)


#: ``approve`` / ``deny because …`` typed as a reply in a request's thread (a leading @mention removed).
_DECISION = re.compile(r"^\s*(approve|deny)\b[\s:,.-]*(?:because\b\s*)?(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class ThreadAnswer:
    """What a reply in a thread did: ``handled`` (it was a decision on our request) and what to answer."""

    handled: bool
    reply: Reply | None = None


NOT_OURS = ThreadAnswer(False)


class ThreadDecisions:
    """An admin answers in a held run, restore request or waiting keep thread: ``approve`` / ``deny because …``.

    The same rules as the buttons: admins only, four-eyes, single use (a decided request is no
    longer pending), the expiry, and the audit trail belong to the engine and the restore desk;
    the thread then hears the decision (and a run's progress and result) as after a click.
    """

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    async def answer(self, actor: Actor, platform: str, channel: str, parent: str, text: str) -> ThreadAnswer:
        """Decide when ``text`` is a decision in one of this org's threads; else not handled."""
        match = _DECISION.match(text)
        if match is None:
            return NOT_OURS
        found = await asyncio.to_thread(self.ops.threads.store.thread_at, platform, channel, parent)
        if found is None or found[0] != self.ops.org_id:
            return NOT_OURS
        if not self.ops.admins.is_admin(actor):
            return ThreadAnswer(True, Reply("Only jira-cleanup admins can decide here.", ok=False))
        approve, reason = match.group(1).lower() == "approve", " ".join(match.group(2).split())
        thread = found[1]
        match thread.kind:
            case ThreadKind.RUN:
                refusal = await self._run(thread.key, actor, approve, reason)
            case ThreadKind.RESTORE:
                decided = await self.ops.desk.decide(thread.key, approve, actor, reason)
                refusal = None if decided.ok else decided.text
            case ThreadKind.KEEP:
                done = await KeepApprovals(self.ops).decide(thread.key, approve, actor, self.ops.policy(), reason)
                refusal = None if done.ok else done.text
            case ThreadKind.ESCALATION:
                return NOT_OURS  # nothing to approve: the admins act on the account themselves
            case _:
                assert_never(thread.kind)
        await self.ops.seal()
        return ThreadAnswer(True, None if refusal is None else Reply(refusal, ok=False))

    async def _run(self, run_id: str, actor: Actor, approve: bool, reason: str) -> str | None:
        """Approve or deny a held run; why not, or None when done."""
        try:
            async with self.ops.open_engine() as engine:
                if approve:
                    await engine.approve(run_id, actor.audit_id, self.ops.policy())
                else:
                    await engine.deny(run_id, actor.audit_id, reason or "denied in the thread")
        except (ValueError, PermissionError, LookupError) as exc:
            return f"Not {'approved' if approve else 'denied'}: {exc}"
        return None
