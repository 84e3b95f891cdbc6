"""One scheduled run: scan, recover, advance the cases, plan behind the caps, execute."""

from __future__ import annotations

from dataclasses import replace

from core.engine.approvals import Approvals
from core.engine.cases import CaseSteps
from core.engine.context import Context
from core.engine.executor import Executor
from core.engine.outcomes import RunReport
from core.ledger import LifecycleRun, RunStatus
from core.logcontext import bound
from core.policy import Mode, Policy
from core.usecases import ScanResult, scan_and_plan


class Runs:
    """Carries the lifecycle of one org one step forward (see :mod:`core.engine`)."""

    def __init__(self, ctx: Context, cases: CaseSteps, approvals: Approvals, executor: Executor) -> None:
        self.ctx = ctx
        self.cases = cases
        self.approvals = approvals
        self.executor = executor

    async def run(self, policy: Policy, *, requested_by: str, scan: ScanResult | None = None) -> RunReport:
        """Scan (unless ``scan`` is given), then carry the lifecycle one step forward."""
        ctx = self.ctx
        if scan is None:
            scan = await scan_and_plan(
                ctx.directory, ctx.scans, policy, ctx.clock, protections=ctx.protections, cases=ctx.store
            )
        with bound(org=scan.org.org_id, run_id=scan.run_id):
            return await self._run(policy, requested_by, scan)

    async def _run(self, policy: Policy, requested_by: str, scan: ScanResult) -> RunReport:
        ctx = self.ctx
        org_id = scan.org.org_id
        policy = await ctx.effective(policy, org_id)
        now = ctx.clock.now()
        report = RunReport(scan.run_id, org_id, policy.mode.value, RunStatus.RUNNING, scan=scan)
        # The review lane: never warned or actioned, shown in every run's counts.
        for key, count in (("api_review", scan.summary.api_review), ("api_unknown", scan.summary.api_unknown)):
            if count:
                report.bump(key, count)
        run = LifecycleRun(
            run_id=scan.run_id,
            org_id=org_id,
            mode=policy.mode.value,
            status=RunStatus.RUNNING,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
            plan_hash=scan.plan_hash,
            billable=scan.summary.billable_accounts,
        )
        if policy.mode is Mode.DRY_RUN:
            await self.cases.preview(policy, scan, report)
            report.status = RunStatus.DRY_RUN
        else:
            await ctx.db(ctx.store.save_run, run)
            await self._enforce(policy, run, scan, report)
        await self._finish(run, report)
        return report

    async def _enforce(self, policy: Policy, run: LifecycleRun, scan: ScanResult, report: RunReport) -> None:
        ctx = self.ctx
        stop = self._fail_closed(policy, scan)
        if stop is not None:
            report.status, report.note = RunStatus.FAILED, stop
            await ctx.notifier.notify_admins(run.org_id, stop)
            return
        if await ctx.db(ctx.store.is_paused, run.org_id):
            report.status = RunStatus.PAUSED
            report.note = "the kill switch is on: nothing was warned or changed (jira-cleanup resume)"
            return
        await self.executor.recover(run.org_id, policy)
        await self.approvals.expire_overdue(run.org_id)
        due = await self.cases.advance(policy, scan, report)
        await self.approvals.plan(policy, run, due, report)
        if report.status is RunStatus.RUNNING:
            await self.executor.execute(run.org_id, policy, report, run_id=None)
        if report.status is RunStatus.RUNNING:
            report.status = RunStatus.AWAITING_APPROVAL if report.held else RunStatus.COMPLETED

    @staticmethod
    def _fail_closed(policy: Policy, scan: ScanResult) -> str | None:
        """Why the run must not act on this scan (too much unknown activity), or None."""
        unknown = scan.summary.unknown_activity
        population = scan.summary.billable_accounts + unknown
        limit = policy.safety.max_unknown_percent
        if not population or unknown * 100 <= limit * population:
            return None
        return (
            f"fail closed: Atlassian gave no last-active data for {unknown} of {population} billable accounts "
            f"(more than {limit}%); nothing was warned or changed"
        )

    async def _finish(self, run: LifecycleRun, report: RunReport) -> None:
        ctx = self.ctx
        done = replace(
            run,
            status=report.status,
            updated_at=ctx.clock.now(),
            counts=dict(report.counts),
            held=report.held,
            action_hash=report.action_hash,
            note=report.note,
            expires_at=report.expires_at,
        )
        await ctx.db(ctx.store.save_run, done)
        await ctx.record(
            ctx.audit(
                run.org_id,
                "run",
                report.status.value,
                run_id=run.run_id,
                mode=run.mode,
                reason=report.note,
                plan_hash=run.plan_hash,
                actor=run.requested_by or None,
                after={"counts": dict(report.counts), "held": report.held},
            )
        )
