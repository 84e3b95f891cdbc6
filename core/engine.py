"""The lifecycle engine: warn, keep, act, delete and restore — exactly once, behind safety rails.

One :meth:`Engine.run` does, for one org:

1. scan and plan (read-only, :func:`core.usecases.scan_and_plan`);
2. recover the ledger after a crash (release ``CLAIMED``, reconcile ``REQUESTED`` by reading state);
3. advance every case: send warnings, withdraw them, reopen expired keeps, find due actions;
4. apply the blast-radius caps: over a cap, every due action is *held* for approval and nothing
   is written; deletions are held for their own approval unless the policy waives it;
5. execute the planned ledger entries: canary first, then the rest, re-reading each account
   and its keeps right before the write, stopping at once on the kill switch or the breaker.

In ``dry_run`` mode steps 2–5 only count what would happen: no warning is sent, no case or
ledger entry is written, and Atlassian receives no mutating request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from core.audit import AuditEntry
from core.clock import SystemClock
from core.errors import AccountNotFound, DirectoryError, NotManageable
from core.identity import People, same_person
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, action_hash, entry_id_for
from core.lifecycle import (
    DELETE_GRACE,
    Case,
    CaseState,
    Effect,
    Op,
    Step,
    StepKind,
    advance,
    deliver,
    judge_keep,
    op_for_action,
    op_for_deletion,
    transition,
)
from core.model import Account, AccountId, AccountStatus, GroupId, MembershipStatus, ProductKey
from core.planner import Decision, SkipReason, Verdict, decide, is_protected
from core.policy import Caps, Mode, Policy, Rule
from core.ports import (
    CaseTransaction,
    Clock,
    Delivery,
    DirectoryReader,
    DirectoryWriter,
    LifecycleStore,
    Notifier,
    ProtectionStore,
    ScanStore,
)
from core.protection import effective_policy
from core.usecases import ScanResult, scan_and_plan

T = TypeVar("T")
log = logging.getLogger("jira_cleanup.engine")
CrashHook = Callable[[str], None]

REMOVED_FROM_DIRECTORY = "removed from the directory (a new invitation is needed to come back)"

#: Named points where tests may kill the process (see ``Engine.crash``).
CRASH_POINTS = ("after_claim", "after_requested", "after_write", "before_confirm")

#: Steps that send a warning (a dry run shows them in its transcript).
_WOULD_WARN = frozenset({StepKind.OPEN_WARNING, StepKind.REOPEN, StepKind.RETRY_DELIVERY})


class Directory(DirectoryReader, DirectoryWriter, Protocol):
    """A directory the engine can both read and change."""


@dataclass(slots=True)
class RunReport:
    """What one run did, for the CLI, chat replies and tests."""

    run_id: str
    org_id: str
    mode: str
    status: RunStatus
    counts: dict[str, int] = field(default_factory=dict)
    held: int = 0
    action_hash: str | None = None
    expires_at: datetime | None = None
    note: str = ""
    scan: ScanResult | None = None
    #: Who approved the held actions this report carries out (their audit rows name them).
    approver: str | None = None

    def bump(self, key: str, by: int = 1) -> None:
        """Add ``by`` to counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + by


@dataclass(frozen=True, slots=True)
class KeepResult:
    """The answer to a keep request."""

    accepted: bool
    reason: str
    keep_until: datetime | None = None
    restore_queued: bool = False


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """The answer to a restore request."""

    accepted: bool
    reason: str
    entries: int = 0


@dataclass(slots=True)
class _Breaker:
    """Counts consecutive transient failures; trips at ``limit``."""

    limit: int
    consecutive: int = 0
    stopped: bool = False

    @property
    def tripped(self) -> bool:
        return self.consecutive >= self.limit

    def record(self, outcome: str) -> None:
        self.consecutive = self.consecutive + 1 if outcome == "transient" else 0


