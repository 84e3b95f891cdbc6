"""Admin approval threads: one parent message per request in each admin channel, the rest as replies.

A held run (and, later, a restore request or an escalation) is one *thread* per admin surface:
the parent carries the summary and the Approve / Deny buttons and is updated to its outcome;
the decision and its author, the progress of the approved run, its result and its CSV are
replies under it. Where each parent lives (:class:`ThreadRef`) is stored with the request, so
any replica, the CLI and the scheduler reply into the same threads.

The engine speaks to :class:`AdminThreads`; ``core.chatops.threads.Threads`` implements it over
the stored references and one :class:`ThreadSurface` per chat platform (Slack, Teams).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

log = logging.getLogger("jira_cleanup.threads")


class ThreadKind(StrEnum):
    """What a thread is about."""

    RUN = "run"  # a run's actions held for approval (caps, deletion batches)
    RESTORE = "restore"  # a self-service restore request
    ESCALATION = "escalation"  # a warning that could not be delivered
    KEEP = "keep"  # a keep past keep.approval_after, waiting for an admin (keyed by the warning's case)


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """Which request a thread belongs to: its kind and id (a run id, a request id...)."""

    kind: ThreadKind
    key: str


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """Where one platform shows a thread's parent message.

    ``channel`` is the Slack channel id or the Teams channel conversation id; ``parent`` the
    Slack ``ts`` or the Teams activity id. ``text`` is the parent's plain text, so the parent
    can be redrawn with its outcome (and without buttons) by whichever process decides.
    """

    platform: str
    channel: str
    parent: str
    text: str = ""


class ThreadStore(Protocol):
    """Thread parents per request and platform; saving again for the same platform replaces it."""

    def save_thread(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        """Remember where ``ref.platform`` shows the parent of ``thread``."""
        ...

    def threads_of(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """Every platform's parent of ``thread`` (empty when none was posted)."""
        ...

    def thread_at(self, platform: str, channel: str, parent: str) -> tuple[str, ThreadKey] | None:
        """The org and request whose parent is ``parent`` in ``channel`` on ``platform`` (None: not ours)."""
        ...


class ThreadSurface(Protocol):
    """One chat platform's side of the admin threads (Slack, Teams)."""

    platform: str

    async def reply(self, ref: ThreadRef, text: str, *, broadcast: bool = False) -> bool:
        """Reply under the parent; ``broadcast`` also shows it in the channel (the final result)."""
        ...

    async def attach(self, ref: ThreadRef, path: Path, title: str) -> bool:
        """Put a file (the run CSV) in the thread."""
        ...

    async def settle(self, ref: ThreadRef, outcome: str) -> bool:
        """Redraw the parent with its outcome and without buttons."""
        ...


