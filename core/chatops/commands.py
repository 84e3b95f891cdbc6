"""The ``/jira-cleanup`` commands: each handler registers itself in :data:`COMMANDS`.

A handler takes the acting admin, the parsed command and ``respond`` (for slow work that
reports later) and returns a :class:`~core.chatops.replies.Reply`. The domain does the work.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from core.chat import Actor
from core.chatops.registry import Command, CommandRegistry, Takes
from core.chatops.replies import Reply, Respond
from core.engine import set_paused
from core.keep_review import load_keep_review, review_line
from core.ledger import RunStatus
from core.policy import Mode
from core.protection import set_protection
from core.savings import realised_savings

if TYPE_CHECKING:
    from core.chatops.service import ChatOps

log = logging.getLogger("jira_cleanup.chatops")


async def drawn_chart(ops: ChatOps) -> Path | None:
    """The report chart's PNG, or None (no chart drawer, or drawing failed: logged, the report still answers)."""
    if ops.chart is None:
        return None
    try:
        return await ops.chart()
    except Exception:
        log.exception("could not draw the report chart")
        return None


#: Every chat command, in help order.
COMMANDS = CommandRegistry()
#: Accounts shown by ``keeps`` in chat (the CLI's CSV has them all).
MAX_REVIEW_LINES = 20