class Engine:
    """Carries plans out against one org. See the module docstring for the phases.

    ``worker_id`` names this process in the ledger and the audit trail; it must be unique per
    process (host name plus a random suffix). ``crash`` is a test hook called at the named
    :data:`CRASH_POINTS`; production leaves it unset. ``concurrency`` bounds the writes in flight.

    ``protections`` are the ones added at runtime (chat, CLI): every phase works on the
    effective policy (:meth:`effective`), and the final check re-reads them right before each
    write. ``preview`` is where a dry run shows what people would be told; it is never a
    delivery (the real ``notifier`` is never called in a dry run).
    """

    def __init__(
        self,
        directory: Directory,
        scans: ScanStore,
        store: LifecycleStore,
        notifier: Notifier,
        clock: Clock,
        *,
        worker_id: str | None = None,
        crash: CrashHook | None = None,
        concurrency: int = 8,
        claim_batch: int = 200,
        epoch: int | None = None,
        protections: ProtectionStore | None = None,
        preview: Notifier | None = None,
        people: People | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.directory = directory
        self.protections = protections
        self.preview = preview
        #: Who is who across platforms, so one person cannot approve their own run from another chat.
        self.people = people or People()
        self.scans = scans
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._crash = crash
        self.concurrency = max(1, concurrency)
        self.claim_batch = max(1, claim_batch)
        # Grace periods run on a monotonic clock (a wall-clock step never shortens or stretches them);
        # with a simulated clock in tests, that clock serves as both.
        self._monotonic = monotonic or (
            time.monotonic if isinstance(clock, SystemClock) else (lambda: clock.now().timestamp())
        )
        self._epoch: int | None = None
        self._epoch_since = self._monotonic()
        self.epoch = epoch
        #: False on a standby replica: it records keeps and approvals, the leader executes them.
        self.executes = True
        #: How long a new leader leaves an older leader's REQUESTED entries alone (see _maybe_in_flight).
        self.in_flight_grace = timedelta(seconds=120)

    @property
    def epoch(self) -> int | None:
        """The leader's fencing epoch (None: no leader election, e.g. the CLI)."""
        return self._epoch

    @epoch.setter
    def epoch(self, value: int | None) -> None:
        if value != self._epoch:
            self._epoch_since = self._monotonic()  # when this engine started leading with it
        self._epoch = value

    # -- helpers -------------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _tx(self, case_id: str, body: Callable[[CaseTransaction], T]) -> T:
        def run() -> T:
            with self.store.lock_case(case_id, epoch=self.epoch) as tx:
                return body(tx)

        return await asyncio.to_thread(run)

    async def effective(self, policy: Policy, org_id: str) -> Policy:
        """``policy`` plus the protections stored for ``org_id`` (read now, never cached)."""
        if self.protections is None:
            return policy
        return await self._db(effective_policy, policy, self.protections, org_id)

    def crash(self, point: str) -> None:
        """Call the crash hook at a named point (tests only)."""
        if self._crash is not None:
            self._crash(point)

    @property
    def actor(self) -> str:
        """How this worker appears in the audit trail."""
        return f"system:{self.worker_id}"

    def _audit(
        self,
        org_id: str,
        action: str,
        outcome: str,
        *,
        subject: str | None = None,
        reason: str = "",
        run_id: str | None = None,
        mode: str | None = None,
        actor: str | None = None,
        approver: str | None = None,
        before: dict[str, object] | None = None,
        after: dict[str, object] | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        plan_hash: str | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            at=self.clock.now(),
            actor=actor or self.actor,
            action=action,
            outcome=outcome,
            org_id=org_id,
            subject=subject,
            approver=approver,
            reason=reason,
            run_id=run_id,
            plan_hash=plan_hash,
            mode=mode,
            before=before or {},
            after=after or {},
            http_status=http_status,
            request_id=request_id,
        )

    # -- the run ---------------------------------------------------------------------------------

    async def run(self, policy: Policy, *, requested_by: str, scan: ScanResult | None = None) -> RunReport:
        """Scan (unless ``scan`` is given), then carry the lifecycle one step forward."""
        if scan is None:
            scan = await scan_and_plan(self.directory, self.scans, policy, self.clock, protections=self.protections)
        org_id = scan.org.org_id
        policy = await self.effective(policy, org_id)
        now = self.clock.now()
        mode = policy.mode.value
        report = RunReport(scan.run_id, org_id, mode, RunStatus.RUNNING, scan=scan)
        run = LifecycleRun(
            run_id=scan.run_id,
            org_id=org_id,
            mode=mode,
            status=RunStatus.RUNNING,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
            plan_hash=scan.plan_hash,
            billable=scan.summary.billable_accounts,
        )
        if policy.mode is Mode.DRY_RUN:
            await self._preview(policy, scan, report)
            report.status = RunStatus.DRY_RUN
            await self._finish(run, report)
            return report
        await self._db(self.store.save_run, run)
        unknown = scan.summary.unknown_activity
        population = scan.summary.billable_accounts + unknown
        if population and unknown * 100 > policy.safety.max_unknown_percent * population:
            report.status = RunStatus.FAILED
            report.note = (
                f"fail closed: Atlassian gave no last-active data for {unknown} of {population} billable accounts "
                f"(more than {policy.safety.max_unknown_percent}%); nothing was warned or changed"
            )
            await self.notifier.notify_admins(org_id, report.note)
            await self._finish(run, report)
            return report
        if await self._db(self.store.is_paused, org_id):
            report.status = RunStatus.PAUSED
            report.note = "the kill switch is on: nothing was warned or changed (jira-cleanup resume)"
            await self._finish(run, report)
            return report
        await self.recover(org_id, policy)
        due = await self._advance_cases(policy, scan, report)
        await self._plan_entries(policy, run, due, report)
        if report.status is RunStatus.RUNNING:
            await self._execute(org_id, policy, report, run_id=None)
        if report.status is RunStatus.RUNNING:
            report.status = RunStatus.AWAITING_APPROVAL if report.held else RunStatus.COMPLETED
        await self._finish(run, report)
        return report

    async def _finish(self, run: LifecycleRun, report: RunReport) -> None:
        done = replace(
            run,
            status=report.status,
            updated_at=self.clock.now(),
            counts=dict(report.counts),
            held=report.held,
            action_hash=report.action_hash,
            note=report.note,
            expires_at=report.expires_at,
        )
        await self._db(self.store.save_run, done)
        await self._db(
            self.store.append_audit,
            self._audit(
                run.org_id,
                "run",
                report.status.value,
                run_id=run.run_id,
                mode=run.mode,
                reason=report.note,
                plan_hash=run.plan_hash,
                actor=f"{run.requested_by}" if run.requested_by else None,
                after={"counts": dict(report.counts), "held": report.held},
            ),
        )

    async def _decisions_with_accounts(
        self, scan: ScanResult, open_cases: dict[tuple[str, str], Case]
    ) -> list[tuple[Decision, Account | None]]:
        """Decisions that matter this run: non-skips, and skips of accounts with an open case."""

        def load() -> list[tuple[Decision, Account | None]]:
            wanted = [
                d
                for d in self.scans.iter_decisions(scan.run_id)
                if d.verdict is not Verdict.SKIP or (d.account_id, d.rule) in open_cases
            ]
            ids = {d.account_id for d in wanted}
            # One streamed read of the snapshot instead of a query per account.
            loaded: dict[str, Account] = {
                a.account_id: a for a in self.scans.iter_accounts(scan.run_id) if a.account_id in ids
            }
            return [(d, loaded.get(d.account_id)) for d in wanted]

        return await asyncio.to_thread(load)

    async def _preview(self, policy: Policy, scan: ScanResult, report: RunReport) -> None:
        open_cases = dict(await self._db(self.store.open_cases, scan.org.org_id))
        rules = {r.name: r for r in policy.rules}
        now = self.clock.now()
        for decision, account in await self._decisions_with_accounts(scan, open_cases):
            rule = rules[decision.rule]
            case = open_cases.pop((decision.account_id, decision.rule), None)
            step = advance(case, decision, rule, now)
            report.bump(f"would_{step.kind.value}")
            if self.preview is not None and account is not None and step.kind in _WOULD_WARN:
                draft = case or _warning_case("preview", scan.org.org_id, account, rule, step, now)
                await self.preview.warn(account, draft, rule)
        report.note = "dry run: nothing was warned or changed (set mode: enforce in the policy to act)"

    # -- phase 3: cases ------------------------------------------------------------------------

    async def _advance_cases(
        self, policy: Policy, scan: ScanResult, report: RunReport
    ) -> list[tuple[Case, Op, Account]]:
        org_id = scan.org.org_id
        open_cases = dict(await self._db(self.store.open_cases, org_id))
        rules = {r.name: r for r in policy.rules}
        now = self.clock.now()
        due: list[tuple[Case, Op, Account]] = []
        for decision, account in await self._decisions_with_accounts(scan, open_cases):
            rule = rules.get(decision.rule)
            if rule is None or account is None:
                continue
            case = open_cases.pop((decision.account_id, decision.rule), None)
            step = advance(case, decision, rule, now)
            found = await self._apply_step(policy, scan.run_id, org_id, case, step, decision, account, rule, report)
            if found is not None:
                due.append(found)
        # Open cases this scan said nothing about (account left, product gone, rule removed).
        for case in open_cases.values():
            rule = rules.get(case.rule)
            if rule is None:
                await self._close(case, "the rule was removed from the policy", report, scan.run_id)
                continue
            step = advance(case, None, rule, now)
            if step.kind in (StepKind.DUE_DELETE, StepKind.DELETION_DONE, StepKind.CLOSE):
                account = await self._fresh_account(case.account_id)
                found = await self._apply_step(policy, scan.run_id, org_id, case, step, None, account, rule, report)
                if found is not None:
                    due.append(found)
        return due

    async def _fresh_account(self, account_id: str) -> Account | None:
        try:
            return await self.directory.get_account(AccountId(account_id))
        except AccountNotFound:
            return None

    async def _apply_step(
        self,
        policy: Policy,
        run_id: str,
        org_id: str,
        case: Case | None,
        step: Step,
        decision: Decision | None,
        account: Account | None,
        rule: Rule,
        report: RunReport,
    ) -> tuple[Case, Op, Account] | None:
        kind = step.kind
        if kind is StepKind.NOTHING:
            return None
        if kind is StepKind.CLOSE and case is not None:
            await self._close(case, step.reason, report, run_id)
            return None
        if kind is StepKind.DELETION_DONE and case is not None:
            await self._set_state(case, CaseState.DELETED, report, run_id, "deleted", deleted_at=self.clock.now())
            return None
        if account is None:
            return None
        if kind in (StepKind.OPEN_WARNING, StepKind.REOPEN):
            if case is not None:
                await self._close(case, step.reason, report, run_id)
            await self._open_warning(org_id, run_id, account, rule, step, report)
            return None
        if kind is StepKind.RETRY_DELIVERY and case is not None:
            await self._send_warning(case, account, rule, report, run_id)
            return None
        if kind is StepKind.DUE_ACTION and case is not None:
            plan = op_for_action(account, rule, policy)
            if plan.op is None:
                await self._close(case, f"cannot act: {plan.reason}", report, run_id)
                return None
            return case, plan.op, account
        if kind is StepKind.DUE_DELETE and case is not None:
            plan = op_for_deletion(account)
            if plan.op is None:
                return None
            return case, plan.op, account
        return None

    async def _open_warning(
        self, org_id: str, run_id: str, account: Account, rule: Rule, step: Step, report: RunReport
    ) -> None:
        now = self.clock.now()
        case = _warning_case(uuid.uuid4().hex, org_id, account, rule, step, now)
        audit = self._audit(
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
            await self._db(self.store.create_case, case, audit)
        except ValueError:
            return  # another worker opened it first
        report.bump("warnings_opened")
        await self._send_warning(case, account, rule, report, run_id)

    async def _send_warning(self, case: Case, account: Account, rule: Rule, report: RunReport, run_id: str) -> None:
        delivery = await self.notifier.warn(account, case, rule)
        now = self.clock.now()
        if delivery.delivered:

            def body(tx: CaseTransaction) -> None:
                if tx.case.state is not CaseState.WARNED or tx.case.delivered_at is not None:
                    return
                updated = deliver(tx.case, now, delivery.channel, rule)
                tx.save_case(updated)
                tx.audit(
                    self._audit(
                        case.org_id,
                        "warn.delivered",
                        "ok",
                        subject=case.account_id,
                        run_id=run_id,
                        reason=delivery.detail,
                        after={
                            "channel": delivery.channel,
                            "deadline": str(updated.deadline),
                            "attempts": _attempts(delivery),
                        },
                    )
                )

            await self._tx(case.case_id, body)
            report.bump("warnings_delivered")
            return
        report.bump("warnings_undelivered")

        def failed(tx: CaseTransaction) -> bool:
            first = tx.case.escalated_at is None
            tx.save_case(transition(tx.case, now, tx.case.state, escalated_at=tx.case.escalated_at or now))
            tx.audit(
                self._audit(
                    case.org_id,
                    "warn.undelivered",
                    "failed",
                    subject=case.account_id,
                    run_id=run_id,
                    reason=f"{delivery.channel}: {delivery.detail}; no delivery, no action",
                    after={"attempts": _attempts(delivery)},
                )
            )
            return first

        if await self._tx(case.case_id, failed):
            report.bump("escalated")
            await self.notifier.escalate(
                case.org_id,
                account,
                case,
                f"warning could not be delivered ({delivery.detail}); no action will be taken",
            )

    async def _close(self, case: Case, reason: str, report: RunReport, run_id: str | None) -> None:
        await self._set_state(case, CaseState.CLOSED, report, run_id, "closed", closed_reason=reason)

    async def _set_state(
        self,
        case: Case,
        state: CaseState,
        report: RunReport | None,
        run_id: str | None,
        counter: str,
        **changes: object,
    ) -> None:
        now = self.clock.now()

        def body(tx: CaseTransaction) -> None:
            before = tx.case.state
            tx.save_case(transition(tx.case, now, state, **changes))
            tx.audit(
                self._audit(
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

        await self._tx(case.case_id, body)
        if report is not None:
            report.bump(counter)

    # -- phase 4: caps and approvals ----------------------------------------------------------

    async def _plan_entries(
        self, policy: Policy, run: LifecycleRun, due: Sequence[tuple[Case, Op, Account]], report: RunReport
    ) -> None:
        now = self.clock.now()
        caps = policy.safety.caps
        # An org-wide action frees every seat of the account: its product removals are superseded.
        org_wide = {case.account_id for case, op, _a in due if op in (Op.SUSPEND, Op.DEACTIVATE) or op.is_deletion}
        kept_due = []
        for case, op, account in due:
            if op is Op.REMOVE_PRODUCT_ACCESS and case.account_id in org_wide:
                await self._close(case, "superseded by an org-wide action on the same account", report, run.run_id)
                continue
            kept_due.append((case, op, account))
        entries = [self._new_entry(run.run_id, case, op, now) for case, op, _account in kept_due]
        # A transient failure last time may be retried: its entry goes back to PLANNED.
        fresh: list[LedgerEntry] = []
        for entry in entries:
            try:
                old = await self._db(self.store.get_entry, entry.entry_id)
            except LookupError:
                fresh.append(entry)
                continue
            if old.state is EntryState.FAILED and old.outcome.startswith("transient"):
                await self._db(
                    self.store.set_entry_state,
                    old.entry_id,
                    EntryState.FAILED,
                    EntryState.PLANNED,
                    now,
                    "retrying after a transient failure",
                    epoch=self.epoch,
                )
                report.bump("retried")
        reducing = [e for e in fresh if e.op.reduces_access]
        report.bump("due", len(reducing))
        billable = max(run.billable, 0)
        per_run = Caps.limit(caps.per_run_max, caps.per_run_percent, billable)
        window = Caps.limit(caps.window_max, caps.window_percent, billable)
        already = await self._db(self.store.count_reducing_since, run.org_id, now - timedelta(days=caps.window_days))
        deletions = [e for e in reducing if e.op.is_deletion]
        reasons = []
        if per_run is not None and len(reducing) > per_run:
            reasons.append(f"{len(reducing)} actions exceed the per-run cap of {per_run}")
        if window is not None and already + len(reducing) > window:
            reasons.append(
                f"{already} actions in the last {caps.window_days} days plus {len(reducing)} exceed "
                f"the rolling cap of {window}"
            )
        if caps.deletions_per_run is not None and len(deletions) > caps.deletions_per_run:
            reasons.append(f"{len(deletions)} deletions exceed the deletion cap of {caps.deletions_per_run}")
        held: list[LedgerEntry]
        if reasons:
            held = reducing
        elif deletions and policy.safety.deletions_need_approval:
            held = deletions
            reasons.append(f"{len(deletions)} deletions need approval")
        else:
            held = []
        held_ids = {e.entry_id for e in held}
        to_store = [replace(e, state=EntryState.HELD) if e.entry_id in held_ids else e for e in fresh]
        await self._db(self.store.add_entries, to_store)
        if held:
            report.held = len(held)
            report.action_hash = action_hash(held)
            report.note = "; ".join(reasons)
            expires = report.expires_at = now + timedelta(hours=policy.safety.approval_expires_hours)
            awaiting = replace(
                run,
                status=RunStatus.AWAITING_APPROVAL,
                held=len(held),
                action_hash=report.action_hash,
                expires_at=expires,
                note=report.note,
                updated_at=now,
            )
            await self._db(self.store.save_run, awaiting)
            await self._db(
                self.store.append_audit,
                self._audit(
                    run.org_id,
                    "approval.requested",
                    "held",
                    run_id=run.run_id,
                    mode=run.mode,
                    reason=report.note,
                    plan_hash=report.action_hash,
                    after={"held": len(held)},
                ),
            )
            await self.notifier.request_approval(awaiting, report.note)
            if reasons and held is reducing:
                report.status = RunStatus.AWAITING_APPROVAL

    @staticmethod
    def _new_entry(run_id: str, case: Case, op: Op, now: datetime) -> LedgerEntry:
        return LedgerEntry(
            entry_id=entry_id_for(case.org_id, case.case_id, op),
            org_id=case.org_id,
            run_id=run_id,
            case_id=case.case_id,
            account_id=case.account_id,
            rule=case.rule,
            op=op,
            state=EntryState.PLANNED,
            created_at=now,
            updated_at=now,
            product=None if case.product == "any" else case.product,
        )

    async def approve(self, run_id: str, approver: str, policy: Policy) -> RunReport:
        """Apply exactly the held actions of ``run_id``.

        Refused (``PermissionError`` / ``ValueError`` with the reason) when the run is not awaiting
        approval, the approval expired, the approver requested the run, or the held entries no
        longer match the stored action hash.
        """
        run = await self._db(self.store.get_run, run_id)
        now = self.clock.now()
        if run.status is not RunStatus.AWAITING_APPROVAL:
            await self._refused(run, "approval.refused", approver, f"run is {run.status.value}, not awaiting approval")
            raise ValueError(f"run {run_id} is {run.status.value}, not awaiting approval")
        if same_person(approver, run.requested_by, self.people):
            await self._refused(run, "approval.refused", approver, "the requester of a run cannot approve it")
            raise PermissionError("the requester of a run cannot approve it")
        held = list(await self._db(self.store.entries, run.org_id, states=[EntryState.HELD], run_id=run_id))
        if run.expires_at is not None and now > run.expires_at:
            for e in held:
                await self._db(
                    self.store.set_entry_state,
                    e.entry_id,
                    EntryState.HELD,
                    EntryState.SKIPPED,
                    now,
                    "approval expired",
                    epoch=self.epoch,
                )
            await self._db(self.store.save_run, replace(run, status=RunStatus.EXPIRED, updated_at=now))
            reason = f"the approval of run {run_id} expired at {run.expires_at.isoformat()}"
            await self._refused(run, "approval.expired", approver, f"{reason}; {len(held)} held actions dropped")
            raise ValueError(reason)
        if action_hash(held) != run.action_hash:
            reason = f"run {run_id} changed since it was held (action hash mismatch): refusing to apply it"
            await self._refused(run, "approval.refused", approver, reason)
            raise ValueError(reason)
        for e in held:
            await self._db(
                self.store.set_entry_state,
                e.entry_id,
                EntryState.HELD,
                EntryState.PLANNED,
                now,
                f"approved by {approver}",
                epoch=self.epoch,
            )
        approved = replace(run, status=RunStatus.RUNNING, approved_by=approver, approved_at=now, updated_at=now)
        await self._db(self.store.save_run, approved)
        await self._db(
            self.store.append_audit,
            self._audit(
                run.org_id,
                "approval.granted",
                "ok",
                run_id=run_id,
                approver=approver,
                actor=approver,
                plan_hash=run.action_hash,
                after={"entries": len(held)},
            ),
        )
        report = RunReport(
            run_id,
            run.org_id,
            run.mode,
            RunStatus.RUNNING,
            counts=dict(run.counts),
            action_hash=run.action_hash,
            approver=approver,
        )
        await self._execute(run.org_id, policy, report, run_id=run_id)
        if report.status is RunStatus.RUNNING:
            report.status = RunStatus.COMPLETED
        await self._db(
            self.store.save_run,
            replace(approved, status=report.status, counts=dict(report.counts), held=0, updated_at=self.clock.now()),
        )
        return report

    async def _refused(self, run: LifecycleRun, action: str, approver: str, reason: str) -> None:
        """One audit row for an approval that was refused or had expired."""
        entry = self._audit(
            run.org_id,
            action,
            "refused",
            run_id=run.run_id,
            mode=run.mode,
            actor=approver,
            approver=approver,
            reason=reason,
            plan_hash=run.action_hash,
        )
        await self._db(self.store.append_audit, entry)

    async def deny(self, run_id: str, approver: str, reason: str = "") -> None:
        """Drop the held actions of ``run_id``; nothing is changed in Atlassian."""
        await asyncio.to_thread(deny_run, self.store, self.clock, run_id, approver, reason, epoch=self.epoch)

    # -- phase 5: execution ----------------------------------------------------------------------

    async def recover(self, org_id: str, policy: Policy) -> int:
        """Release CLAIMED entries and reconcile REQUESTED ones by reading state; return how many."""
        now = self.clock.now()
        waiting = await self._db(self.store.entries, org_id, states=[EntryState.WAITING])
        if waiting:
            everything = await self._db(self.store.entries, org_id)
            busy = {e.case_id for e in everything if e.op.reduces_access and not e.state.is_final}
            for entry in waiting:
                if entry.case_id not in busy:
                    await self._db(
                        self.store.set_entry_state,
                        entry.entry_id,
                        EntryState.WAITING,
                        EntryState.PLANNED,
                        now,
                        "action settled",
                        epoch=self.epoch,
                    )
        stuck = await self._db(self.store.entries, org_id, states=[EntryState.CLAIMED, EntryState.REQUESTED])
        for entry in stuck:
            if self._maybe_in_flight(entry, now):
                continue  # a previous leader may still be sending it: reconcile on a later run
            if entry.state is EntryState.CLAIMED:
                await self._db(
                    self.store.set_entry_state,
                    entry.entry_id,
                    EntryState.CLAIMED,
                    EntryState.PLANNED,
                    now,
                    "released after a restart",
                    epoch=self.epoch,
                )
            else:
                await self._carry_out(
                    entry, policy, RunReport(entry.run_id, org_id, "enforce", RunStatus.RUNNING), reconciling=True
                )
        return len(stuck)

    def _maybe_in_flight(self, entry: LedgerEntry, now: datetime) -> bool:
        """True for a REQUESTED entry of an older leader while its write could still be on the wire.

        Fencing stops a stale leader's ledger writes, not its HTTP request already on the wire. Any
        REQUESTED entry of an older epoch was written before this engine's epoch began, so its write
        is over once ``in_flight_grace`` (longer than the client's timeout) has passed since then —
        measured on the monotonic clock, so a wall clock stepped back never makes the wait last — or
        since the entry was written (its ``updated_at``, which keeps counting across re-elections).
        Until then the entry is left alone and reconciled by a later run.
        """
        if not (
            entry.state is EntryState.REQUESTED
            and entry.epoch is not None
            and self.epoch is not None
            and entry.epoch < self.epoch
        ):
            return False
        grace = self.in_flight_grace.total_seconds()
        return self._monotonic() - self._epoch_since < grace and (now - entry.updated_at).total_seconds() < grace

    async def _execute(self, org_id: str, policy: Policy, report: RunReport, *, run_id: str | None) -> None:
        """Claim and carry out PLANNED entries: canary first (one at a time), then the rest concurrently.

        Only the executing replica (the leader) writes; elsewhere entries stay PLANNED for it.
        """
        if not self.executes:
            report.note = report.note or "queued: the leading replica carries the actions out"
            return
        safety = policy.safety
        canary_left = safety.canary_size
        canary_done = canary_failed = 0
        canary_entries: list[LedgerEntry] = []
        breaker = _Breaker(safety.breaker_failures)
        while True:
            if await self._db(self.store.is_paused, org_id):
                report.status, report.note = RunStatus.PAUSED, "stopped by the kill switch"
                return
            in_canary = canary_left > 0
            size = min(canary_left, self.claim_batch) if in_canary else self.claim_batch
            claimed = await self._db(self.store.claim, org_id, self.worker_id, size, run_id=run_id, epoch=self.epoch)
            if not claimed:
                return
            self.crash("after_claim")
            outcomes = await self._run_batch(org_id, claimed, policy, report, breaker, 1 if in_canary else None)
            if in_canary:
                canary_left -= len(claimed)
                canary_done += len(outcomes)
                canary_failed += sum(1 for o in outcomes if o in ("transient", "failed"))
                canary_entries.extend(claimed)
                rate = canary_failed / canary_done if canary_done else 0.0
                if canary_left <= 0 and rate > float(safety.canary_max_error_rate):
                    note = f"canary failed: {canary_failed} of {canary_done} actions failed; the rest is paused"
                    await self._pause_run(org_id, report, note)
                    return
                if canary_left <= 0:
                    missing = await self._canary_health(canary_entries)
                    if missing:
                        note = (
                            f"canary health check failed: {missing} of {len(canary_entries)} confirmed actions did "
                            "not take effect when read back from Atlassian; the rest is paused"
                        )
                        await self._pause_run(org_id, report, note)
                        return
            if breaker.tripped:
                note = (
                    f"circuit breaker: {breaker.consecutive} consecutive Atlassian failures; the run is paused and "
                    "resumes from the ledger on the next run"
                )
                await self._pause_run(org_id, report, note)
                return
            if breaker.stopped:
                report.status, report.note = RunStatus.PAUSED, "stopped by the kill switch"
                return

    async def _pause_run(self, org_id: str, report: RunReport, note: str) -> None:
        """Stop this run (the rest waits in the ledger) and tell the admins why."""
        report.status, report.note = RunStatus.PAUSED, note
        await self.notifier.notify_admins(org_id, note)

    async def _release(self, entry: LedgerEntry, why: str) -> None:
        """Give a claimed entry back (PLANNED): a later run carries it out."""
        await self._db(
            self.store.set_entry_state,
            entry.entry_id,
            EntryState.CLAIMED,
            EntryState.PLANNED,
            self.clock.now(),
            why,
            epoch=self.epoch,
        )

    async def _canary_health(self, canary: Sequence[LedgerEntry]) -> int:
        """Read every confirmed canary action back from Atlassian; how many did not take effect."""
        missing = 0
        for claimed in canary:
            entry = await self._db(self.store.get_entry, claimed.entry_id)
            if entry.state is not EntryState.CONFIRMED or not entry.op.reduces_access:
                continue
            case = await self._db(self.store.get_case, entry.case_id)
            try:
                account = await self.directory.get_account(AccountId(entry.account_id))
            except AccountNotFound:
                continue  # gone from the directory: nothing left to reduce
            if not self._already_done(entry, case, account):
                missing += 1
        return missing

    async def _run_batch(
        self,
        org_id: str,
        claimed: Sequence[LedgerEntry],
        policy: Policy,
        report: RunReport,
        breaker: _Breaker,
        concurrency: int | None,
    ) -> list[str]:
        sem = asyncio.Semaphore(concurrency or self.concurrency)
        outcomes: list[str] = []

        async def one(entry: LedgerEntry) -> None:
            async with sem:
                if breaker.tripped or breaker.stopped or await self._db(self.store.is_paused, org_id):
                    breaker.stopped = True
                    await self._release(entry, "released: run stopped")
                    return
                outcome = await self._carry_out(entry, policy, report)
                if outcome == "stopped":
                    breaker.stopped = True
                    return
                outcomes.append(outcome)
                breaker.record(outcome)

        await asyncio.gather(*(one(e) for e in claimed))
        return outcomes

    async def _carry_out(
        self, entry: LedgerEntry, policy: Policy, report: RunReport, *, reconciling: bool = False
    ) -> str:
        """Final check, REQUESTED, write, CONFIRMED. Returns ok | noop | skipped | failed | transient | stopped."""
        try:
            account = await self.directory.get_account(AccountId(entry.account_id))
        except AccountNotFound:
            await self._finalize(entry, EntryState.FAILED, "account no longer exists", report, close_case=True)
            return "failed"
        except DirectoryError as exc:
            if reconciling:
                return "transient"  # stays REQUESTED; reconciled on the next start
            await self._finalize(entry, EntryState.FAILED, f"transient: {exc}", report)
            return "transient"
        if entry.state is EntryState.CLAIMED and await self._db(self.store.is_paused, entry.org_id):
            # The kill switch went on while this entry waited for its final read: it is not sent.
            await self._release(entry, "released: kill switch")
            return "stopped"
        # Read right before the write: a protection added mid-run wins.
        policy = await self.effective(policy, entry.org_id)
        rules = {r.name: r for r in policy.rules}
        now = self.clock.now()

        def prepare(tx: CaseTransaction) -> tuple[str, LedgerEntry]:
            current = next((e for e in tx.entries if e.entry_id == entry.entry_id), entry)
            if current.state not in (EntryState.CLAIMED, EntryState.REQUESTED):
                return "gone", current
            case = tx.case
            if current.state is EntryState.CLAIMED:
                verdict = self._final_check(current, case, account, rules.get(current.rule), policy, now)
                if verdict is not None:
                    skipped = replace(current, state=EntryState.SKIPPED, outcome=verdict, updated_at=now)
                    tx.save_entry(skipped)
                    if case.state is CaseState.WARNED:
                        tx.save_case(transition(case, now, CaseState.CLOSED, closed_reason=verdict))
                    tx.audit(
                        self._audit(
                            case.org_id,
                            f"act.{current.op.value}",
                            "skipped",
                            subject=case.account_id,
                            run_id=current.run_id,
                            mode="enforce",
                            reason=verdict,
                        )
                    )
                    return "skipped", skipped
                if current.op is Op.REMOVE_PRODUCT_ACCESS:
                    groups = account.group_ids_named(frozenset(policy.lifecycle.groups_for(current.product or "")))
                    current = replace(current, group_ids=groups)
                if current.op is Op.RESTORE:
                    current = replace(current, group_ids=case.effect.group_ids if case.effect else ())
            if self._already_done(current, case, account):
                return "noop", current
            if current.op is Op.REMOVE_PRODUCT_ACCESS and not current.group_ids:
                reason = (
                    f"{current.product} access is not granted by a known access group "
                    f"({', '.join(policy.lifecycle.groups_for(current.product or ''))}): set lifecycle.access_groups"
                )
                failed = replace(current, state=EntryState.FAILED, outcome=reason, updated_at=now)
                tx.save_entry(failed)
                tx.save_case(transition(case, now, CaseState.CLOSED, closed_reason=reason))
                tx.audit(
                    self._audit(
                        case.org_id,
                        f"act.{current.op.value}",
                        "failed",
                        subject=case.account_id,
                        run_id=current.run_id,
                        reason=reason,
                    )
                )
                return "failed", failed
            requested = replace(current, state=EntryState.REQUESTED, updated_at=now, worker=self.worker_id)
            tx.save_entry(requested)
            return "send", requested

        verdict, current = await self._tx(entry.case_id, prepare)
        if verdict == "gone":
            return "skipped"
        if verdict in ("skipped", "failed"):
            report.bump(f"actions_{verdict}")
            return verdict
        if verdict == "send":
            self.crash("after_requested")
            try:
                await self._write(current, account, policy)
            except NotManageable as exc:
                await self._finalize(
                    current,
                    EntryState.FAILED,
                    f"refused by Atlassian: {exc.reason}",
                    report,
                    close_case=True,
                    status=exc.status,
                )
                return "failed"
            except AccountNotFound:
                await self._finalize(current, EntryState.FAILED, "account no longer exists", report, close_case=True)
                return "failed"
            except DirectoryError as exc:
                await self._finalize(current, EntryState.FAILED, f"transient: {exc}", report, status=exc.status)
                return "transient"
            self.crash("after_write")
        await self._confirm(current, report, policy, noop=verdict == "noop", account=account)
        if verdict == "send" and current.op.reduces_access and not current.op.is_deletion:
            await self._tell_actioned(current, account)
        return "ok" if verdict == "send" else "noop"

    async def _tell_actioned(self, entry: LedgerEntry, account: Account) -> None:
        """Tell the person their access was removed and how to ask for it back (best effort, audited)."""
        case = await self._db(self.store.get_case, entry.case_id)
        if case.state is not CaseState.ACTIONED:
            return  # a keep that arrived in flight already queued the restore
        try:
            delivery = await self.notifier.actioned(account, case)
        except Exception as exc:
            log.exception("telling %s about the action failed", entry.account_id)
            delivery = Delivery(False, "notifier", f"error: {type(exc).__name__}")
        await self._db(
            self.store.append_audit,
            self._audit(
                case.org_id,
                "notice.actioned",
                "ok" if delivery.delivered else "failed",
                subject=case.account_id,
                run_id=entry.run_id,
                reason=delivery.detail,
                after={"channel": delivery.channel, "attempts": _attempts(delivery)},
            ),
        )

    def _final_check(
        self, entry: LedgerEntry, case: Case, account: Account, rule: Rule | None, policy: Policy, now: datetime
    ) -> str | None:
        """Why not to act now, or None. Runs under the case lock, so keeps cannot slip past it."""
        if entry.op is Op.RESTORE:
            return None
        if case.state is CaseState.KEPT:
            return "kept by the user"
        if rule is None:
            return "the rule was removed from the policy"
        if is_protected(account, policy):
            return "protected now"
        if entry.op.is_deletion:
            if case.state is not CaseState.ACTIONED:
                return f"case is {case.state.value}, not actioned"
            if (
                account.membership_status is MembershipStatus.ACTIVE
                and account.account_status is AccountStatus.ACTIVE
                and case.effect is not None
                and case.effect.op is not Op.REMOVE_PRODUCT_ACCESS
            ):
                return "restored outside jira-cleanup since the action"
            return None
        if case.state is not CaseState.WARNED:
            return f"case is {case.state.value}"
        if case.delivered_at is None:
            return "warning never delivered: no delivery, no action"
        verdicts = [d for d in decide(account, policy, now) if d.rule == entry.rule]
        if not verdicts:
            return "active again: the rule no longer applies"
        fresh = verdicts[0]
        if fresh.verdict >= Verdict.ACT:
            return None
        if fresh.skip_reason is SkipReason.NOT_BILLABLE:
            return "already without access (suspended, deactivated or removed)"
        return f"active again or protected now: {fresh.code}"

    def _already_done(self, entry: LedgerEntry, case: Case, account: Account) -> bool:
        op = entry.op
        if op is Op.REMOVE_PRODUCT_ACCESS:
            product = account.product(ProductKey(entry.product or ""))
            if entry.group_ids:
                return not any(g.id in entry.group_ids for g in account.groups)
            return product is None
        if op is Op.SUSPEND:
            return account.membership_status is MembershipStatus.SUSPENDED
        if op is Op.DEACTIVATE:
            return account.account_status is AccountStatus.INACTIVE
        if op is Op.DELETE_MANAGED:
            return account.scheduled_for_deletion
        if op is Op.REMOVE_FROM_DIRECTORY:
            return account.membership_status is MembershipStatus.NO_MEMBERSHIP
        # restore
        if case.state is CaseState.DELETION_SCHEDULED and account.scheduled_for_deletion:
            return False
        effect = case.effect
        if effect is None:
            return True
        if effect.op is Op.REMOVE_PRODUCT_ACCESS:
            have = {g.id for g in account.groups}
            return all(g in have for g in effect.group_ids)
        if effect.op is Op.SUSPEND:
            return account.membership_status is MembershipStatus.ACTIVE
        if effect.op is Op.DEACTIVATE:
            return account.account_status is AccountStatus.ACTIVE
        return False

    async def _write(self, entry: LedgerEntry, account: Account, policy: Policy) -> None:
        account_id = AccountId(entry.account_id)
        d = self.directory
        op = entry.op
        if op is Op.REMOVE_PRODUCT_ACCESS:
            for group in entry.group_ids:
                await d.remove_from_group(GroupId(group), account_id)
        elif op is Op.SUSPEND:
            await d.suspend(account_id)
        elif op is Op.DEACTIVATE:
            await d.deactivate(account_id, "Deactivated after a period of inactivity (jira-cleanup).")
        elif op is Op.DELETE_MANAGED:
            await d.delete_managed(account_id)
        elif op is Op.REMOVE_FROM_DIRECTORY:
            await d.remove_from_directory(account_id)
        else:
            await self._write_restore(entry, account)

    async def _write_restore(self, entry: LedgerEntry, account: Account) -> None:
        case = await self._db(self.store.get_case, entry.case_id)
        account_id = AccountId(entry.account_id)
        d = self.directory
        if case.state is CaseState.DELETION_SCHEDULED or account.scheduled_for_deletion:
            if account.scheduled_for_deletion:
                await d.cancel_delete(account_id)
            await d.activate(account_id)
        effect = case.effect
        if effect is None:
            return
        if effect.op is Op.REMOVE_PRODUCT_ACCESS:
            for group in effect.group_ids:
                await d.add_to_group(GroupId(group), account_id)
        elif effect.op is Op.SUSPEND:
            await d.restore(account_id)
        elif effect.op is Op.DEACTIVATE:
            await d.activate(account_id)

    async def _confirm(
        self, entry: LedgerEntry, report: RunReport, policy: Policy, *, noop: bool, account: Account | None = None
    ) -> None:
        now = self.clock.now()
        self.crash("before_confirm")
        released: list[LedgerEntry] = []
        plan_hash = report.action_hash or (report.scan.plan_hash if report.scan is not None else None)

        def body(tx: CaseTransaction) -> None:
            current = next((e for e in tx.entries if e.entry_id == entry.entry_id), entry)
            if current.state.is_final:
                return
            outcome = "already in the target state" if noop else "done"
            tx.save_entry(replace(entry, state=EntryState.CONFIRMED, outcome=outcome, updated_at=now))
            case = tx.case
            if entry.op is Op.RESTORE:
                # A restored account is kept for the keep period, so the next scan does not
                # warn it again straight away although its last-active date has not moved.
                keep_until = max(case.keep_until or now, now + timedelta(days=policy.lifecycle.keep.days))
                tx.save_case(transition(case, now, CaseState.KEPT, restored_at=now, keep_until=keep_until))
            elif entry.op.is_deletion:
                if entry.op is Op.DELETE_MANAGED:
                    tx.save_case(transition(case, now, CaseState.DELETION_SCHEDULED, delete_due_at=now + DELETE_GRACE))
                else:
                    # Leaving the directory has no grace period: only a new invitation brings them back.
                    tx.save_case(
                        transition(case, now, CaseState.DELETED, deleted_at=now, closed_reason=REMOVED_FROM_DIRECTORY)
                    )
            else:
                effect = Effect(entry.op, entry.group_ids, entry.product)
                tx.save_case(transition(case, now, CaseState.ACTIONED, actioned_at=now, effect=effect))
                for waiting in tx.entries:
                    if waiting.op is Op.RESTORE and waiting.state is EntryState.WAITING:
                        tx.save_entry(
                            replace(waiting, state=EntryState.PLANNED, outcome="action settled", updated_at=now)
                        )
                        released.append(waiting)
            tx.audit(
                self._audit(
                    case.org_id,
                    f"act.{entry.op.value}",
                    "ok" if not noop else "noop",
                    subject=case.account_id,
                    run_id=entry.run_id,
                    mode="enforce",
                    reason=outcome,
                    approver=report.approver,
                    plan_hash=plan_hash,
                    before={"state": case.state.value, **_evidence(account, now)},
                    after={"state": _state_after(entry.op).value, "groups_removed": list(entry.group_ids)},
                )
            )

        await self._tx(entry.case_id, body)
        report.bump("restored" if entry.op is Op.RESTORE else ("actions_noop" if noop else "actions_confirmed"))
        for waiting in released:
            # A keep arrived while this action was in flight: undo it now, on this worker.
            if await self._db(
                self.store.set_entry_state,
                waiting.entry_id,
                EntryState.PLANNED,
                EntryState.CLAIMED,
                self.clock.now(),
                "claimed after its action settled",
                epoch=self.epoch,
            ):
                claimed = replace(waiting, state=EntryState.CLAIMED)
                await self._carry_out(claimed, policy, report)

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
        now = self.clock.now()

        def body(tx: CaseTransaction) -> None:
            current = next((e for e in tx.entries if e.entry_id == entry.entry_id), entry)
            if current.state.is_final:
                return
            tx.save_entry(replace(current, state=state, outcome=outcome, updated_at=now, http_status=status))
            kept = False
            for waiting in tx.entries:
                if waiting.op is Op.RESTORE and waiting.state is EntryState.WAITING:
                    tx.save_entry(
                        replace(waiting, state=EntryState.SKIPPED, outcome="the action did not happen", updated_at=now)
                    )
                    kept = kept or tx.case.keep_until is not None
            if kept:
                # A keep arrived while the action was in flight; the action failed, so the keep simply stands.
                tx.save_case(transition(tx.case, now, CaseState.KEPT))
            elif close_case and tx.case.state is CaseState.WARNED:
                tx.save_case(transition(tx.case, now, CaseState.CLOSED, closed_reason=outcome))
            tx.audit(
                self._audit(
                    tx.case.org_id,
                    f"act.{entry.op.value}",
                    state.value,
                    subject=entry.account_id,
                    run_id=entry.run_id,
                    reason=outcome,
                    http_status=status,
                )
            )

        await self._tx(entry.case_id, body)
        report.bump("actions_failed" if not outcome.startswith("transient") else "actions_transient")

    # -- keep, restore, pause --------------------------------------------------------------------

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

        Serialized with the executor through the case lock: before the write it wins and the
        action is skipped; after the write it queues a restore. Never silently lost.
        """
        cases = [
            c
            for c in await self._db(self.store.find_cases, org_id, account_id)
            if c.state.is_open and (rule is None or c.rule == rule)
        ]
        if not cases:
            return KeepResult(False, "there is no pending warning for this account")
        result = KeepResult(False, "nothing to keep")
        queued = False
        for case in cases:
            now = self.clock.now()

            def body(tx: CaseTransaction, now: datetime = now) -> KeepResult:
                verdict = judge_keep(tx.case, policy, now, justification)
                if not verdict.accepted:
                    tx.audit(
                        self._audit(org_id, "keep", "refused", subject=account_id, actor=actor, reason=verdict.reason)
                    )
                    return KeepResult(False, verdict.reason)
                if verdict.reason == "already kept":
                    return KeepResult(True, verdict.reason, verdict.keep_until)
                restore = False
                for e in tx.entries:
                    if e.op.reduces_access and e.state in (EntryState.PLANNED, EntryState.CLAIMED, EntryState.HELD):
                        tx.save_entry(replace(e, state=EntryState.SKIPPED, outcome="kept by the user", updated_at=now))
                done = [e for e in tx.entries if e.op.reduces_access and e.state is EntryState.CONFIRMED]
                in_flight = [e for e in tx.entries if e.op.reduces_access and e.state is EntryState.REQUESTED]
                if verdict.needs_restore or done or in_flight:
                    restore = True
                    source = (done or in_flight)[0].run_id if (done or in_flight) else "keep"
                    queued = self._new_entry(source, tx.case, Op.RESTORE, now)
                    if in_flight and not done and not verdict.needs_restore:
                        queued = replace(queued, state=EntryState.WAITING, outcome="waiting for the action in flight")
                    if not any(e.entry_id == queued.entry_id for e in tx.entries):
                        tx.save_entry(queued)
                new_state = CaseState.KEPT if not restore else tx.case.state
                tx.save_case(
                    transition(
                        tx.case,
                        now,
                        new_state,
                        keep_until=verdict.keep_until,
                        keep_reason=justification,
                        keeps=(*tx.case.keeps, now),
                    )
                )
                tx.audit(
                    self._audit(
                        org_id,
                        "keep",
                        "ok",
                        subject=account_id,
                        actor=actor,
                        reason=justification or "",
                        after={"keep_until": str(verdict.keep_until), "restore_queued": restore},
                    )
                )
                return KeepResult(True, "kept", verdict.keep_until, restore)

            result = await self._tx(case.case_id, body)
            queued = queued or result.restore_queued
        if queued:
            await self._execute(org_id, policy, RunReport("keep", org_id, "enforce", RunStatus.RUNNING), run_id=None)
        return result

    async def release(self, case_id: str, actor: str) -> KeepResult:
        """ "I don't need it": the user gives the access up now; the next run acts without waiting.

        Only a delivered warning can be released; every other safety rail (caps, final check,
        kill switch) still applies to the action itself.
        """
        now = self.clock.now()

        def body(tx: CaseTransaction) -> KeepResult:
            case = tx.case
            if case.state is not CaseState.WARNED:
                return KeepResult(False, f"nothing to release: this warning is {case.state.value}")
            tx.save_case(transition(case, now, CaseState.WARNED, deadline=now, delivered_at=case.delivered_at or now))
            tx.audit(
                self._audit(
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

        return await self._tx(case_id, body)

    async def restore(
        self, org_id: str, account_id: str, actor: str, policy: Policy, *, reason: str = ""
    ) -> RestoreResult:
        """Undo what the engine did to an account (admin- or rule-approved), then execute it."""
        now = self.clock.now()
        cases = [
            c
            for c in await self._db(self.store.find_cases, org_id, account_id)
            if c.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED, CaseState.DELETED)
        ]
        if not cases:
            return RestoreResult(False, "nothing to restore: jira-cleanup has not removed access for this account")
        queued = 0
        refusals: list[str] = []
        for case in cases:
            if case.state is CaseState.DELETED:
                if case.closed_reason == REMOVED_FROM_DIRECTORY:
                    refusals.append("the account was removed from the directory; invite the person again")
                else:
                    refusals.append(
                        "the account was deleted and Atlassian's 14-day grace period is over; "
                        "it cannot be restored (invite the person again)"
                    )
                continue
            if case.state is CaseState.DELETION_SCHEDULED and case.effect is None:
                refusals.append("the account was removed from the directory; invite the person again")
                continue

            def body(tx: CaseTransaction) -> bool:
                entry = self._new_entry("restore", tx.case, Op.RESTORE, now)
                if any(e.entry_id == entry.entry_id for e in tx.entries):
                    return False
                tx.save_entry(entry)
                tx.audit(self._audit(org_id, "restore.requested", "ok", subject=account_id, actor=actor, reason=reason))
                return True

            if await self._tx(case.case_id, body):
                queued += 1
        if not queued:
            return RestoreResult(False, "; ".join(refusals) or "a restore is already queued")
        report = RunReport("restore", org_id, "enforce", RunStatus.RUNNING)
        await self._execute(org_id, policy, report, run_id=None)
        return RestoreResult(True, "restored" if report.counts.get("restored") else "restore queued", queued)

    async def set_paused(self, org_id: str, paused: bool, actor: str, reason: str = "") -> None:
        """The kill switch: stops every write at once (checked before each write)."""
        await asyncio.to_thread(set_paused, self.store, self.clock, org_id, paused, actor, reason)


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
) -> None:
    """Drop the held actions of ``run_id`` (usable without a directory). Raises ``ValueError`` when not held.

    A refusal leaves an audit row too. With ``epoch`` (the leader's), a stale leader is fenced out.
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


def _state_after(op: Op) -> CaseState:
    """The case state a confirmed action leads to (for the audit row)."""
    if op is Op.RESTORE:
        return CaseState.KEPT
    if op is Op.DELETE_MANAGED:
        return CaseState.DELETION_SCHEDULED
    if op is Op.REMOVE_FROM_DIRECTORY:
        return CaseState.DELETED
    return CaseState.ACTIONED


def _evidence(account: Account | None, read_at: datetime) -> dict[str, object]:
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


def _warning_case(case_id: str, org_id: str, account: Account, rule: Rule, step: Step, now: datetime) -> Case:
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


def _attempts(delivery: Delivery) -> list[dict[str, object]]:
    """Every channel tried for a message, for the audit trail."""
    return [{"channel": c, "delivered": ok, "detail": d} for c, ok, d in delivery.tried()]
