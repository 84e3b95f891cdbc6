"""Phase 5: carry planned ledger entries out — claim, final check, REQUESTED, write, CONFIRMED.

The canary goes first, one at a time; then batches run concurrently. The kill switch, the
circuit breaker and a failed canary stop the run; whatever is left stays in the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import assert_never

from core.engine.context import Context
from core.engine.judgement import already_done, final_check, state_after
from core.engine.outcomes import REMOVED_FROM_DIRECTORY, Outcome, Prepared, RunReport, is_transient, transient
from core.engine.writes import write
from core.errors import AccountNotFound, DirectoryError, NotManageable
from core.ledger import EntryState, LedgerEntry, RunStatus
from core.lifecycle import DELETE_GRACE, Case, CaseState, Effect, Op, transition
from core.logcontext import bound
from core.model import Account, AccountId, ApiUse, Claim
from core.policy import Policy
from core.ports import ApiTokenReader, CaseTransaction, Delivery

log = logging.getLogger("jira_cleanup.engine")

KILL_SWITCH_STOP = "stopped by the kill switch"

#: Hears a run's report while its actions are carried out (the admin thread's progress replies).
Progress = Callable[[RunReport], Awaitable[None]]


@dataclass(slots=True)
class _Breaker:
    """Counts consecutive transient failures; trips at ``limit``."""

    limit: int
    consecutive: int = 0
    stopped: bool = False

    @property
    def tripped(self) -> bool:
        return self.consecutive >= self.limit

    def record(self, outcome: Outcome) -> None:
        self.consecutive = self.consecutive + 1 if outcome is Outcome.TRANSIENT else 0

    def note(self) -> str | None:
        if not self.tripped:
            return None
        return (
            f"circuit breaker: {self.consecutive} consecutive Atlassian failures; the run is paused and "
            "resumes from the ledger on the next run"
        )


@dataclass(slots=True)
class _Canary:
    """The first ``left`` actions of a run, carried out one at a time and judged together."""

    left: int
    max_error_rate: float
    done: int = 0
    failed: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)

    def record(self, claimed: Sequence[LedgerEntry], outcomes: Sequence[Outcome]) -> None:
        self.left -= len(claimed)
        self.done += len(outcomes)
        self.failed += sum(1 for o in outcomes if o.is_failure)
        self.entries.extend(claimed)

    def failure(self) -> str | None:
        rate = self.failed / self.done if self.done else 0.0
        if rate <= self.max_error_rate:
            return None
        return f"canary failed: {self.failed} of {self.done} actions failed; the rest is paused"


class Executor:
    """Claims PLANNED entries and carries each out exactly once (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def execute(
        self,
        org_id: str,
        policy: Policy,
        report: RunReport,
        *,
        run_id: str | None,
        ops: Collection[Op] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Claim and carry out PLANNED entries: canary first (one at a time), then the rest concurrently.

        Only those of ``run_id`` and of ``ops``, when given: a run carries out what it answered for
        (its caps counted it), a keep or a restore only what gives access back.
        Only the executing replica (the leader) writes; elsewhere entries stay PLANNED for it.
        ``progress`` hears the report after every batch that did not end the run.
        """
        ctx = self.ctx
        if not ctx.executes:
            report.note = report.note or "queued: the leading replica carries the actions out"
            return
        safety = policy.safety
        canary = _Canary(safety.canary_size, float(safety.canary_max_error_rate))
        breaker = _Breaker(safety.breaker_failures)
        while True:
            if await ctx.db(ctx.store.is_paused, org_id):
                report.status, report.note = RunStatus.PAUSED, KILL_SWITCH_STOP
                return
            in_canary = canary.left > 0
            size = min(canary.left, ctx.claim_batch) if in_canary else ctx.claim_batch
            claimed = await ctx.db(
                ctx.store.claim, org_id, ctx.worker_id, size, run_id=run_id, ops=ops, epoch=ctx.epoch
            )
            if not claimed:
                return
            ctx.crash("after_claim")
            outcomes = await self._run_batch(org_id, claimed, policy, report, breaker, 1 if in_canary else None)
            note = await self._judge_canary(canary, claimed, outcomes) if in_canary else None
            note = note or breaker.note()
            if note is not None:
                await self._pause_run(org_id, report, note)
                return
            if breaker.stopped:
                report.status, report.note = RunStatus.PAUSED, KILL_SWITCH_STOP
                return
            if progress is not None:
                await progress(report)

    async def _judge_canary(
        self, canary: _Canary, claimed: Sequence[LedgerEntry], outcomes: Sequence[Outcome]
    ) -> str | None:
        """Once the canary is complete: why the rest must not go ahead, or None."""
        canary.record(claimed, outcomes)
        if canary.left > 0:
            return None
        failure = canary.failure()
        if failure is not None:
            return failure
        missing = await self._canary_health(canary.entries)
        if not missing:
            return None
        return (
            f"canary health check failed: {missing} of {len(canary.entries)} confirmed actions did "
            "not take effect when read back from Atlassian; the rest is paused"
        )

    async def _canary_health(self, canary: Sequence[LedgerEntry]) -> int:
        """Read every confirmed canary action back from Atlassian; how many did not take effect."""
        ctx = self.ctx
        missing = 0
        for claimed in canary:
            entry = await ctx.db(ctx.store.get_entry, claimed.entry_id)
            if entry.state is not EntryState.CONFIRMED or not entry.op.reduces_access:
                continue
            case = await ctx.db(ctx.store.get_case, entry.case_id)
            try:
                account = await ctx.directory.get_account(AccountId(entry.account_id))
            except AccountNotFound:
                continue  # gone from the directory: nothing left to reduce
            if not already_done(entry, case, account):
                missing += 1
        return missing

    async def _pause_run(self, org_id: str, report: RunReport, note: str) -> None:
        """Stop this run (the rest waits in the ledger) and tell the admins why."""
        report.status, report.note = RunStatus.PAUSED, note
        await self.ctx.notifier.notify_admins(org_id, note)

    async def release(self, entry: LedgerEntry, why: str) -> None:
        """Give a claimed entry back (PLANNED): a later run carries it out."""
        await self.ctx.move(entry.entry_id, EntryState.CLAIMED, EntryState.PLANNED, why)

    async def recover(self, org_id: str, policy: Policy) -> int:
        """Release CLAIMED entries and reconcile REQUESTED ones by reading state; return how many."""
        ctx = self.ctx
        now = ctx.clock.now()
        waiting = await ctx.db(ctx.store.entries, org_id, states=[EntryState.WAITING])
        if waiting:
            everything = await ctx.db(ctx.store.entries, org_id)
            # A restore waits for the case's action, or the cancellation of its deletion, in flight.
            busy = {e.case_id for e in everything if e.op is not Op.RESTORE and not e.state.is_final}
            for entry in waiting:
                if entry.case_id not in busy:
                    await ctx.move(entry.entry_id, EntryState.WAITING, EntryState.PLANNED, "action settled")
        stuck = await ctx.db(ctx.store.entries, org_id, states=[EntryState.CLAIMED, EntryState.REQUESTED])
        for entry in stuck:
            if ctx.maybe_in_flight(entry, now):
                continue  # a previous leader may still be sending it: reconcile on a later run
            if entry.state is EntryState.CLAIMED:
                await ctx.move(entry.entry_id, EntryState.CLAIMED, EntryState.PLANNED, "released after a restart")
            else:
                await self.carry_out(entry, policy, RunReport.adhoc(entry.run_id, org_id), reconciling=True)
        return len(stuck)

    async def _run_batch(
        self,
        org_id: str,
        claimed: Sequence[LedgerEntry],
        policy: Policy,
        report: RunReport,
        breaker: _Breaker,
        concurrency: int | None,
    ) -> list[Outcome]:
        sem = asyncio.Semaphore(concurrency or self.ctx.concurrency)
        outcomes: list[Outcome] = []

        async def one(entry: LedgerEntry) -> None:
            async with sem:
                if breaker.tripped or breaker.stopped or await self.ctx.db(self.ctx.store.is_paused, org_id):
                    breaker.stopped = True
                    await self.release(entry, "released: run stopped")
                    return
                outcome = await self.carry_out(entry, policy, report)
                if outcome is Outcome.STOPPED:
                    breaker.stopped = True
                    return
                outcomes.append(outcome)
                breaker.record(outcome)

        await asyncio.gather(*(one(e) for e in claimed))
        return outcomes

    async def carry_out(
        self, entry: LedgerEntry, policy: Policy, report: RunReport, *, reconciling: bool = False
    ) -> Outcome:
        """Final check under the case lock, REQUESTED, write, CONFIRMED."""
        with bound(run_id=entry.run_id, account=entry.account_id):
            return await self._carry_out(entry, policy, report, reconciling=reconciling)

    async def _carry_out(self, entry: LedgerEntry, policy: Policy, report: RunReport, *, reconciling: bool) -> Outcome:
        ctx = self.ctx
        read = await self._read(entry, report, reconciling=reconciling)
        if isinstance(read, Outcome):
            return read
        account, api = read
        if entry.state is EntryState.CLAIMED and await ctx.db(ctx.store.is_paused, entry.org_id):
            # The kill switch went on while this entry waited for its final read: it is not sent.
            await self.release(entry, "released: kill switch")
            return Outcome.STOPPED
        # Read right before the write: a protection added mid-run wins.
        policy = await ctx.effective(policy, entry.org_id)
        prepared, current, case = await ctx.tx(entry.case_id, self._preparer(entry, account, policy, api))
        match prepared:
            case Prepared.GONE:
                return Outcome.SKIPPED
            case Prepared.SKIPPED:
                report.bump("actions_skipped")
                return Outcome.SKIPPED
            case Prepared.FAILED:
                report.bump("actions_failed")
                return Outcome.FAILED
            case Prepared.NOOP:
                await self._confirm(current, report, policy, noop=True, account=account)
                return Outcome.NOOP
            case Prepared.SEND:
                return await self._send(current, case, account, policy, report)
            case _:
                assert_never(prepared)

    async def _read(
        self, entry: LedgerEntry, report: RunReport, *, reconciling: bool
    ) -> tuple[Account, ApiUse | None] | Outcome:
        """The account as Atlassian shows it now, with its API-token evidence when the final
        check needs it, or the outcome when either cannot be read (unknown tokens never mean
        "unused": the entry fails as a transient error and the next run tries again)."""
        try:
            account = await self.ctx.directory.get_account(AccountId(entry.account_id))
            api = await self._api_use(entry, account)
        except AccountNotFound:
            await self._finalize(entry, EntryState.FAILED, "account no longer exists", report, close_case=True)
            return Outcome.FAILED
        except DirectoryError as exc:
            if not reconciling:  # a reconciled entry stays REQUESTED until the next start
                await self._finalize(entry, EntryState.FAILED, transient(exc), report)
            return Outcome.TRANSIENT
        if api is not None and not api.known:
            await self._finalize(entry, EntryState.FAILED, transient(f"API tokens unreadable: {api.reason}"), report)
            return Outcome.TRANSIENT
        return account, api

    async def _api_use(self, entry: LedgerEntry, account: Account) -> ApiUse | None:
        """Fresh API-token evidence for an action the final check judges (None: not needed or not readable).

        Read for a warned account's action only (restores and deletions of actioned accounts do
        not depend on it), and only for managed accounts: Atlassian refuses the others' tokens.
        """
        tokens = self.ctx.directory
        if (
            entry.state is not EntryState.CLAIMED
            or not entry.op.reduces_access
            or entry.op.is_deletion
            or account.claim is not Claim.MANAGED
            or not isinstance(tokens, ApiTokenReader)
        ):
            return None
        return await tokens.api_use(account.account_id)

    def _preparer(
        self, entry: LedgerEntry, account: Account, policy: Policy, api: ApiUse | None
    ) -> Callable[[CaseTransaction], tuple[Prepared, LedgerEntry, Case]]:
        """The locked step before a write: final check, then REQUESTED (or why not)."""
        rules = {r.name: r for r in policy.rules}
        now = self.ctx.clock.now()

        def prepare(tx: CaseTransaction) -> tuple[Prepared, LedgerEntry, Case]:
            current, case = _current(tx, entry), tx.case
            if current.state not in (EntryState.CLAIMED, EntryState.REQUESTED):
                return Prepared.GONE, current, case
            if current.state is EntryState.CLAIMED:
                refusal = final_check(current, case, account, rules.get(current.rule), policy, now, api)
                if refusal is not None:
                    return Prepared.SKIPPED, self._skip(tx, current, refusal, now), case
                current = _with_groups(current, case, account, policy)
            if already_done(current, case, account):
                return Prepared.NOOP, current, case
            if current.op is Op.REMOVE_PRODUCT_ACCESS and not current.group_ids:
                return Prepared.FAILED, self._unmapped(tx, current, policy, now), case
            requested = replace(current, state=EntryState.REQUESTED, updated_at=now, worker=self.ctx.worker_id)
            tx.save_entry(requested)
            return Prepared.SEND, requested, case

        return prepare

    def _skip(self, tx: CaseTransaction, entry: LedgerEntry, refusal: str, now: datetime) -> LedgerEntry:
        """The final check refused ``entry``: skip it (and close a warning that no longer applies)."""
        case = tx.case
        skipped = replace(entry, state=EntryState.SKIPPED, outcome=refusal, updated_at=now)
        tx.save_entry(skipped)
        if case.state is CaseState.WARNED:
            tx.save_case(transition(case, now, CaseState.CLOSED, closed_reason=refusal))
        tx.audit(
            self.ctx.audit(
                case.org_id,
                f"act.{entry.op.value}",
                "skipped",
                subject=case.account_id,
                run_id=entry.run_id,
                mode="enforce",
                reason=refusal,
            )
        )
        return skipped

    def _unmapped(self, tx: CaseTransaction, entry: LedgerEntry, policy: Policy, now: datetime) -> LedgerEntry:
        """No known access group grants the product: the removal cannot be carried out."""
        case = tx.case
        groups = ", ".join(policy.lifecycle.groups_for(entry.product or ""))
        reason = (
            f"{entry.product} access is not granted by a known access group ({groups}): set lifecycle.access_groups"
        )
        failed = replace(entry, state=EntryState.FAILED, outcome=reason, updated_at=now)
        tx.save_entry(failed)
        tx.save_case(transition(case, now, CaseState.CLOSED, closed_reason=reason))
        tx.audit(
            self.ctx.audit(
                case.org_id,
                f"act.{entry.op.value}",
                "failed",
                subject=case.account_id,
                run_id=entry.run_id,
                reason=reason,
            )
        )
        return failed

    async def _send(
        self, entry: LedgerEntry, case: Case, account: Account, policy: Policy, report: RunReport
    ) -> Outcome:
        """Write the REQUESTED entry to Atlassian, then confirm it and tell the person."""
        self.ctx.crash("after_requested")
        failure = await self._write(entry, case, account, report)
        if failure is not None:
            return failure
        self.ctx.crash("after_write")
        await self._confirm(entry, report, policy, noop=False, account=account)
        if entry.op.reduces_access and not entry.op.is_deletion:
            await self._tell_actioned(entry, account)
            if policy.lifecycle.keep.approval_after is not None:  # the deadline stood: a waiting keep hears so
                await self.ctx.waiting_keeps.deadline_passed(case)
        return Outcome.OK

    async def _write(self, entry: LedgerEntry, case: Case, account: Account, report: RunReport) -> Outcome | None:
        """The write itself; a refusal or failure settles the entry and is returned."""
        try:
            await write(self.ctx.directory, entry, case, account)
        except NotManageable as exc:
            reason = f"refused by Atlassian: {exc.reason}"
            await self._finalize(entry, EntryState.FAILED, reason, report, close_case=True, status=exc.status)
            return Outcome.FAILED
        except AccountNotFound:
            await self._finalize(entry, EntryState.FAILED, "account no longer exists", report, close_case=True)
            return Outcome.FAILED
        except DirectoryError as exc:
            await self._finalize(entry, EntryState.FAILED, transient(exc), report, status=exc.status)
            return Outcome.TRANSIENT
        return None

    async def _tell_actioned(self, entry: LedgerEntry, account: Account) -> None:
        """Tell the person their access was removed and how to ask for it back (best effort, audited)."""
        ctx = self.ctx
        case = await ctx.db(ctx.store.get_case, entry.case_id)
        if case.state is not CaseState.ACTIONED:
            return  # a keep that arrived in flight already queued the restore
        try:
            delivery = await ctx.notifier.actioned(account, case)
        except Exception as exc:
            log.exception("telling %s about the action failed", entry.account_id)
            delivery = Delivery(False, "notifier", f"error: {type(exc).__name__}")
        await ctx.record(
            ctx.audit(
                case.org_id,
                "notice.actioned",
                "ok" if delivery.delivered else "failed",
                subject=case.account_id,
                run_id=entry.run_id,
                reason=delivery.detail,
                after={"channel": delivery.channel, "attempts": attempts(delivery)},
            )
        )

    async def _confirm(
        self, entry: LedgerEntry, report: RunReport, policy: Policy, *, noop: bool, account: Account | None = None
    ) -> None:
        """CONFIRMED, the case moved on, one audit row; restores waiting for this action then run."""
        ctx = self.ctx
        now = ctx.clock.now()
        ctx.crash("before_confirm")
        released: list[LedgerEntry] = []
        plan_hash = report.action_hash or (report.scan.plan_hash if report.scan is not None else None)
        outcome = "already in the target state" if noop else "done"

        def body(tx: CaseTransaction) -> None:
            if _current(tx, entry).state.is_final:
                return
            tx.save_entry(replace(entry, state=EntryState.CONFIRMED, outcome=outcome, updated_at=now))
            case = tx.case
            released.extend(_settle_case(tx, entry, policy, now))
            tx.audit(
                ctx.audit(
                    case.org_id,
                    f"act.{entry.op.value}",
                    "ok" if not noop else "noop",
                    subject=case.account_id,
                    run_id=entry.run_id,
                    mode="enforce",
                    reason=outcome,
                    approver=report.approver,
                    plan_hash=plan_hash,
                    before={"state": case.state.value, **evidence(account, now)},
                    after={
                        "state": state_after(entry.op).value,
                        "groups_removed": list(entry.group_ids),
                        **report.approval(),
                    },
                )
            )

        await ctx.tx(entry.case_id, body)
        report.bump(_confirmed_count(entry.op, noop=noop))
        for waiting in released:
            # A keep arrived while this action was in flight: undo it now, on this worker.
            if await ctx.move(
                waiting.entry_id, EntryState.PLANNED, EntryState.CLAIMED, "claimed after its action settled"
            ):
                await self.carry_out(replace(waiting, state=EntryState.CLAIMED), policy, report)

    async def _finalize(
        self,
        entry: LedgerEntry,
        state: EntryState,
        outcome: str,
        report: RunReport,
        *,
        close_case: bool = False,
        status: int | None = None,
    ) -> None:
        """Settle ``entry`` without a write (failed or skipped); restores waiting for it are dropped."""
        now = self.ctx.clock.now()

        def body(tx: CaseTransaction) -> None:
            current = _current(tx, entry)
            if current.state.is_final:
                return
            tx.save_entry(replace(current, state=state, outcome=outcome, updated_at=now, http_status=status))
            kept = False
            for waiting in tx.entries:
                if waiting.op is Op.RESTORE and waiting.state is EntryState.WAITING:
                    if entry.op is Op.CANCEL_DELETE:
                        # The deletion still stands: the restore that waited for its cancellation goes ahead.
                        why = "the cancellation did not happen; restoring everything"
                        tx.save_entry(replace(waiting, state=EntryState.PLANNED, outcome=why, updated_at=now))
                        continue
                    why = "the action did not happen"
                    tx.save_entry(replace(waiting, state=EntryState.SKIPPED, outcome=why, updated_at=now))
                    kept = kept or tx.case.keep_until is not None
            if kept:
                # A keep arrived while the action was in flight; the action failed, so the keep simply stands.
                tx.save_case(transition(tx.case, now, CaseState.KEPT))
            elif close_case and tx.case.state is CaseState.WARNED:
                tx.save_case(transition(tx.case, now, CaseState.CLOSED, closed_reason=outcome))
            tx.audit(
                self.ctx.audit(
                    tx.case.org_id,
                    f"act.{entry.op.value}",
                    state.value,
                    subject=entry.account_id,
                    run_id=entry.run_id,
                    reason=outcome,
                    http_status=status,
                    approver=report.approver,
                    after=report.approval(),
                )
            )

        await self.ctx.tx(entry.case_id, body)
        report.bump("actions_transient" if is_transient(outcome) else "actions_failed")


def _current(tx: CaseTransaction, entry: LedgerEntry) -> LedgerEntry:
    """``entry`` as stored now (under the case lock)."""
    return next((e for e in tx.entries if e.entry_id == entry.entry_id), entry)


def _with_groups(entry: LedgerEntry, case: Case, account: Account, policy: Policy) -> LedgerEntry:
    """Fix which groups a removal takes away (or a restore gives back) right before the write."""
    if entry.op is Op.REMOVE_PRODUCT_ACCESS:
        named = frozenset(policy.lifecycle.groups_for(entry.product or ""))
        return replace(entry, group_ids=account.group_ids_named(named))
    if entry.op is Op.RESTORE:
        return replace(entry, group_ids=case.effect.group_ids if case.effect else ())
    return entry


def _settle_case(tx: CaseTransaction, entry: LedgerEntry, policy: Policy, now: datetime) -> list[LedgerEntry]:
    """Move the case on after ``entry`` was confirmed; returns restores released by it."""
    case = tx.case
    if entry.op is Op.RESTORE:
        # A restored account is kept for the keep period, so the next scan does not
        # warn it again straight away although its last-active date has not moved.
        keep_until = max(case.keep_until or now, now + timedelta(days=policy.lifecycle.keep.days))
        tx.save_case(transition(case, now, CaseState.KEPT, restored_at=now, keep_until=keep_until))
        return []
    if entry.op is Op.DELETE_MANAGED:
        tx.save_case(transition(case, now, CaseState.DELETION_SCHEDULED, delete_due_at=now + DELETE_GRACE))
        return []
    if entry.op is Op.REMOVE_FROM_DIRECTORY:
        # Leaving the directory has no grace period: only a new invitation brings them back.
        tx.save_case(transition(case, now, CaseState.DELETED, deleted_at=now, closed_reason=REMOVED_FROM_DIRECTORY))
        return []
    if entry.op is Op.CANCEL_DELETE:
        # Back to how the action left the account; ``restored_at`` marks the deletion undone (not redone).
        tx.save_case(transition(case, now, CaseState.ACTIONED, delete_due_at=None, restored_at=now))
    else:
        effect = Effect(entry.op, entry.group_ids, entry.product)
        tx.save_case(transition(case, now, CaseState.ACTIONED, actioned_at=now, effect=effect))
    released = []
    for waiting in tx.entries:
        if waiting.op is Op.RESTORE and waiting.state is EntryState.WAITING:
            settled = replace(waiting, state=EntryState.PLANNED, outcome="action settled", updated_at=now)
            tx.save_entry(settled)
            released.append(waiting)
    return released


def _confirmed_count(op: Op, *, noop: bool) -> str:
    """The report counter a confirmed entry of ``op`` adds to."""
    if op is Op.RESTORE:
        return "restored"
    if op is Op.CANCEL_DELETE:
        return "deletions_cancelled"
    return "actions_noop" if noop else "actions_confirmed"


def evidence(account: Account | None, read_at: datetime) -> dict[str, object]:
    """What the action was decided on: the account as read from Atlassian right before the write."""
    if account is None:
        return {}
    return {
        "evidence": {
            "read_at": read_at.isoformat(),
            "source": "Admin API, read right before the write",
            "membership": account.membership_status.value,
            "account_status": account.account_status.value,
            "last_active": {
                str(p.key): p.last_active.isoformat() if p.last_active is not None else None for p in account.products
            },
        }
    }


def attempts(delivery: Delivery) -> list[dict[str, object]]:
    """Every channel tried for a message, for the audit trail."""
    return [{"channel": c, "delivered": ok, "detail": d} for c, ok, d in delivery.tried()]
