"""Undo a run: restore every account it removed, behind a second admin's approval.

An undo is a run of its own (id ``<run>-undo``) that holds one RESTORE entry per case the
run acted on and can still be restored. It awaits approval like a run held by a cap, so the
same four-eyes path applies it (buttons, admin threads, ``jira-cleanup approve``): the
requester cannot approve it, the held entries must match their hash, and the executor
carries each restore out exactly once behind the kill switch. A case has one restore entry
ever, so a second undo, a keep or a single restore can never give an account back twice.

Accounts that cannot be restored (deleted past Atlassian's grace, removed from the
directory, kept or restored since) get no entry: :func:`undo_lines` says why, per account,
from the ledger and the cases, whenever it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from core.engine.context import Context
from core.engine.judgement import undo_refusal
from core.engine.requests import take_restore
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus, action_hash, entry_id_for, planned_entry
from core.lifecycle import Case, Op
from core.policy import Mode, Policy
from core.ports import CaseTransaction, LifecycleStore

UNDO_SUFFIX = "-undo"

#: What each restore entry's state means for the account, in the undo's report.
_OUTCOMES = {
    EntryState.HELD: "awaiting approval",
    EntryState.WAITING: "pending",
    EntryState.PLANNED: "pending",
    EntryState.CLAIMED: "pending",
    EntryState.REQUESTED: "pending",
    EntryState.CONFIRMED: "restored",
    EntryState.SKIPPED: "not restored",
    EntryState.FAILED: "failed",
}


def undo_run_id(run_id: str) -> str:
    """The id of the undo of run ``run_id``."""
    return f"{run_id}{UNDO_SUFFIX}"


def is_undo(run_id: str) -> bool:
    """True for the id of an undo."""
    return run_id.endswith(UNDO_SUFFIX)


@dataclass(frozen=True, slots=True)
class UndoLine:
    """One account a run acted on, and what its undo does or did about it."""

    account_id: str
    undone_op: str
    outcome: str  # would restore | awaiting approval | pending | restored | failed | not restored | cannot be undone
    reason: str = ""

    @property
    def undoable(self) -> bool:
        """False for an account the undo leaves as it is."""
        return self.outcome not in ("cannot be undone", "not restored", "failed")


@dataclass(slots=True)
class UndoReport:
    """What an undo request came to (the CLI and chat print :meth:`text`)."""

    run_id: str
    undo_id: str
    status: str  # dry_run | awaiting_approval | nothing_to_undo
    lines: list[UndoLine] = field(default_factory=list)
    paused: bool = False

    def text(self) -> str:
        """A short account of the undo, then every account that cannot be undone and why."""
        restoring = sum(1 for line in self.lines if line.undoable)
        if self.status == "dry_run":
            head = f"Dry run: undoing run {self.run_id} would restore {restoring} accounts; nothing was changed."
        elif self.status == "nothing_to_undo":
            head = f"Nothing to undo in run {self.run_id}: no account it removed can be restored."
        else:
            head = (
                f"Undo of run {self.run_id} requested: {restoring} accounts to restore, awaiting a second "
                f"admin's approval (jira-cleanup approve {self.undo_id})."
            )
        if self.paused:
            head += " The kill switch is on: nothing is restored until it is lifted."
        return "\n".join([head, *lines_text(self.lines)])


def lines_text(lines: list[UndoLine]) -> list[str]:
    """One line per account that was not (or will not be) restored, with the reason."""
    return [f"- {x.account_id} ({x.undone_op}): {x.outcome}: {x.reason}" for x in lines if not x.undoable]


def acted(store: LifecycleStore, run: LifecycleRun) -> list[LedgerEntry]:
    """The access-reducing entries ``run`` carried out, one per case (the latest op)."""
    done: dict[str, LedgerEntry] = {}
    for e in store.entries(run.org_id, states=[EntryState.CONFIRMED], run_id=run.run_id):
        if e.op.reduces_access:
            done[e.case_id] = e
    return sorted(done.values(), key=lambda e: (e.account_id, e.case_id))


def undo_lines(store: LifecycleStore, run_id: str, now: datetime) -> list[UndoLine]:
    """Per account ``run_id`` acted on: what its undo does or did, and why not (read from the store)."""
    run = store.get_run(run_id)
    undo_id = undo_run_id(run_id)
    lines: list[UndoLine] = []
    for entry in acted(store, run):
        case = store.get_case(entry.case_id)
        restore = _restore_of(store, case)
        if restore is not None and restore.run_id == undo_id:
            why = restore.outcome if restore.state in (EntryState.SKIPPED, EntryState.FAILED) else ""
            lines.append(UndoLine(entry.account_id, entry.op.value, _OUTCOMES[restore.state], why))
            continue
        refusal = undo_refusal(case, restore, undo_id, now) or "restored without the undo"
        lines.append(UndoLine(entry.account_id, entry.op.value, "cannot be undone", refusal))
    return lines


def _restore_of(store: LifecycleStore, case: Case) -> LedgerEntry | None:
    try:
        return store.get_entry(entry_id_for(case.org_id, case.case_id, Op.RESTORE))
    except LookupError:
        return None


def _restorable(store: LifecycleStore, run: LifecycleRun, now: datetime) -> list[Case]:
    """The cases of ``run`` its undo can restore now."""
    cases = []
    for entry in acted(store, run):
        case = store.get_case(entry.case_id)
        if undo_refusal(case, _restore_of(store, case), undo_run_id(run.run_id), now) is None:
            cases.append(case)
    return cases


def _find_run(store: LifecycleStore, run_id: str) -> LifecycleRun:
    """The run ``run_id`` names, or the one recent run it is the start of (as the CLI shows them)."""
    try:
        return store.get_run(run_id)
    except LookupError:
        found = [r for r in store.recent_runs(None, 200) if r.run_id.startswith(run_id) and not is_undo(r.run_id)]
        if len(run_id) < 8 or len(found) != 1:
            raise
        return found[0]


class Undo:
    """Asks for the undo of a run (its restores held for approval), or previews it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def request(self, run_id: str, requester: str, policy: Policy, *, dry_run: bool = False) -> UndoReport:
        """Hold a restore for every account ``run_id`` removed and ask a second admin to approve.

        ``LookupError`` for an unknown run; ``ValueError`` for an undo of an undo or a second
        request. In dry run (or ``mode: dry_run``) only the report is computed: nothing is written.
        """
        ctx = self.ctx
        run = await ctx.db(_find_run, ctx.store, run_id)
        run_id = run.run_id
        undo_id = undo_run_id(run_id)
        if is_undo(run_id):
            raise ValueError(f"{run_id} is itself an undo; restore single accounts with jira-cleanup restore")
        now = ctx.clock.now()
        paused = await ctx.db(ctx.store.is_paused, run.org_id)
        if dry_run or policy.mode is Mode.DRY_RUN:
            lines = await ctx.db(undo_lines, ctx.store, run_id, now)
            ids = {c.account_id for c in await ctx.db(_restorable, ctx.store, run, now)}
            would = [replace(x, outcome="would restore", reason="") if x.account_id in ids else x for x in lines]
            return UndoReport(run_id, undo_id, "dry_run", would, paused)
        await self._refuse_twice(run, requester)
        for case in await ctx.db(_restorable, ctx.store, run, now):

            def hold(tx: CaseTransaction) -> bool:
                entry = planned_entry(undo_id, tx.case, Op.RESTORE, ctx.clock.now())
                return take_restore(tx, replace(entry, state=EntryState.HELD, outcome=f"undo asked by {requester}"))

            await ctx.tx(case.case_id, hold)
        # A crash after the entries were added is picked up here by the next request.
        mine = list(await ctx.db(ctx.store.entries, run.org_id, states=[EntryState.HELD], run_id=undo_id))
        lines = await ctx.db(undo_lines, ctx.store, run_id, now)
        report = UndoReport(run_id, undo_id, "awaiting_approval" if mine else "nothing_to_undo", lines, paused)
        await self._save(run, undo_id, requester, policy, mine, report)
        return report

    async def _refuse_twice(self, run: LifecycleRun, requester: str) -> None:
        """An undo is asked for once: a second request is refused (and audited)."""
        ctx = self.ctx
        try:
            existing = await ctx.db(ctx.store.get_run, undo_run_id(run.run_id))
        except LookupError:
            return
        if existing.status is RunStatus.EXPIRED or existing.note.startswith("denied"):
            return  # nobody approved it: it may be asked for again
        why = f"the undo of run {run.run_id} was already requested ({existing.status.value})"
        await ctx.record(
            ctx.audit(run.org_id, "undo.refused", "refused", run_id=run.run_id, actor=requester, reason=why)
        )
        raise ValueError(why)

    async def _save(
        self,
        run: LifecycleRun,
        undo_id: str,
        requester: str,
        policy: Policy,
        held: list[LedgerEntry],
        report: UndoReport,
    ) -> None:
        """Store the undo as a run awaiting approval (or done, with nothing to restore), audit it, ask."""
        ctx = self.ctx
        now = ctx.clock.now()
        refused = lines_text(report.lines)
        note = f"undo of run {run.run_id}: {len(held)} accounts to restore"
        if refused:
            note += f"; {len(refused)} cannot be undone:\n" + "\n".join(refused)
        undo = LifecycleRun(
            run_id=undo_id,
            org_id=run.org_id,
            mode=Mode.ENFORCE.value,
            status=RunStatus.AWAITING_APPROVAL if held else RunStatus.COMPLETED,
            requested_by=requester,
            created_at=now,
            updated_at=now,
            plan_hash=run.plan_hash,
            action_hash=action_hash(held) if held else None,
            held=len(held),
            expires_at=now + timedelta(hours=policy.safety.approval_expires_hours) if held else None,
            note=note,
        )
        await ctx.db(ctx.store.save_run, undo)
        after = {"held": len(held), "cannot_undo": {x.account_id: x.reason for x in report.lines if not x.undoable}}
        await ctx.record(
            ctx.audit(
                run.org_id,
                "undo.requested",
                "held" if held else "nothing",
                run_id=undo_id,
                actor=requester,
                reason=note,
                plan_hash=undo.action_hash,
                after=after,
            )
        )
        if held:
            await ctx.notifier.request_approval(undo, note)
