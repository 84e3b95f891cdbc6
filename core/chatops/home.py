"""The home view: for admins, the org at a glance with what waits for them; for everyone else, their own access.

Both are a :class:`~core.chatops.replies.Reply` so every surface renders them as it renders any answer
(Slack's App Home, a Teams card on ``status``). Buttons are fresh single-use tokens, bound like the
ones in messages: Keep only by the warned person, Approve / Deny by any admin but the run's requester.
The admin home's "Keeps waiting for you" section lists the keeps waiting for an admin's approval
(``keep.approval_after``), each with Approve / Deny that decide through the keep's posted approval
(:meth:`core.chatops.keeps.KeepApprovals.decide`): one decision, any admin but the person.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from core.chat import ActionToken, Actor, Button, Purpose, actor_of_audit_id
from core.chatops.commands import drawn_chart
from core.chatops.keeps import KeepApprovals
from core.chatops.registry import Target
from core.chatops.replies import Entry, Reply, Section
from core.identity import same_person
from core.ledger import LifecycleRun, RunStatus
from core.lifecycle import Case, CaseState, Op, kept_times, prior_keeps
from core.savings import realised_savings
from core.usecases import latest_account

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

#: Held runs shown with their buttons (the rest are counted).
MAX_HELD_SHOWN = 2
#: Keeps waiting for an admin shown with their buttons (the rest are counted).
MAX_KEEPS_SHOWN = 5
KEEPS_TITLE = "Keeps waiting for you"
#: How a keep of the viewer's own access is listed (no buttons: another admin decides it).
OWN_KEEP = "yours: another admin decides"


class Homes:
    """Builds the home view of one person."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    async def for_actor(self, actor: Actor, email: str | None) -> Reply:
        """The admin home for admins, the person's own status for everyone else."""
        if self.ops.admins.is_admin(actor):
            return await self.admin(actor)
        return await self.person(actor, email)

    async def admin(self, actor: Actor) -> Reply:
        """Kill switch, last and next run, approvals waiting (with buttons), open warnings, this month's savings."""
        ops = self.ops
        paused = await asyncio.to_thread(ops.lifecycle.is_paused, ops.org_id)
        runs = await asyncio.to_thread(ops.lifecycle.recent_runs, ops.org_id, 20)
        cases = await asyncio.to_thread(ops.lifecycle.open_cases, ops.org_id)
        held = [r for r in runs if r.status is RunStatus.AWAITING_APPROVAL]
        states = Counter(c.state.value for c in cases.values())
        last = runs[0] if runs else None
        upcoming = ops.next_run() if ops.next_run is not None else None
        lines = [
            ("Kill switch", "ON — nothing will be changed" if paused else "off"),
            ("Last run", f"{last.created_at:%d %b %H:%M} UTC · {last.status.value}" if last else "none yet"),
            ("Next run", f"{upcoming:%d %b %H:%M} UTC" if upcoming else "not scheduled in this process"),
            ("Open warnings", ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"),
            ("Awaiting approval", ", ".join(self._held_text(actor, r) for r in held) or "nothing"),
            ("Saved this month", await self._month_savings()),
        ]
        buttons: list[Button] = []
        for run in held[:MAX_HELD_SHOWN]:
            requester = actor_of_audit_id(run.requested_by, actor.platform)
            approve, deny = await asyncio.to_thread(ops.buttons.approval, run.run_id, requester)
            if not self._requested(actor, run):  # their own run: another admin approves it; they may withdraw it
                buttons.append(_labelled(approve, f"Approve {run.run_id[:8]}"))
            buttons.append(_labelled(deny, f"Deny {run.run_id[:8]}"))
        chart = await drawn_chart(ops)
        keeps = await self._waiting_keeps(actor)
        return Reply(
            "",
            title="jira-cleanup — admin home",
            lines=tuple(lines),
            buttons=tuple(buttons),
            file=chart,
            sections=keeps,
        )

    def _held_text(self, actor: Actor, run: LifecycleRun) -> str:
        mine = " — yours: another admin approves it" if self._requested(actor, run) else ""
        return f"{run.run_id[:12]} ({run.held} actions){mine}"

    def _requested(self, actor: Actor, run: LifecycleRun) -> bool:
        """Whether ``actor`` asked for ``run`` (under any of their identities): they cannot approve it."""
        return same_person(actor.audit_id, run.requested_by, self.ops.people)

    async def _waiting_keeps(self, actor: Actor) -> tuple[Section, ...]:
        """Keeps waiting for an admin (``keep.approval_after``), oldest first, each with Approve / Deny.

        The buttons decide through the keep's posted approval, like its button, a thread reply or
        ``decide-keep``: single use, and never by the person who pressed Keep or owns the account —
        who sees their own keep listed without buttons.
        """
        ops = self.ops
        now = ops.clock.now()
        waiting = await asyncio.to_thread(ops.tokens.open_tokens, ops.org_id, Purpose.APPROVE_KEEP, None, now)
        keeps = KeepApprovals(ops)
        entries: list[Entry] = []
        for approval in waiting[:MAX_KEEPS_SHOWN]:
            text = await asyncio.to_thread(self._keep_text, approval)
            if text is None:
                continue
            if await asyncio.to_thread(keeps.is_own_keep, actor, approval):
                entries.append(Entry(f"{text} · {OWN_KEEP}"))
                continue
            approve, deny = await asyncio.to_thread(ops.buttons.waiting_keep, approval)
            entries.append(Entry(text, (approve, deny)))
        if not entries:
            return ()
        more = len(waiting) - len(entries)
        note = (
            f"{more} more waiting: decide them in their threads or with jira-cleanup decide-keep CASE_ID."
            if more > 0
            else ""
        )
        return (Section(KEEPS_TITLE, tuple(entries), note),)

    def _keep_text(self, approval: ActionToken) -> str | None:
        """Whose access, which product, how often it was kept before, its deadline (None: the case is gone)."""
        ops = self.ops
        try:
            case = ops.lifecycle.get_case(approval.subject)
        except LookupError:
            return None
        account = latest_account(ops.scans, ops.org_id, case.account_id)
        asker = approval.forbidden.name if approval.forbidden is not None else ""
        who = (account.email if account is not None else None) or asker or case.account_id
        since = ops.clock.now() - timedelta(days=ops.policy().lifecycle.keep.period_days)
        kept = prior_keeps(ops.lifecycle.find_cases(ops.org_id, case.account_id), case.rule, since)
        before = f"{kept_times(kept)} before" if kept else "never kept before"
        if case.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED) and case.actioned_at is not None:
            deadline = f"removed at the deadline ({case.actioned_at:%d %b %Y}): approving gives it back"
        elif case.deadline is not None:
            deadline = f"deadline {case.deadline:%d %b %Y}"
        else:
            deadline = "no deadline set"
        return f"{who} · {case.product} · {before} · {deadline}"

    async def _month_savings(self) -> str:
        ops = self.ops
        now = ops.clock.now()
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        entries = await asyncio.to_thread(ops.lifecycle.entries, ops.org_id)
        # Actions confirmed this month; restores whenever they happened (they take seats back).
        month = [e for e in entries if e.updated_at >= start or e.op is Op.RESTORE]
        savings = await asyncio.to_thread(realised_savings, month, ops.scans.get_account, ops.policy())
        return f"{sum(savings.seats.values())} seats · {savings.total:,.2f} {savings.currency}/month"

    async def person(self, actor: Actor, email: str | None) -> Reply:
        """The person's open warnings (with Keep) and removed access (ask it back with ``restore``), per product."""
        ops = self.ops
        account_id = await ops.resolve_account(Target("email", email.lower())) if email else None
        if account_id is None:
            return Reply(
                "jira-cleanup has nothing about you: it only writes to people whose Atlassian access is unused.",
                title="Your Atlassian access",
            )
        cases = await asyncio.to_thread(ops.lifecycle.find_cases, ops.org_id, account_id)
        lines, buttons = [], []
        removed = False
        for case in (c for c in cases if c.state.is_open):
            lines.append((case.product, _case_text(case)))
            if case.state is CaseState.WARNED:
                keep, _release = await asyncio.to_thread(ops.buttons.warning, case.case_id, account_id, actor)
                buttons.append(_labelled(keep, f"Keep {case.product}"))
            removed = removed or case.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED)
        text = "" if lines else "All good: none of your access is about to be removed."
        if removed:
            text = "Access jira-cleanup removed can be asked back: send me restore."
        return Reply(text, title="Your Atlassian access", lines=tuple(lines), buttons=tuple(buttons))


def _case_text(case: Case) -> str:
    if case.state is CaseState.WARNED and case.deadline is not None:
        return f"not used for a while: removed on {case.deadline:%d %b %Y} unless you keep it"
    if case.state is CaseState.KEPT and case.keep_until is not None:
        return f"kept until {case.keep_until:%d %b %Y}"
    if case.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED) and case.actioned_at is not None:
        return f"removed on {case.actioned_at:%d %b %Y}: you can ask for it back"
    return case.state.value


def _labelled(button: Button, label: str) -> Button:
    return replace(button, label=label)
