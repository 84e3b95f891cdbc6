"""The lifecycle engine: warn, keep, act, delete and restore — exactly once, behind safety rails.

One :meth:`Engine.run` does, for one org (:mod:`core.engine.runs`):

1. scan and plan (read-only, :func:`core.usecases.scan_and_plan`);
2. recover the ledger after a crash (release ``CLAIMED``, reconcile ``REQUESTED`` by reading state);
3. advance every case: send warnings, withdraw them, reopen expired keeps, find due actions
   (:mod:`core.engine.cases`);
4. apply the blast-radius caps: over a cap, every due action is *held* for approval and nothing
   is written; deletions are held for their own approval unless the policy waives it
   (:mod:`core.engine.approvals`, judged by the pure :mod:`core.engine.judgement`);
5. execute the planned ledger entries: canary first, then the rest, re-reading each account
   and its keeps right before the write, stopping at once on the kill switch or the breaker
   (:mod:`core.engine.executor`, writes in :mod:`core.engine.writes`).

Keeps, releases and restores arrive between runs (:mod:`core.engine.requests`).

In ``dry_run`` mode steps 2–5 only count what would happen: no warning is sent, no case or
ledger entry is written, and Atlassian receives no mutating request.
"""

from core.engine.context import CRASH_POINTS, Directory
from core.engine.engine import Engine
from core.engine.outcomes import REMOVED_FROM_DIRECTORY, KeepResult, Outcome, RestoreResult, RunReport
from core.engine.requests import deny_run, set_paused, tell_denied
from core.engine.undo import UndoLine, UndoReport, is_undo, undo_lines, undo_run_id

__all__ = [
    "CRASH_POINTS",
    "REMOVED_FROM_DIRECTORY",
    "Directory",
    "Engine",
    "KeepResult",
    "Outcome",
    "RestoreResult",
    "RunReport",
    "UndoLine",
    "UndoReport",
    "deny_run",
    "is_undo",
    "set_paused",
    "tell_denied",
    "undo_lines",
    "undo_run_id",
]
