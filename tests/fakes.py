"""In-memory fakes of the core ports. They keep state; tests assert on that state."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.errors import AccountNotFound
from core.model import (
    Account,
    AccountId,
    AccountStatus,
    AccountType,
    Claim,
    DirectoryId,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    Org,
    OrgId,
    ProductAccess,
    ProductKey,
)
from core.planner import Decision, PlanSummary
from core.ports import ScanRun
from core.report import summary_to_mapping

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def make_account(
    account_id: str = "acc-1",
    *,
    email: str | None = None,
    name: str = "Ada Lovelace",
    account_type: AccountType = AccountType.ATLASSIAN,
    account_status: AccountStatus = AccountStatus.ACTIVE,
    membership_status: MembershipStatus = MembershipStatus.ACTIVE,
    claim: Claim = Claim.MANAGED,
    management_source: ManagementSource = ManagementSource.INVITED,
    added_days_ago: int | None = 400,
    products: dict[str, int | None] | None = None,
    groups: Iterable[str] = (),
    roles: Iterable[str] = (),
    activity_known: bool = True,
    now: datetime = NOW,
) -> Account:
    """Build an account; ``products`` maps product key -> days since last active (None = never)."""
    products = {"jira-software": 10} if products is None else products
    return Account(
        account_id=AccountId(account_id),
        email=email if email is not None else f"{account_id}@acme.example",
        name=name,
        account_type=account_type,
        account_status=account_status,
        membership_status=membership_status,
        claim=claim,
        management_source=management_source,
        added_to_org=None if added_days_ago is None else now - timedelta(days=added_days_ago),
        groups=tuple(Group(GroupId(f"g-{g}"), g) for g in groups),
        platform_roles=frozenset(roles),
        products=tuple(
            ProductAccess(
                ProductKey(key),
                f"ari:cloud:{key}::site/1",
                None if days is None else now - timedelta(days=days),
            )
            for key, days in products.items()
        ),
        activity_known=activity_known,
    )


class FakeDirectory:
    """A directory in memory: pages of accounts, and a record of every write asked of it."""

    def __init__(self, accounts: Sequence[Account], *, page_size: int = 50, org_id: str = "org-1") -> None:
        self.accounts = {a.account_id: a for a in accounts}
        self.page_size = page_size
        self.org = Org(OrgId(org_id), DirectoryId("dir-1"), "Acme")
        self.writes: list[tuple[str, str]] = []
        self.fail_after_pages: int | None = None

    async def describe_org(self) -> Org:
        return self.org

    async def iter_accounts(self) -> AsyncIterator[Sequence[Account]]:
        ordered = sorted(self.accounts.values(), key=lambda a: a.account_id)
        for n, start in enumerate(range(0, len(ordered), self.page_size)):
            if self.fail_after_pages is not None and n >= self.fail_after_pages:
                raise ConnectionError("directory went away")
            yield ordered[start : start + self.page_size]

    async def count_accounts(self) -> int | None:
        return len(self.accounts)

    async def get_account(self, account_id: AccountId) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise AccountNotFound(account_id) from None

    async def suspend(self, account_id: AccountId) -> None:
        account = await self.get_account(account_id)
        self.writes.append(("suspend", account_id))
        self.accounts[account_id] = replace(account, membership_status=MembershipStatus.SUSPENDED)

    async def restore(self, account_id: AccountId) -> None:
        account = await self.get_account(account_id)
        self.writes.append(("restore", account_id))
        self.accounts[account_id] = replace(account, membership_status=MembershipStatus.ACTIVE)


class FakeStore:
    """A ``ScanStore`` in memory."""

    def __init__(self) -> None:
        self.orgs: dict[str, Org] = {}
        self.runs: dict[str, ScanRun] = {}
        self.accounts: dict[tuple[str, str], Account] = {}
        self.decisions: dict[tuple[str, str, str], Decision] = {}
        self._ids = itertools.count(1)

    def upsert_org(self, org: Org) -> None:
        self.orgs[org.org_id] = org

    def start_scan(self, org_id: str, started_at: datetime, policy_hash: str) -> str:
        run_id = f"run-{next(self._ids)}"
        self.runs[run_id] = ScanRun(run_id, org_id, started_at, None, "running", policy_hash, None, 0, None)
        return run_id

    def save_accounts(self, run_id: str, org_id: str, accounts: Sequence[Account]) -> None:
        for a in accounts:
            self.accounts[(run_id, a.account_id)] = a

    def save_decisions(self, run_id: str, org_id: str, decisions: Sequence[Decision]) -> None:
        for d in decisions:
            self.decisions[(run_id, d.account_id, d.rule)] = d

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
        run = self.runs[run_id]
        self.runs[run_id] = replace(
            run,
            finished_at=finished_at,
            status=status,
            plan_hash=plan_hash,
            accounts=accounts,
            summary=None if summary is None else summary_to_mapping(summary),
            error=error,
        )

    def get_scan(self, run_id: str) -> ScanRun:
        return self.runs[run_id]

    def latest_scan(self, org_id: str) -> ScanRun | None:
        runs = [r for r in self.runs.values() if r.org_id == org_id]
        return max(runs, key=lambda r: r.started_at) if runs else None

    def iter_decisions(self, run_id: str) -> Iterable[Decision]:
        keys = sorted(k for k in self.decisions if k[0] == run_id)
        return [self.decisions[k] for k in keys]

    def get_account(self, run_id: str, account_id: str) -> Account | None:
        return self.accounts.get((run_id, account_id))
