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
    ApiEvidence,
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
from core.ports import Delivery, ScanRun
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


GROUP_PRODUCTS = {
    "jira-software-users": "jira-software",
    "confluence-users": "confluence",
    "jira-servicemanagement-users": "jira-servicedesk",
}


class FakeDirectory:
    """A directory in memory: pages of accounts, and a record of every write asked of it.

    Product access follows group membership like Atlassian's: removing the last group that
    grants a product removes the product; adding it back re-grants it (with its old date).
    ``fail`` maps an op name to an exception raised on the next calls of that op.
    """

    def __init__(self, accounts: Sequence[Account], *, page_size: int = 50, org_id: str = "org-1") -> None:
        self.accounts = {a.account_id: a for a in accounts}
        self.page_size = page_size
        self.org = Org(OrgId(org_id), DirectoryId("dir-1"), "Acme")
        self.writes: list[tuple[str, str]] = []
        self.fail_after_pages: int | None = None
        self.fail: dict[str, Exception] = {}
        self._parked: dict[tuple[str, str], ProductAccess] = {}

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

    async def _change(self, op: str, account_id: str, **changes: object) -> Account:
        account = await self.get_account(AccountId(account_id))
        if op in self.fail:
            raise self.fail[op]
        self.writes.append((op, account_id))
        self.accounts[account.account_id] = replace(account, **changes)  # type: ignore[arg-type]
        return self.accounts[account.account_id]

    async def suspend(self, account_id: AccountId) -> None:
        await self._change("suspend", account_id, membership_status=MembershipStatus.SUSPENDED)

    async def restore(self, account_id: AccountId) -> None:
        await self._change("restore", account_id, membership_status=MembershipStatus.ACTIVE)

    async def remove_from_directory(self, account_id: AccountId) -> None:
        await self._change(
            "remove_from_directory",
            account_id,
            membership_status=MembershipStatus.NO_MEMBERSHIP,
            groups=(),
            products=(),
        )

    async def remove_from_group(self, group_id: GroupId, account_id: AccountId) -> None:
        account = await self.get_account(account_id)
        groups = tuple(g for g in account.groups if g.id != group_id)
        removed = [g for g in account.groups if g.id == group_id]
        products = account.products
        for g in removed:
            product = GROUP_PRODUCTS.get(g.name)
            if product and not any(GROUP_PRODUCTS.get(x.name) == product for x in groups):
                for p in products:
                    if p.key == product:
                        self._parked[(account_id, product)] = p
                products = tuple(p for p in products if p.key != product)
        await self._change(f"remove_from_group:{group_id}", account_id, groups=groups, products=products)

    async def add_to_group(self, group_id: GroupId, account_id: AccountId) -> None:
        account = await self.get_account(account_id)
        name = str(group_id).removeprefix("g-")
        groups = (
            account.groups
            if any(g.id == group_id for g in account.groups)
            else (*account.groups, Group(group_id, name))
        )
        products = account.products
        product = GROUP_PRODUCTS.get(name)
        if product and account.product(ProductKey(product)) is None:
            parked = self._parked.pop((account_id, product), None)
            products = (*products, parked or ProductAccess(ProductKey(product), "ari", None))
        await self._change(f"add_to_group:{group_id}", account_id, groups=groups, products=products)

    async def deactivate(self, account_id: AccountId, message: str | None = None) -> None:
        await self._change("deactivate", account_id, account_status=AccountStatus.INACTIVE)

    async def activate(self, account_id: AccountId) -> None:
        await self._change("activate", account_id, account_status=AccountStatus.ACTIVE)

    async def delete_managed(self, account_id: AccountId) -> None:
        await self._change(
            "delete_managed", account_id, scheduled_for_deletion=True, account_status=AccountStatus.INACTIVE
        )

    async def cancel_delete(self, account_id: AccountId) -> None:
        await self._change(
            "cancel_delete", account_id, scheduled_for_deletion=False, account_status=AccountStatus.ACTIVE
        )

    async def manageability(self, account_id: AccountId, privileges: Iterable[str]) -> dict[str, str | None]:
        account = await self.get_account(account_id)
        reason = None if account.claim is Claim.MANAGED else "managedAccount"
        return dict.fromkeys(privileges, reason)

    def mutating(self) -> list[tuple[str, str]]:
        """Every write received, in order."""
        return list(self.writes)


class RecordingNotifier:
    """A Notifier that records everything; ``undeliverable`` account ids fail delivery."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, str]] = []
        self.escalations: list[tuple[str, str]] = []
        self.approvals: list[tuple[str, str]] = []
        self.admin: list[str] = []
        self.actioned_notices: list[tuple[str, str]] = []
        self.told: list[tuple[str, str]] = []
        self.undeliverable: set[str] = set()

    async def warn(self, account: Account, case: object, rule: object) -> Delivery:
        if account.account_id in self.undeliverable:
            return Delivery(False, "slack", "channel_not_found")
        self.warnings.append((account.account_id, getattr(rule, "name", "")))
        return Delivery(True, "slack")

    async def actioned(self, account: Account, case: object) -> Delivery:
        if account.account_id in self.undeliverable:
            return Delivery(False, "slack", "channel_not_found")
        self.actioned_notices.append((account.account_id, getattr(case, "rule", "")))
        return Delivery(True, "slack")

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        if account.account_id in self.undeliverable:
            return Delivery(False, "slack", "channel_not_found")
        self.told.append((account.account_id, text))
        return Delivery(True, "slack")

    async def escalate(self, org_id: str, account: Account | None, case: object, reason: str) -> None:
        self.escalations.append((getattr(case, "account_id", ""), reason))

    async def request_approval(self, run: object, summary: str) -> None:
        self.approvals.append((getattr(run, "run_id", ""), summary))

    async def notify_admins(self, org_id: str, text: str) -> None:
        self.admin.append(text)


class FakeStore:
    """A ``ScanStore`` in memory."""

    def __init__(self) -> None:
        self.orgs: dict[str, Org] = {}
        self.runs: dict[str, ScanRun] = {}
        self.accounts: dict[tuple[str, str], Account] = {}
        self.decisions: dict[tuple[str, str, str], Decision] = {}
        self.evidence: dict[tuple[str, str], ApiEvidence] = {}
        self._ids = itertools.count(1)

    def upsert_org(self, org: Org) -> None:
        self.orgs[org.org_id] = org

    def recall_api_use(self, org_id: str, account_ids: Sequence[str]) -> dict[str, ApiEvidence]:
        return {a: self.evidence[(org_id, a)] for a in account_ids if (org_id, a) in self.evidence}

    def remember_api_use(self, org_id: str, evidence: Sequence[ApiEvidence]) -> None:
        self.evidence.update({(org_id, e.account_id): e for e in evidence if e.api.known})

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

    def iter_accounts(self, run_id: str) -> Iterable[Account]:
        return [a for (r, _), a in sorted(self.accounts.items()) if r == run_id]
