"""Phase 3: move every case one step — warn, retry a delivery, close, reopen, or find it due."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import assert_never

from core.engine.context import Context
from core.engine.executor import attempts
from core.engine.outcomes import RunReport
from core.errors import AccountNotFound
from core.lifecycle import (
    Case,
    CaseState,
    Op,
    Step,
    StepKind,
    advance,
    deliver,
    op_for_action,
    op_for_deletion,
    transition,
)
from core.model import Account, AccountId
from core.planner import Decision, Verdict
from core.policy import Policy, Rule
from core.ports import CaseTransaction, Delivery
from core.threads import escalation_thread
from core.usecases import ScanResult

#: A case that is due: the case, what to do to the account, and the account as scanned.
Due = tuple[Case, Op, Account]

#: Steps that send a warning (a dry run shows them in its transcript).
WOULD_WARN = frozenset({StepKind.OPEN_WARNING, StepKind.REOPEN, StepKind.RETRY_DELIVERY})


class CaseSteps:
    """Advances the cases of one run (see :func:`core.lifecycle.advance` for the pure step)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def preview(self, policy: Policy, scan: ScanResult, report: RunReport) -> None:
        """A dry run: count what each case would do and show the warnings people would get."""
        ctx = self.ctx
        open_cases = dict(await ctx.db(ctx.store.open_cases, scan.org.org_id))
        rules = {r.name: r for r in policy.rules}
        now = ctx.clock.now()
        for decision, account in await self._decisions_with_accounts(scan, open_cases):
            rule = rules[decision.rule]
            case = open_cases.pop((decision.account_id, decision.rule), None)
            step = advance(case, decision, rule, now)
            report.bump(f"would_{step.kind.value}")
            if ctx.preview is not None and account is not None and step.kind in WOULD_WARN:
                draft = case or warning_case("preview", scan.org.org_id, account, rule, step, now)
                await ctx.preview.warn(account, draft, rule)
        report.note = "dry run: nothing was warned or changed (set mode: enforce in the policy to act)"

    async def advance(self, policy: Policy, scan: ScanResult, report: RunReport) -> list[Due]:
        """Step every case this scan touched, and the open ones it said nothing about; return the due ones."""
        ctx = self.ctx
        org_id = scan.org.org_id
        open_cases = dict(await ctx.db(ctx.store.open_cases, org_id))
        rules = {r.name: r for r in policy.rules}
        now = ctx.clock.now()
        due: list[Due] = []
        for decision, account in await self._decisions_with_accounts(scan, open_cases):
            rule = rules.get(decision.rule)
            if rule is None or account is None:
                continue
            case = open_cases.pop((decision.account_id, decision.rule), None)
            step = advance(case, decision, rule, now)
            found = await self._apply(policy, scan.run_id, org_id, case, step, account, rule, report)
            due.extend([found] if found is not None else [])
        # Open cases this scan said nothing about (account left, product gone, rule removed).
        for case in open_cases.values():
            rule = rules.get(case.rule)
            if rule is None:
                await self.close(case, "the rule was removed from the policy", report, scan.run_id)
                continue
            step = advance(case, None, rule, now)
            if step.kind in (StepKind.DUE_DELETE, StepKind.DELETION_DONE, StepKind.CLOSE):
                account = await self._fresh_account(case.account_id)
                found = await self._apply(policy, scan.run_id, org_id, case, step, account, rule, report)
                due.extend([found] if found is not None else [])
        return due

    async def _decisions_with_accounts(
        self, scan: ScanResult, open_cases: dict[tuple[str, str], Case]
    ) -> list[tuple[Decision, Account | None]]:
        """Decisions that matter this run: non-skips, and skips of accounts with an open case."""
        scans = self.ctx.scans

        def load() -> list[tuple[Decision, Account | None]]:
            wanted = [
                d
                for d in scans.iter_decisions(scan.run_id)
                if d.verdict is not Verdict.SKIP or (d.account_id, d.rule) in open_cases
            ]
            ids = {d.account_id for d in wanted}
            # One streamed read of the snapshot instead of a query per account.
            loaded: dict[str, Account] = {
                a.account_id: a for a in scans.iter_accounts(scan.run_id) if a.account_id in ids
            }
            return [(d, loaded.get(d.account_id)) for d in wanted]

        return await asyncio.to_thread(load)

    async def _fresh_account(self, account_id: str) -> Account | None:
        try:
            return await self.ctx.directory.get_account(AccountId(account_id))
        except AccountNotFound:
            return None

    async def _apply(
        self,
        policy: Policy,
        run_id: str,
        org_id: str,
        case: Case | None,
        step: Step,
        account: Account | None,
        rule: Rule,
        report: RunReport,
    ) -> Due | None:
        """Carry one step out; a due action comes back instead (caps and the executor decide on it)."""
        kind = step.kind
        match kind:
            case StepKind.NOTHING:
                return None
            case StepKind.CLOSE:
                if case is not None:
                    await self.close(case, step.reason, report, run_id)
            case StepKind.DELETION_DONE:
                if case is not None:
                    await self.set_state(
                        case, CaseState.DELETED, report, run_id, "deleted", deleted_at=self.ctx.clock.now()
                    )
            case StepKind.OPEN_WARNING | StepKind.REOPEN:
                if account is not None:
                    if case is not None:
                        await self.close(case, step.reason, report, run_id)
                    await self._open_warning(org_id, run_id, account, rule, step, report)
            case StepKind.RETRY_DELIVERY:
                if case is not None and account is not None:
                    await self.send_warning(case, account, rule, report, run_id)
            case StepKind.DUE_ACTION | StepKind.DUE_DELETE:
                if case is not None and account is not None:
                    return await self._due(policy, case, step, account, rule, report, run_id)
            case _:
                assert_never(kind)
        return None

    async def _due(
        self, policy: Policy, case: Case, step: Step, account: Account, rule: Rule, report: RunReport, run_id: str
    ) -> Due | None:
        """The op a due case needs, or None when it cannot be done (the case is closed then)."""
        if step.kind is StepKind.DUE_DELETE:
            plan = op_for_deletion(account)
            return None if plan.op is None else (case, plan.op, account)
        plan = op_for_action(account, rule, policy)
        if plan.op is None:
            await self.close(case, f"cannot act: {plan.reason}", report, run_id)
            return None
        return case, plan.op, account

    async def _open_warning(
        self, org_id: str, run_id: str, account: Account, rule: Rule, step: Step, report: RunReport
    ) -> None:
        ctx = self.ctx
        now = ctx.clock.now()
        case = warning_case(uuid.uuid4().hex, org_id, account, rule, step, now)
        audit = ctx.audit(
            org_id,
            "warn.open",
            "ok",
            subject=account.account_id,
            reason=step.reason,
            run_id=run_id,
            mode="enforce",
            after={"deadline": str(step.deadline), "rule": rule.name},
        )
        try:
            await ctx.db(ctx.store.create_case, case, audit)
        except ValueError:
            return  # another worker opened it first
        report.bump("warnings_opened")
        await self.send_warning(case, account, rule, report, run_id)

    async def send_warning(self, case: Case, account: Account, rule: Rule, report: RunReport, run_id: str) -> None:
        """Send (or resend) the warning; only a delivery starts the countdown to the action."""
        ctx = self.ctx
        delivery = await ctx.notifier.warn(account, case, rule)
        thread = escalation_thread(case.case_id)
        if delivery.delivered:
            await self._delivered(case, rule, delivery, run_id)
            report.bump("warnings_delivered")
            if case.escalated_at is not None:  # the admins were told it failed: close that thread
                said = f"The warning reached them via {delivery.channel} after all; the countdown starts now."
                await ctx.threads.close(case.org_id, thread, f"Delivered later via {delivery.channel}", said)
            return
        report.bump("warnings_undelivered")
        if await self._undelivered(case, delivery, run_id):
            report.bump("escalated")
            await ctx.notifier.escalate(
                case.org_id,
                account,
                case,
                f"warning could not be delivered ({delivery.detail}); no action will be taken",
            )
        else:
            await ctx.threads.say(case.org_id, thread, f"Tried again: still not delivered ({delivery.detail}).")

    async def _delivered(self, case: Case, rule: Rule, delivery: Delivery, run_id: str) -> None:
        now = self.ctx.clock.now()

        def body(tx: CaseTransaction) -> None:
            if tx.case.state is not CaseState.WARNED or tx.case.delivered_at is not None:
                return
            updated = deliver(tx.case, now, delivery.channel, rule)
            tx.save_case(updated)
            tx.audit(
                self.ctx.audit(
                    case.org_id,
                    "warn.delivered",
                    "ok",
                    subject=case.account_id,
                    run_id=run_id,
                    reason=delivery.detail,
                    after={
                        "channel": delivery.channel,
                        "deadline": str(updated.deadline),
                        "attempts": attempts(delivery),
                    },
                )
            )

        await self.ctx.tx(case.case_id, body)

    async def _undelivered(self, case: Case, delivery: Delivery, run_id: str) -> bool:
        """Record a failed delivery; True the first time (the admins are told once)."""
        now = self.ctx.clock.now()

        def body(tx: CaseTransaction) -> bool:
            first = tx.case.escalated_at is None
            tx.save_case(transition(tx.case, now, tx.case.state, escalated_at=tx.case.escalated_at or now))
            tx.audit(
                self.ctx.audit(
                    case.org_id,
                    "warn.undelivered",
                    "failed",
                    subject=case.account_id,
                    run_id=run_id,
                    reason=f"{delivery.channel}: {delivery.detail}; no delivery, no action",
                    after={"attempts": attempts(delivery)},
                )
            )
            return first

        return await self.ctx.tx(case.case_id, body)

    async def close(self, case: Case, reason: str, report: RunReport, run_id: str | None) -> None:
        """Close ``case`` with ``reason``."""
        await self.set_state(case, CaseState.CLOSED, report, run_id, "closed", closed_reason=reason)

    async def set_state(
        self,
        case: Case,
        state: CaseState,
        report: RunReport | None,
        run_id: str | None,
        counter: str,
        **changes: object,
    ) -> None:
        """Move ``case`` to ``state`` with one audit row, and count it under ``counter``."""
        now = self.ctx.clock.now()

        def body(tx: CaseTransaction) -> None:
            before = tx.case.state
            tx.save_case(transition(tx.case, now, state, **changes))
            tx.audit(
                self.ctx.audit(
                    case.org_id,
                    f"case.{state.value}",
                    "ok",
                    subject=case.account_id,
                    run_id=run_id,
                    reason=str(changes.get("closed_reason", "")),
                    before={"state": before.value},
                    after={"state": state.value},
                )
            )

        await self.ctx.tx(case.case_id, body)
        if report is not None:
            report.bump(counter)


def warning_case(case_id: str, org_id: str, account: Account, rule: Rule, step: Step, now: datetime) -> Case:
    """The case a warning opens (a dry run's transcript uses one that is never stored)."""
    return Case(
        case_id=case_id,
        org_id=org_id,
        account_id=account.account_id,
        rule=rule.name,
        product=rule.product,
        action=rule.action,
        state=CaseState.WARNED,
        opened_at=now,
        updated_at=now,
        deadline=step.deadline,
    )
