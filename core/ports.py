"""Ports: what the core needs from the outside world, as Protocols.

Adapters implement these without inheriting from them. Tests use in-memory fakes that
honour the same contracts (``tests/fakes.py``), and contract tests run the same assertions
against the fake and the real adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.model import Account, AccountId, GroupId, Org
from core.planner import Decision, PlanSummary


class Clock(Protocol):
    """Tells the time. Always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time, tz-aware."""
        ...


class DirectoryReader(Protocol):
    """Reads accounts from an Atlassian org's directory."""

    async def describe_org(self) -> Org:
        """Resolve the org and the directory to scan. Raises ``AccountNotFound`` for an unknown org."""
        ...

    def iter_accounts(self) -> AsyncIterator[Sequence[Account]]:
        """Yield every account of the directory, one page at a time.

        Pages are streamed: callers must not need more than one page in memory. Accounts the
        search left undated are completed by the per-user fallback; if that fails too they
        come back with ``activity_known=False``.
        """
        ...

    async def get_account(self, account_id: AccountId) -> Account:
        """Fetch one account, fully expanded. Raises ``AccountNotFound``."""
        ...

    async def count_accounts(self) -> int | None:
        """How many accounts ``iter_accounts`` will yield, or ``None`` when unknown (progress only)."""
        ...


class DirectoryWriter(Protocol):
    """Changes accounts in an Atlassian org. Every method is idempotent on Atlassian's side.

    Each raises ``AccountNotFound``, ``NotManageable(reason)``, ``RateLimited`` or
    ``DirectoryUnavailable``; none is ever called in dry-run mode.
    """

    async def suspend(self, account_id: AccountId) -> None:
        """Suspend the account's access to the org (v2); groups and roles are kept."""
        ...

    async def restore(self, account_id: AccountId) -> None:
        """Undo a suspension (v2)."""
        ...

    async def remove_from_directory(self, account_id: AccountId) -> None:
        """Remove the account from the directory (v2). Coming back needs a re-invite."""
        ...

    async def add_to_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """Add the account to a group (v2), re-granting what the group grants."""
        ...

    async def remove_from_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """Remove the account from a group (v2)."""
        ...

    async def deactivate(self, account_id: AccountId, message: str | None = None) -> None:
        """Deactivate a managed account everywhere (user management ``lifecycle/disable``)."""
        ...

    async def activate(self, account_id: AccountId) -> None:
        """Re-activate a managed account (``lifecycle/enable``)."""
        ...

    async def delete_managed(self, account_id: AccountId) -> None:
        """Schedule a managed account for deletion after Atlassian's 14-day grace period."""
        ...

    async def cancel_delete(self, account_id: AccountId) -> None:
        """Cancel a scheduled deletion within the 14 days; the account is active again."""
        ...

    async def manageability(self, account_id: AccountId, privileges: Iterable[str]) -> Mapping[str, str | None]:
        """Map each privilege to ``None`` when allowed or to Atlassian's refusal reason key."""
        ...


@dataclass(frozen=True, slots=True)
class ScanRun:
    """A stored scan: when, over which org, under which policy, and its outcome."""

    run_id: str
    org_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | completed | failed
    policy_hash: str
    plan_hash: str | None
    accounts: int
    summary: Mapping[str, object] | None
    error: str | None = None


class ScanStore(Protocol):
    """Persists scans: the account snapshot, the decisions and the plan hash.

    Every row is keyed by org id. Methods are synchronous; async callers run them in a
    worker thread. ``save_*`` calls are idempotent for the same (run, account, rule).
    """

    def upsert_org(self, org: Org) -> None:
        """Record (or update) an org and its directory."""
        ...

    def start_scan(self, org_id: str, started_at: datetime, policy_hash: str) -> str:
        """Create a running scan and return its id."""
        ...

    def save_accounts(self, run_id: str, org_id: str, accounts: Sequence[Account]) -> None:
        """Store one page of the account snapshot of ``run_id``."""
        ...

    def save_decisions(self, run_id: str, org_id: str, decisions: Sequence[Decision]) -> None:
        """Store one page of planned decisions of ``run_id``."""
        ...

    def finish_scan(
        self,
        run_id: str,
        finished_at: datetime,
        *,
        status: str,
        plan_hash: str | None,
        accounts: int,
        summary: PlanSummary | None,
        error: str | None = None,
    ) -> None:
        """Close a scan as ``completed`` or ``failed``."""
        ...

    def get_scan(self, run_id: str) -> ScanRun:
        """Load a scan. Raises ``LookupError`` for an unknown id."""
        ...

    def latest_scan(self, org_id: str) -> ScanRun | None:
        """The most recently started scan of ``org_id``, if any."""
        ...

    def iter_decisions(self, run_id: str) -> Iterable[Decision]:
        """Every stored decision of ``run_id``, ordered by (account id, rule)."""
        ...

    def get_account(self, run_id: str, account_id: str) -> Account | None:
        """The snapshot of one account in ``run_id``."""
        ...
