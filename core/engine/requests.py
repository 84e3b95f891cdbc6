"""What people ask of the engine between runs: keep, release, restore, pause and deny."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.audit import AuditEntry
from core.engine.context import Context
from core.engine.executor import Executor
from core.engine.judgement import unrestorable
from core.engine.outcomes import RESTORE_QUEUED, KeepResult, RestoreResult, RunReport
from core.ledger import EntryState, LedgerEntry, RunStatus, planned_entry
from core.lifecycle import GIVING_BACK, Case, CaseState, KeepVerdict, Op, judge_keep, prior_keeps, transition
from core.logcontext import bound
from core.policy import Policy
from core.ports import CaseTransaction, Clock, LifecycleStore
from core.threads import AdminThreads, run_thread

NO_PENDING_WARNING = "there is no pending warning for this account"
#: Ledger states a keep cancels outright (nothing was sent yet).
_CANCELLABLE = (EntryState.PLANNED, EntryState.CLAIMED, EntryState.HELD)


class Requests:
    """Keeps, releases and restores, each serialized with the executor through the case lock."""

    def __init__(self, ctx: Context, executor: Executor) -> None:
        self.ctx = ctx
        self.executor = executor

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
        """A user asks to keep their access; idempotent for repeated clicks.

        Before the write the keep wins and the action is skipped; after the write it queues a
        restore. Never silently lost.
        """
        ctx = self.ctx
        with bound(org=org_id, account=account_id):
            cases = await ctx.db(_open_cases, ctx.store, org_id, account_id, rule)
            return await self._keep(org_id, account_id, cases, actor, policy, justification)

    async def keep_warned(
        self, case_id: str, actor: str, policy: Policy, justification: str | None, approved_by: str | None = None
    ) -> KeepResult:
        """:meth:`keep` from a warning's button: the case of that warning, judged and kept under its lock.

        An account has at most one open case per rule, so this is the case :meth:`keep` would
        find for the case's account and rule; reading it under the lock makes a click one store
        call instead of three (two when ``keep.approval_after`` counts the earlier keeps).
        ``approved_by``: an admin approved this keep (past ``keep.approval_after`` or the limit).
        """
        ctx = self.ctx
        now = ctx.clock.now()
        prior = 0
        if policy.lifecycle.keep.approval_after is not None:
            prior = await ctx.db(_prior_keeps_of_case, ctx.store, case_id, policy, now)

        def body(tx: CaseTransaction) -> tuple[Case, KeepResult]:
            case = tx.case
            with bound(org=case.org_id, account=case.account_id):
                if not case.state.is_open:
                    return case, KeepResult(False, NO_PENDING_WARNING)
                ask = KeepAsk(actor, justification, now, prior, approved_by)
                return case, self._keeper(case.org_id, case.account_id, policy, ask)(tx)

        case, result = await ctx.tx(case_id, body)
        if result.restore_queued:
            with bound(org=case.org_id, account=case.account_id):
                await self.executor.execute(
                    case.org_id, policy, RunReport.adhoc("keep", case.org_id), run_id=None, ops=GIVING_BACK
                )
        return result

    async def _keep(
        self,
        org_id: str,
        account_id: str,
        cases: list[Case],
        actor: str,
        policy: Policy,
        justification: str | None,
    ) -> KeepResult:
        ctx = self.ctx
        if not cases:
            return KeepResult(False, NO_PENDING_WARNING)
        result = KeepResult(False, "nothing to keep")
        queued = False
        for case in cases:
            prior = 0
            if policy.lifecycle.keep.approval_after is not None:
                prior = await ctx.db(_prior_keeps, ctx.store, case, policy, ctx.clock.now())
            ask = KeepAsk(actor, justification, ctx.clock.now(), prior)
            result = await ctx.tx(case.case_id, self._keeper(org_id, account_id, policy, ask))
            queued = queued or result.restore_queued
        if queued:
            await self.executor.execute(org_id, policy, RunReport.adhoc("keep", org_id), run_id=None, ops=GIVING_BACK)
        return result

    def _keeper(
        self, org_id: str, account_id: str, policy: Policy, ask: KeepAsk
    ) -> Callable[[CaseTransaction], KeepResult]:
        """The locked keep of one case: judge it, cancel or undo the action, record who kept it."""
        actor, justification, now = ask.actor, ask.justification, ask.now

        def audit(outcome: str, reason: str, after: dict[str, object] | None = None) -> AuditEntry:
            return self.ctx.audit(
                org_id,
                "keep",
                outcome,
                subject=account_id,
                actor=actor,
                reason=reason,
                after=after,
                approver=ask.approved_by,
            )

        def body(tx: CaseTransaction) -> KeepResult:
            verdict = judge_keep(
                tx.case, policy, now, justification, prior_keeps=ask.prior_keeps, approved_by=ask.approved_by
            )
            if verdict.needs_approval:
                asked: dict[str, object] = {"rule": tx.case.rule, "prior_keeps": ask.prior_keeps}
                if justification:
                    asked["justification"] = justification
                tx.audit(audit("approval_needed", verdict.reason, asked))
                return KeepResult(False, verdict.reason, needs_approval=True)
            if not verdict.accepted:
                tx.audit(audit("refused", verdict.reason))
                return KeepResult(False, verdict.reason)
            if verdict.already:
                return KeepResult(True, verdict.reason, verdict.keep_until, already=True)
            restore = _undo_or_cancel(tx, verdict, now)
            keeps = (*tx.case.keeps, now)
            state = tx.case.state if restore else CaseState.KEPT
            tx.save_case(
                transition(tx.case, now, state, keep_until=verdict.keep_until, keep_reason=justification, keeps=keeps)
            )
            after = {"rule": tx.case.rule, "keep_until": str(verdict.keep_until), "restore_queued": restore}
            tx.audit(audit("ok", justification or "", after))
            return KeepResult(True, "kept", verdict.keep_until, restore)

        return body

    async def release(self, case_id: str, actor: str) -> KeepResult:
        """ "I don't need it": the user gives the access up now; the next run acts without waiting.

        Only a delivered warning can be released; every other safety rail (caps, final check,
        kill switch) still applies to the action itself.
        """
        now = self.ctx.clock.now()

        def body(tx: CaseTransaction) -> KeepResult:
            case = tx.case
            if case.state is not CaseState.WARNED:
                return KeepResult(False, f"nothing to release: this warning is {case.state.value}")
            tx.save_case(transition(case, now, CaseState.WARNED, deadline=now, delivered_at=case.delivered_at or now))
            tx.audit(
                self.ctx.audit(
                    case.org_id,
                    "release",
                    "ok",
                    subject=case.account_id,
                    actor=actor,
                    reason="the user does not need the access",
                    after={"deadline": str(now)},
                )
            )
            return KeepResult(True, "released: the access will be removed on the next run")

        return await self.ctx.tx(case_id, body)

    async def restore(
        self, org_id: str, account_id: str, actor: str, policy: Policy, *, reason: str = ""
    ) -> RestoreResult:
        """Undo what the engine did to an account (admin- or rule-approved), then execute it."""
        ctx = self.ctx
        now = ctx.clock.now()
        restorable = (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED, CaseState.DELETED)
        cases = [c for c in await ctx.db(ctx.store.find_cases, org_id, account_id) if c.state in restorable]
        if not cases:
            return RestoreResult(False, "nothing to restore: jira-cleanup has not removed access for this account")
        queued = 0
        refusals: list[str] = []
        acted_in: set[str] = set()  # the runs whose actions this restore undoes (their threads hear of it)
        for case in cases:
            refusal = unrestorable(case)
            if refusal is not None:
                refusals.append(refusal)
                continue

            def body(tx: CaseTransaction) -> bool:
                if not take_restore(tx, restore_entry(tx, "restore", now)):
                    return False
                tx.audit(ctx.audit(org_id, "restore.requested", "ok", subject=account_id, actor=actor, reason=reason))
                acted_in.update(e.run_id for e in tx.entries if e.op.reduces_access and e.state is EntryState.CONFIRMED)
                return True

            queued += await ctx.tx(case.case_id, body)
        if not queued:
            return RestoreResult(False, "; ".join(refusals) or "a restore is already queued")
        report = RunReport.adhoc("restore", org_id)
        await self.executor.execute(org_id, policy, report, run_id=None, ops=GIVING_BACK)
        outcome = "restored" if report.counts.get("restored") else RESTORE_QUEUED
        why = f" ({reason})" if reason else ""
        for run_id in sorted(acted_in):
            await ctx.threads.say(org_id, run_thread(run_id), f"Later: {account_id} {outcome} by {actor}{why}.")
        return RestoreResult(True, outcome, queued)


def _undo_or_cancel(tx: CaseTransaction, verdict: KeepVerdict, now: datetime) -> bool:
    """Cancel actions not yet sent; queue a restore for one done or in flight. True when one is queued."""
    for e in tx.entries:
        if e.op.reduces_access and e.state in _CANCELLABLE:
            tx.save_entry(replace(e, state=EntryState.SKIPPED, outcome="kept by the user", updated_at=now))
    done = [e for e in tx.entries if e.op.reduces_access and e.state is EntryState.CONFIRMED]
    in_flight = [e for e in tx.entries if e.op.reduces_access and e.state is EntryState.REQUESTED]
    if not (verdict.needs_restore or done or in_flight):
        return False
    source = (done or in_flight)[0].run_id if (done or in_flight) else "keep"
    queued = restore_entry(tx, source, now)
    if in_flight and not done and not verdict.needs_restore:
        queued = replace(queued, state=EntryState.WAITING, outcome="waiting for the action in flight")
    held = next((e for e in tx.entries if e.entry_id == queued.entry_id), None)
    if held is None or held.state in (EntryState.SKIPPED, EntryState.FAILED):
        # None yet, or one that never gave the access back (a denied or expired undo): this one does.
        tx.save_entry(queued)
    elif held.state is EntryState.HELD:
        # An undo awaiting approval holds this restore: the owner's keep needs no approval.
        tx.save_entry(replace(held, state=queued.state, outcome="kept by the user", updated_at=now))
    return True


def restore_entry(tx: CaseTransaction, run_id: str, now: datetime) -> LedgerEntry:
    """The restore of everything on the locked case, for a keep or a single restore.

    It gives back what a cancellation of the case's deletion (an undo's) would, and more: one not
    sent yet is dropped, and the restore waits for one in flight (cancel-delete refuses a second
    call, so the two must not run at once).
    """
    entry = planned_entry(run_id, tx.case, Op.RESTORE, now)
    for e in tx.entries:
        if e.op is not Op.CANCEL_DELETE:
            continue
        if e.state in _CANCELLABLE:
            why = "superseded by a restore of everything (a keep or a restore)"
            tx.save_entry(replace(e, state=EntryState.SKIPPED, outcome=why, updated_at=now))
        elif e.state is EntryState.REQUESTED:
            entry = replace(entry, state=EntryState.WAITING, outcome="waiting for the cancellation in flight")
    return entry


def take_restore(tx: CaseTransaction, entry: LedgerEntry) -> bool:
    """Store ``entry`` as the case's one entry of its op (a restore, or the cancellation of a deletion).

    Refused (False) when one is queued or done. One that ended without giving the access back
    (skipped: a denied or expired undo, an action that never happened; failed) is replaced, so the
    account can still be given back later.
    """
    old = next((e for e in tx.entries if e.entry_id == entry.entry_id), None)
    if old is not None and old.state not in (EntryState.SKIPPED, EntryState.FAILED):
        return False
    tx.save_entry(entry)
    return True


def set_paused(store: LifecycleStore, clock: Clock, org_id: str, paused: bool, actor: str, reason: str = "") -> None:
    """Flip the kill switch of ``org_id`` with its audit event (usable without a directory)."""
    entry = AuditEntry(
        at=clock.now(),
        actor=actor,
        action="pause" if paused else "resume",
        outcome="ok",
        org_id=org_id,
        reason=reason,
    )
    store.set_paused(org_id, paused, entry)


def deny_run(
    store: LifecycleStore,
    clock: Clock,
    run_id: str,
    approver: str,
    reason: str = "",
    *,
    epoch: int | None = None,
    approval_ref: str = "",
) -> None:
    """Drop the held actions of ``run_id`` (usable without a directory). Raises ``ValueError`` when not held.

    A refusal leaves an audit row too. With ``epoch`` (the leader's), a stale leader is fenced out.
    Both rows carry ``approval_ref`` (where the approval was asked for, :func:`core.threads.approval_ref`).
    """
    run = store.get_run(run_id)
    now = clock.now()

    def audit(action: str, outcome: str, why: str) -> None:
        entry = AuditEntry(
            at=now,
            actor=approver,
            action=action,
            outcome=outcome,
            org_id=run.org_id,
            approver=approver,
            run_id=run_id,
            reason=why,
            mode=run.mode,
            plan_hash=run.action_hash,
            after={"approval_ref": approval_ref},
        )
        store.append_audit(entry)

    if run.status is not RunStatus.AWAITING_APPROVAL:
        why = f"run {run_id} is {run.status.value}, not awaiting approval"
        audit("denial.refused", "refused", why)
        raise ValueError(why)
    for e in store.entries(run.org_id, states=[EntryState.HELD], run_id=run_id):
        store.set_entry_state(
            e.entry_id, EntryState.HELD, EntryState.SKIPPED, now, f"denied by {approver}", epoch=epoch
        )
    store.save_run(replace(run, status=RunStatus.COMPLETED, note=f"denied: {reason}", updated_at=now, held=0))
    audit("approval.denied", "ok", reason)


async def tell_denied(threads: AdminThreads, org_id: str, run_id: str, approver: str, reason: str = "") -> None:
    """A denied run's threads: the parent shows the denial, a reply says who and why."""
    why = f" ({reason})" if reason else ""
    denied = f"Denied by {approver}{why}"
    await threads.close(org_id, run_thread(run_id), denied, f"{denied}: nothing was changed.")


def _open_cases(store: LifecycleStore, org_id: str, account_id: str, rule: str | None) -> list[Case]:
    """The open cases of an account (of ``rule`` only, when given), newest first."""
    return [c for c in store.find_cases(org_id, account_id) if c.state.is_open and (rule is None or c.rule == rule)]


@dataclass(frozen=True, slots=True)
class KeepAsk:
    """One keep request: who, why, when, the earlier keeps of the same access, and the approving admin."""

    actor: str
    justification: str | None
    now: datetime
    prior_keeps: int = 0
    approved_by: str | None = None


def _prior_keeps(store: LifecycleStore, case: Case, policy: Policy, now: datetime) -> int:
    """Keeps of ``case``'s access (its account and rule, every cycle) within the keep period."""
    since = now - timedelta(days=policy.lifecycle.keep.period_days)
    return prior_keeps(store.find_cases(case.org_id, case.account_id), case.rule, since)


def _prior_keeps_of_case(store: LifecycleStore, case_id: str, policy: Policy, now: datetime) -> int:
    return _prior_keeps(store, store.get_case(case_id), policy, now)
