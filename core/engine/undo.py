"""Undo a run: give back exactly what it took, behind a second admin's approval.

An undo is a run of its own (id ``<run>-undo``) that holds one entry per case the run acted on
and that can still be given back. Each op is undone by its own entry (:attr:`Op.undone_by`),
which puts the account back as it was *before that run*, as the ledger recorded it:

* the undo of an action (product groups, suspension, deactivation) is a RESTORE of the case's
  recorded effect;
* the undo of a deletion is a CANCEL_DELETE: the deletion is cancelled within Atlassian's grace
  and the account stays as the action before it left it (still suspended, deactivated or without
  the product). Undoing the action's run afterwards then gives the rest back; undoing it *first*
  is refused for those accounts ("undo that run first"), since it would cancel a deletion nobody
  asked to undo.

The undo awaits approval like a run held by a cap, so the same four-eyes path applies it
(buttons, admin threads, ``jira-cleanup approve``): the requester cannot approve it, the held
entries must match their hash, and the executor carries each one out exactly once behind the
kill switch. A case has one entry per op ever, so a second undo, a keep or a single restore can
never give an account back twice.

Accounts that cannot be given back (deleted past Atlassian's grace, removed from the directory,
kept or restored since, deleted since by a later run) get no entry: :func:`undo_lines` says why,
per account, from the ledger and the cases, whenever it is asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from core.engine.context import Context
from core.engine.judgement import undo_refusal
from core.engine.requests import take_restore
from core.ledger import (
    UNDO_SUFFIX,
    EntryState,
    LedgerEntry,
    LifecycleRun,
    RunStatus,
    action_hash,
    entries_by_op,
    entry_id_for,
    is_undo,
    planned_entry,
)
from core.lifecycle import Case, Effect, Op
from core.policy import Mode, Policy
from core.ports import CaseTransaction, LifecycleStore

__all__ = ["UNDO_SUFFIX", "Undo", "UndoLine", "UndoReport", "is_undo", "undo_does", "undo_lines", "undo_run_id"]

#: What each undo entry's state means for the account, in the undo's report.
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

#: The ops whose entries tell what became of an account's undo (read per case).
_UNDO_OPS = (Op.RESTORE, Op.CANCEL_DELETE, Op.DELETE_MANAGED)


def undo_run_id(run_id: str) -> str:
    """The id of the undo of run ``run_id``."""
    return f"{run_id}{UNDO_SUFFIX}"


def undo_does(undone: LedgerEntry, case: Case) -> str:
    """What undoing ``undone`` (an op confirmed on ``case``) does to the account, for the report and CSV."""
    product = f"{undone.product} access" if undone.product else "product access"
    match undone.op:
        case Op.SUSPEND:
            return "lift the suspension"
        case Op.DEACTIVATE:
            return "reactivate the account"
        case Op.REMOVE_PRODUCT_ACCESS:
            return f"give {product} back (re-add the removed groups)"
        case Op.DELETE_MANAGED:
            return "cancel the deletion" + _stays(case.effect)
        case Op.REMOVE_FROM_DIRECTORY:
            return "nothing: removed from the directory"
        case Op.RESTORE | Op.CANCEL_DELETE:
            return "nothing: it gave access back"


def _stays(effect: Effect | None) -> str:
    """How the account stays after its deletion is cancelled: as the action before it left it."""
    if effect is None:
        return ""
    if effect.op is Op.SUSPEND:
        return "; stays suspended"
    if effect.op is Op.DEACTIVATE:
        return "; stays deactivated"
    product = f"{effect.product} access" if effect.product else "the removed product access"
    return f"; stays without {product}"


@dataclass(frozen=True, slots=True)
class UndoLine:
    """One account a run acted on, and what its undo does or did about it."""

    account_id: str
    undone_op: str
    outcome: str  # would restore | awaiting approval | pending | restored | failed | not restored | cannot be undone
    reason: str = ""
    #: What the undo gives back, e.g. "lift the suspension" or "cancel the deletion; stays suspended".
    does: str = ""

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
        """A short account of the undo, what it does per kind of account, then what cannot be undone and why."""
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
        return "\n".join([head, *does_text(self.lines), *lines_text(self.lines)])


def does_text(lines: list[UndoLine]) -> list[str]:
    """What the undo does, one line per kind of account it gives something back to."""
    kinds = Counter(x.does for x in lines if x.undoable and x.does)
    return [f"- {n} accounts: {does}" for does, n in sorted(kinds.items())]


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
        entries = _entries_of(store, case)
        does = undo_does(entry, case)
        op = entry.op.undone_by
        mine = entries.get(op) if op is not None else None
        if mine is not None and mine.run_id == undo_id:
            why = mine.outcome if mine.state in (EntryState.SKIPPED, EntryState.FAILED) else ""
            outcome = _OUTCOMES[mine.state]
            if op is Op.CANCEL_DELETE and mine.state is EntryState.CONFIRMED:
                outcome = "deletion cancelled"
            lines.append(UndoLine(entry.account_id, entry.op.value, outcome, why, does))
            continue
        refusal = undo_refusal(case, entry.op, entries, undo_id, now) or "restored without the undo"
        lines.append(UndoLine(entry.account_id, entry.op.value, "cannot be undone", refusal, does))
    return lines


def _entries_of(store: LifecycleStore, case: Case) -> dict[Op, LedgerEntry]:
    """The case's entries that tell what became of an undo of it (restore, cancellation, deletion)."""
    found = []
    for op in _UNDO_OPS:
        try:
            found.append(store.get_entry(entry_id_for(case.org_id, case.case_id, op)))
        except LookupError:
            continue
    return entries_by_op(found)