class AdminThreads(Protocol):
    """What the use cases say into the admin threads; best effort: never raises."""

    async def say(self, org_id: str, thread: ThreadKey, text: str, *, final: bool = False) -> None:
        """A reply in every platform's thread of ``thread`` (``final``: the result, shown in the channel too)."""
        ...

    async def settle(self, org_id: str, thread: ThreadKey, outcome: str) -> None:
        """Mark every platform's parent of ``thread`` decided (its buttons disabled)."""
        ...

    async def close(self, org_id: str, thread: ThreadKey, outcome: str, said: str) -> None:
        """Settle the parents with ``outcome`` and say ``said`` as the final reply."""
        ...

    async def attach_run(self, org_id: str, run_id: str) -> None:
        """Put the run's CSV in the run's threads."""
        ...

    async def parents(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """Every platform's stored parent of ``thread``; the one call here that raises (the store unreadable)."""
        ...


class NoThreads:
    """:class:`AdminThreads` for a process without chat surfaces: says nothing."""

    async def say(self, org_id: str, thread: ThreadKey, text: str, *, final: bool = False) -> None:
        """Nothing to say it to."""

    async def settle(self, org_id: str, thread: ThreadKey, outcome: str) -> None:
        """No parent to settle."""

    async def close(self, org_id: str, thread: ThreadKey, outcome: str, said: str) -> None:
        """No thread to close."""

    async def attach_run(self, org_id: str, run_id: str) -> None:
        """No thread to attach to."""

    async def parents(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """No parent was posted."""
        return []


class NoThreadStore:
    """:class:`ThreadStore` that remembers nothing (chat use cases built without a database)."""

    def save_thread(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        """Forget it."""

    def threads_of(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """None remembered."""
        return []

    def thread_at(self, platform: str, channel: str, parent: str) -> tuple[str, ThreadKey] | None:
        """None remembered."""
        return None


def ref_text(ref: ThreadRef) -> str:
    """Where a parent message is, as a stable string: ``slack:<channel>/<ts>``, ``teams:<conversation>/<activity>``."""
    return f"{ref.platform}:{ref.channel}/{ref.parent}"


def approval_ref(refs: Sequence[ThreadRef], approver: str) -> str:
    """The ``approval_ref`` of an audit row: the approval message(s) of a held run, by platform.

    Each platform's parent as :func:`ref_text`, joined by ``", "``. A run with no posted message
    approved from the command line is ``cli`` (the approver is ``cli:NAME``); otherwise no message
    is an empty string.
    """
    if refs:
        return ", ".join(sorted(ref_text(r) for r in refs))
    return "cli" if approver.startswith("cli:") else ""


async def read_approval_ref(threads: AdminThreads, org_id: str, run_id: str, approver: str) -> str:
    """:func:`approval_ref` of run ``run_id``'s thread; best effort: empty (and logged) when it cannot be read."""
    try:
        refs = await threads.parents(org_id, run_thread(run_id))
    except Exception:
        return _unreadable(run_id)
    return approval_ref(refs, approver)


def stored_approval_ref(store: ThreadStore, org_id: str, run_id: str, approver: str) -> str:
    """:func:`read_approval_ref` from a :class:`ThreadStore` directly (blocking; for the CLI and click handlers)."""
    try:
        refs = store.threads_of(org_id, run_thread(run_id))
    except Exception:
        return _unreadable(run_id)
    return approval_ref(refs, approver)


def _unreadable(run_id: str) -> str:
    """Log (from an ``except`` block) that run ``run_id``'s approval message could not be read; no ref."""
    log.exception("could not read the approval message of run %s; its audit rows carry no approval_ref", run_id)
    return ""


def run_thread(run_id: str) -> ThreadKey:
    """The thread of a run's held actions."""
    return ThreadKey(ThreadKind.RUN, run_id)


def escalation_thread(case_id: str) -> ThreadKey:
    """The thread of a case the admins were told about (its warning could not be delivered)."""
    return ThreadKey(ThreadKind.ESCALATION, case_id)


def keep_thread(case_id: str) -> ThreadKey:
    """The thread of a keep waiting for an admin's approval (``keep.approval_after``), one per warning."""
    return ThreadKey(ThreadKind.KEEP, case_id)


def restore_thread(request_id: str) -> ThreadKey:
    """The thread of a self-service restore request."""
    return ThreadKey(ThreadKind.RESTORE, request_id)


#: The run report's counters of actions that reached an end (done, nothing to do, failed, skipped).
_ENDED = ("actions_confirmed", "actions_noop", "actions_failed", "actions_skipped", "restored", "deletions_cancelled")


def ended(counts: Mapping[str, int]) -> int:
    """How many actions of a run reached an end so far."""
    return sum(counts.get(k, 0) for k in _ENDED)


def progress_text(done: int, total: int, counts: Mapping[str, int]) -> str:
    """``Carried out 120 of 806 held actions (2 failed, 3 skipped).``"""
    named = (("actions_failed", "failed"), ("actions_skipped", "skipped"))
    extra = [f"{counts[k]:,} {word}" for k, word in named if counts.get(k)]
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"Carried out {done:,} of {total:,} held actions{tail}."


def result_text(status: str, counts: Mapping[str, int], failures: Sequence[str], skips: Sequence[str]) -> str:
    """The result of an approved run: what was done, what failed and why, what was skipped and why."""
    done = sum(counts.get(k, 0) for k in ("actions_confirmed", "actions_noop", "restored", "deletions_cancelled"))
    lines = [f"Result ({status}): {done:,} actions done."]
    if failures:
        lines.append(f"{len(failures):,} failed: " + "; ".join(_top(failures)))
    if skips:
        lines.append(f"{len(skips):,} skipped: " + "; ".join(_top(skips)))
    transient = counts.get("actions_transient", 0)
    if transient:
        lines.append(f"{transient:,} failed for now and are retried on the next run.")
    return "\n".join(lines)


def _top(reasons: Sequence[str], shown: int = 3) -> list[str]:
    """The most frequent reasons with their counts, e.g. ``kept by the owner meanwhile (×3)``."""
    tally: dict[str, int] = {}
    for reason in reasons:
        tally[reason] = tally.get(reason, 0) + 1
    ranked = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    words = [f"{reason} (×{n})" if n > 1 else reason for reason, n in ranked[:shown]]
    if len(ranked) > shown:
        words.append(f"{len(ranked) - shown} other reasons in the CSV")
    return words