class AdminCommands:
    """The handlers behind ``/jira-cleanup``; every one is for admins only (checked by the caller)."""

    def __init__(self, ops: ChatOps) -> None:
        self.ops = ops

    async def dispatch(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        """Run the registered handler of ``command``."""
        return await COMMANDS.spec(command.name).handler(self, actor, command, respond)

    @COMMANDS.command("help", usage="— this list")
    async def help(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return Reply(COMMANDS.help_text(), title="jira-cleanup commands")

    @COMMANDS.command("preview", usage="— dry-run scan: summary and CSV")
    async def preview(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        self.ops.start_run(actor, respond, dry_run=True)
        return Reply("Working on a preview (dry run): I'll post the summary and the CSV here.")

    @COMMANDS.command("run", usage="— scan and act per the policy (asks to confirm)")
    async def run(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.ops.policy()
        button = await asyncio.to_thread(self.ops.buttons.confirm_run, actor)
        mode = "ENFORCE — accounts may be warned and changed" if policy.mode is Mode.ENFORCE else "dry run"
        return Reply(
            f"Run jira-cleanup now? Policy mode: {mode}. Caps and approvals still apply.",
            buttons=(button,),
        )

    @COMMANDS.command("status", usage="— recent runs, open warnings, approvals, kill switch")
    async def status(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        ops = self.ops
        paused = await asyncio.to_thread(ops.lifecycle.is_paused, ops.org_id)
        runs = await asyncio.to_thread(ops.lifecycle.recent_runs, ops.org_id, 5)
        cases = await asyncio.to_thread(ops.lifecycle.open_cases, ops.org_id)
        held = [r for r in runs if r.status is RunStatus.AWAITING_APPROVAL]
        by_state: dict[str, int] = {}
        for case in cases.values():
            by_state[case.state.value] = by_state.get(case.state.value, 0) + 1
        lines = [("Kill switch", "ON — nothing will be changed" if paused else "off")]
        lines.append(("Open cases", ", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "none"))
        lines.append(("Awaiting approval", ", ".join(f"{r.run_id[:12]} ({r.held})" for r in held) or "none"))
        for run in runs:
            lines.append(
                (
                    f"Run {run.run_id[:12]}",
                    f"{run.created_at:%Y-%m-%d %H:%M} UTC · {run.mode} · {run.status.value} · by {run.requested_by}",
                )
            )
        return Reply("", title="jira-cleanup status", lines=tuple(lines))

    @COMMANDS.command("pause", usage="[reason] — kill switch: stop all changes now", takes=Takes.REASON)
    async def pause(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        ops = self.ops
        await asyncio.to_thread(set_paused, ops.lifecycle, ops.clock, ops.org_id, True, actor.audit_id, command.reason)
        return Reply("Paused: jira-cleanup will change nothing until `/jira-cleanup resume`.", public=True)

    @COMMANDS.command("resume", usage="— lift the kill switch")
    async def resume(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        ops = self.ops
        await asyncio.to_thread(set_paused, ops.lifecycle, ops.clock, ops.org_id, False, actor.audit_id, "")
        return Reply("Resumed: pending actions continue on the next run.", public=True)

    @COMMANDS.command(
        "restore", usage="<email|account-id> — undo what jira-cleanup did to an account", takes=Takes.TARGET
    )
    async def restore(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        target = command.target
        assert target is not None  # the grammar guarantees it
        account_id = await self.ops.resolve_account(target)
        if account_id is None:
            return Reply(f"No account matches {target.value} in the latest scan.", ok=False)
        policy = self.ops.policy()
        async with self.ops.open_engine() as engine:
            result = await engine.restore(
                self.ops.org_id, account_id, actor.audit_id, policy, reason=f"requested in chat by {actor.audit_id}"
            )
        return Reply(f"{target.value}: {result.reason}.", ok=result.accepted)

    @COMMANDS.command(
        "undo",
        usage="<run-id> [dry-run] — restore what a run removed, once another admin approves",
        takes=Takes.REASON,
    )
    async def undo(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        words = command.reason.split()
        if not words:
            return Reply("Which run? `/jira-cleanup undo RUN_ID` (`/jira-cleanup status` lists them).", ok=False)
        dry_run = any(w.lstrip("-").lower() == "dry-run" for w in words[1:])
        async with self.ops.open_engine() as engine:
            try:
                report = await engine.undo(words[0], actor.audit_id, self.ops.policy(), dry_run=dry_run)
            except (ValueError, LookupError) as exc:
                return Reply(f"Cannot undo run {words[0]}: {exc}", ok=False)
        return Reply(report.text(), public=not dry_run)

    @COMMANDS.command(
        "protect", usage="<email|account-id|group:NAME> — never select this account or group", takes=Takes.TARGET
    )
    async def protect(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return await self._protect(actor, command, True)

    @COMMANDS.command("unprotect", usage="<email|account-id|group:NAME> — remove a protection", takes=Takes.TARGET)
    async def unprotect(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        return await self._protect(actor, command, False)

    async def _protect(self, actor: Actor, command: Command, protected: bool) -> Reply:
        target = command.target
        assert target is not None  # the grammar guarantees it
        ops = self.ops
        kind = "group" if target.kind == "group" else "account"
        result = await asyncio.to_thread(
            set_protection,
            ops.protections,
            ops.lifecycle,
            ops.scans,
            ops.clock,
            ops.org_id,
            kind,
            target.value,
            protected,
            actor.audit_id,
        )
        return Reply(result.text)

    @COMMANDS.command("report", usage="— seats and money saved per product")
    async def report(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.ops.policy()
        entries = await asyncio.to_thread(self.ops.lifecycle.entries, self.ops.org_id)
        savings = await asyncio.to_thread(realised_savings, entries, self.ops.scans.get_account, policy)
        lines = tuple(
            (product, f"{savings.seats[product]} seats · {savings.monthly[product]:,.2f} {savings.currency}/month")
            for product in sorted(savings.seats)
        )
        return Reply(
            f"Total: {sum(savings.seats.values())} seats, {savings.total:,.2f} {savings.currency}/month "
            f"({savings.restored} restored accounts not counted).",
            title="License savings",
            lines=lines,
            file=await drawn_chart(self.ops),
        )

    @COMMANDS.command("keeps", usage="— accounts that keep pressing Keep without using the product")
    async def keeps(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        ops = self.ops
        rules = ops.policy().lifecycle.keep
        now = ops.clock.now()
        reviews = await asyncio.to_thread(load_keep_review, ops.lifecycle, ops.scans, ops.org_id, rules, now)
        head = (
            f"kept their access {rules.review_after} or more times in the last {rules.period_days} days "
            "and have not used it since their first keep"
        )
        if not reviews:
            return Reply(f"No accounts {head}.", title="Keep review")
        shown = tuple(review_line(r) for r in reviews[:MAX_REVIEW_LINES])
        more = len(reviews) - len(shown)
        tail = f" Showing {len(shown)}; all of them: `jira-cleanup keeps --csv FILE`." if more else ""
        return Reply(f"{len(reviews)} accounts {head}.{tail}", title="Keep review", lines=shown)

    @COMMANDS.command("policy", usage="— show the effective policy")
    async def show_policy(self, actor: Actor, command: Command, respond: Respond) -> Reply:
        policy = self.ops.policy()
        lines = tuple(
            (
                r.name,
                f"{r.product}: {r.action.value} after {r.inactive_days} days, warn {r.warn_days_before} days "
                f"before" + (f", delete {r.delete_after_days} days later" if r.delete_after_days else ""),
            )
            for r in policy.rules
        )
        protected = f"{len(policy.protected.accounts)} accounts, {len(policy.protected.groups)} groups"
        return Reply(f"Mode: {policy.mode.value}. Protected: {protected}.", title="Effective policy", lines=lines)