def _restorable(store: LifecycleStore, run: LifecycleRun, now: datetime) -> list[tuple[Case, Op]]:
    """The cases of ``run`` its undo can give something back to now, each with the op it undoes."""
    cases = []
    for entry in acted(store, run):
        case = store.get_case(entry.case_id)
        if undo_refusal(case, entry.op, _entries_of(store, case), undo_run_id(run.run_id), now) is None:
            cases.append((case, entry.op))
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
        """Hold what gives back everything ``run_id`` took and ask a second admin to approve.

        ``LookupError`` for an unknown run; ``ValueError`` for an undo of an undo or a second
        request. In dry run (or ``mode: dry_run``) only the report is computed and audited
        (``undo.requested``, outcome ``dry_run``, like a dry run's ``run`` event): nothing else is written.
        """
        ctx = self.ctx
        run = await ctx.db(_find_run, ctx.store, run_id)
        run_id = run.run_id
        undo_id = undo_run_id(run_id)
        if is_undo(run_id):
            raise ValueError(f"{run_id} is itself an undo; restore single accounts with jira-cleanup restore")
        now = ctx.clock.now()
        paused = await ctx.db(ctx.store.is_paused, run.org_id)
        restorable = await ctx.db(_restorable, ctx.store, run, now)
        if dry_run or policy.mode is Mode.DRY_RUN:
            lines = await ctx.db(undo_lines, ctx.store, run_id, now)
            ids = {c.account_id for c, _op in restorable}
            would = [replace(x, outcome="would restore", reason="") if x.account_id in ids else x for x in lines]
            report = UndoReport(run_id, undo_id, "dry_run", would, paused)
            await self._audit_preview(run, requester, report)
            return report
        await self._refuse_twice(run, requester, again=bool(restorable))
        for case, undone in restorable:
            await ctx.tx(case.case_id, self._holder(undo_id, undone, requester))
        # A crash after the entries were added is picked up here by the next request.
        mine = list(await ctx.db(ctx.store.entries, run.org_id, states=[EntryState.HELD], run_id=undo_id))
        lines = await ctx.db(undo_lines, ctx.store, run_id, now)
        report = UndoReport(run_id, undo_id, "awaiting_approval" if mine else "nothing_to_undo", lines, paused)
        await self._save(run, undo_id, requester, policy, mine, report)
        return report

    def _holder(self, undo_id: str, undone: Op, requester: str) -> Callable[[CaseTransaction], bool]:
        """The locked hold of one case's undo entry, judged again under the lock; True when held."""
        op = undone.undone_by
        assert op is not None  # only undoable ops are restorable

        def hold(tx: CaseTransaction) -> bool:
            now = self.ctx.clock.now()
            if undo_refusal(tx.case, undone, entries_by_op(tx.entries), undo_id, now) is not None:
                return False  # kept, restored or deleted since it was read
            entry = planned_entry(undo_id, tx.case, op, now)
            return take_restore(tx, replace(entry, state=EntryState.HELD, outcome=f"undo asked by {requester}"))

        return hold

    async def _refuse_twice(self, run: LifecycleRun, requester: str, *, again: bool) -> None:
        """An undo is asked for once: a second request is refused (and audited).

        It may be asked for again when nobody approved it (denied or expired), and once it is
        done when it can give back more than it could then (``again``: accounts a later run had
        deleted, whose deletion was undone since).
        """
        ctx = self.ctx
        try:
            existing = await ctx.db(ctx.store.get_run, undo_run_id(run.run_id))
        except LookupError:
            return
        if existing.status is RunStatus.EXPIRED or existing.note.startswith("denied"):
            return  # nobody approved it: it may be asked for again
        if existing.status is RunStatus.COMPLETED and again:
            return
        why = f"the undo of run {run.run_id} was already requested ({existing.status.value})"
        await ctx.record(
            ctx.audit(run.org_id, "undo.refused", "refused", run_id=run.run_id, actor=requester, reason=why)
        )
        raise ValueError(why)

    async def _audit_preview(self, run: LifecycleRun, requester: str, report: UndoReport) -> None:
        """The audit event of a dry-run undo: who previewed the undo of which run, and what it would do."""
        ctx = self.ctx
        would = {x.account_id: x.does for x in report.lines if x.undoable}
        after: dict[str, object] = {
            "undoes": run.run_id,
            "would_restore": would,
            "cannot_undo": {x.account_id: x.reason for x in report.lines if not x.undoable},
        }
        reason = f"dry run: undoing run {run.run_id} would restore {len(would)} accounts; nothing was changed"
        await ctx.record(
            ctx.audit(
                run.org_id,
                "undo.requested",
                RunStatus.DRY_RUN.value,
                run_id=report.undo_id,
                mode=Mode.DRY_RUN.value,
                actor=requester,
                reason=reason,
                plan_hash=run.plan_hash,
                after=after,
            )
        )

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
            note += f"; {len(refused)} cannot be undone"
        # What the approver approves, per kind of account, then every account left as it is and why.
        doing = does_text([x for x in report.lines if x.outcome == "awaiting approval"])
        note = "\n".join([note, *doing, *refused])
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
