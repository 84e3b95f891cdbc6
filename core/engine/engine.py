"""The engine's front door: one object per org worker, its operations delegated to the phases."""

from __future__ import annotations

import asyncio
from functools import cached_property

from core.engine.approvals import Approvals
from core.engine.cases import CaseSteps
from core.engine.context import Context
from core.engine.executor import Executor
from core.engine.outcomes import KeepResult, RestoreResult, RunReport
from core.engine.requests import Requests, set_paused
from core.engine.runs import Runs
from core.engine.undo import Undo, UndoReport
from core.policy import Policy
from core.usecases import ScanResult


class Engine(Context):
    """Carries plans out against one org. See :mod:`core.engine` for the phases.

    The shared ports and leadership state live in :class:`~core.engine.context.Context`; each
    phase is its own object: ``cases`` (warnings and case steps), ``approvals`` (caps, holds and
    approvals), ``executor`` (claim, write, confirm, recover) and ``requests`` (keep, release,
    restore).
    """

    @cached_property
    def executor(self) -> Executor:
        """Claims and carries out ledger entries."""
        return Executor(self)

    @cached_property
    def cases(self) -> CaseSteps:
        """Warnings and case steps."""
        return CaseSteps(self)

    @cached_property
    def approvals(self) -> Approvals:
        """Caps, holds and approvals."""
        return Approvals(self, self.cases, self.executor)

    @cached_property
    def requests(self) -> Requests:
        """Keep, release and restore."""
        return Requests(self, self.executor)

    @cached_property
    def runs(self) -> Runs:
        """The scheduled run."""
        return Runs(self, self.cases, self.approvals, self.executor)

    @cached_property
    def undos(self) -> Undo:
        """Undoing a whole run."""
        return Undo(self)

    async def undo(self, run_id: str, requester: str, policy: Policy, *, dry_run: bool = False) -> UndoReport:
        """Hold the restores that undo ``run_id`` for a second admin (see :meth:`Undo.request`)."""
        return await self.undos.request(run_id, requester, policy, dry_run=dry_run)

    async def run(self, policy: Policy, *, requested_by: str, scan: ScanResult | None = None) -> RunReport:
        """Scan (unless ``scan`` is given), then carry the lifecycle one step forward."""
        return await self.runs.run(policy, requested_by=requested_by, scan=scan)

    async def approve(self, run_id: str, approver: str, policy: Policy) -> RunReport:
        """Apply exactly the held actions of ``run_id`` (see :meth:`Approvals.approve`)."""
        return await self.approvals.approve(run_id, approver, policy)

    async def deny(self, run_id: str, approver: str, reason: str = "") -> None:
        """Drop the held actions of ``run_id``; nothing is changed in Atlassian."""
        await self.approvals.deny(run_id, approver, reason)

    async def recover(self, org_id: str, policy: Policy) -> int:
        """Release CLAIMED entries and reconcile REQUESTED ones by reading state; return how many."""
        return await self.executor.recover(org_id, policy)

    async def execute(self, org_id: str, policy: Policy, report: RunReport, *, run_id: str | None = None) -> None:
        """Carry out the PLANNED entries of ``org_id`` (of ``run_id`` only, when given)."""
        await self.executor.execute(org_id, policy, report, run_id=run_id)

    async def keep(
        self,
        org_id: str,
        account_id: str,
        actor: str,
        policy: Policy,
        *,
        justification: str | None = None,
        rule: str | None = None,
    ) -> KeepResult:
        """A user asks to keep their access (see :meth:`Requests.keep`)."""
        return await self.requests.keep(org_id, account_id, actor, policy, justification=justification, rule=rule)

    async def keep_warned(
        self,
        case_id: str,
        actor: str,
        policy: Policy,
        *,
        justification: str | None = None,
        approved_by: str | None = None,
    ) -> KeepResult:
        """Keep from a warning's button: the account and rule of ``case_id`` (see :meth:`Requests.keep_warned`)."""
        return await self.requests.keep_warned(case_id, actor, policy, justification, approved_by)

    async def release(self, case_id: str, actor: str) -> KeepResult:
        """The user gives the access up now (see :meth:`Requests.release`)."""
        return await self.requests.release(case_id, actor)

    async def restore(
        self, org_id: str, account_id: str, actor: str, policy: Policy, *, reason: str = ""
    ) -> RestoreResult:
        """Undo what the engine did to an account, then execute it (see :meth:`Requests.restore`)."""
        return await self.requests.restore(org_id, account_id, actor, policy, reason=reason)

    async def set_paused(self, org_id: str, paused: bool, actor: str, reason: str = "") -> None:
        """The kill switch: stops every write at once (checked before each write)."""
        await asyncio.to_thread(set_paused, self.store, self.clock, org_id, paused, actor, reason)
