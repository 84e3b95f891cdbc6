"""Phase 4: turn due cases into ledger entries, hold what the caps stop, and apply approvals."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import NoReturn

from core.engine.cases import CaseSteps, Due
from core.engine.context import Context
from core.engine.executor import Executor, Progress
from core.engine.judgement import ApprovalVerdict, Hold, approval_refusal, judge_approval, judge_caps, overdue
from core.engine.outcomes import RunReport, is_transient
from core.engine.requests import deny_run, tell_denied
from core.engine.undo import UNDO_SUFFIX, is_undo, lines_text, undo_lines
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, action_hash, planned_entry
from core.lifecycle import Op
from core.logcontext import bound
from core.policy import Policy
from core.ports import CaseTransaction
from core.threads import ended, progress_text, read_approval_ref, result_text, run_thread


class Approvals:
    """Plans the ledger of a run behind the caps, and carries out or drops what admins decide."""

    def __init__(self, ctx: Context, cases: CaseSteps, executor: Executor) -> None:
        self.ctx = ctx
        self.cases = cases
        self.executor = executor

    async def plan(self, policy: Policy, run: LifecycleRun, due: Sequence[Due], report: RunReport) -> None:
        """Write the due actions as PLANNED entries, or HELD ones when a cap or an approval rule says so."""
        ctx = self.ctx
        now = ctx.clock.now()
        due = await self._supersede(run, due, report)
        fresh = await self._fresh(run, due, report)
        reducing = [e for e in fresh if e.op.reduces_access]
        report.bump("due", len(reducing))
        # The run carries out every reduction left PLANNED (retries included): the caps count them all.
        earlier = [
            e for e in await ctx.db(ctx.store.entries, run.org_id, states=[EntryState.PLANNED]) if e.op.reduces_access
        ]
        if earlier:
            report.bump("carried_over", len(earlier))
        caps = policy.safety.caps
        recent = await ctx.db(ctx.store.count_reducing_since, run.org_id, now - timedelta(days=caps.window_days))
        hold = judge_caps(
            reducing,
            billable=run.billable,
            recent=recent,
            caps=caps,
            window_days=caps.window_days,
            deletions_need_approval=policy.safety.deletions_need_approval,
            earlier=earlier,
        )
        held_ids = {e.entry_id for e in hold.held}
        await ctx.db(
            ctx.store.add_entries, [replace(e, state=EntryState.HELD) if e.entry_id in held_ids else e for e in fresh]
        )
        if hold.whole_run and earlier:  # held with the rest: this run's approval carries them out
            hold = replace(hold, held=hold.held + tuple(await self._adopt(run, earlier)))
        if hold.held:
            await self._hold(policy, run, hold, report)

    async def _adopt(self, run: LifecycleRun, earlier: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        """Hold the reductions earlier runs left PLANNED as this run's own; those claimed meanwhile are skipped.

        First PLANNED → HELD (compare-and-set: an executor's claim and this cannot both win), then,
        under the case's lock, the entry moves to this run. Between the two it is held by nobody's
        run: never carried out, only not approvable.
        """
        ctx = self.ctx
        adopted: list[LedgerEntry] = []
        for entry in earlier:
            why = f"held with run {run.run_id} (left planned by run {entry.run_id})"
            if not await ctx.move(entry.entry_id, EntryState.PLANNED, EntryState.HELD, why):
                continue

            def body(tx: CaseTransaction, old: LedgerEntry = entry) -> LedgerEntry | None:
                current = next((e for e in tx.entries if e.entry_id == old.entry_id), None)
                if current is None or current.state is not EntryState.HELD or current.run_id != old.run_id:
                    return None
                moved = replace(current, run_id=run.run_id)
                tx.save_entry(moved)
                return moved

            moved = await ctx.tx(entry.case_id, body)
            if moved is not None:
                adopted.append(moved)
        return adopted

    async def _supersede(self, run: LifecycleRun, due: Sequence[Due], report: RunReport) -> list[Due]:
        """An org-wide action frees every seat of the account: its product removals are closed."""
        org_wide = {case.account_id for case, op, _a in due if op in (Op.SUSPEND, Op.DEACTIVATE) or op.is_deletion}
        kept: list[Due] = []
        for case, op, account in due:
            if op is Op.REMOVE_PRODUCT_ACCESS and case.account_id in org_wide:
                await self.cases.close(case, "superseded by an org-wide action on the same account", report, run.run_id)
                continue
            kept.append((case, op, account))
        return kept

    async def _fresh(self, run: LifecycleRun, due: Sequence[Due], report: RunReport) -> list[LedgerEntry]:
        """New entries for ``due``; an entry that failed transiently last time goes back to PLANNED instead."""
        ctx = self.ctx
        now = ctx.clock.now()
        fresh: list[LedgerEntry] = []
        for case, op, _account in due:
            entry = planned_entry(run.run_id, case, op, now)
            try:
                old = await ctx.db(ctx.store.get_entry, entry.entry_id)
            except LookupError:
                fresh.append(entry)
                continue
            if old.state is EntryState.FAILED and is_transient(old.outcome):
                await ctx.move(
                    old.entry_id, EntryState.FAILED, EntryState.PLANNED, "retrying after a transient failure"
                )
                report.bump("retried")
        return fresh

    async def _hold(self, policy: Policy, run: LifecycleRun, hold: Hold, report: RunReport) -> None:
        """Record the held actions on the run, audit it and ask the admins."""
        ctx = self.ctx
        now = ctx.clock.now()
        report.held = len(hold.held)
        report.action_hash = action_hash(hold.held)
        report.note = hold.note
        expires = report.expires_at = now + timedelta(hours=policy.safety.approval_expires_hours)
        awaiting = replace(
            run,
            status=RunStatus.AWAITING_APPROVAL,
            held=len(hold.held),
            action_hash=report.action_hash,
            expires_at=expires,
            note=report.note,
            updated_at=now,
        )
        await ctx.db(ctx.store.save_run, awaiting)
        await ctx.record(
            ctx.audit(
                run.org_id,
                "approval.requested",
                "held",
                run_id=run.run_id,
                mode=run.mode,
                reason=report.note,
                plan_hash=report.action_hash,
                after={"held": len(hold.held)},
            )
        )
        await ctx.notifier.request_approval(awaiting, report.note)
        if hold.whole_run:
            report.status = RunStatus.AWAITING_APPROVAL

    async def approve(self, run_id: str, approver: str, policy: Policy) -> RunReport:
        """Apply exactly the held actions of ``run_id``.

        Refused (``PermissionError`` / ``ValueError`` with the reason) when the run is not awaiting
        approval, the approval expired, the approver requested the run, or the held entries no
        longer match the stored action hash. Every refusal leaves an audit row.
        """
        with bound(run_id=run_id):
            return await self._approve(run_id, approver, policy)

    async def _approve(self, run_id: str, approver: str, policy: Policy) -> RunReport:
        ctx = self.ctx
        run = await ctx.db(ctx.store.get_run, run_id)
        held = list(await ctx.db(ctx.store.entries, run.org_id, states=[EntryState.HELD], run_id=run_id))
        verdict = judge_approval(run, approver, held, ctx.clock.now(), ctx.people)
        ref = await read_approval_ref(ctx.threads, run.org_id, run_id, approver)
        if verdict is not ApprovalVerdict.GRANTED:
            await self._refuse(run, verdict, approver, held, ref)
        for e in held:
            await ctx.move(e.entry_id, EntryState.HELD, EntryState.PLANNED, f"approved by {approver}")
        now = ctx.clock.now()
        approved = replace(run, status=RunStatus.RUNNING, approved_by=approver, approved_at=now, updated_at=now)
        await ctx.db(ctx.store.save_run, approved)
        await ctx.record(
            ctx.audit(
                run.org_id,
                "approval.granted",
                "ok",
                run_id=run_id,
                approver=approver,
                actor=approver,
                plan_hash=run.action_hash,
                mode=run.mode,
                after={"entries": len(held), "approval_ref": ref},
            )
        )
        report = RunReport(
            run_id, run.org_id, run.mode, RunStatus.RUNNING, counts=dict(run.counts), action_hash=run.action_hash
        )
        report.approver, report.approval_ref = approver, ref
        thread = run_thread(run_id)
        await ctx.threads.settle(run.org_id, thread, f"Approved by {approver}")
        await ctx.threads.say(run.org_id, thread, f"Approved by {approver}: carrying out {len(held):,} held actions.")
        await self.executor.execute(run.org_id, policy, report, run_id=run_id, progress=self._progress(len(held)))
        if report.status is RunStatus.RUNNING:
            report.status = RunStatus.COMPLETED
        done = replace(approved, status=report.status, counts=dict(report.counts), held=0, updated_at=ctx.clock.now())
        await ctx.db(ctx.store.save_run, done)
        await self._tell_result(report)
        return report

    def _progress(self, total: int) -> Progress:
        """Reply the progress of an approved run into its thread after each batch."""

        async def progress(report: RunReport) -> None:
            done = ended(report.counts)
            if 0 < done < total:
                text = progress_text(done, total, report.counts)
                await self.ctx.threads.say(report.org_id, run_thread(report.run_id), text)

        return progress

    async def _tell_result(self, report: RunReport) -> None:
        """The approved run's result, with the reasons of what failed or was skipped, and its CSV."""
        ctx = self.ctx
        stopped = await ctx.db(
            ctx.store.entries, report.org_id, states=[EntryState.FAILED, EntryState.SKIPPED], run_id=report.run_id
        )
        failures = [e.outcome or "no reason recorded" for e in stopped if e.state is EntryState.FAILED]
        skips = [e.outcome or "no reason recorded" for e in stopped if e.state is EntryState.SKIPPED]
        text = result_text(report.status.value, report.counts, failures, skips)
        if is_undo(report.run_id):
            lines = await ctx.db(undo_lines, ctx.store, report.run_id.removesuffix(UNDO_SUFFIX), ctx.clock.now())
            text = "\n".join([text, *(x for x in lines_text(lines) if "cannot be undone" in x)])
        if report.note:
            text += f"\n{report.note}"
        await ctx.threads.say(report.org_id, run_thread(report.run_id), text, final=True)
        await ctx.threads.attach_run(report.org_id, report.run_id)

    async def _refuse(
        self, run: LifecycleRun, verdict: ApprovalVerdict, approver: str, held: Sequence[LedgerEntry], ref: str
    ) -> NoReturn:
        """Audit a refused approval and raise; an expired one drops its held actions first."""
        reason = approval_refusal(verdict, run)
        if verdict is ApprovalVerdict.EXPIRED:
            await self._expire(run, held, reason, approver)
            raise ValueError(reason)
        await self._audit_refusal(run, "approval.refused", approver, reason, ref)
        if verdict is ApprovalVerdict.OWN_RUN:
            raise PermissionError(reason)
        raise ValueError(reason)

    async def expire_overdue(self, org_id: str) -> None:
        """Held runs nobody decided in time: their held actions are dropped and their threads say so."""
        ctx = self.ctx
        now = ctx.clock.now()
        for run in await ctx.db(ctx.store.recent_runs, org_id, 50):
            if run.status is RunStatus.AWAITING_APPROVAL and overdue(run, now):
                held = await ctx.db(ctx.store.entries, org_id, states=[EntryState.HELD], run_id=run.run_id)
                reason = approval_refusal(ApprovalVerdict.EXPIRED, run)
                await self._expire(run, list(held), reason, ctx.actor)

    async def _expire(self, run: LifecycleRun, held: Sequence[LedgerEntry], reason: str, actor: str) -> None:
        """Drop an expired run's held actions, audit it and close its threads."""
        ctx = self.ctx
        for e in held:
            await ctx.move(e.entry_id, EntryState.HELD, EntryState.SKIPPED, "approval expired")
        await ctx.db(ctx.store.save_run, replace(run, status=RunStatus.EXPIRED, updated_at=ctx.clock.now()))
        audited = f"{reason}; {len(held)} held actions dropped"
        ref = await read_approval_ref(ctx.threads, run.org_id, run.run_id, actor)
        await self._audit_refusal(run, "approval.expired", actor, audited, ref)
        await ctx.threads.close(
            run.org_id, run_thread(run.run_id), "Expired: nobody decided in time", f"Expired: {audited}."
        )

    async def _audit_refusal(self, run: LifecycleRun, action: str, actor: str, reason: str, ref: str) -> None:
        """The audit row of an approval that was refused or ran out of time (``ref``: its approval message)."""
        entry = self.ctx.audit(
            run.org_id,
            action,
            "refused",
            run_id=run.run_id,
            mode=run.mode,
            actor=actor,
            approver=actor,
            reason=reason,
            plan_hash=run.action_hash,
            after={"approval_ref": ref},
        )
        await self.ctx.record(entry)

    async def deny(self, run_id: str, approver: str, reason: str = "") -> None:
        """Drop the held actions of ``run_id``; nothing is changed in Atlassian."""
        ctx = self.ctx
        run = await ctx.db(ctx.store.get_run, run_id)
        ref = await read_approval_ref(ctx.threads, run.org_id, run_id, approver)
        await asyncio.to_thread(
            deny_run, ctx.store, ctx.clock, run_id, approver, reason, epoch=ctx.epoch, approval_ref=ref
        )
        await tell_denied(ctx.threads, run.org_id, run_id, approver, reason)
