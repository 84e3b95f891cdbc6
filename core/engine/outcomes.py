"""What the engine's steps come to: outcome enums and the reports handed back to callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum

from core.ledger import RunStatus
from core.usecases import ScanResult

#: Why a case is closed when its account left the directory (also a refusal reason for restores).
REMOVED_FROM_DIRECTORY = "removed from the directory (a new invitation is needed to come back)"

#: Ledger outcomes of failures worth retrying start with this (stored; keep the wording).
TRANSIENT_PREFIX = "transient"


def transient(detail: object) -> str:
    """The ledger outcome of a failure the next run may retry."""
    return f"{TRANSIENT_PREFIX}: {detail}"


def is_transient(outcome: str) -> bool:
    """True for a ledger outcome written by :func:`transient`."""
    return outcome.startswith(TRANSIENT_PREFIX)


class Outcome(StrEnum):
    """What carrying out one ledger entry came to."""

    OK = "ok"
    NOOP = "noop"
    SKIPPED = "skipped"
    FAILED = "failed"
    TRANSIENT = "transient"
    STOPPED = "stopped"

    @property
    def is_failure(self) -> bool:
        """Counts against the canary's error rate."""
        return self in (Outcome.FAILED, Outcome.TRANSIENT)


class Prepared(Enum):
    """What the check under the case lock decided about an entry before any write."""

    GONE = "gone"  # another worker settled it meanwhile
    SKIPPED = "skipped"  # the final check refused it
    FAILED = "failed"  # it cannot be carried out (no known access group)
    NOOP = "noop"  # Atlassian already shows the target state
    SEND = "send"  # REQUESTED is written: send it


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
    #: Where that approval was asked for (:func:`core.threads.approval_ref`), also on every action row.
    approval_ref: str = ""

    def approval(self) -> dict[str, object]:
        """What an action row adds to its ``after`` about the approval: ``approval_ref`` of an approved run."""
        return {} if self.approver is None else {"approval_ref": self.approval_ref}

    def bump(self, key: str, by: int = 1) -> None:
        """Add ``by`` to counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + by

    @classmethod
    def adhoc(cls, label: str, org_id: str) -> RunReport:
        """A report for actions carried out outside a scheduled run (a keep's restore, a recovery)."""
        return cls(label, org_id, "enforce", RunStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class KeepResult:
    """The answer to a keep request."""

    accepted: bool
    reason: str
    keep_until: datetime | None = None
    restore_queued: bool = False
    #: Refused for now: an admin must approve another keep of this access.
    needs_approval: bool = False
    #: The case was kept already (until ``keep_until``): nothing changed.
    already: bool = False


#: A restore accepted but not carried out yet (the kill switch is on, or the leading replica runs it).
RESTORE_QUEUED = "restore queued"


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """The answer to a restore request."""

    accepted: bool
    reason: str
    entries: int = 0

    @property
    def queued(self) -> bool:
        """Accepted, but the access is not back yet: it comes back when queued actions next run."""
        return self.accepted and self.reason == RESTORE_QUEUED
